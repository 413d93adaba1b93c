/**
 * SECTION:element-mirrorh3sink
 *
 * Publishes the CMAF chunks of one rendition of one stream (from
 * mirrorcmafmux) into the process-wide Origin, which keeps the media store
 * and LL-HLS playlists and serves them over HTTP/3 and HTTPS/HTTP-1.1 (with
 * Alt-Svc). The Origin comes from a "mirror.origin" GstContext when the
 * pipeline has one (mirrord sets it); otherwise one is made from
 * #GstMirrorH3Sink:port, #GstMirrorH3Sink:cert and #GstMirrorH3Sink:key and
 * shared by every sink of the process asking for that port.
 *
 * Skeleton: the properties and the always pad `sink` exist; there is no
 * Origin yet, so the element refuses to go to PAUSED with a "not implemented
 * yet" error.
 */
#include "h3sink/gstmirrorh3sink.h"

#include <mutex>
#include <string>

#include "gstmirrorelements.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_h3_sink_debug);
#define GST_CAT_DEFAULT gst_mirror_h3_sink_debug

#define DEFAULT_STREAM_ID nullptr
#define DEFAULT_RENDITION "main"
#define DEFAULT_PORT 8443
#define DEFAULT_CERT nullptr
#define DEFAULT_KEY nullptr
#define DEFAULT_PLAYLIST_LENGTH 10
#define DEFAULT_MAX_FILES 20

enum {
  PROP_0,
  PROP_STREAM_ID,
  PROP_RENDITION,
  PROP_PORT,
  PROP_CERT,
  PROP_KEY,
  PROP_PLAYLIST_LENGTH,
  PROP_MAX_FILES,
};

static GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                               GST_STATIC_CAPS ("video/quicktime, variant = (string) cmaf"));

struct GstMirrorH3SinkPrivate {
  std::mutex settings_lock;
  std::string stream_id;
  std::string rendition = DEFAULT_RENDITION;
  guint port = DEFAULT_PORT;
  std::string cert;
  std::string key;
  guint playlist_length = DEFAULT_PLAYLIST_LENGTH;
  guint max_files = DEFAULT_MAX_FILES;
};

struct _GstMirrorH3Sink {
  GstBaseSink parent;
  GstMirrorH3SinkPrivate *priv;
};

#define gst_mirror_h3_sink_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorH3Sink, gst_mirror_h3_sink, GST_TYPE_BASE_SINK,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_h3_sink_debug, "mirrorh3sink", 0,
                                                  "Mirror LL-HLS HTTP/3 sink"));
GST_ELEMENT_REGISTER_DEFINE (mirrorh3sink, "mirrorh3sink", GST_RANK_NONE, GST_TYPE_MIRROR_H3_SINK);

static void gst_mirror_h3_sink_finalize (GObject *object);
static void gst_mirror_h3_sink_set_property (GObject *object, guint prop_id, const GValue *value,
                                             GParamSpec *pspec);
static void gst_mirror_h3_sink_get_property (GObject *object, guint prop_id, GValue *value,
                                             GParamSpec *pspec);
static GstStateChangeReturn gst_mirror_h3_sink_change_state (GstElement *element,
                                                             GstStateChange transition);

