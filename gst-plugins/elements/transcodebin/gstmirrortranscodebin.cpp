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
 * segment of every rendition starts on a keyframe whatever the source GOP. Audio is made AAC: AAC
 * passes through (re-framed as raw AAC with codec_data), anything else is decoded and encoded.
 *
 * ## Pads
 *
 * - `sink` (always): `video/x-h265` or `video/x-h264`, `alignment=au`.
 * - `src_%u` (request): `src_N` carries the N-th rendition of
 *   #GstMirrorTranscodeBin:renditions (`src_0` the first):
 *   `video/x-h264, stream-format=avc, alignment=au`, or the input caps,
 *   untouched, for a `source` rendition. Only requested renditions are built.
 * - `audio_sink` (always): any audio (`audio/mpeg` AAC, MP2/MP3,
 *   `audio/x-ac3`, `audio/x-opus`, ...). The audio branch is built on the
 *   first caps, so a feed without audio builds nothing.
 * - `audio_src` (always): `audio/mpeg, mpegversion=4, stream-format=raw`.
 *
 * Link video outputs by name (`t.src_0 ! ...`): an unnamed `t. ! sink` takes
 * the always pad `audio_src` first, as GStreamer links existing pads before
 * requesting new ones (the element warns when video arrives with no `src_N`).
 *
 * ## Element choice
 *
 * Made when the first caps reach `sink`, from the GStreamer registry.
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
 * ## Statistics
 *
 * #GstMirrorTranscodeBin:stats and an element message `mirror-transcode-stats`
 * every #GstMirrorTranscodeBin:stats-interval carry frames-in, frames-out
 * (rendition 0), frames-dropped (frames that entered `sink` and never left
 * `src_0`), latency-p50-ms and latency-p99-ms (wall time from `sink` to `src_0`,
 * matched by PTS, last 256 frames), decoder, encoder and hardware.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.ts ! tsdemux name=d d. ! h265parse !
 *   mirrortranscodebin name=t renditions="360p:640x360@400k,720p:1280x720@2500k,source"
 *   t.src_0 ! queue ! fakesink  t.src_1 ! queue ! fakesink  t.src_2 ! queue ! fakesink
 *   d. ! aacparse ! t.audio_sink  t.audio_src ! fakesink
 * ]|
 */
// clang-format on
#include "transcodebin/gstmirrortranscodebin.h"
#include "transcodebin/transcodeenums.h"

#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gstmirrorelements.h"
#include "transcode/frame_latency.h"
#include "transcode/gpu_sessions.h"
#include "transcode/keyframe_slots.h"
#include "transcode/ladder.h"
#include "util/message_names.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_transcode_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

#define DEFAULT_DECODER "auto"
#define DEFAULT_ENCODER "auto"
#define DEFAULT_RENDITIONS nullptr
#define DEFAULT_WIDTH 640
#define DEFAULT_HEIGHT 360
#define DEFAULT_BITRATE 400000
#define DEFAULT_KEYFRAME_INTERVAL (500 * GST_MSECOND)
#define DEFAULT_PROFILE "main"
#define DEFAULT_X264_PRESET "veryfast"
#define DEFAULT_X264_TUNE "zerolatency"
#define DEFAULT_BFRAMES 0
#define DEFAULT_AUDIO_BITRATE 64000
#define DEFAULT_STATS_INTERVAL GST_SECOND

// Raw frames queued per encode branch: enough to keep decoder and encoder
// busy in parallel, few enough to keep 1080p frames (3 MB each) off the RSS.
static constexpr guint kRawQueueFrames = 3;

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
  PROP_AUDIO_BITRATE,
  PROP_STATS_INTERVAL,
  PROP_MAX_GPU_SESSIONS,
  PROP_HARDWARE,
  PROP_ACTIVE_DECODER,
  PROP_ACTIVE_ENCODER,
  PROP_RENDITION_NAMES,
  PROP_STATS,
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
static GstStaticPadTemplate audio_sink_template
    = GST_STATIC_PAD_TEMPLATE ("audio_sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate audio_src_template = GST_STATIC_PAD_TEMPLATE (
    "audio_src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/mpeg, mpegversion = (int) 4, stream-format = (string) raw"));

namespace {

// One requested src_N pad and, once built, its branch.
struct Branch {
  GstMirrorTranscodeBin *self = nullptr;
  guint index = 0;
  mirror::LadderRung rendition;
  GstPad *ghost = nullptr;   // owned by the element
  GstPad *tee_pad = nullptr; // request pad on the input or decoded tee
  GstElement *tee = nullptr;
  std::vector<GstElement *> elements;
  GstElement *encoder = nullptr;
  GstClockTime keyframe_interval = DEFAULT_KEYFRAME_INTERVAL;
  mirror::KeyframeSlots slots; // streaming thread only
};

} // namespace

