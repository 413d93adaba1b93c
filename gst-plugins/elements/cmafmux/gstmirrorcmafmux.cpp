// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-mirrorcmafmux
 *
 * Packages one elementary stream (H.264 as avc1/avc3, H.265 as hvc1/hev1, or
 * AAC) as one CMAF track for LL-HLS: an init segment (ftyp + moov), then one
 * moof+mdat chunk per part (#GstMirrorCmafMux:part-duration), a styp before
 * the first chunk of each segment (#GstMirrorCmafMux:segment-duration).
 *
 * A segment starts at the first keyframe at or after its target duration; a
 * part closes at the first frame boundary at or after its target (and at each
 * segment start); a part starting with a keyframe is independent. Everything
 * before the first keyframe is dropped (and counted, #GstMirrorCmafMux:dropped).
 * Timestamps are taken as running time (so every track of a pipeline shares
 * one timeline, whatever offsets encoders put on their buffers) plus 10 s,
 * which keeps decode times positive with B-frames.
 * Sample durations are the steps between decode timestamps (DTS, else PTS),
 * so a part is pushed when the frame after it arrives, or at EOS; the
 * element adds one part duration to the latency it reports. The track's
 * decode time stays monotonic through MPEG-TS wrap, backward jumps and gaps
 * longer than 5 s; composition offsets (PTS - DTS) are signed, for B-frames.
 * A caps change closes the open part and pushes a new init segment flagged
 * DISCONT; the next segment starts on the next keyframe.
 *
 * The element never touches files or sockets: output buffers are flagged so a
 * sink can cut them (init HEADER|DISCONT, segment start HEADER, other chunks
 * HEADER|DELTA_UNIT, every chunk MARKER as it ends on a sample boundary) and
 * carry a #GstMirrorCmafMeta with the kind, media sequence, part index,
 * duration, independence and the wall-clock time of the part's first frame.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc num-buffers=60 ! x264enc key-int-max=15 ! h264parse ! \
 *     mirrorcmafmux ! filesink location=out.mp4
 * ]|
 */
#include "cmafmux/gstmirrorcmafmux.h"

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "cmaf/fragment.h"
#include "cmaf/init_segment.h"
#include "cmaf/part_cutter.h"
#include "cmaf/track_config.h"
#include "cmafmux/gstmirrorcmafmeta.h"
#include "gstmirrorelements.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_cmaf_mux_debug);
#define GST_CAT_DEFAULT gst_mirror_cmaf_mux_debug

#define DEFAULT_PART_DURATION (100 * GST_MSECOND)
// Where the track's decode time starts: its running time plus this.
constexpr int64_t kTimelineBaseNs = 10 * (int64_t)GST_SECOND;
#define DEFAULT_SEGMENT_DURATION (500 * GST_MSECOND)

enum {
  PROP_0,
  PROP_PART_DURATION,
  PROP_SEGMENT_DURATION,
  PROP_DROPPED,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-h264, stream-format = (string) { avc, avc3 }, "
                     "alignment = (string) au; "
                     "video/x-h265, stream-format = (string) { hvc1, hev1 }, "
                     "alignment = (string) au; "
                     "audio/mpeg, mpegversion = (int) 4, stream-format = (string) raw"));
static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
                               GST_STATIC_CAPS ("video/quicktime, variant = (string) cmaf"));

struct GstMirrorCmafMuxPrivate {
  std::mutex settings_lock;
  GstClockTime part_duration = DEFAULT_PART_DURATION;
  GstClockTime segment_duration = DEFAULT_SEGMENT_DURATION;

  // Streaming thread only (and state changes, with the stream stopped).
  std::unique_ptr<mirror::cmaf::PartCutter> cutter;
  mirror::cmaf::TrackConfig track;
  bool have_track = false;
  bool init_pending = false;
  bool discont_pending = true;
  // Timestamps become running time: the one clock every track of a pipeline
  // shares (an encoder may shift its buffers' timestamps, x264enc by 1000 h,
  // and say so in its segment; an audio track passed through does not).
  GstSegment segment;
  // The accepted input buffers of the open part, oldest first.
  std::deque<GstBuffer *> samples;
  // The source caps but part-duration, and the part target they announced.
  GstCaps *src_caps = nullptr;
  guint64 announced_part_target = 0;
  std::atomic<guint64> dropped{ 0 };

