/**
 * SECTION:element-mirrortranscodebin
 *
 * Decodes the incoming video once and encodes it into a ladder of H.264
 * renditions (640x360 at 400 kbit/s by default), with keyframes aligned to
 * segment boundaries. The decoder and encoder are chosen at run time: NVIDIA
 * nvcodec elements when the GStreamer registry has them, else libav/x264,
 * unless #GstMirrorTranscodeBin:decoder or #GstMirrorTranscodeBin:encoder
 * names an element factory.
 *
 * Skeleton: the properties and the always pads `sink` and `src` (ghost pads
 * with no target yet) exist; there is no media path yet, so the element
 * refuses to go to PAUSED with a "not implemented yet" error.
 */
#include "transcodebin/gstmirrortranscodebin.h"

#include <mutex>
#include <string>

#include "gstmirrorelements.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_transcode_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

#define DEFAULT_DECODER "auto"
#define DEFAULT_ENCODER "auto"
#define DEFAULT_RENDITIONS nullptr
#define DEFAULT_WIDTH 640
#define DEFAULT_HEIGHT 360
#define DEFAULT_BITRATE 400
#define DEFAULT_KEYFRAME_INTERVAL (500 * GST_MSECOND)

enum {
  PROP_0,
  PROP_DECODER,
  PROP_ENCODER,
  PROP_RENDITIONS,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_BITRATE,
  PROP_KEYFRAME_INTERVAL,
};

static GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                               GST_STATIC_CAPS ("video/x-h265, alignment = (string) au; "
                                                "video/x-h264, alignment = (string) au"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-h264, stream-format = (string) avc, alignment = (string) au"));

struct GstMirrorTranscodeBinPrivate {
  std::mutex settings_lock;
  std::string decoder = DEFAULT_DECODER;
  std::string encoder = DEFAULT_ENCODER;
  std::string renditions;
  gint width = DEFAULT_WIDTH;
  gint height = DEFAULT_HEIGHT;
  guint bitrate = DEFAULT_BITRATE;
  GstClockTime keyframe_interval = DEFAULT_KEYFRAME_INTERVAL;
};

struct _GstMirrorTranscodeBin {
  GstBin parent;
  GstMirrorTranscodeBinPrivate *priv;
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

static void
gst_mirror_transcode_bin_class_init (GstMirrorTranscodeBinClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto flags = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  object_class->finalize = gst_mirror_transcode_bin_finalize;
  object_class->set_property = gst_mirror_transcode_bin_set_property;
  object_class->get_property = gst_mirror_transcode_bin_get_property;

  g_object_class_install_property (
      object_class, PROP_DECODER,
      g_param_spec_string ("decoder", "Decoder",
                           "Video decoder: \"auto\" (the highest-ranked available, nvcodec when "
                           "registered) or an element factory name such as avdec_h265",
                           DEFAULT_DECODER, flags));
  g_object_class_install_property (
      object_class, PROP_ENCODER,
      g_param_spec_string ("encoder", "Encoder",
                           "H.264 encoder: \"auto\" (nvcodec when registered, else x264enc) or an "
                           "element factory name such as x264enc",
                           DEFAULT_ENCODER, flags));
  g_object_class_install_property (
      object_class, PROP_RENDITIONS,
      g_param_spec_string ("renditions", "Renditions",
                           "Rendition ladder as WIDTHxHEIGHT@KBITPS, comma-separated (e.g. "
                           "\"1280x720@2500,640x360@400\"); empty: one rendition from width, "
                           "height and bitrate",
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
                         "Output video bitrate in kbit/s (when renditions is empty)", 16, 1000000,
                         DEFAULT_BITRATE, flags));
  g_object_class_install_property (
      object_class, PROP_KEYFRAME_INTERVAL,
      g_param_spec_uint64 ("keyframe-interval", "Keyframe interval",
                           "Time between forced keyframes, in nanoseconds; set it to the segment "
                           "duration so every segment starts on a keyframe",
                           GST_MSECOND, G_MAXUINT64, DEFAULT_KEYFRAME_INTERVAL, flags));

  gst_element_class_set_static_metadata (
      element_class, "Mirror transcoder", "Codec/Transcoder",
      "Decodes HEVC or H.264 once and encodes a ladder of H.264 renditions with keyframes on "
      "segment boundaries, on NVIDIA hardware when available, on the CPU otherwise",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_transcode_bin_change_state);
}

static void
gst_mirror_transcode_bin_init (GstMirrorTranscodeBin *self)
{
  self->priv = new GstMirrorTranscodeBinPrivate ();

  // Targets come with the decode/encode chain.
  auto *element_class = GST_ELEMENT_GET_CLASS (self);
  for (const gchar *name : { "sink", "src" }) {
    GstPad *pad = gst_ghost_pad_new_no_target_from_template (
        name, gst_element_class_get_pad_template (element_class, name));
    gst_element_add_pad (GST_ELEMENT (self), pad);
  }
}

static void
gst_mirror_transcode_bin_finalize (GObject *object)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (object);
  delete self->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_transcode_bin_set_property (GObject *object, guint prop_id, const GValue *value,
                                       GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_TRANSCODE_BIN (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_DECODER: {
    const gchar *name = g_value_get_string (value);
    priv->decoder = name ? name : DEFAULT_DECODER;
    break;
  }
  case PROP_ENCODER: {
    const gchar *name = g_value_get_string (value);
    priv->encoder = name ? name : DEFAULT_ENCODER;
    break;
  }
  case PROP_RENDITIONS: {
    const gchar *ladder = g_value_get_string (value);
    priv->renditions = ladder ? ladder : "";
    break;
  }
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
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gst_mirror_transcode_bin_get_property (GObject *object, guint prop_id, GValue *value,
                                       GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_TRANSCODE_BIN (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_DECODER:
    g_value_set_string (value, priv->decoder.c_str ());
    break;
  case PROP_ENCODER:
    g_value_set_string (value, priv->encoder.c_str ());
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
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static GstStateChangeReturn
gst_mirror_transcode_bin_change_state (GstElement *element, GstStateChange transition)
{
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    GST_ELEMENT_ERROR (element, CORE, NOT_IMPLEMENTED,
                       ("%s: mirrortranscodebin is not implemented yet and cannot transcode",
                        GST_OBJECT_NAME (element)),
                       ("refusing READY->PAUSED: the decode/scale/encode chain is still missing"));
    return GST_STATE_CHANGE_FAILURE;
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}