struct GstMirrorTranscodeBinPrivate {
  std::mutex settings_lock;
  std::string decoder = DEFAULT_DECODER;
  std::string encoder = DEFAULT_ENCODER;
  std::string renditions;
  gint width = DEFAULT_WIDTH;
  gint height = DEFAULT_HEIGHT;
  guint bitrate = DEFAULT_BITRATE; // bit/s
  GstClockTime keyframe_interval = DEFAULT_KEYFRAME_INTERVAL;
  std::string profile = DEFAULT_PROFILE;
  std::string x264_preset = DEFAULT_X264_PRESET;
  std::string x264_tune = DEFAULT_X264_TUNE;
  guint bframes = DEFAULT_BFRAMES;
  gint audio_bitrate = DEFAULT_AUDIO_BITRATE;
  guint max_gpu_sessions = 0; // 0: no limit
  mirror::GpuSession gpu_session;
  GstClockTime stats_interval = DEFAULT_STATS_INTERVAL;
  std::string active_decoder;
  std::string active_encoder;

  // Graph state, guarded by build_lock (taken by streaming threads in the
  // caps probes and by the application in request/release pad).
  std::recursive_mutex build_lock;
  GstElement *input_tee = nullptr; // static: the sink ghost pad's target
  GstCaps *video_caps = nullptr;   // caps the video graph was built for
  bool video_built = false;
  bool fallback_warned_decoder = false;
  bool fallback_warned_encoder = false;
  std::vector<mirror::LadderRung> ladder;
  std::vector<GstElement *> decode_elements; // queue, decoder, ... decoded tee
  GstElement *decoded_tee = nullptr;
  bool gpu_frames = false; // decoded frames are in CUDA memory
  std::map<guint, std::unique_ptr<Branch>> branches;
  bool audio_built = false;
  std::vector<GstElement *> audio_elements;
  GstElement *audio_convert = nullptr; // decodebin links its pad here

  // Keyframe slots count from the first frame PTS any encoder of this run
  // saw, so every rendition (one requested late too) cuts at the same
  // instants. Not absolute PTS multiples: encoders shift their output PTS by
  // (1000 h - first PTS), so only distances survive to the muxer.
  mirror::KeyframeEpoch keyframe_epoch;

  // Statistics. Frames are matched by the running time of their PTS, not
  // the PTS: an encoder may shift timestamps (x264enc adds 1000 h to PTS
  // near 0 so DTS cannot go negative) and moves its segment to match.
  mirror::FrameLatency latency;
  GstSegment sink_segment; // upstream streaming thread only
  GstSegment src0_segment; // src_0 streaming thread only
  GstClockID stats_clock_id = nullptr;
};

struct _GstMirrorTranscodeBin {
  GstBin parent;
  GstMirrorTranscodeBinPrivate *priv;
  GstPad *sinkpad;
  GstPad *audio_sinkpad;
  GstPad *audio_srcpad;
};

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

// ---------------------------------------------------------------- ladder

// The ladder text is parsed by libmirror, so mirrord (which renders it into
// the pipeline) and this element agree on it: NAME:WIDTHxHEIGHT@BITRATE
// (bit/s, k/M suffixes) or source. Empty: one rendition from the width,
// height and bitrate properties, named <height>p.
static bool
current_ladder (GstMirrorTranscodeBin *self, std::vector<mirror::LadderRung> &out,
                std::string &error)
{
  auto *priv = self->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  auto ladder = mirror::ladder_or_default (priv->renditions, priv->width, priv->height,
                                           priv->bitrate, &error);
  if (!ladder)
    return false;
  out = std::move (*ladder);
  return true;
}

// The settings checked before anything runs: the ladder (the choices are
// enums, checked when they are set).
static bool
check_settings (GstMirrorTranscodeBin *self, std::string &error)
{
  std::vector<mirror::LadderRung> ladder;
  return current_ladder (self, ladder, error);
}

// ---------------------------------------------------------------- element choice

static bool
factory_exists (const gchar *name)
{
  GstElementFactory *f = gst_element_factory_find (name);
  if (!f)
    return false;
  gst_object_unref (f);
  return true;
}

static bool
is_gpu_factory (const std::string &name)
{
  return g_str_has_prefix (name.c_str (), "nv") || name.find ("cuda") != std::string::npos;
}

