// SPDX-License-Identifier: LGPL-2.1-or-later
// clang-format off: the diagram below is laid out by hand.
/**
 * SECTION:element-mirrortranscodebin
 * @title: mirrortranscodebin
 *
 * Decodes the incoming video (H.265 or H.264 access units) ONCE and encodes
 * it into a ladder of H.264 renditions (one 640x360 rendition at 400 kbit/s by
 * default), with an IDR frame forced every
 * #GstMirrorTranscodeBin:keyframe-interval of frame timestamps (counted from
 * the first frame, the same instants in every rendition), so every CMAF
 * segment of every rendition starts on a keyframe whatever the source GOP. Video only: a
 * feed's audio goes through #mirroraudiobin, beside it.
 *
 * ## Pads
 *
 * - `sink` (always): `video/x-h265` or `video/x-h264`, `alignment=au`.
 * - `src_%u` (request): `src_N` carries the N-th rendition of
 *   #GstMirrorTranscodeBin:renditions (`src_0` the first):
 *   `video/x-h264, stream-format=avc, alignment=au`, or the input caps,
 *   untouched, for a `source` rendition. Only requested renditions are built.
 *
 * The element warns when video arrives and no `src_N` was requested.
 *
 * ## Element choice
 *
 * Made when the first caps reach `sink`, from the GStreamer registry, and
 * again when caps of another codec arrive (a caller back with H.264 where
 * it sent H.265): the decoder and the transcoded renditions are built anew
 * for them, `source` renditions pass the new caps on. Caps and accept-caps
 * queries on `sink` answer for the template and the `source` renditions'
 * downstream only, never for the decoder of the old codec.
 * Decoder "auto": `nvh265dec` / `nvh264dec` when registered, else
 * `avdec_h265` / `avdec_h264`. Encoder "auto": `nvh264enc`, then
 * `nvcudah264enc`, when registered, else `x264enc`. NVIDIA decode feeds
 * `cudaconvertscale` (scaling on the GPU) and, for a CPU encoder, `cudadownload`
 * of the scaled frames only: that "mixed" mode is what an H100/H200 (NVDEC,
 * no NVENC) runs. A decoder or encoder named in #GstMirrorTranscodeBin:decoder
 * or #GstMirrorTranscodeBin:encoder that cannot be created, cannot take the
 * stream, or (GPU elements) fails to reach READY is replaced by the CPU element
 * with one element warning on the bus, not an error. The outcome is in
 * #GstMirrorTranscodeBin:active-decoder, #GstMirrorTranscodeBin:active-encoder
 * and #GstMirrorTranscodeBin:hardware.
 *
 * ## Pipeline inside
 *
 * |[
 * sink -> tee -+-> queue -> decoder -> deinterlace -> tee -+-> queue -> videoconvertscale
 *              |                                            |     -> capsfilter (WxH) -> x264enc
 *              |                                            |     -> capsfilter (profile)
 *              |                                            |     -> h264parse -> src_N
 *              |                                            +-> ... one branch per rendition
 *              +-> queue -> src_M (a source rendition)
 * ]|
 *
 * Interlaced input is deinterlaced on the CPU path (`deinterlace mode=auto
 * fields=top`: progressive input passes through, the frame rate is kept).
 *
 * ## Overload
 *
 * A box that cannot do all the work drops work, never time. Every frame is
 * stamped at `sink` with the wall time it arrived (a `timestamp/x-unix`
 * #GstReferenceTimestampMeta, kept when upstream set one; #mirrorcmafmux
 * makes it the part's program date-time), and the transcode keeps frames
 * within #GstMirrorTranscodeBin:max-lag of it, in steps: a frame that finds
 * its encoder's queue full is dropped (an encoder that cannot keep up never
 * holds up the decoder); past half of max-lag at the decoder's output the
 * frames no other refers to (most B-frames) are kept from the decoder, then
 * all but keyframes, which it is told to output at once
 * it; a frame that reaches the decoder later than max-lag starts a catch-up
 * that drops compressed frames up to the next on-time keyframe. Each change
 * of step posts an element message `mirror-transcode-shed` (step, lag-ms);
 * the steps go back down one at a time after 10 s of low lag. A `source`
 * rendition never waits for the decoder.
 *
 * ## Statistics
 *
 * #GstMirrorTranscodeBin:stats and an element message `mirror-transcode-stats`
 * every #GstMirrorTranscodeBin:stats-interval carry frames-in, frames-out
 * (rendition 0), frames-dropped (frames that entered `sink` and never left
 * `src_0`), latency-p50-ms and latency-p99-ms (wall time from `sink` to `src_0`,
 * matched by PTS, last 256 frames), decoder, encoder and hardware, and the
 * shedding: shed-step, lag-ms (the newest decoded frame's), shed-encoder-drops,
 * shed-nonref-drops, shed-keyframe-drops and shed-catchup-drops.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.ts ! tsdemux name=d d. ! h265parse !
 *   mirrortranscodebin name=t renditions="360p:640x360@400k,720p:1280x720@2500k,source"
 *   t.src_0 ! queue ! fakesink  t.src_1 ! queue ! fakesink  t.src_2 ! queue ! fakesink
 *   d. ! aacparse ! mirroraudiobin ! fakesink
 * ]|
 */