  void clear_samples ()
  {
    for (GstBuffer *b : samples)
      gst_buffer_unref (b);
    samples.clear ();
  }
};

struct _GstMirrorCmafMux {
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;
  GstMirrorCmafMuxPrivate *priv;
};

#define gst_mirror_cmaf_mux_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorCmafMux, gst_mirror_cmaf_mux, GST_TYPE_ELEMENT,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_cmaf_mux_debug, "mirrorcmafmux", 0,
                                                  "Mirror CMAF muxer"));
GST_ELEMENT_REGISTER_DEFINE (mirrorcmafmux, "mirrorcmafmux", GST_RANK_NONE,
                             GST_TYPE_MIRROR_CMAF_MUX);

static void gst_mirror_cmaf_mux_finalize (GObject *object);
static void gst_mirror_cmaf_mux_set_property (GObject *object, guint prop_id, const GValue *value,
                                              GParamSpec *pspec);
static void gst_mirror_cmaf_mux_get_property (GObject *object, guint prop_id, GValue *value,
                                              GParamSpec *pspec);
static GstStateChangeReturn gst_mirror_cmaf_mux_change_state (GstElement *element,
                                                              GstStateChange transition);
static GstFlowReturn gst_mirror_cmaf_mux_chain (GstPad *pad, GstObject *parent, GstBuffer *buf);
static gboolean gst_mirror_cmaf_mux_sink_event (GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_mirror_cmaf_mux_src_query (GstPad *pad, GstObject *parent, GstQuery *query);

static void
gst_mirror_cmaf_mux_class_init (GstMirrorCmafMuxClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);

  object_class->finalize = gst_mirror_cmaf_mux_finalize;
  object_class->set_property = gst_mirror_cmaf_mux_set_property;
  object_class->get_property = gst_mirror_cmaf_mux_get_property;

  g_object_class_install_property (
      object_class, PROP_PART_DURATION,
      g_param_spec_uint64 (
          "part-duration", "Part duration",
          "Target duration of one LL-HLS part (one moof+mdat chunk), in "
          "nanoseconds",
          GST_MSECOND, G_MAXUINT64, DEFAULT_PART_DURATION,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      object_class, PROP_SEGMENT_DURATION,
      g_param_spec_uint64 (
          "segment-duration", "Segment duration",
          "Target duration of one segment, in nanoseconds; a segment starts on "
          "the first keyframe at or after this much media",
          GST_MSECOND, G_MAXUINT64, DEFAULT_SEGMENT_DURATION,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      object_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped",
                           "Input buffers dropped while waiting for a keyframe (at start and "
                           "after a caps change), in buffers, since READY->PAUSED",
                           0, G_MAXUINT64, 0,
                           (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata (
      element_class, "Mirror CMAF muxer", "Codec/Muxer",
      "Packages H.264, H.265 or AAC as CMAF fragmented MP4 for LL-HLS: an init segment, one "
      "moof+mdat chunk per part, segments starting on keyframes, each buffer flagged and "
      "described for the sink that publishes it",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_cmaf_mux_change_state);

  // Register the meta at class init so that sinks can look it up by name.
  gst_mirror_cmaf_meta_get_info ();
}

static void
gst_mirror_cmaf_mux_init (GstMirrorCmafMux *self)
{
  self->priv = new GstMirrorCmafMuxPrivate ();
  gst_segment_init (&self->priv->segment, GST_FORMAT_TIME);

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mirror_cmaf_mux_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_mirror_cmaf_mux_sink_event));
  GST_PAD_SET_ACCEPT_TEMPLATE (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_mirror_cmaf_mux_src_query));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}

static void
gst_mirror_cmaf_mux_finalize (GObject *object)
{
  auto *self = GST_MIRROR_CMAF_MUX (object);
  self->priv->clear_samples ();
  gst_clear_caps (&self->priv->src_caps);
  delete self->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_cmaf_mux_set_property (GObject *object, guint prop_id, const GValue *value,
                                  GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_CMAF_MUX (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_PART_DURATION:
    priv->part_duration = g_value_get_uint64 (value);
    break;
  case PROP_SEGMENT_DURATION:
    priv->segment_duration = g_value_get_uint64 (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gst_mirror_cmaf_mux_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_CMAF_MUX (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_PART_DURATION:
    g_value_set_uint64 (value, priv->part_duration);
    break;
  case PROP_SEGMENT_DURATION:
    g_value_set_uint64 (value, priv->segment_duration);
    break;
  case PROP_DROPPED:
    g_value_set_uint64 (value, priv->dropped.load ());
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

// ---------------------------------------------------------------- caps

static std::vector<uint8_t>
codec_data_of (const GstStructure *s)
{
  const GValue *v = gst_structure_get_value (s, "codec_data");
  if (!v || !GST_VALUE_HOLDS_BUFFER (v))
    return {};
  GstBuffer *b = gst_value_get_buffer (v);
  std::vector<uint8_t> out (gst_buffer_get_size (b));
  gst_buffer_extract (b, 0, out.data (), out.size ());
  return out;
}

// The track @caps describe; FALSE (with @error and @codecs set) when they
// lack what an init segment needs.
static gboolean
track_from_caps (GstCaps *caps, mirror::cmaf::TrackConfig *t, std::string *codecs,
                 std::string *error)
{
  using mirror::cmaf::Codec;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const char *format = gst_structure_get_string (s, "stream-format");
  t->codec_data = codec_data_of (s);
  gint v = 0;
  if (gst_structure_has_name (s, "video/x-h264") || gst_structure_has_name (s, "video/x-h265")) {
    bool h264 = gst_structure_has_name (s, "video/x-h264");
    t->codec = h264 ? Codec::H264 : Codec::H265;
    t->sample_entry = format ? format : (h264 ? "avc" : "hvc1");
    if (t->sample_entry == "avc")
      t->sample_entry = "avc1";
    t->timescale = 90000;
    if (gst_structure_get_int (s, "width", &v))
      t->width = (uint16_t)v;
    if (gst_structure_get_int (s, "height", &v))
      t->height = (uint16_t)v;
    if (t->codec_data.empty ()) {
      *error = std::string ("caps carry no codec_data (") + (h264 ? "avcC" : "hvcC") + ")";
      return FALSE;
    }
    auto rec = h264 ? mirror::cmaf::parse_avcc (t->codec_data, t->sample_entry, error)
                    : mirror::cmaf::parse_hvcc (t->codec_data, t->sample_entry, error);
    if (!rec)
      return FALSE;
    *codecs = rec->codecs;
    return TRUE;
  }
  t->codec = Codec::Aac;
  t->sample_entry = "mp4a";
  auto aac = mirror::cmaf::parse_audio_specific_config (t->codec_data);
  if (!aac) {
    *error = "caps carry no usable AudioSpecificConfig in codec_data";
    return FALSE;
  }
  t->sample_rate = aac->sample_rate;
  t->channels = (uint16_t)aac->channels;
  if (gst_structure_get_int (s, "rate", &v) && v > 0)
    t->sample_rate = (uint32_t)v;
  if (gst_structure_get_int (s, "channels", &v) && v > 0)
    t->channels = (uint16_t)v;
  t->timescale = t->sample_rate;
  *codecs = "mp4a.40." + std::to_string (aac->object_type);
  return TRUE;
}

// ---------------------------------------------------------------- output

// @media_sequence: the first segment the init segment applies to.
static GstFlowReturn
push_init (GstMirrorCmafMux *self, guint64 media_sequence)
{
  auto *priv = self->priv;
  std::vector<uint8_t> bytes = mirror::cmaf::make_init_segment (priv->track);
  gsize size = bytes.size ();
  GstBuffer *buf = gst_buffer_new_wrapped (g_memdup2 (bytes.data (), size), size);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_HEADER);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  auto *meta = gst_buffer_add_mirror_cmaf_meta (buf, GST_MIRROR_CMAF_KIND_INIT);
  meta->media_sequence = media_sequence;
  meta->independent = TRUE;
  meta->wallclock = (guint64)g_get_real_time () * 1000;
  priv->init_pending = false;
  priv->discont_pending = true;
  GST_INFO_OBJECT (self, "init segment of %" G_GSIZE_FORMAT " bytes for %s", size,
                   priv->track.sample_entry.c_str ());
  return gst_pad_push (self->srcpad, buf);
}

static GstFlowReturn
push_part (GstMirrorCmafMux *self, const mirror::cmaf::Part &part)
{
  auto *priv = self->priv;
  const size_t n = part.fragment.samples.size ();
  g_assert (priv->samples.size () >= n);

  mirror::cmaf::BoxWriter w;
  if (part.segment_start)
    mirror::cmaf::write_styp (w);
  mirror::cmaf::write_chunk_header (w, part.fragment);
  gsize header_size = w.size ();
  GstBuffer *out = gst_buffer_new_wrapped (g_memdup2 (w.data ().data (), header_size), header_size);

  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime dts = GST_BUFFER_DTS_OR_PTS (priv->samples.front ());
  for (size_t i = 0; i < n; i++) {
    GstBuffer *sample = priv->samples.front ();
    priv->samples.pop_front ();
    GstClockTime p = GST_BUFFER_PTS (sample);
    if (GST_CLOCK_TIME_IS_VALID (p) && (!GST_CLOCK_TIME_IS_VALID (pts) || p < pts))
      pts = p;
    // The sample's memories are appended, not copied.
    out = gst_buffer_append (out, sample);
  }
  GST_BUFFER_PTS (out) = GST_CLOCK_TIME_IS_VALID (pts) ? pts : dts;
  GST_BUFFER_DTS (out) = dts;
  GST_BUFFER_DURATION (out) = part.duration_ns;
  GST_BUFFER_OFFSET (out) = part.media_sequence;
  GST_BUFFER_OFFSET_END (out) = part.part_index;
  GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_HEADER);
  GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_MARKER);
  if (!part.segment_start)
    GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DELTA_UNIT);
  if (priv->discont_pending || part.timeline_break)
    GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
  priv->discont_pending = false;

  auto *meta = gst_buffer_add_mirror_cmaf_meta (out, GST_MIRROR_CMAF_KIND_PART);
  meta->media_sequence = part.media_sequence;
  meta->part_index = part.part_index;
  meta->duration = part.duration_ns;
  meta->independent = part.independent;
  meta->segment_start = part.segment_start;
  meta->last_in_segment = part.last_in_segment;
  meta->shortened = part.shortened;
  meta->wallclock = part.wallclock_ns;

  GST_LOG_OBJECT (
      self, "part %" G_GUINT64_FORMAT ".%u: %" G_GSIZE_FORMAT " samples, %" GST_TIME_FORMAT "%s%s",
      part.media_sequence, part.part_index, n, GST_TIME_ARGS (part.duration_ns),
      part.independent ? ", independent" : "", part.segment_start ? ", segment" : "");
  return gst_pad_push (self->srcpad, out);
}

// Pushes the open part, if any (EOS, caps change).
static GstFlowReturn
flush_part (GstMirrorCmafMux *self)
{
  auto *priv = self->priv;
  if (!priv->cutter)
    return GST_FLOW_OK;
  auto part = priv->cutter->flush ();
  if (!part)
    return GST_FLOW_OK;
  return push_part (self, *part);
}

static gboolean announce_part_target (GstMirrorCmafMux *self);

static guint64
wallclock_of (GstBuffer *buf)
{
  static GstCaps *unix_caps = gst_caps_new_empty_simple ("timestamp/x-unix");
  GstReferenceTimestampMeta *ref = gst_buffer_get_reference_timestamp_meta (buf, unix_caps);
  if (ref && GST_CLOCK_TIME_IS_VALID (ref->timestamp))
    return ref->timestamp;
  return (guint64)g_get_real_time () * 1000;
}

static GstFlowReturn
gst_mirror_cmaf_mux_chain (GstPad *pad, GstObject *parent, GstBuffer *buf)
{
  auto *self = GST_MIRROR_CMAF_MUX (parent);
  auto *priv = self->priv;

  if (!priv->have_track || !priv->cutter) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
                       ("%s: received media before any caps describing it", GST_OBJECT_NAME (self)),
                       ("no caps event with codec_data before the first buffer"));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  GstClockTime dts = GST_BUFFER_DTS_OR_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (dts)) {
    GST_WARNING_OBJECT (self, "dropping a buffer without DTS or PTS");
    priv->dropped++;
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }
  // Running time, from a base that keeps B-frames' decode times (which run
  // ahead of their presentation) above zero.
  auto timeline_ns = [priv] (GstClockTime t) -> int64_t {
    guint64 rt = 0;
    int sign = gst_segment_to_running_time_full (&priv->segment, GST_FORMAT_TIME, t, &rt);
    if (sign == 0)
      return (int64_t)t; // outside a TIME segment: the timestamp as it is
    return kTimelineBaseNs + (sign > 0 ? (int64_t)rt : -(int64_t)rt);
  };
  mirror::cmaf::TimedSample s;
  s.dts_ns = timeline_ns (dts);
  s.pts_ns = GST_BUFFER_PTS_IS_VALID (buf) ? timeline_ns (GST_BUFFER_PTS (buf)) : s.dts_ns;
  s.duration_ns = GST_BUFFER_DURATION_IS_VALID (buf) ? (int64_t)GST_BUFFER_DURATION (buf) : -1;
  s.size = (uint32_t)gst_buffer_get_size (buf);
  s.sync = !priv->track.is_video () || !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  s.wallclock_ns = wallclock_of (buf);

  // A sample that starts a segment takes this sequence number.
  guint64 next_msn = priv->cutter->next_media_sequence ();
  auto r = priv->cutter->push (s);
  if (!r.accepted) {
    priv->dropped++;
    GST_DEBUG_OBJECT (self, "waiting for a keyframe: dropped %" G_GUINT64_FORMAT " so far",
                      priv->dropped.load ());
    gst_buffer_unref (buf);
    return GST_FLOW_OK;
  }

  GstFlowReturn ret = GST_FLOW_OK;
  if (r.closed) {
    // A grid learned from the samples reaches the sink before the first part.
    if (!announce_part_target (self))
      GST_DEBUG_OBJECT (self, "downstream refused the part target's caps");
    ret = push_part (self, *r.closed);
  }
  // The init segment goes out before the first chunk that needs it; the part
  // this sample opens is pushed later, when it closes.
  if (priv->init_pending && ret == GST_FLOW_OK)
    ret = push_init (self, next_msn);
  priv->samples.push_back (buf);
  return ret;
}