// Creates @name; a GPU element must also reach READY (nvcodec opens its CUDA
// context there), since a registered element on a box whose driver went away
// fails only then. Returns nullptr and fills @why on failure.
static GstElement *
make_checked (const std::string &name, const GstCaps *sink_caps, std::string &why)
{
  GstElementFactory *f = gst_element_factory_find (name.c_str ());
  if (!f) {
    why = "no element \"" + name + "\" in the registry";
    return nullptr;
  }
  if (sink_caps && !gst_element_factory_can_sink_any_caps (f, sink_caps)) {
    gchar *s = gst_caps_to_string (sink_caps);
    why = name + " cannot take " + s;
    g_free (s);
    gst_object_unref (f);
    return nullptr;
  }
  GstElement *e = gst_element_factory_create (f, nullptr);
  gst_object_unref (f);
  if (!e) {
    why = name + " could not be created";
    return nullptr;
  }
  if (is_gpu_factory (name)
      && gst_element_set_state (e, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE) {
    gst_element_set_state (e, GST_STATE_NULL);
    gst_object_unref (e);
    why = name + " failed to start (no usable GPU?)";
    return nullptr;
  }
  return e;
}

static std::string
hardware_of (const std::string &dec, const std::string &enc)
{
  if (dec.empty () || enc.empty ())
    return dec.empty () && enc.empty ()
               ? "none"
               : (is_gpu_factory (dec.empty () ? enc : dec) ? "gpu" : "cpu");
  bool d = is_gpu_factory (dec), e = is_gpu_factory (enc);
  return d && e ? "gpu" : (!d && !e ? "cpu" : "mixed");
}

// Any CPU decoder for @caps when avdec_* is missing: the highest-ranked
// non-GPU video decoder that takes the caps.
static GstElement *
make_cpu_decoder (const GstCaps *caps, const gchar *preferred, std::string &chosen)
{
  std::string why;
  if (GstElement *e = make_checked (preferred, caps, why)) {
    chosen = preferred;
    return e;
  }
  GList *list = gst_element_factory_list_get_elements (
      GST_ELEMENT_FACTORY_TYPE_DECODER | GST_ELEMENT_FACTORY_TYPE_MEDIA_VIDEO, GST_RANK_MARGINAL);
  list = g_list_sort (list, gst_plugin_feature_rank_compare_func);
  GstElement *found = nullptr;
  for (GList *l = list; l && !found; l = l->next) {
    std::string name = GST_OBJECT_NAME (l->data);
    if (is_gpu_factory (name))
      continue;
    if ((found = make_checked (name, caps, why)))
      chosen = name;
  }
  gst_plugin_feature_list_free (list);
  return found;
}

static GstElement *
choose_decoder (GstMirrorTranscodeBin *self, const GstCaps *caps)
{
  auto *priv = self->priv;
  const gchar *media = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  bool hevc = g_str_equal (media, "video/x-h265");
  const gchar *cpu = hevc ? "avdec_h265" : "avdec_h264";
  const gchar *gpu = hevc ? "nvh265dec" : "nvh264dec";
  std::string wanted;
  guint limit;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    wanted = priv->decoder;
    limit = priv->max_gpu_sessions;
  }
  std::string why, chosen;
  GstElement *dec = nullptr;
  if (wanted == "nvidia" && !factory_exists (gpu))
    why = std::string (gpu) + " is not registered (no NVIDIA driver, or no NVDEC)";
  if (wanted == "auto" || wanted == "nvidia") {
    if (factory_exists (gpu) && !priv->gpu_session.take (limit)) {
      GST_INFO_OBJECT (self, "all %u GPU decode sessions are taken: decoding on the CPU", limit);
    } else if (factory_exists (gpu)) {
      if ((dec = make_checked (gpu, caps, why)))
        chosen = gpu;
      else
        priv->gpu_session.release ();
    }
  }
  // cpu (transcoding.hardware: cpu): never touch the GPU, and no warning.
  if (!dec && !why.empty () && !priv->fallback_warned_decoder) {
    // One warning per run: the operator asked for (or the registry promised)
    // an element that does not work here; the stream goes on on the CPU.
    priv->fallback_warned_decoder = true;
    GST_ELEMENT_WARNING (self, CORE, MISSING_PLUGIN,
                         ("Video decoder unavailable, falling back to the CPU decoder"),
                         ("%s; using %s", why.c_str (), cpu));
  }
  if (!dec)
    dec = make_cpu_decoder (caps, cpu, chosen);
  if (dec) {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    priv->active_decoder = chosen;
  }
  return dec;
}

// The encoder factory for every branch of this run: decided once, so all
// renditions share the same hardware.
static std::string
choose_encoder_name (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  std::string wanted;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    if (!priv->active_encoder.empty ())
      return priv->active_encoder;
    wanted = priv->encoder;
  }
  std::string why, chosen;
  auto try_one = [&] (const std::string &name) {
    GstElement *e = make_checked (name, nullptr, why);
    if (!e)
      return false;
    gst_element_set_state (e, GST_STATE_NULL);
    gst_object_unref (e);
    chosen = name;
    return true;
  };
  if (wanted == "auto" || wanted == "nvidia") {
    for (const gchar *name : { "nvh264enc", "nvcudah264enc" })
      if (factory_exists (name) && try_one (name))
        break;
    if (chosen.empty () && wanted == "nvidia" && why.empty ())
      why = "neither nvh264enc nor nvcudah264enc is registered (no NVENC)";
  } else if (wanted == "openh264") {
    try_one ("openh264enc");
  } else {
    try_one ("x264enc");
  }
  if (chosen.empty () && !why.empty () && !priv->fallback_warned_encoder) {
    priv->fallback_warned_encoder = true;
    GST_ELEMENT_WARNING (self, CORE, MISSING_PLUGIN,
                         ("Video encoder unavailable, falling back to x264enc"),
                         ("%s; using x264enc", why.c_str ()));
  }
  if (chosen.empty ())
    chosen = "x264enc";
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  priv->active_encoder = chosen;
  return chosen;
}

static void
set_if_exists (GstElement *e, const gchar *prop, const gchar *value)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (e), prop))
    gst_util_set_object_arg (G_OBJECT (e), prop, value);
}

