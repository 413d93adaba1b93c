// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-mirrorh3sink
 *
 * Publishes the CMAF chunks of one rendition of one stream (the output of
 * mirrorcmafmux, whose #GstMirrorCmafMeta says what each buffer is) into the
 * process-wide Origin, which keeps the media store and the LL-HLS playlists
 * and serves them under /live/STREAM-ID/: index.m3u8 (multivariant),
 * RENDITION.m3u8, RENDITION/init.mp4, segments and parts, with blocking
 * playlist reload and preload hints. The Origin serves HTTPS/HTTP-1.1 on
 * #GstMirrorH3Sink:port (HTTP/3 on the same number follows) and plain HTTP
 * on #GstMirrorH3Sink:http-port when set; GET / is a player page.
 *
 * The Origin comes from a "mirror.origin" GstContext when the pipeline has
 * one (mirrord sets it); otherwise one is made from #GstMirrorH3Sink:port,
 * #GstMirrorH3Sink:cert and #GstMirrorH3Sink:key (a self-signed certificate
 * in the state directory when they are empty) and shared by every sink of
 * the process asking for that port. Sinks of one stream (video and audio
 * renditions) share the stream; when the last one stops, the playlists end
 * (EXT-X-ENDLIST) and the stream is removed a little later.
 *
 * The sink neither syncs to the clock nor prerolls: parts are published the
 * moment they are complete.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc is-live=true ! x264enc tune=zerolatency key-int-max=15 ! \
 *     h264parse ! mirrorcmafmux ! mirrorh3sink stream-id=test rendition=360p http-port=8080
 * ]| then open https://127.0.0.1:8443/?stream=test, or
 * `ffplay http://127.0.0.1:8080/live/test/index.m3u8`.
 */
#include "h3sink/gstmirrorh3sink.h"

#include <memory>
#include <mutex>
#include <string>

#include "cmafmux/gstmirrorcmafmeta.h"
#include "common/gstmirrorcontext.h"
#include "gstmirrorelements.h"
#include "hls/url_layout.h"
#include "origin/origin_handle.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_h3_sink_debug);
#define GST_CAT_DEFAULT gst_mirror_h3_sink_debug

#define DEFAULT_STREAM_ID nullptr
#define DEFAULT_RENDITION "main"
#define DEFAULT_PORT 8443
#define DEFAULT_CERT nullptr
#define DEFAULT_KEY nullptr
#define DEFAULT_HTTP_PORT 0
#define DEFAULT_PLAYLIST_LENGTH 10

enum {
  PROP_0,
  PROP_STREAM_ID,
  PROP_RENDITION,
  PROP_PORT,
  PROP_CERT,
  PROP_KEY,
  PROP_HTTP_PORT,
  PROP_PLAYLIST_LENGTH,
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
  guint http_port = DEFAULT_HTTP_PORT;
  guint playlist_length = DEFAULT_PLAYLIST_LENGTH;

  // Streaming state (start () to stop (), streaming thread).
  GstMirrorOriginSlot origin_slot;
  std::shared_ptr<mirror::Origin> origin; // from the context, else our own
  bool origin_from_context = false;
  std::string active_stream; // the stream we attached to, "" if none
  std::string active_rendition;
  std::shared_ptr<mirror::StreamStore> store;
  mirror::RenditionInfo info;
  bool warned_no_meta = false;
  // Peak bitrate over a segment, for the multivariant playlist's BANDWIDTH.
  guint64 segment_bytes = 0;
  GstClockTime segment_ns = 0;
  bool bandwidth_measured = false;
  guint64 parts = 0;
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
static void gst_mirror_h3_sink_set_context (GstElement *element, GstContext *context);
static gboolean gst_mirror_h3_sink_start (GstBaseSink *sink);
static gboolean gst_mirror_h3_sink_stop (GstBaseSink *sink);
static gboolean gst_mirror_h3_sink_set_caps (GstBaseSink *sink, GstCaps *caps);
static gboolean gst_mirror_h3_sink_event (GstBaseSink *sink, GstEvent *event);
static GstFlowReturn gst_mirror_h3_sink_render (GstBaseSink *sink, GstBuffer *buffer);

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
      object_class, PROP_HTTP_PORT,
      g_param_spec_uint ("http-port", "HTTP port",
                         "Port of plain HTTP/1.1 (curl, ffplay) of the Origin made when the "
                         "pipeline provides no \"mirror.origin\" context; 0: none",
                         0, 65535, DEFAULT_HTTP_PORT, flags));
  g_object_class_install_property (
      object_class, PROP_PLAYLIST_LENGTH,
      g_param_spec_uint ("playlist-length", "Playlist length",
                         "Seconds of media listed in the media playlist (segments older than "
                         "that stay fetchable for as long again), when this sink creates the "
                         "stream in an Origin of its own",
                         1, 3600, DEFAULT_PLAYLIST_LENGTH, flags));

  gst_element_class_set_static_metadata (
      element_class, "Mirror LL-HLS HTTP/3 sink", "Sink/Network",
      "Publishes CMAF chunks into the process-wide Origin, which serves them as Low-Latency HLS "
      "over HTTP/3 and HTTPS/HTTP-1.1",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_set_context);

  auto *sink_class = GST_BASE_SINK_CLASS (klass);
  sink_class->start = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_start);
  sink_class->stop = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_stop);
  sink_class->set_caps = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_set_caps);
  sink_class->event = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_event);
  sink_class->render = GST_DEBUG_FUNCPTR (gst_mirror_h3_sink_render);
}