// A sample's nominal duration from @caps: a frame at the frame rate, an
// AAC-LC frame (1024 samples); 0 when unknown (the cutter then measures the
// first step).
static double
sample_duration_ns (GstCaps *caps, const mirror::cmaf::TrackConfig &track)
{
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  if (track.is_video ()) {
    gint num = 0, den = 1;
    if (gst_structure_get_fraction (s, "framerate", &num, &den) && num > 0 && den > 0)
      return 1e9 * den / num;
    return 0;
  }
  auto aac = mirror::cmaf::parse_audio_specific_config (track.codec_data);
  if (aac && aac->object_type == 2 && track.sample_rate > 0)
    return 1024e9 / track.sample_rate;
  return 0;
}

// Sets the source caps with the cutter's part target as part-duration,
// when it differs from what they said: at a caps change, and once more if
// the grid was only learned from the first samples.
static gboolean
announce_part_target (GstMirrorCmafMux *self)
{
  auto *priv = self->priv;
  if (!priv->src_caps || !priv->cutter)
    return TRUE;
  const guint64 target = priv->cutter->part_target_ns ();
  if (target == priv->announced_part_target)
    return TRUE;
  GstCaps *caps = gst_caps_copy (priv->src_caps);
  gst_caps_set_simple (caps, "part-duration", G_TYPE_UINT64, target, nullptr);
  priv->announced_part_target = target;
  GST_INFO_OBJECT (self, "part target %" GST_TIME_FORMAT "%s", GST_TIME_ARGS (target),
                   priv->cutter->grid_known () ? "" : " (until the frame grid is known)");
  gboolean ok = gst_pad_set_caps (self->srcpad, caps);
  gst_caps_unref (caps);
  return ok;
}