static void
gst_mirror_h3_sink_class_init (GstMirrorH3SinkClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto flags = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);

  object_class->finalize = gst_mirror_h3_sink_finalize;
  object_class->set_property = gst_mirror_h3_sink_set_property;
  object_class->get_property = gst_mirror_h3_sink_get_property;

  g_object_class_install_property (
      object_class, PROP_STREAM_ID,
      g_param_spec_string ("stream-id", "Stream ID",
                           "Registry id (a name) of the stream; its playlists are served under "
                           "/live/STREAM-ID/",
                           DEFAULT_STREAM_ID, flags));
  g_object_class_install_property (
      object_class, PROP_RENDITION,
      g_param_spec_string ("rendition", "Rendition",
                           "Name (a URL path segment) of the rendition these chunks belong to, "
                           "e.g. 360p",
                           DEFAULT_RENDITION, flags));
  g_object_class_install_property (
      object_class, PROP_PORT,
      g_param_spec_uint ("port", "Port",
                         "Port number of the Origin to publish to: HTTP/3 on UDP and HTTPS on TCP",
                         1, 65535, DEFAULT_PORT, flags));
  g_object_class_install_property (
      object_class, PROP_CERT,
      g_param_spec_string ("cert", "Certificate",
                           "Path of the PEM certificate chain file of the Origin made when the "
                           "pipeline provides no \"mirror.origin\" context; empty: self-signed",
                           DEFAULT_CERT, flags));
  g_object_class_install_property (
      object_class, PROP_KEY,
      g_param_spec_string ("key", "Private key",
                           "Path of the PEM private key file matching cert; empty: self-signed",
                           DEFAULT_KEY, flags));
  g_object_class_install_property (
      object_class, PROP_PLAYLIST_LENGTH,
      g_param_spec_uint ("playlist-length", "Playlist length",
                         "Number of segments listed in the media playlist", 1, G_MAXUINT,
                         DEFAULT_PLAYLIST_LENGTH, flags));
  g_object_class_install_property (
      object_class, PROP_MAX_FILES,
      g_param_spec_uint ("max-files", "Max files",
                         "Number of segments kept in the media store (at least playlist-length; "
                         "older ones are dropped); 0: keep all",
                         0, G_MAXUINT, DEFAULT_MAX_FILES, flags));

  gst_element_class_set_static_metadata (
      element_class, "Mirror LL-HLS HTTP/3 sink", "Sink/Network",
      "Publishes CMAF chunks into the process-wide Origin, which serves them as Low-Latency HLS "
      "over HTTP/3 and HTTPS/HTTP-1.1",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_change_state);
}

static void
gst_mirror_h3_sink_init (GstMirrorH3Sink *self)
{
  self->priv = new GstMirrorH3SinkPrivate ();
}

static void
gst_mirror_h3_sink_finalize (GObject *object)
{
  auto *self = GST_MIRROR_H3_SINK (object);
  delete self->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_h3_sink_set_property (GObject *object, guint prop_id, const GValue *value,
                                 GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_H3_SINK (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
  case PROP_STREAM_ID: {
    const gchar *id = g_value_get_string (value);
    priv->stream_id = id ? id : "";
    break;
  }
  case PROP_RENDITION: {
    const gchar *rendition = g_value_get_string (value);
    priv->rendition = rendition ? rendition : DEFAULT_RENDITION;
    break;
  }
  case PROP_PORT:
    priv->port = g_value_get_uint (value);
    break;
  case PROP_CERT: {
    const gchar *path = g_value_get_string (value);
    priv->cert = path ? path : "";
    break;
  }
  case PROP_KEY: {
    const gchar *path = g_value_get_string (value);
    priv->key = path ? path : "";
    break;
  }
  case PROP_PLAYLIST_LENGTH:
    priv->playlist_length = g_value_get_uint (value);
    break;
  case PROP_MAX_FILES:
    priv->max_files = g_value_get_uint (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gst_mirror_h3_sink_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_H3_SINK (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  auto optional = [] (const std::string &s) { return s.empty () ? nullptr : s.c_str (); };
  switch (prop_id) {
  case PROP_STREAM_ID:
    g_value_set_string (value, optional (priv->stream_id));
    break;
  case PROP_RENDITION:
    g_value_set_string (value, priv->rendition.c_str ());
    break;
  case PROP_PORT:
    g_value_set_uint (value, priv->port);
    break;
  case PROP_CERT:
    g_value_set_string (value, optional (priv->cert));
    break;
  case PROP_KEY:
    g_value_set_string (value, optional (priv->key));
    break;
  case PROP_PLAYLIST_LENGTH:
    g_value_set_uint (value, priv->playlist_length);
    break;
  case PROP_MAX_FILES:
    g_value_set_uint (value, priv->max_files);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static GstStateChangeReturn
gst_mirror_h3_sink_change_state (GstElement *element, GstStateChange transition)
{
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    GST_ELEMENT_ERROR (element, CORE, NOT_IMPLEMENTED,
                       ("%s: mirrorh3sink is not implemented yet and cannot serve LL-HLS",
                        GST_OBJECT_NAME (element)),
                       ("refusing READY->PAUSED: the Origin (media store, HTTP/3 server) is "
                        "still missing"));
    return GST_STATE_CHANGE_FAILURE;
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}