static void
configure_encoder (GstMirrorTranscodeBin *self, GstElement *enc, const std::string &name,
                   int64_t bitrate)
{
  auto *priv = self->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  // The encoders count kbit/s, openh264enc bit/s.
  const guint kbps = (guint)((bitrate + 500) / 1000);
  std::string rate = std::to_string (kbps);
  std::string bframes = std::to_string (priv->bframes);
  if (name == "x264enc") {
    g_object_set (enc, "bitrate", kbps, nullptr);
    set_if_exists (enc, "speed-preset", priv->x264_preset.c_str ());
    if (priv->x264_tune.empty () || priv->x264_tune == "none")
      g_object_set (enc, "tune", 0, nullptr);
    else
      set_if_exists (enc, "tune", priv->x264_tune.c_str ());
    // zerolatency already means no B-frames; say it for the other tunes.
    g_object_set (enc, "bframes", priv->bframes, nullptr);
  } else if (g_str_has_prefix (name.c_str (), "nv")) {
    // nvh264enc / nvcudah264enc: kbit/s, CBR, low-latency preset, no
    // reordering unless asked; the GOP comes from forced key units.
    set_if_exists (enc, "bitrate", rate.c_str ());
    set_if_exists (enc, "rc-mode", "cbr");
    set_if_exists (enc, "preset", name == "nvh264enc" ? "low-latency-hp" : "p1");
    set_if_exists (enc, "zerolatency", priv->bframes ? "false" : "true");
    set_if_exists (enc, "bframes", bframes.c_str ());
  } else if (name == "openh264enc") {
    set_if_exists (enc, "bitrate", std::to_string (bitrate).c_str ());
  } else {
    // Unknown encoder named by the operator: bitrate is the common name.
    set_if_exists (enc, "bitrate", rate.c_str ());
  }
}

// ---------------------------------------------------------------- probes

static GstClockTime
running_time (const GstSegment &segment, GstBuffer *buf)
{
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts) || segment.format != GST_FORMAT_TIME)
    return pts;
  return gst_segment_to_running_time (&segment, GST_FORMAT_TIME, pts);
}

static void
note_input (GstMirrorTranscodeBinPrivate *priv, GstBuffer *buf)
{
  GstClockTime rt = running_time (priv->sink_segment, buf);
  priv->latency.input (GST_CLOCK_TIME_IS_VALID (rt) ? rt : mirror::FrameLatency::kNoKey,
                       g_get_monotonic_time ());
}

static void
note_output (GstMirrorTranscodeBinPrivate *priv, GstBuffer *buf)
{
  GstClockTime rt = running_time (priv->src0_segment, buf);
  if (!priv->latency.output (rt, g_get_monotonic_time ()))
    GST_LOG ("src_0 running time %" GST_TIME_FORMAT " entered no sink", GST_TIME_ARGS (rt));
}

static GstPadProbeReturn
sink_data_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *priv = static_cast<GstMirrorTranscodeBinPrivate *> (user_data);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT)
      gst_event_copy_segment (ev, &priv->sink_segment);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    note_input (priv, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    for (guint i = 0; i < gst_buffer_list_length (list); i++)
      note_input (priv, gst_buffer_list_get (list, i));
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
src0_data_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *priv = static_cast<GstMirrorTranscodeBinPrivate *> (user_data);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT)
      gst_event_copy_segment (ev, &priv->src0_segment);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    note_output (priv, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    for (guint i = 0; i < gst_buffer_list_length (list); i++)
      note_output (priv, gst_buffer_list_get (list, i));
  }
  return GST_PAD_PROBE_OK;
}

// On each encoder's sink pad: force an IDR on the first frame at or past
// each multiple of keyframe-interval after the epoch. Driven by timestamps,
// not frame counts, so all renditions cut at the same instants whatever the
// frame rate or the source GOP.
static GstPadProbeReturn
keyframe_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *b = static_cast<Branch *> (user_data);
  auto *priv = b->self->priv;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) != GST_EVENT_CAPS || !b->encoder)
      return GST_PAD_PROBE_OK;
    // A frame-count ceiling just above one interval, in case a forced key
    // unit is ever missed; set before the encoder opens with these caps.
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    gint n = 0, d = 1;
    if (gst_structure_get_fraction (gst_caps_get_structure (caps, 0), "framerate", &n, &d) && n > 0
        && d > 0) {
      guint frames
          = (guint)gst_util_uint64_scale_ceil (b->keyframe_interval, n, (guint64)d * GST_SECOND);
      if (g_object_class_find_property (G_OBJECT_GET_CLASS (b->encoder), "key-int-max"))
        g_object_set (b->encoder, "key-int-max", frames + 1, nullptr);
      else if (g_object_class_find_property (G_OBJECT_GET_CLASS (b->encoder), "gop-size"))
        g_object_set (b->encoder, "gop-size", (gint)frames + 1, nullptr);
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts) || b->keyframe_interval == 0)
    return GST_PAD_PROBE_OK;
  const GstClockTime epoch = priv->keyframe_epoch.fix (pts);
  gint64 slot = 0;
  if (!b->slots.due (pts, epoch, b->keyframe_interval, &slot))
    return GST_PAD_PROBE_OK;
  GstClockTime running = GST_CLOCK_TIME_NONE, stream = GST_CLOCK_TIME_NONE;
  if (GstEvent *seg_ev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0)) {
    const GstSegment *seg;
    gst_event_parse_segment (seg_ev, &seg);
    running = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
    stream = gst_segment_to_stream_time (seg, GST_FORMAT_TIME, pts);
    gst_event_unref (seg_ev);
  }
  GST_LOG_OBJECT (b->self, "src_%u: forcing a keyframe at %" GST_TIME_FORMAT, b->index,
                  GST_TIME_ARGS (pts));
  // Sent into the encoder's sink pad ahead of this very buffer (the stream
  // lock is recursive), so this frame becomes the IDR.
  gst_pad_send_event (
      pad, gst_video_event_new_downstream_force_key_unit (pts, stream, running, TRUE, (guint)slot));
  return GST_PAD_PROBE_OK;
}