static gboolean
gst_mirror_cmaf_mux_set_caps (GstMirrorCmafMux *self, GstCaps *caps)
{
  auto *priv = self->priv;
  mirror::cmaf::TrackConfig track;
  std::string codecs, error;
  if (!track_from_caps (caps, &track, &codecs, &error)) {
    gchar *str = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (
        self, STREAM, FORMAT,
        ("%s: cannot package this stream: %s", GST_OBJECT_NAME (self), error.c_str ()),
        ("caps: %s", str));
    g_free (str);
    return FALSE;
  }
  if (priv->have_track && track == priv->track) {
    GST_DEBUG_OBJECT (self, "caps changed, track did not");
    return TRUE;
  }
  if (priv->have_track) {
    GST_INFO_OBJECT (self, "track changed: closing the open part, new init segment follows");
    if (flush_part (self) != GST_FLOW_OK)
      GST_DEBUG_OBJECT (self, "downstream refused the last part before the caps change");
  }
  // The part grid (PART-TARGET) is set once for the life of the stream:
  // a new track on the same timescale keeps it.
  if (!priv->cutter || priv->cutter->timescale () != track.timescale) {
    GstClockTime part, segment;
    {
      std::lock_guard<std::mutex> lk (priv->settings_lock);
      part = priv->part_duration;
      segment = priv->segment_duration;
    }
    priv->cutter = std::make_unique<mirror::cmaf::PartCutter> (
        track.timescale, part, segment, track.track_id, sample_duration_ns (caps, track));
  }
  priv->track = track;
  priv->have_track = true;
  priv->init_pending = true;

  GstClockTime segment_duration;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    segment_duration = priv->segment_duration;
  }
  // The targets travel with the caps, so a sink can announce PART-TARGET and
  // TARGETDURATION before the first part arrives (part-duration is set by
  // announce_part_target).
  GstCaps *src_caps = gst_caps_new_simple (
      "video/quicktime", "variant", G_TYPE_STRING, "cmaf", "codecs", G_TYPE_STRING, codecs.c_str (),
      "segment-duration", G_TYPE_UINT64, (guint64)segment_duration, nullptr);
  if (track.is_video ())
    gst_caps_set_simple (src_caps, "width", G_TYPE_INT, (gint)track.width, "height", G_TYPE_INT,
                         (gint)track.height, nullptr);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gint num = 0, den = 1;
  if (gst_structure_get_fraction (s, "framerate", &num, &den))
    gst_caps_set_simple (src_caps, "framerate", GST_TYPE_FRACTION, num, den, nullptr);
  gst_caps_replace (&priv->src_caps, src_caps);
  gst_caps_unref (src_caps);
  priv->announced_part_target = 0;
  return announce_part_target (self);
}