// clang-format on
#include "transcodebin/transcodebinpriv.h"

GST_DEBUG_CATEGORY (gst_mirror_transcode_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

using namespace transcode_bin;

enum {
  PROP_0,
  PROP_DECODER,
  PROP_ENCODER,
  PROP_RENDITIONS,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_BITRATE,
  PROP_KEYFRAME_INTERVAL,
  PROP_PROFILE,
  PROP_X264_PRESET,
  PROP_X264_TUNE,
  PROP_BFRAMES,
  PROP_STATS_INTERVAL,
  PROP_MAX_GPU_SESSIONS,
  PROP_MAX_LAG,
  PROP_HARDWARE,
  PROP_ACTIVE_DECODER,
  PROP_ACTIVE_ENCODER,
  PROP_RENDITION_NAMES,
  PROP_STATS,
  PROP_THUMBNAIL_INTERVAL,
  PROP_LAST_THUMBNAIL,
};

static GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                               GST_STATIC_CAPS ("video/x-h265, alignment = (string) au; "
                                                "video/x-h264, alignment = (string) au"));
// A `source` rendition carries the input caps, hence the H.265 entry.
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src_%u", GST_PAD_SRC, GST_PAD_REQUEST,
    GST_STATIC_CAPS ("video/x-h264, stream-format = (string) avc, alignment = (string) au; "
                     "video/x-h264, alignment = (string) au; "
                     "video/x-h265, alignment = (string) au"));

#define gst_mirror_transcode_bin_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorTranscodeBin, gst_mirror_transcode_bin, GST_TYPE_BIN,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_transcode_bin_debug,
                                                  "mirrortranscodebin", 0, "Mirror transcode bin"));
GST_ELEMENT_REGISTER_DEFINE (mirrortranscodebin, "mirrortranscodebin", GST_RANK_NONE,
                             GST_TYPE_MIRROR_TRANSCODE_BIN);

static void gst_mirror_transcode_bin_finalize (GObject *object);
static void gst_mirror_transcode_bin_set_property (GObject *object, guint prop_id,
                                                   const GValue *value, GParamSpec *pspec);
static void gst_mirror_transcode_bin_get_property (GObject *object, guint prop_id, GValue *value,
                                                   GParamSpec *pspec);
static GstStateChangeReturn gst_mirror_transcode_bin_change_state (GstElement *element,
                                                                   GstStateChange transition);
static GstPad *gst_mirror_transcode_bin_request_new_pad (GstElement *element, GstPadTemplate *templ,
                                                         const gchar *name, const GstCaps *caps);
static void gst_mirror_transcode_bin_release_pad (GstElement *element, GstPad *pad);

// ---------------------------------------------------------------- GObject