// ---------------------------------------------------------------- graph

static GstElement *
add_element (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner, const gchar *factory,
             const gchar *name = nullptr)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (!e)
    return nullptr;
  gst_bin_add (GST_BIN (self), e);
  owner.push_back (e);
  return e;
}

static void
adopt_element (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner, GstElement *e,
               const gchar *name)
{
  gst_object_set_name (GST_OBJECT (e), name);
  gst_bin_add (GST_BIN (self), e);
  owner.push_back (e);
}

static GstElement *
make_caps_filter (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner,
                  const gchar *caps_str, const gchar *name)
{
  GstElement *cf = add_element (self, owner, "capsfilter", name);
  GstCaps *caps = gst_caps_from_string (caps_str);
  g_object_set (cf, "caps", caps, nullptr);
  gst_caps_unref (caps);
  return cf;
}

// Sets the new elements to the bin's state, downstream first so nothing
// pushes into an element still in NULL.
static void
sync_elements (const std::vector<GstElement *> &elements, size_t from = 0)
{
  for (size_t i = elements.size (); i > from; i--)
    gst_element_sync_state_with_parent (elements[i - 1]);
}

static void
remove_elements (GstMirrorTranscodeBin *self, std::vector<GstElement *> &elements)
{
  for (GstElement *e : elements) {
    gst_element_set_locked_state (e, TRUE);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (self), e);
  }
  elements.clear ();
}

static bool
link_chain (const std::vector<GstElement *> &elements, size_t from = 0)
{
  for (size_t i = from + 1; i < elements.size (); i++)
    if (!gst_element_link (elements[i - 1], elements[i]))
      return false;
  return true;
}

// queue -> decoder -> [deinterlace | cudadownload] -> decoded tee.
static bool
build_decode (GstMirrorTranscodeBin *self, const GstCaps *caps)
{
  auto *priv = self->priv;
  if (priv->decoded_tee)
    return true;
  GstElement *dec = choose_decoder (self, caps);
  if (!dec) {
    gchar *s = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("No video decoder for the input"),
                       ("no decoder takes %s", s));
    g_free (s);
    return false;
  }
  std::string dec_name;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    dec_name = priv->active_decoder;
  }
  auto &els = priv->decode_elements;
  GstElement *q = add_element (self, els, "queue", "decode_queue");
  adopt_element (self, els, dec, "decoder");
  priv->gpu_frames = false;
  if (is_gpu_factory (dec_name)) {
    // Frames stay on the GPU when it can scale them; else download once
    // here and let the CPU path take it from there.
    if (factory_exists ("cudaconvertscale"))
      priv->gpu_frames = true;
    else
      add_element (self, els, "cudadownload", "decoded_download");
  } else {
    // deinterlace only works on a few formats and passes the others through
    // still interlaced (10-bit, 4:4:4 ...): when the parser says the stream
    // is interlaced, convert to one it takes (videoconvert passes those).
    const gchar *mode
        = gst_structure_get_string (gst_caps_get_structure (caps, 0), "interlace-mode");
    if (mode && !g_str_equal (mode, "progressive")) {
      add_element (self, els, "videoconvert", "deinterlace_convert");
      make_caps_filter (self, els, "video/x-raw,format={I420,NV12,YV12,Y42B,Y444,YUY2}",
                        "deinterlace_caps");
    }
    // mode=auto passes progressive frames through untouched; fields=top
    // keeps the frame rate (one frame out per frame in) for interlaced.
    GstElement *deint = add_element (self, els, "deinterlace", "deinterlace");
    if (deint)
      gst_util_set_object_arg (G_OBJECT (deint), "fields", "top");
  }
  priv->decoded_tee = add_element (self, els, "tee", "decoded_tee");
  g_object_set (priv->decoded_tee, "allow-not-linked", TRUE, nullptr);
  if (!link_chain (els)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not build the decode chain"),
                       ("linking %s failed", dec_name.c_str ()));
    return false;
  }
  GstPad *tee_pad = gst_element_request_pad_simple (priv->input_tee, "src_%u");
  GstPad *qsink = gst_element_get_static_pad (q, "sink");
  gst_pad_link (tee_pad, qsink);
  gst_object_unref (qsink);
  gst_object_unref (tee_pad);
  sync_elements (els);
  GST_INFO_OBJECT (self, "decoding with %s%s", dec_name.c_str (),
                   priv->gpu_frames ? " (frames stay on the GPU)" : "");
  return true;
}