static void
gst_mirror_h3_sink_init (GstMirrorH3Sink *self)
{
  self->priv = new GstMirrorH3SinkPrivate ();
  // A publisher, not a renderer: a part goes out the moment it is complete,
  // and the sink never holds up the pipeline's state changes.
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
  gst_base_sink_set_async_enabled (GST_BASE_SINK (self), FALSE);
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
  case PROP_HTTP_PORT:
    priv->http_port = g_value_get_uint (value);
    break;
  case PROP_PLAYLIST_LENGTH:
    priv->playlist_length = g_value_get_uint (value);
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
  case PROP_HTTP_PORT:
    g_value_set_uint (value, priv->http_port);
    break;
  case PROP_PLAYLIST_LENGTH:
    g_value_set_uint (value, priv->playlist_length);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void
gst_mirror_h3_sink_set_context (GstElement *element, GstContext *context)
{
  auto *priv = GST_MIRROR_H3_SINK (element)->priv;
  if (priv->origin_slot.take_context (element, context)) {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    priv->origin = priv->origin_slot.get ();
    priv->origin_from_context = priv->origin_slot.from_pipeline ();
  }
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

// The Origin to publish into: the context's (set on the pipeline, or handed
// over in answer to NEED_CONTEXT), else this process's Origin for our port.
static bool
ensure_origin (GstMirrorH3Sink *self)
{
  auto *priv = self->priv;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    if (priv->origin)
      return true;
  }
  // The pipeline's (mirrord sets it on every pipeline), or a sibling's.
  if (priv->origin_slot.find (GST_ELEMENT (self)))
    return true;
  mirror::OriginConfig config;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    if (priv->origin)
      return true;
    config.tls_port = (uint16_t)priv->port;
    if (priv->http_port)
      config.http_port = (uint16_t)priv->http_port;
    config.cert_file = priv->cert;
    config.key_file = priv->key;
  }
  std::string error;
  auto origin = mirror::Origin::shared_for_port (config, &error);
  if (!origin) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
                       ("%s: cannot start an Origin on port %u: %s", GST_OBJECT_NAME (self),
                        (guint)*config.tls_port, error.c_str ()),
                       ("no \"%s\" context in the pipeline, so the sink made its own",
                        MIRROR_ORIGIN_CONTEXT_TYPE));
    return false;
  }
  if (!origin->identity ().spki_pin.empty ())
    GST_INFO_OBJECT (self, "Origin on port %u, certificate %s, SPKI pin %s", origin->tls_port (),
                     origin->identity ().cert_file.c_str (), origin->identity ().spki_pin.c_str ());
  // Siblings of this prototype (its audio sink, say) share it.
  priv->origin_slot.share (GST_ELEMENT (self), origin);
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  priv->origin = std::move (origin);
  priv->origin_from_context = false;
  return true;
}