static void
gst_mirror_transcode_bin_class_init (GstMirrorTranscodeBinClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto flags = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  auto ro = (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  object_class->finalize = gst_mirror_transcode_bin_finalize;
  object_class->set_property = gst_mirror_transcode_bin_set_property;
  object_class->get_property = gst_mirror_transcode_bin_get_property;

  g_object_class_install_property (
      object_class, PROP_DECODER,
      g_param_spec_enum ("decoder", "Decoder",
                         "Video decoder; one that cannot be created, take the stream or (GPU) "
                         "start falls back to the CPU decoder with a warning",
                         GST_TYPE_MIRROR_TRANSCODE_DECODER, GST_MIRROR_TRANSCODE_DECODER_AUTO,
                         flags));
  g_object_class_install_property (
      object_class, PROP_ENCODER,
      g_param_spec_enum ("encoder", "Encoder",
                         "H.264 encoder; one that cannot be created or started falls back to "
                         "x264enc with a warning",
                         GST_TYPE_MIRROR_TRANSCODE_ENCODER, GST_MIRROR_TRANSCODE_ENCODER_AUTO,
                         flags));
  g_object_class_install_property (
      object_class, PROP_RENDITIONS,
      g_param_spec_string (
          "renditions", "Renditions",
          "Rendition ladder, comma-separated, one per src_N pad in order: "
          "NAME:WIDTHxHEIGHT@BITRATE (even sizes; bitrate in bit/s, k and M are SI: 400k, "
          "2.5M, 400000) or source (the input passed through, not decoded), e.g. "
          "\"360p:640x360@400k,720p:1280x720@2500k,source\"; empty: one rendition named "
          "<height>p from width, height and bitrate",
          DEFAULT_RENDITIONS, flags));
  g_object_class_install_property (
      object_class, PROP_WIDTH,
      g_param_spec_int ("width", "Width", "Output width in pixels (when renditions is empty)", 16,
                        8192, DEFAULT_WIDTH, flags));
  g_object_class_install_property (
      object_class, PROP_HEIGHT,
      g_param_spec_int ("height", "Height", "Output height in pixels (when renditions is empty)",
                        16, 8192, DEFAULT_HEIGHT, flags));
  g_object_class_install_property (
      object_class, PROP_BITRATE,
      g_param_spec_uint ("bitrate", "Bitrate",
                         "Output video bitrate in bit/s, as in renditions (when renditions is "
                         "empty)",
                         100000, 1000000000, DEFAULT_BITRATE, flags));
  g_object_class_install_property (
      object_class, PROP_KEYFRAME_INTERVAL,
      g_param_spec_uint64 ("keyframe-interval", "Keyframe interval",
                           "Time between forced keyframes, in nanoseconds of frame timestamps "
                           "(from the first frame); set it to the segment duration so every "
                           "segment starts on a keyframe",
                           GST_MSECOND, G_MAXUINT64, DEFAULT_KEYFRAME_INTERVAL, flags));
  g_object_class_install_property (
      object_class, PROP_PROFILE,
      g_param_spec_enum ("profile", "H.264 profile", "H.264 profile of the output",
                         GST_TYPE_MIRROR_H264_PROFILE, GST_MIRROR_H264_PROFILE_MAIN, flags));
  g_object_class_install_property (
      object_class, PROP_X264_PRESET,
      g_param_spec_enum ("x264-preset", "x264 preset", "x264enc speed-preset when x264enc encodes",
                         GST_TYPE_MIRROR_X264_PRESET, GST_MIRROR_X264_PRESET_VERYFAST, flags));
  g_object_class_install_property (
      object_class, PROP_X264_TUNE,
      g_param_spec_flags ("x264-tune", "x264 tune",
                          "x264enc tune when x264enc encodes (flags: zerolatency+fastdecode; "
                          "none)",
                          GST_TYPE_MIRROR_X264_TUNE, GST_MIRROR_X264_TUNE_ZEROLATENCY, flags));
  g_object_class_install_property (
      object_class, PROP_BFRAMES,
      g_param_spec_uint ("bframes", "B-frames",
                         "B-frames between reference frames (0: none, the low-latency default)", 0,
                         16, DEFAULT_BFRAMES, flags));
  g_object_class_install_property (
      object_class, PROP_MAX_GPU_SESSIONS,
      g_param_spec_uint ("max-gpu-sessions", "Max GPU sessions",
                         "GPU decode sessions the whole process may hold (decoder \"auto\"); "
                         "streams beyond it decode on the CPU; 0: no limit",
                         0, 1000, 0, flags));
  g_object_class_install_property (
      object_class, PROP_MAX_LAG,
      g_param_spec_uint64 (
          "max-lag", "Max lag",
          "How far behind live, in nanoseconds, a frame may reach the decoder; the transcode sheds "
          "work (frames before the encoders, non-reference frames, all but keyframes) from half of "
          "it, and "
          "drops late frames up to an on-time keyframe past it",
          100 * GST_MSECOND, 60 * GST_SECOND, DEFAULT_MAX_LAG, flags));
  g_object_class_install_property (
      object_class, PROP_STATS_INTERVAL,
      g_param_spec_uint64 ("stats-interval", "Stats interval",
                           "Period of the mirror-transcode-stats element message, in "
                           "nanoseconds; 0 disables it",
                           0, G_MAXUINT64, DEFAULT_STATS_INTERVAL, flags));
  g_object_class_install_property (
      object_class, PROP_HARDWARE,
      g_param_spec_enum (
          "hardware", "Hardware", "Where the transcode runs; none before the first caps",
          GST_TYPE_MIRROR_TRANSCODE_HARDWARE, GST_MIRROR_TRANSCODE_HARDWARE_NONE, ro));
  g_object_class_install_property (
      object_class, PROP_ACTIVE_DECODER,
      g_param_spec_string ("active-decoder", "Active decoder",
                           "Factory name of the video decoder in use (empty before the first "
                           "caps, or with source renditions only)",
                           nullptr, ro));
  g_object_class_install_property (
      object_class, PROP_ACTIVE_ENCODER,
      g_param_spec_string ("active-encoder", "Active encoder",
                           "Factory name of the H.264 encoder in use (empty before the first caps)",
                           nullptr, ro));
  g_object_class_install_property (
      object_class, PROP_RENDITION_NAMES,
      g_param_spec_string ("rendition-names", "Rendition names",
                           "Names of the renditions, comma-separated, in src_N pad order", nullptr,
                           ro));
  g_object_class_install_property (
      object_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
                          "mirror-transcode-stats: frames-in, frames-out (rendition 0), "
                          "frames-dropped, latency-p50-ms, latency-p99-ms (sink to src_0, last "
                          "256 frames), decoder, encoder, hardware, shed-step, lag-ms, "
                          "shed-encoder-drops, shed-nonref-drops, shed-keyframe-drops, "
                          "shed-catchup-drops",
                          GST_TYPE_STRUCTURE, ro));
  g_object_class_install_property (
      object_class, PROP_THUMBNAIL_INTERVAL,
      g_param_spec_uint64 (
          "thumbnail-interval", "Thumbnail interval",
          "How often last-thumbnail takes the newest frame of the smallest transcoded rendition "
          "(scaled already, before its encoder; CPU frames only), in nanoseconds; 0: never. "
          "Frames are only taken while last-thumbnail is read: after ten intervals (at least "
          "10 s) without a read it stops until the next",
          0, G_MAXUINT64, 0,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING)));
  g_object_class_install_property (
      object_class, PROP_LAST_THUMBNAIL,
      g_param_spec_boxed ("last-thumbnail", "Last thumbnail",
                          "The frame last taken by thumbnail-interval (raw video with its caps), "
                          "or NULL when none is at hand",
                          GST_TYPE_SAMPLE, ro));

  gst_element_class_set_static_metadata (
      element_class, "Mirror transcoder", "Codec/Transcoder",
      "Decodes HEVC or H.264 once and encodes a ladder of H.264 renditions with keyframes on "
      "segment boundaries, on NVIDIA hardware when available, on the CPU otherwise",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_transcode_bin_change_state);
  element_class->request_new_pad = GST_DEBUG_FUNCPTR (gst_mirror_transcode_bin_request_new_pad);
  element_class->release_pad = GST_DEBUG_FUNCPTR (gst_mirror_transcode_bin_release_pad);
}