static bool
build_branch (GstMirrorTranscodeBin *self, Branch *b)
{
  auto *priv = self->priv;
  if (b->tee_pad)
    return true;
  const mirror::LadderRung &r = b->rendition;
  auto &els = b->elements;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    b->keyframe_interval = priv->keyframe_interval;
  }
  b->slots.reset ();
  // Children are named src_N_<role> so tests and debug dumps can find them.
  auto name = [b] (const gchar *role) {
    return std::string ("src_") + std::to_string (b->index) + "_" + role;
  };
  GstElement *q = add_element (self, els, "queue", name ("queue").c_str ());
  if (r.source) {
    b->tee = priv->input_tee;
  } else {
    if (!build_decode (self, priv->video_caps))
      return false;
    b->tee = priv->decoded_tee;
    g_object_set (q, "max-size-buffers", kRawQueueFrames, "max-size-bytes", 0, "max-size-time",
                  (guint64)0, nullptr);
    std::string enc_name = choose_encoder_name (self);
    bool gpu_enc = is_gpu_factory (enc_name);
    gchar *size = g_strdup_printf ("width=%d,height=%d,pixel-aspect-ratio=1/1", r.width, r.height);
    gchar *raw_caps;
    if (priv->gpu_frames) {
      add_element (self, els, "cudaconvertscale", name ("scale").c_str ());
      raw_caps = g_strdup_printf ("video/x-raw(memory:CUDAMemory),format=NV12,%s", size);
      make_caps_filter (self, els, raw_caps, name ("rawcaps").c_str ());
      if (!gpu_enc) // mixed: download the scaled frames, not the 1080p ones
        add_element (self, els, "cudadownload", name ("download").c_str ());
    } else {
      if (factory_exists ("videoconvertscale")) {
        add_element (self, els, "videoconvertscale", name ("scale").c_str ());
      } else {
        add_element (self, els, "videoscale", name ("scale").c_str ());
        add_element (self, els, "videoconvert", name ("convert").c_str ());
      }
      raw_caps = g_strdup_printf ("video/x-raw,format=I420,%s", size);
      make_caps_filter (self, els, raw_caps, name ("rawcaps").c_str ());
    }
    g_free (raw_caps);
    g_free (size);
    std::string why;
    GstElement *enc = make_checked (enc_name, nullptr, why);
    if (!enc) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("No H.264 encoder"), ("%s", why.c_str ()));
      return false;
    }
    configure_encoder (self, enc, enc_name, r.bitrate);
    adopt_element (self, els, enc, name ("encoder").c_str ());
    b->encoder = enc;
    std::string profile;
    {
      std::lock_guard<std::mutex> lk (priv->settings_lock);
      profile = priv->profile;
    }
    gchar *h264_caps = g_strdup_printf ("video/x-h264,profile=%s", profile.c_str ());
    make_caps_filter (self, els, h264_caps, name ("profile").c_str ());
    g_free (h264_caps);
    add_element (self, els, "h264parse", name ("parse").c_str ());
    make_caps_filter (self, els, "video/x-h264,stream-format=avc,alignment=au",
                      name ("outcaps").c_str ());
    GstPad *enc_sink = gst_element_get_static_pad (enc, "sink");
    gst_pad_add_probe (
        enc_sink,
        (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        keyframe_probe, b, nullptr);
    gst_object_unref (enc_sink);
  }
  for (GstElement *e : els)
    if (!e) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("Missing GStreamer element"),
                         ("an element of rendition %s could not be created", r.name.c_str ()));
      return false;
    }
  if (!link_chain (els)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not build rendition %s", r.name.c_str ()),
                       ("linking the branch failed"));
    return false;
  }
  GstPad *last = gst_element_get_static_pad (els.back (), "src");
  gst_ghost_pad_set_target (GST_GHOST_PAD (b->ghost), last);
  gst_object_unref (last);
  sync_elements (els);
  b->tee_pad = gst_element_request_pad_simple (b->tee, "src_%u");
  GstPad *qsink = gst_element_get_static_pad (q, "sink");
  gst_pad_link (b->tee_pad, qsink);
  gst_object_unref (qsink);
  GST_INFO_OBJECT (self, "built rendition %u (%s)", b->index, r.name.c_str ());
  return true;
}

static void
teardown_branch (GstMirrorTranscodeBin *self, Branch *b)
{
  if (b->tee_pad) {
    gst_element_release_request_pad (b->tee, b->tee_pad);
    gst_object_unref (b->tee_pad);
    b->tee_pad = nullptr;
  }
  if (b->ghost)
    gst_ghost_pad_set_target (GST_GHOST_PAD (b->ghost), nullptr);
  remove_elements (self, b->elements);
  b->encoder = nullptr;
  b->tee = nullptr;
}

// Runs on the first caps on `sink`, in the streaming thread, before the caps
// go on: everything linked here sees stream-start, caps and segment in order.
static void
build_video (GstMirrorTranscodeBin *self, GstCaps *caps)
{
  auto *priv = self->priv;
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  if (priv->video_built)
    return;
  std::string error;
  if (!current_ladder (self, priv->ladder, error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Invalid renditions"), ("%s", error.c_str ()));
    return;
  }
  priv->video_built = true;
  gst_caps_replace (&priv->video_caps, caps);
  if (priv->branches.empty ())
    // Typically `t. ! sink` in gst-launch: it links the always pad
    // audio_src before trying the src_%u template.
    GST_ELEMENT_WARNING (self, CORE, PAD, ("No video output requested, video is dropped"),
                         ("no src_%%u pad was requested; link by name, e.g. t.src_0 ! ..."));
  for (auto &kv : priv->branches) {
    Branch *b = kv.second.get ();
    if (b->index >= priv->ladder.size ()) {
      // The ladder was shortened after the pad was requested.
      GST_ELEMENT_ERROR (
          self, LIBRARY, SETTINGS, ("Invalid renditions"),
          ("src_%u requested, the ladder has %zu renditions", b->index, priv->ladder.size ()));
      return;
    }
    b->rendition = priv->ladder[b->index];
    if (!build_branch (self, b))
      return;
  }
}

static GstPadProbeReturn
sink_caps_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (user_data);
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS && !self->priv->video_built) {
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    build_video (self, caps);
  }
  return GST_PAD_PROBE_OK;
}