static gboolean
gst_mirror_cmaf_mux_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  auto *self = GST_MIRROR_CMAF_MUX (parent);
  auto *priv = self->priv;

  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_SEGMENT: {
    const GstSegment *segment = nullptr;
    gst_event_parse_segment (event, &segment);
    if (segment->format == GST_FORMAT_TIME)
      gst_segment_copy_into (segment, &priv->segment);
    break;
  }
  case GST_EVENT_CAPS: {
    GstCaps *caps = nullptr;
    gst_event_parse_caps (event, &caps);
    gboolean ok = gst_mirror_cmaf_mux_set_caps (self, caps);
    gst_event_unref (event);
    return ok;
  }
  case GST_EVENT_EOS:
    flush_part (self);
    break;
  case GST_EVENT_FLUSH_STOP:
    priv->clear_samples ();
    if (priv->cutter)
      priv->cutter->flush ();
    break;
  default:
    break;
  }
  return gst_pad_event_default (pad, parent, event);
}

// A frame waits in the open part until the part closes: up to one part
// duration (plus the frame that closes it, which upstream's latency covers).
static gboolean
gst_mirror_cmaf_mux_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  auto *self = GST_MIRROR_CMAF_MUX (parent);
  if (GST_QUERY_TYPE (query) != GST_QUERY_LATENCY)
    return gst_pad_query_default (pad, parent, query);
  if (!gst_pad_peer_query (self->sinkpad, query))
    return FALSE;
  gboolean live = FALSE;
  GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
  gst_query_parse_latency (query, &live, &min, &max);
  GstClockTime part;
  {
    std::lock_guard<std::mutex> lk (self->priv->settings_lock);
    part = self->priv->part_duration;
  }
  min += part;
  if (GST_CLOCK_TIME_IS_VALID (max))
    max += part;
  GST_DEBUG_OBJECT (self, "latency: live %d, min %" GST_TIME_FORMAT, live, GST_TIME_ARGS (min));
  gst_query_set_latency (query, live, min, max);
  return TRUE;
}

static GstStateChangeReturn
gst_mirror_cmaf_mux_change_state (GstElement *element, GstStateChange transition)
{
  auto *self = GST_MIRROR_CMAF_MUX (element);
  auto *priv = self->priv;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    priv->cutter.reset ();
    priv->have_track = false;
    priv->init_pending = false;
    priv->discont_pending = true;
    priv->dropped = 0;
    priv->clear_samples ();
    gst_segment_init (&priv->segment, GST_FORMAT_TIME);
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    priv->clear_samples ();
    priv->cutter.reset ();
    priv->have_track = false;
    gst_clear_caps (&priv->src_caps);
  }
  return ret;
}
