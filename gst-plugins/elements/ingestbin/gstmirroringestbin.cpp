/**
 * SECTION:element-mirroringestbin
 *
 * Receives one contribution feed (SRT or RTP, HEVC or H.264 with optional
 * AAC) through the process-wide hubs, holds it in a bounded leaky queue (the
 * "ring", #GstMirrorIngestBin:ring-size bytes; the oldest data is dropped and
 * counted), demuxes and parses it, registers the stream in the registry and
 * exposes one sometimes pad per elementary stream: `video_%u`, `audio_%u`.
 *
 * The registry comes from a "mirror.registry" GstContext when the pipeline
 * has one (mirrord sets it), else it is made from #GstMirrorIngestBin:registry
 * and shared with the rest of the pipeline.
 *
 * Skeleton: the properties, pad templates and the registry context work; the
 * media path does not exist yet, so the element refuses to go to PAUSED with
 * a "not implemented yet" error.
 */
#include "ingestbin/gstmirroringestbin.h"

#include <mutex>
#include <string>

#include "common/gstmirrorcontext.h"
#include "gstmirrorelements.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_ingest_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_ingest_bin_debug

#define DEFAULT_URI nullptr
#define DEFAULT_STREAM_ID nullptr
#define DEFAULT_REGISTRY "memory://"
#define DEFAULT_RING_SIZE (4 * 1024 * 1024)
#define MIN_RING_SIZE (64 * 1024)

enum {
  PROP_0,
  PROP_URI,
  PROP_STREAM_ID,
  PROP_REGISTRY,
  PROP_RING_SIZE,
};

static GstStaticPadTemplate video_template
    = GST_STATIC_PAD_TEMPLATE ("video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
                               GST_STATIC_CAPS ("video/x-h265, alignment = (string) au; "
                                                "video/x-h264, alignment = (string) au"));
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE (
    "audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS ("audio/mpeg, mpegversion = (int) { 2, 4 }, framed = (boolean) true"));

struct GstMirrorIngestBinPrivate {
  std::mutex settings_lock;
  std::string uri;
  std::string stream_id;
  std::string registry_uri = DEFAULT_REGISTRY;
  guint ring_size = DEFAULT_RING_SIZE;

  GstMirrorRegistrySlot registry;
};

struct _GstMirrorIngestBin {
  GstBin parent;
  GstMirrorIngestBinPrivate *priv;
};

#define gst_mirror_ingest_bin_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorIngestBin, gst_mirror_ingest_bin, GST_TYPE_BIN,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_ingest_bin_debug, "mirroringestbin", 0,
                                                  "Mirror ingest bin"));
GST_ELEMENT_REGISTER_DEFINE (mirroringestbin, "mirroringestbin", GST_RANK_NONE,
                             GST_TYPE_MIRROR_INGEST_BIN);

static void gst_mirror_ingest_bin_finalize (GObject *object);
static void gst_mirror_ingest_bin_set_property (GObject *object, guint prop_id, const GValue *value,
                                                GParamSpec *pspec);
static void gst_mirror_ingest_bin_get_property (GObject *object, guint prop_id, GValue *value,
                                                GParamSpec *pspec);
static GstStateChangeReturn gst_mirror_ingest_bin_change_state (GstElement *element,
                                                                GstStateChange transition);
static void gst_mirror_ingest_bin_set_context (GstElement *element, GstContext *context);