// ---------------------------------------------------------------- audio

static void
decodebin_pad_added (GstElement *, GstPad *pad, gpointer user_data)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (user_data);
  GstElement *conv = self->priv->audio_convert;
  if (!conv)
    return;
  GstPad *sink = gst_element_get_static_pad (conv, "sink");
  if (!gst_pad_is_linked (sink) && gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not link the audio decoder"), (nullptr));
  gst_object_unref (sink);
}

static bool
is_passable_aac (const GstStructure *s)
{
  gint version = 0;
  if (!gst_structure_has_name (s, "audio/mpeg")
      || !gst_structure_get_int (s, "mpegversion", &version) || version != 4)
    return false;
  const gchar *format = gst_structure_get_string (s, "stream-format");
  if (!format || g_str_equal (format, "adts"))
    return true;
  return g_str_equal (format, "raw") && gst_structure_has_field (s, "codec_data");
}

static void
build_audio (GstMirrorTranscodeBin *self, GstCaps *caps)
{
  auto *priv = self->priv;
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  if (priv->audio_built)
    return;
  priv->audio_built = true;
  auto &els = priv->audio_elements;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  size_t chain_from = 0;
  if (is_passable_aac (s)) {
    add_element (self, els, "aacparse", "audio_parse");
  } else {
    const gchar *enc_name = nullptr;
    for (const gchar *name : { "avenc_aac", "fdkaacenc", "voaacenc" })
      if (factory_exists (name)) {
        enc_name = name;
        break;
      }
    if (!enc_name) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("No AAC encoder"),
                         ("none of avenc_aac, fdkaacenc, voaacenc is installed"));
      return;
    }
    GstElement *decodebin = add_element (self, els, "decodebin", "audio_decode");
    // decodebin's pad comes later; the chain after it is linked now.
    chain_from = 1;
    priv->audio_convert = add_element (self, els, "audioconvert", "audio_convert");
    add_element (self, els, "audioresample", "audio_resample");
    GstElement *enc = add_element (self, els, enc_name, "audio_encoder");
    gint rate;
    {
      std::lock_guard<std::mutex> sl (priv->settings_lock);
      rate = priv->audio_bitrate;
    }
    set_if_exists (enc, "bitrate", std::to_string (rate).c_str ());
    add_element (self, els, "aacparse", "audio_parse");
    if (decodebin)
      g_signal_connect (decodebin, "pad-added", G_CALLBACK (decodebin_pad_added), self);
  }
  make_caps_filter (self, els, "audio/mpeg,mpegversion=4,stream-format=raw", "audio_caps");
  for (GstElement *e : els)
    if (!e) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("Missing GStreamer element"),
                         ("an element of the audio branch could not be created"));
      return;
    }
  if (!link_chain (els, chain_from)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not build the audio branch"), (nullptr));
    return;
  }
  GstPad *first = gst_element_get_static_pad (els.front (), "sink");
  GstPad *last = gst_element_get_static_pad (els.back (), "src");
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->audio_srcpad), last);
  sync_elements (els);
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->audio_sinkpad), first);
  gst_object_unref (first);
  gst_object_unref (last);
  gchar *str = gst_caps_to_string (caps);
  GST_INFO_OBJECT (self, "audio %s: %s", chain_from ? "transcoded to AAC" : "AAC passed through",
                   str);
  g_free (str);
}

static GstPadProbeReturn
audio_caps_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (user_data);
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS && !self->priv->audio_built) {
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    build_audio (self, caps);
  } else if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS && !self->priv->audio_built) {
    // No audio ever came (a video-only feed, its audio branch ended by
    // mirrord): audio_src has no target to carry the EOS, so it goes out
    // here, or the audio rendition would hold the pipeline's drain.
    gst_pad_push_event (self->audio_srcpad, gst_event_new_eos ());
  }
  return GST_PAD_PROBE_OK;
}

static void
teardown_all (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  for (auto &kv : priv->branches)
    teardown_branch (self, kv.second.get ());
  if (GstPad *qsink = priv->decode_elements.empty ()
                          ? nullptr
                          : gst_element_get_static_pad (priv->decode_elements.front (), "sink")) {
    if (GstPad *tee_pad = gst_pad_get_peer (qsink)) {
      gst_element_release_request_pad (priv->input_tee, tee_pad);
      gst_object_unref (tee_pad);
    }
    gst_object_unref (qsink);
  }
  remove_elements (self, priv->decode_elements);
  priv->gpu_session.release ();
  priv->decoded_tee = nullptr;
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->audio_sinkpad), nullptr);
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->audio_srcpad), nullptr);
  remove_elements (self, priv->audio_elements);
  priv->audio_convert = nullptr;
  priv->audio_built = false;
  priv->video_built = false;
  {
    priv->keyframe_epoch.reset ();
  }
  priv->gpu_frames = false;
  gst_caps_replace (&priv->video_caps, nullptr);
  std::lock_guard<std::mutex> sl (priv->settings_lock);
  priv->active_decoder.clear ();
  priv->active_encoder.clear ();
  priv->fallback_warned_decoder = false;
  priv->fallback_warned_encoder = false;
}