static gboolean
gst_mirror_h3_sink_start (GstBaseSink *sink)
{
  auto *self = GST_MIRROR_H3_SINK (sink);
  auto *priv = self->priv;
  std::string stream_id, rendition;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    stream_id = priv->stream_id;
    rendition = priv->rendition;
  }
  if (stream_id.empty () || stream_id.find ('/') != std::string::npos) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                       ("%s: stream-id \"%s\" is not usable: set a name without '/'",
                        GST_OBJECT_NAME (self), stream_id.c_str ()),
                       (nullptr));
    return FALSE;
  }
  if (!mirror::is_valid_rendition_name (rendition) || rendition == "index") {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                       ("%s: stream %s: rendition \"%s\" is not usable: letters, digits, '-' "
                        "and '_' only, and not \"index\"",
                        GST_OBJECT_NAME (self), stream_id.c_str (), rendition.c_str ()),
                       (nullptr));
    return FALSE;
  }
  if (!ensure_origin (self))
    return FALSE;
  priv->active_rendition = rendition;
  priv->warned_no_meta = false;
  priv->segment_bytes = 0;
  priv->segment_ns = 0;
  priv->bandwidth_measured = false;
  priv->parts = 0;
  priv->info = mirror::RenditionInfo ();
  priv->info.name = rendition;
  return TRUE;
}

static gboolean
gst_mirror_h3_sink_stop (GstBaseSink *sink)
{
  auto *priv = GST_MIRROR_H3_SINK (sink)->priv;
  if (!priv->active_stream.empty () && priv->origin)
    priv->origin->detach (priv->active_stream);
  priv->active_stream.clear ();
  priv->store.reset ();
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  if (!priv->origin_from_context) {
    // Our own Origin stops with the last user (a sibling, or this pipeline
    // for as long as it keeps the context it was given).
    priv->origin.reset ();
    priv->origin_slot.reset ();
  }
  return TRUE;
}

static gboolean
gst_mirror_h3_sink_set_caps (GstBaseSink *sink, GstCaps *caps)
{
  auto *self = GST_MIRROR_H3_SINK (sink);
  auto *priv = self->priv;
  const GstStructure *s = gst_caps_get_structure (caps, 0);

  if (!priv->store) {
    std::string stream_id;
    guint playlist_length;
    std::shared_ptr<mirror::Origin> origin;
    {
      std::lock_guard<std::mutex> lk (priv->settings_lock);
      stream_id = priv->stream_id;
      playlist_length = priv->playlist_length;
      origin = priv->origin;
    }
    mirror::StreamConfig config = origin->config ().stream_defaults;
    guint64 part = 0, segment = 0;
    if (gst_structure_get_uint64 (s, "part-duration", &part) && part > 0)
      config.part_target_ns = (int64_t)part;
    if (gst_structure_get_uint64 (s, "segment-duration", &segment) && segment > 0)
      config.segment_target_ns = (int64_t)segment;
    if (!priv->origin_from_context)
      config.playlist_length_ns = (int64_t)playlist_length * GST_SECOND;
    priv->store = origin->attach (stream_id, config);
    priv->active_stream = stream_id;
  }

  mirror::RenditionInfo &info = priv->info;
  const gchar *codecs = gst_structure_get_string (s, "codecs");
  info.codecs = codecs ? codecs : "";
  info.kind = g_str_has_prefix (info.codecs.c_str (), "mp4a") ? mirror::RenditionKind::kAudio
                                                              : mirror::RenditionKind::kVideo;
  gint width = 0, height = 0, num = 0, den = 1;
  if (gst_structure_get_int (s, "width", &width) && gst_structure_get_int (s, "height", &height)) {
    info.width = (unsigned)width;
    info.height = (unsigned)height;
  }
  if (gst_structure_get_fraction (s, "framerate", &num, &den) && num > 0 && den > 0)
    info.frame_rate = (double)num / den;
  guint64 part_target = 0;
  if (gst_structure_get_uint64 (s, "part-duration", &part_target))
    info.part_target_ns = (int64_t)part_target;
  if (!priv->store->add_rendition (info)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
                       ("%s: stream %s: the Origin refused rendition \"%s\"",
                        GST_OBJECT_NAME (self), priv->active_stream.c_str (), info.name.c_str ()),
                       (nullptr));
    return FALSE;
  }
  GST_INFO_OBJECT (self, "stream %s rendition %s: %s", priv->active_stream.c_str (),
                   info.name.c_str (), info.codecs.c_str ());
  return TRUE;
}