static void
gst_mirror_transcode_bin_init (GstMirrorTranscodeBin *self)
{
  self->priv = new GstMirrorTranscodeBinPrivate ();
  reset_stats (self->priv);
  auto *priv = self->priv;
  auto *element_class = GST_ELEMENT_GET_CLASS (self);

  // The input tee is always there, so `sink` always has a target: upstream's
  // caps and accept-caps queries get answers before anything is built.
  priv->input_tee = gst_element_factory_make ("tee", "input_tee");
  g_object_set (priv->input_tee, "allow-not-linked", TRUE, nullptr);
  gst_bin_add (GST_BIN (self), priv->input_tee);
  GstPad *tee_sink = gst_element_get_static_pad (priv->input_tee, "sink");
  self->sinkpad = gst_ghost_pad_new_from_template (
      "sink", tee_sink, gst_element_class_get_pad_template (element_class, "sink"));
  gst_object_unref (tee_sink);
  gst_pad_add_probe (self->sinkpad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, sink_caps_probe, self,
                     nullptr);
  gst_pad_add_probe (self->sinkpad, GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM, sink_query_probe, self,
                     nullptr);
  gst_pad_add_probe (self->sinkpad,
                     (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                     stamp_probe, nullptr, nullptr);
  gst_pad_add_probe (self->sinkpad,
                     (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST
                                       | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                     sink_data_probe, priv, nullptr);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
}

static void
gst_mirror_transcode_bin_finalize (GObject *object)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (object);
  gst_caps_replace (&self->priv->video_caps, nullptr);
  transcode_bin::clear_thumbnail (self->priv);
  delete self->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static GstPad *
gst_mirror_transcode_bin_request_new_pad (GstElement *element, GstPadTemplate *templ,
                                          const gchar *name, const GstCaps *)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (element);
  auto *priv = self->priv;
  std::vector<mirror::LadderRung> ladder;
  std::string error;
  if (!current_ladder (self, ladder, error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Invalid renditions"), ("%s", error.c_str ()));
    return nullptr;
  }
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  guint index = 0;
  // Linking by template asks for "src_%u": the next free index.
  if (name && strchr (name, '%'))
    name = nullptr;
  if (name && sscanf (name, "src_%u", &index) != 1) {
    GST_WARNING_OBJECT (self, "bad pad name %s", name);
    return nullptr;
  }
  if (!name)
    while (priv->branches.count (index))
      index++;
  if (index >= ladder.size () || priv->branches.count (index)) {
    GST_WARNING_OBJECT (self, "src_%u: %s", index,
                        priv->branches.count (index) ? "already requested"
                                                     : "no such rendition in the ladder");
    return nullptr;
  }
  auto b = std::make_unique<Branch> ();
  b->self = self;
  b->index = index;
  b->rendition = ladder[index];
  gchar *pad_name = g_strdup_printf ("src_%u", index);
  b->ghost = gst_ghost_pad_new_no_target_from_template (pad_name, templ);
  g_free (pad_name);
  if (index == 0)
    gst_pad_add_probe (b->ghost,
                       (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST
                                         | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                       src0_data_probe, priv, nullptr);
  Branch *raw = b.get ();
  priv->branches[index] = std::move (b);
  // add_pad activates it when the element is already PAUSED or PLAYING.
  gst_element_add_pad (element, raw->ghost);
  // Requested after the caps came: build it now, the tee replays the
  // sticky events to the new branch.
  if (priv->video_built) {
    raw->rendition = ladder[index]; // the ladder cannot change after READY
    build_branch (self, raw);
  }
  return raw->ghost;
}

static void
gst_mirror_transcode_bin_release_pad (GstElement *element, GstPad *pad)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (element);
  auto *priv = self->priv;
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  for (auto it = priv->branches.begin (); it != priv->branches.end (); ++it) {
    if (it->second->ghost != pad)
      continue;
    teardown_branch (self, it->second.get ());
    gst_pad_set_active (pad, FALSE);
    gst_element_remove_pad (element, pad);
    priv->branches.erase (it);
    return;
  }
}

static void
gst_mirror_transcode_bin_set_property (GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_TRANSCODE_BIN (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  auto str_or = [&] (const gchar *fallback) {
    const gchar *s = g_value_get_string (value);
    return std::string (s ? s : fallback);
  };

  switch (prop_id) {
  case PROP_DECODER:
    priv->decoder
        = gst_mirror_enum_nick (GST_TYPE_MIRROR_TRANSCODE_DECODER, g_value_get_enum (value));
    break;
  case PROP_ENCODER:
    priv->encoder
        = gst_mirror_enum_nick (GST_TYPE_MIRROR_TRANSCODE_ENCODER, g_value_get_enum (value));
    break;
  case PROP_RENDITIONS:
    priv->renditions = str_or ("");
    break;
  case PROP_WIDTH:
    priv->width = g_value_get_int (value);
    break;
  case PROP_HEIGHT:
    priv->height = g_value_get_int (value);
    break;
  case PROP_BITRATE:
    priv->bitrate = g_value_get_uint (value);
    break;
  case PROP_KEYFRAME_INTERVAL:
    priv->keyframe_interval = g_value_get_uint64 (value);
    break;
  case PROP_PROFILE:
    priv->profile = gst_mirror_enum_nick (GST_TYPE_MIRROR_H264_PROFILE, g_value_get_enum (value));
    break;
  case PROP_X264_PRESET:
    priv->x264_preset
        = gst_mirror_enum_nick (GST_TYPE_MIRROR_X264_PRESET, g_value_get_enum (value));
    break;
  case PROP_X264_TUNE:
    priv->x264_tune = gst_mirror_flags_nicks (GST_TYPE_MIRROR_X264_TUNE, g_value_get_flags (value));
    break;
  case PROP_BFRAMES:
    priv->bframes = g_value_get_uint (value);
    break;
  case PROP_STATS_INTERVAL:
    priv->stats_interval = g_value_get_uint64 (value);
    break;
  case PROP_MAX_LAG:
    priv->max_lag = g_value_get_uint64 (value);
    break;
  case PROP_MAX_GPU_SESSIONS:
    priv->max_gpu_sessions = g_value_get_uint (value);
    break;
  case PROP_THUMBNAIL_INTERVAL:
    transcode_bin::set_thumbnail_interval (priv, g_value_get_uint64 (value));
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gst_mirror_transcode_bin_get_property (GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (object);
  auto *priv = self->priv;
  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  if (prop_id == PROP_RENDITION_NAMES) {
    std::vector<mirror::LadderRung> ladder;
    std::string error, names;
    current_ladder (self, ladder, error);
    for (auto &r : ladder)
      names += (names.empty () ? "" : ",") + r.name;
    g_value_set_string (value, names.c_str ());
    return;
  }
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_DECODER:
    g_value_set_enum (value,
                      gst_mirror_enum_value (GST_TYPE_MIRROR_TRANSCODE_DECODER, priv->decoder));
    break;
  case PROP_ENCODER:
    g_value_set_enum (value,
                      gst_mirror_enum_value (GST_TYPE_MIRROR_TRANSCODE_ENCODER, priv->encoder));
    break;
  case PROP_RENDITIONS:
    g_value_set_string (value, priv->renditions.empty () ? nullptr : priv->renditions.c_str ());
    break;
  case PROP_WIDTH:
    g_value_set_int (value, priv->width);
    break;
  case PROP_HEIGHT:
    g_value_set_int (value, priv->height);
    break;
  case PROP_BITRATE:
    g_value_set_uint (value, priv->bitrate);
    break;
  case PROP_KEYFRAME_INTERVAL:
    g_value_set_uint64 (value, priv->keyframe_interval);
    break;
  case PROP_PROFILE:
    g_value_set_enum (value, gst_mirror_enum_value (GST_TYPE_MIRROR_H264_PROFILE, priv->profile));
    break;
  case PROP_X264_PRESET:
    g_value_set_enum (value,
                      gst_mirror_enum_value (GST_TYPE_MIRROR_X264_PRESET, priv->x264_preset));
    break;
  case PROP_X264_TUNE:
    g_value_set_flags (value, gst_mirror_flags_value (GST_TYPE_MIRROR_X264_TUNE, priv->x264_tune));
    break;
  case PROP_BFRAMES:
    g_value_set_uint (value, priv->bframes);
    break;
  case PROP_STATS_INTERVAL:
    g_value_set_uint64 (value, priv->stats_interval);
    break;
  case PROP_MAX_LAG:
    g_value_set_uint64 (value, priv->max_lag);
    break;
  case PROP_MAX_GPU_SESSIONS:
    g_value_set_uint (value, priv->max_gpu_sessions);
    break;
  case PROP_THUMBNAIL_INTERVAL: {
    std::lock_guard<std::mutex> lk (priv->thumb_lock);
    g_value_set_uint64 (value, priv->thumbnail_interval);
    break;
  }
  case PROP_LAST_THUMBNAIL:
    g_value_take_boxed (value, transcode_bin::read_thumbnail (priv));
    break;
  case PROP_HARDWARE:
    g_value_set_enum (
        value, gst_mirror_enum_value (GST_TYPE_MIRROR_TRANSCODE_HARDWARE,
                                      hardware_of (priv->active_decoder, priv->active_encoder)));
    break;
  case PROP_ACTIVE_DECODER:
    g_value_set_string (value, priv->active_decoder.c_str ());
    break;
  case PROP_ACTIVE_ENCODER:
    g_value_set_string (value, priv->active_encoder.c_str ());
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static GstStateChangeReturn
gst_mirror_transcode_bin_change_state (GstElement *element, GstStateChange transition)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (element);
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    std::string error;
    if (!check_settings (self, error)) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Invalid transcoding settings"),
                         ("%s", error.c_str ()));
      return GST_STATE_CHANGE_FAILURE;
    }
    reset_stats (self->priv);
    reset_shedding (self->priv);
    start_stats (self);
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    // Streaming has stopped: drop what the caps built, so the next run
    // chooses again for its own input.
    stop_stats (self);
    teardown_all (self);
  }
  return ret;
}