// ---------------------------------------------------------------- stats

static GstStructure *
make_stats (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  std::string dec, enc;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    dec = priv->active_decoder;
    enc = priv->active_encoder;
  }
  mirror::FrameLatencyStats f = priv->latency.stats ();
  return gst_structure_new (mirror::msg::kTranscodeStats, "frames-in", G_TYPE_UINT64, f.frames_in,
                            "frames-out", G_TYPE_UINT64, f.frames_out, "frames-dropped",
                            G_TYPE_UINT64, f.frames_dropped, "latency-p50-ms", G_TYPE_DOUBLE,
                            f.p50_ms, "latency-p99-ms", G_TYPE_DOUBLE, f.p99_ms, "decoder",
                            G_TYPE_STRING, dec.c_str (), "encoder", G_TYPE_STRING, enc.c_str (),
                            "hardware", G_TYPE_STRING, hardware_of (dec, enc).c_str (), nullptr);
}

static gboolean
stats_tick (GstClock *, GstClockTime, GstClockID, gpointer user_data)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (user_data);
  gst_element_post_message (GST_ELEMENT (self),
                            gst_message_new_element (GST_OBJECT (self), make_stats (self)));
  return TRUE;
}

static void
start_stats (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  GstClockTime interval;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    interval = priv->stats_interval;
  }
  if (interval == 0 || priv->stats_clock_id)
    return;
  GstClock *clock = gst_system_clock_obtain ();
  priv->stats_clock_id
      = gst_clock_new_periodic_id (clock, gst_clock_get_time (clock) + interval, interval);
  gst_clock_id_wait_async (priv->stats_clock_id, stats_tick, gst_object_ref (self),
                           (GDestroyNotify)gst_object_unref);
  gst_object_unref (clock);
}

static void
stop_stats (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  if (!priv->stats_clock_id)
    return;
  gst_clock_id_unschedule (priv->stats_clock_id);
  gst_clock_id_unref (priv->stats_clock_id);
  priv->stats_clock_id = nullptr;
}

static void
reset_stats (GstMirrorTranscodeBinPrivate *priv)
{
  priv->latency.reset ();
  gst_segment_init (&priv->sink_segment, GST_FORMAT_TIME);
  gst_segment_init (&priv->src0_segment, GST_FORMAT_TIME);
}

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
                         "Output video bitrate in bit/s, as in renditions and audio-bitrate "
                         "(when renditions is empty)",
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
      object_class, PROP_AUDIO_BITRATE,
      g_param_spec_int ("audio-bitrate", "Audio bitrate",
                        "AAC bitrate in bit/s when audio is transcoded (AAC input passes through)",
                        8000, 512000, DEFAULT_AUDIO_BITRATE, flags));
  g_object_class_install_property (
      object_class, PROP_MAX_GPU_SESSIONS,
      g_param_spec_uint ("max-gpu-sessions", "Max GPU sessions",
                         "GPU decode sessions the whole process may hold (decoder \"auto\"); "
                         "streams beyond it decode on the CPU; 0: no limit",
                         0, 1000, 0, flags));
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
                          "256 frames), decoder, encoder, hardware",
                          GST_TYPE_STRUCTURE, ro));

  gst_element_class_set_static_metadata (
      element_class, "Mirror transcoder", "Codec/Transcoder",
      "Decodes HEVC or H.264 once and encodes a ladder of H.264 renditions with keyframes on "
      "segment boundaries, on NVIDIA hardware when available, on the CPU otherwise; makes "
      "audio AAC",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (element_class, &audio_sink_template);
  gst_element_class_add_static_pad_template (element_class, &audio_src_template);

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
  gst_pad_add_probe (self->sinkpad,
                     (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST
                                       | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                     sink_data_probe, priv, nullptr);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->audio_sinkpad = gst_ghost_pad_new_no_target_from_template (
      "audio_sink", gst_element_class_get_pad_template (element_class, "audio_sink"));
  gst_pad_add_probe (self->audio_sinkpad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, audio_caps_probe,
                     self, nullptr);
  gst_element_add_pad (GST_ELEMENT (self), self->audio_sinkpad);
  self->audio_srcpad = gst_ghost_pad_new_no_target_from_template (
      "audio_src", gst_element_class_get_pad_template (element_class, "audio_src"));
  gst_element_add_pad (GST_ELEMENT (self), self->audio_srcpad);
}

static void
gst_mirror_transcode_bin_finalize (GObject *object)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (object);
  gst_caps_replace (&self->priv->video_caps, nullptr);
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
  case PROP_AUDIO_BITRATE:
    priv->audio_bitrate = g_value_get_int (value);
    break;
  case PROP_STATS_INTERVAL:
    priv->stats_interval = g_value_get_uint64 (value);
    break;
  case PROP_MAX_GPU_SESSIONS:
    priv->max_gpu_sessions = g_value_get_uint (value);
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
  case PROP_AUDIO_BITRATE:
    g_value_set_int (value, priv->audio_bitrate);
    break;
  case PROP_STATS_INTERVAL:
    g_value_set_uint64 (value, priv->stats_interval);
    break;
  case PROP_MAX_GPU_SESSIONS:
    g_value_set_uint (value, priv->max_gpu_sessions);
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