static void
gst_mirror_ingest_bin_class_init (GstMirrorIngestBinClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);

  object_class->finalize = gst_mirror_ingest_bin_finalize;
  object_class->set_property = gst_mirror_ingest_bin_set_property;
  object_class->get_property = gst_mirror_ingest_bin_get_property;

  g_object_class_install_property (
      object_class, PROP_URI,
      g_param_spec_string (
          "uri", "URI",
          "Where the feed arrives, as a URI: srt://:6000?streamid=NAME (through "
          "the SRT hub) or rtp://:5004 (through the RTP hub)",
          DEFAULT_URI,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      object_class, PROP_STREAM_ID,
      g_param_spec_string (
          "stream-id", "Stream ID",
          "Registry id (a name) under which the stream is registered; empty: "
          "not registered",
          DEFAULT_STREAM_ID,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      object_class, PROP_REGISTRY,
      g_param_spec_string (
          "registry", "Registry",
          "Registry URI (memory:// or redis://host:port/db) of the registry to "
          "make when stream-id is set and the pipeline provides no "
          "\"mirror.registry\" context",
          DEFAULT_REGISTRY,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      object_class, PROP_RING_SIZE,
      g_param_spec_uint (
          "ring-size", "Ring size",
          "Size of the bounded leaky queue between the network and the demuxer, "
          "in bytes; when full the oldest data is dropped and counted",
          MIN_RING_SIZE, G_MAXUINT, DEFAULT_RING_SIZE,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_set_static_metadata (
      element_class, "Mirror ingest", "Source/Network",
      "Receives one SRT or RTP contribution feed (HEVC or H.264, optional AAC) through the "
      "process-wide hubs, buffers it in a bounded leaky ring, demuxes and parses it, registers "
      "the stream and exposes its elementary streams on video_%u and audio_%u pads",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_ingest_bin_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR (gst_mirror_ingest_bin_set_context);
}

static void
gst_mirror_ingest_bin_init (GstMirrorIngestBin *self)
{
  self->priv = new GstMirrorIngestBinPrivate ();
}

static void
gst_mirror_ingest_bin_finalize (GObject *object)
{
  auto *self = GST_MIRROR_INGEST_BIN (object);
  delete self->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_ingest_bin_set_property (GObject *object, guint prop_id, const GValue *value,
                                    GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_INGEST_BIN (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_URI: {
    const gchar *uri = g_value_get_string (value);
    priv->uri = uri ? uri : "";
    break;
  }
  case PROP_STREAM_ID: {
    const gchar *id = g_value_get_string (value);
    priv->stream_id = id ? id : "";
    break;
  }
  case PROP_REGISTRY: {
    const gchar *uri = g_value_get_string (value);
    priv->registry_uri = uri ? uri : DEFAULT_REGISTRY;
    break;
  }
  case PROP_RING_SIZE:
    priv->ring_size = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gst_mirror_ingest_bin_get_property (GObject *object, guint prop_id, GValue *value,
                                    GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_INGEST_BIN (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_URI:
    g_value_set_string (value, priv->uri.empty () ? nullptr : priv->uri.c_str ());
    break;
  case PROP_STREAM_ID:
    g_value_set_string (value, priv->stream_id.empty () ? nullptr : priv->stream_id.c_str ());
    break;
  case PROP_REGISTRY:
    g_value_set_string (value, priv->registry_uri.c_str ());
    break;
  case PROP_RING_SIZE:
    g_value_set_uint (value, priv->ring_size);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static GstStateChangeReturn
gst_mirror_ingest_bin_change_state (GstElement *element, GstStateChange transition)
{
  auto *priv = GST_MIRROR_INGEST_BIN (element)->priv;

  switch (transition) {
  case GST_STATE_CHANGE_NULL_TO_READY: {
    std::string stream_id, registry_uri;
    {
      std::lock_guard<std::mutex> lk (priv->settings_lock);
      stream_id = priv->stream_id;
      registry_uri = priv->registry_uri;
    }
    if (!stream_id.empty () && !priv->registry.ensure (element, registry_uri))
      return GST_STATE_CHANGE_FAILURE;
    break;
  }
  case GST_STATE_CHANGE_READY_TO_PAUSED:
    GST_ELEMENT_ERROR (element, CORE, NOT_IMPLEMENTED,
                       ("%s: mirroringestbin is not implemented yet and cannot receive a feed",
                        GST_OBJECT_NAME (element)),
                       ("refusing READY->PAUSED: the SRT/RTP media path is still missing"));
    return GST_STATE_CHANGE_FAILURE;
  default:
    break;
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

static void
gst_mirror_ingest_bin_set_context (GstElement *element, GstContext *context)
{
  GST_MIRROR_INGEST_BIN (element)->priv->registry.take_context (element, context);
  // GstBin hands it on to the children as well.
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}