static gboolean
gst_mirror_h3_sink_event (GstBaseSink *sink, GstEvent *event)
{
  auto *priv = GST_MIRROR_H3_SINK (sink)->priv;
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && priv->store)
    priv->store->finish (priv->active_rendition);
  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

// The store keeps the buffer's memory, mapped, for as long as a viewer or the
// window needs it: one map per part, no copy per viewer.
static mirror::Bytes
bytes_from_buffer (GstBuffer *buffer)
{
  auto *map = new GstMapInfo;
  GstBuffer *ref = gst_buffer_ref (buffer);
  if (!gst_buffer_map (ref, map, GST_MAP_READ)) {
    delete map;
    gst_buffer_unref (ref);
    return {};
  }
  return mirror::Bytes::wrap (map->data, map->size, [ref, map] () {
    gst_buffer_unmap (ref, map);
    gst_buffer_unref (ref);
    delete map;
  });
}

static GstFlowReturn
gst_mirror_h3_sink_render (GstBaseSink *sink, GstBuffer *buffer)
{
  auto *self = GST_MIRROR_H3_SINK (sink);
  auto *priv = self->priv;
  GstMirrorCmafMeta *meta = gst_buffer_get_mirror_cmaf_meta (buffer);
  if (!meta) {
    if (!priv->warned_no_meta)
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
                           ("%s: stream %s: dropping buffers without a CMAF meta: link "
                            "mirrorcmafmux directly before this sink",
                            GST_OBJECT_NAME (self), priv->active_stream.c_str ()),
                           (nullptr));
    priv->warned_no_meta = true;
    return GST_FLOW_OK;
  }
  if (!priv->store) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
                       ("%s: received CMAF chunks before caps", GST_OBJECT_NAME (self)), (nullptr));
    return GST_FLOW_ERROR;
  }
  mirror::Bytes bytes = bytes_from_buffer (buffer);
  const std::string &rendition = priv->active_rendition;

  if (meta->kind == GST_MIRROR_CMAF_KIND_INIT) {
    priv->store->set_init (rendition, std::move (bytes));
    return GST_FLOW_OK;
  }

  if (meta->segment_start) {
    // BANDWIDTH in the multivariant playlist: the first whole segment's rate
    // replaces the first part's guess, then the peak over segments, which
    // is republished only when it grows by a tenth so the playlist stays
    // stable.
    if (priv->segment_ns > 0) {
      auto bps
          = (unsigned)gst_util_uint64_scale (priv->segment_bytes * 8, GST_SECOND, priv->segment_ns);
      if (!priv->bandwidth_measured || bps > priv->info.bandwidth + priv->info.bandwidth / 10) {
        priv->info.bandwidth = bps;
        priv->bandwidth_measured = true;
        priv->store->add_rendition (priv->info);
      }
    }
    priv->segment_bytes = 0;
    priv->segment_ns = 0;
  }
  priv->segment_bytes += bytes.size ();
  priv->segment_ns += meta->duration;
  if (priv->info.bandwidth == 0 && meta->duration > 0) {
    // Until a segment is complete: the first part's rate.
    priv->info.bandwidth
        = (unsigned)gst_util_uint64_scale (bytes.size () * 8, GST_SECOND, meta->duration);
    priv->store->add_rendition (priv->info);
  }

  mirror::PartInput part;
  part.msn = meta->media_sequence;
  part.part_index = meta->part_index;
  part.segment_start = meta->segment_start;
  part.duration_ns = (int64_t)meta->duration;
  part.independent = meta->independent;
  part.last_in_segment = meta->last_in_segment;
  part.shortened = meta->shortened;
  if (meta->wallclock)
    part.wallclock_ns = (int64_t)meta->wallclock;
  part.bytes = std::move (bytes);
  // A gap in this sink's media; or its first part, into a rendition that
  // another sink published before it (mirrord restarted the pipeline while
  // the Origin held the stream): a new timeline either way.
  bool discontinuity = GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  if (priv->parts == 0) {
    auto progress = priv->store->progress (rendition);
    discontinuity = progress && progress->has_parts;
  }
  if (discontinuity)
    priv->store->mark_discontinuity (rendition);
  if (priv->store->add_part (rendition, part))
    ++priv->parts;
  return GST_FLOW_OK;
}

static GstStateChangeReturn
gst_mirror_h3_sink_change_state (GstElement *element, GstStateChange transition)
{
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}
