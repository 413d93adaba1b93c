/**
 * SECTION:element-mirrorcmafmux
 *
 * Packages one elementary stream as CMAF fragmented MP4 for LL-HLS: an init
 * segment, then one moof+mdat chunk per part (#GstMirrorCmafMux:part-duration);
 * segments (#GstMirrorCmafMux:segment-duration) start on keyframes. It never
 * touches files or sockets: output buffers are flagged so a sink can cut them
 * (init HEADER|DISCONT, segment start HEADER, other chunks HEADER|DELTA_UNIT,
 * last sample MARKER) and carry a meta with the media sequence, part index,
 * duration and independence.
 *
 * Skeleton: the properties and the always pads `sink` and `src` exist; there
 * is no muxing yet, so the element refuses to go to PAUSED with a "not
 * implemented yet" error.
 */
#include "cmafmux/gstmirrorcmafmux.h"

#include <mutex>

#include "gstmirrorelements.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_cmaf_mux_debug);
#define GST_CAT_DEFAULT gst_mirror_cmaf_mux_debug

#define DEFAULT_PART_DURATION (100 * GST_MSECOND)
#define DEFAULT_SEGMENT_DURATION (500 * GST_MSECOND)

enum {
  PROP_0,
  PROP_PART_DURATION,
  PROP_SEGMENT_DURATION,
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

  gst_element_class_set_static_metadata (
      element_class, "Mirror CMAF muxer", "Codec/Muxer",
      "Packages H.264, H.265 or AAC as CMAF fragmented MP4 for LL-HLS: an init segment, one "
      "moof+mdat chunk per part, segments starting on keyframes, each buffer flagged and "
      "described for the sink that publishes it",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_cmaf_mux_change_state);
}

static void
gst_mirror_cmaf_mux_init (GstMirrorCmafMux *self)
{
  self->priv = new GstMirrorCmafMuxPrivate ();

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}

static void
gst_mirror_cmaf_mux_finalize (GObject *object)
{
  auto *self = GST_MIRROR_CMAF_MUX (object);
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
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static GstStateChangeReturn
gst_mirror_cmaf_mux_change_state (GstElement *element, GstStateChange transition)
{
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    GST_ELEMENT_ERROR (element, CORE, NOT_IMPLEMENTED,
                       ("%s: mirrorcmafmux is not implemented yet and cannot package media",
                        GST_OBJECT_NAME (element)),
                       ("refusing READY->PAUSED: CMAF muxing is still missing"));
    return GST_STATE_CHANGE_FAILURE;
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}
