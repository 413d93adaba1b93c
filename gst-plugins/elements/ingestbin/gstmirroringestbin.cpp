// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-mirroringestbin
 *
 * Receives one contribution feed (SRT or RTP, HEVC or H.264 with optional
 * AAC) through the process-wide hubs, holds it in a bounded leaky queue (the
 * "ring", #GstMirrorIngestBin:ring-size bytes; the oldest data is dropped and
 * counted), demuxes and parses it, registers the stream in the registry and
 * exposes one sometimes pad per elementary stream: `video_%u`, `audio_%u`.
 *
 * #GstMirrorIngestBin:uri says where the feed comes from:
 *
 * - `srt://:6000?streamid=cam1`: the caller with that stream id, through the
 *   process-wide SRT hub for the port (one listener per port, shared by every
 *   stream of the process). `latency` (ms), `passphrase` and `pbkeylen` set
 *   the hub's options when this element starts it (gst-launch-1.0
 *   prototypes); in mirrord the hub already exists and its configuration wins.
 * - `srt://host:port?mode=caller&streamid=cam1`: pull from a remote SRT
 *   listener. A failed or broken connection is tried again, 1 s later and
 *   then twice as long after each failure, up to 30 s, until the element
 *   stops; each failed attempt posts `mirror-ingest-retrying`.
 * - `rtp://:5004?ssrc=1234&encoding=H265`: one RTP session (RTCP on port + 1)
 *   through the process-wide RTP hub; `encoding` is H265, H264 or AAC
 *   (MPEG4-GENERIC); optional `source` (sender IP), `pt`, `clock-rate` and,
 *   for AAC, `config` (AudioSpecificConfig in hex).
 *
 * SRT carries MPEG-TS: tsdemux, then h265parse, h264parse or aacparse per
 * elementary stream (other audio, MPEG-1 layer 2/3, AC-3, E-AC-3 and Opus, is
 * exposed too for a later stage to transcode; any other video codec is an
 * error). RTP goes through rtpbin (200 ms jitter buffer) and the matching
 * depayloader. The children have stable names: `src`, `demux` (tsdemux),
 * `rtpbin`, `rtcpsrc`, `depay`, `video_0_parse`, ...
 *
 * When the first access unit leaves a parser, the stream is registered under
 * #GstMirrorIngestBin:stream-id (codec, resolution and frame rate from the
 * caps, source: the peer address). An entry this node already holds (mirrord
 * registers first) is only updated. The bin unregisters at EOS or stop only
 * what it registered itself.
 *
 * Element messages (posted by the bin):
 *
 * - `mirror-ingest-stats`, every second: stream-id, peer, transport ("srt" or
 *   "rtp"), bytes-received, packets-received, packets-lost, packets-dropped,
 *   packets-retransmitted, rtt-ms, receive-rate-mbps, ring-bytes (held now),
 *   ring-drops and ring-dropped-bytes (chunks and bytes the ring dropped).
 * - `mirror-ingest-connected` (stream-id, peer),
 *   `mirror-ingest-disconnected` (stream-id, peer, reason),
 *   `mirror-ingest-reconnected` (stream-id, peer, gap in ns): the caller is
 *   back and its data flows again.
 * - `mirror-ingest-ended` (stream-id, peer, reason): the feed is over (no
 *   caller within the reconnect window, the RTP session timed out); EOS
 *   follows on every pad.
 * - `mirror-ingest-retrying` (stream-id, peer, attempt, delay in ns, reason):
 *   a pull's attempt failed and the next one waits that long.
 *
 * Once a feed has connected, a disconnection is not the end: the bin waits
 * #GstMirrorIngestBin:reconnect-window for the same stream to come back
 * (the next buffer is flagged DISCONT so that the demuxer resynchronises),
 * and pushes EOS only if none did (`mirror-ingest-ended`). Before the first
 * caller it waits as long as it takes. A pull is never over by itself: it
 * keeps trying. An RTP session that times out in the hub ends the stream.
 *
 * A caller that comes back with another program (another codec, as H.264
 * where it sent H.265, or another muxer's PIDs) keeps the pads: tsdemux
 * ends the old program's streams and adds the new ones; the bin keeps that
 * EOS inside and points `video_0` (`audio_0`) at the new stream's parser,
 * so downstream sees new caps on the same pad. Only the feed's own end
 * reaches the pads as EOS.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 mirroringestbin uri="srt://:6000?streamid=cam1" stream-id=cam1 ! \
 *     mirrorheartbeat stream-id=cam1 ! fakesink
 * ]|
 */
#include "ingestbin/ingestbinpriv.h"

GST_DEBUG_CATEGORY (gst_mirror_ingest_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_ingest_bin_debug

enum {
  PROP_0,
  PROP_URI,
  PROP_STREAM_ID,
  PROP_REGISTRY,
  PROP_RING_SIZE,
  PROP_RECONNECT_WINDOW,
};

static GstStaticPadTemplate video_template
    = GST_STATIC_PAD_TEMPLATE ("video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
                               GST_STATIC_CAPS ("video/x-h265, alignment = (string) au; "
                                                "video/x-h264, alignment = (string) au"));
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE (
    "audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS ("audio/mpeg, mpegversion = (int) { 2, 4 }, framed = (boolean) true; "
                     "audio/mpeg, mpegversion = (int) 1, parsed = (boolean) true; "
                     "audio/x-ac3, framed = (boolean) true; audio/x-eac3, framed = (boolean) true; "
                     "audio/x-opus"));

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
          "Where the feed arrives, as a URI: srt://:6000?streamid=NAME (through the SRT hub; "
          "latency in ms, passphrase, pbkeylen), srt://HOST:PORT?mode=caller&streamid=NAME "
          "(pull from a listener) or rtp://:5004?ssrc=N&encoding=H265|H264|AAC (through the RTP "
          "hub; source, pt, clock-rate in Hz, config)",
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
  g_object_class_install_property (
      object_class, PROP_RECONNECT_WINDOW,
      g_param_spec_uint64 (
          "reconnect-window", "Reconnect window",
          "How long to wait, in nanoseconds, for a dropped SRT feed to come back under the same "
          "stream id before ending the stream with EOS (0: end at once); the wait for the first "
          "caller has no limit",
          0, G_MAXUINT64, DEFAULT_RECONNECT_WINDOW,
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
  case PROP_RECONNECT_WINDOW:
    priv->reconnect_window = g_value_get_uint64 (value);
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
  case PROP_RECONNECT_WINDOW:
    g_value_set_uint64 (value, priv->reconnect_window);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

// ------------------------------------------------------------------ messages

void
gst_mirror_ingest_bin_post (GstMirrorIngestBin *self, GstStructure *s)
{
  gst_element_post_message (GST_ELEMENT_CAST (self),
                            gst_message_new_element (GST_OBJECT_CAST (self), s));
}

// From the ring source's streaming thread.
static void
gst_mirror_ingest_bin_on_feed_event (GstMirrorIngestBin *self, const GstMirrorIngestEvent &event)
{
  auto *priv = self->priv;
  std::string label, peer;
  std::shared_ptr<mirror::IngestRegistration> registration;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!event.peer.empty ())
      priv->peer = event.peer;
    label = priv->label;
    peer = priv->peer;
    registration = priv->registration;
  }

  switch (event.kind) {
  case GstMirrorIngestEvent::Kind::kConnected:
    GST_INFO_OBJECT (self, "stream %s: %s connected", label.c_str (), peer.c_str ());
    gst_mirror_ingest_bin_post (self, gst_structure_new (mirror::msg::kIngestConnected, "stream-id",
                                                         G_TYPE_STRING, label.c_str (), "peer",
                                                         G_TYPE_STRING, peer.c_str (), nullptr));
    break;
  case GstMirrorIngestEvent::Kind::kReconnected:
    GST_INFO_OBJECT (self, "stream %s: %s reconnected after %" GST_TIME_FORMAT, label.c_str (),
                     peer.c_str (), GST_TIME_ARGS (event.gap));
    gst_mirror_ingest_bin_post (
        self, gst_structure_new (mirror::msg::kIngestReconnected, "stream-id", G_TYPE_STRING,
                                 label.c_str (), "peer", G_TYPE_STRING, peer.c_str (), "gap",
                                 G_TYPE_UINT64, (guint64)event.gap, nullptr));
    break;
  case GstMirrorIngestEvent::Kind::kDisconnected:
    GST_INFO_OBJECT (self, "stream %s: %s disconnected: %s", label.c_str (), peer.c_str (),
                     event.reason.c_str ());
    gst_mirror_ingest_bin_post (
        self, gst_structure_new (mirror::msg::kIngestDisconnected, "stream-id", G_TYPE_STRING,
                                 label.c_str (), "peer", G_TYPE_STRING, peer.c_str (), "reason",
                                 G_TYPE_STRING, event.reason.c_str (), nullptr));
    break;
  case GstMirrorIngestEvent::Kind::kRetrying:
    GST_INFO_OBJECT (self, "stream %s: pulling from %s: attempt %u failed (%s)", label.c_str (),
                     peer.c_str (), event.attempt, event.reason.c_str ());
    gst_mirror_ingest_bin_post (
        self,
        gst_structure_new (mirror::msg::kIngestRetrying, "stream-id", G_TYPE_STRING, label.c_str (),
                           "peer", G_TYPE_STRING, peer.c_str (), "attempt", G_TYPE_UINT,
                           event.attempt, "delay", G_TYPE_UINT64, (guint64)event.delay, "reason",
                           G_TYPE_STRING, event.reason.c_str (), nullptr));
    break;
  case GstMirrorIngestEvent::Kind::kWindowExpired:
    GST_WARNING_OBJECT (self, "stream %s: %s did not come back within the reconnect window: EOS",
                        label.c_str (), peer.c_str ());
    gst_mirror_ingest_bin_post (self, gst_structure_new (mirror::msg::kIngestEnded, "stream-id",
                                                         G_TYPE_STRING, label.c_str (), "peer",
                                                         G_TYPE_STRING, peer.c_str (), "reason",
                                                         G_TYPE_STRING,
                                                         "the caller did not come back within the "
                                                         "reconnect window",
                                                         nullptr));
    break;
  case GstMirrorIngestEvent::Kind::kEnded:
    GST_INFO_OBJECT (self, "stream %s: feed from %s ended: EOS", label.c_str (), peer.c_str ());
    gst_mirror_ingest_bin_post (
        self, gst_structure_new (
                  mirror::msg::kIngestEnded, "stream-id", G_TYPE_STRING, label.c_str (), "peer",
                  G_TYPE_STRING, peer.c_str (), "reason", G_TYPE_STRING,
                  event.reason.empty () ? "the feed ended" : event.reason.c_str (), nullptr));
    break;
  }
}

// ------------------------------------------------------------------ build / tear down

GstElement *
gst_mirror_ingest_bin_add (GstMirrorIngestBin *self, GstElement *element)
{
  gst_bin_add (GST_BIN (self), element);
  std::lock_guard<std::mutex> lk (self->priv->state_lock);
  self->priv->children.push_back (element);
  return element;
}

GstElement *
gst_mirror_ingest_bin_make (GstMirrorIngestBin *self, const char *factory, const char *name,
                            const std::string &label)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (!e) {
    gst_mirror_ingest_bin_fail_missing (self, factory, label);
    return nullptr;
  }
  return gst_mirror_ingest_bin_add (self, e);
}

static gboolean
gst_mirror_ingest_bin_build (GstMirrorIngestBin *self)
{
  auto *priv = self->priv;
  std::string uri_text, stream_id;
  guint ring_size;
  GstClockTime window;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    uri_text = priv->uri;
    stream_id = priv->stream_id;
    ring_size = priv->ring_size;
    window = priv->reconnect_window;
  }

  std::string error;
  std::optional<mirror::IngestUri> feed = mirror::parse_ingest_uri (uri_text, &error);
  std::string label = !stream_id.empty ()                 ? stream_id
                      : feed && !feed->stream_id.empty () ? feed->stream_id
                                                          : GST_OBJECT_NAME (self);
  if (!feed) {
    // A passphrase stays out of the message.
    std::string shown = mirror::redact_uri_passphrase (uri_text);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                       ("stream %s: property \"uri\" = \"%s\" is not usable: %s", label.c_str (),
                        shown.c_str (), error.c_str ()),
                       (nullptr));
    return FALSE;
  }

  auto ring = std::make_shared<mirror::IngestRing> (ring_size);
  auto registry = priv->registry.get ();
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->running = true;
    priv->feed = *feed;
    priv->label = label;
    priv->registry_id = stream_id;
    priv->ring = ring;
    priv->rtcp_ring.reset ();
    priv->streams.clear ();
    priv->n_video = priv->n_audio = 0;
    priv->saw_elementary_stream = false;
    priv->no_more_pads = false;
    priv->feed_ended = false;
    priv->no_ts_error_posted = false;
    priv->playing_since_us = 0;
    priv->peer.clear ();
    priv->last_stats_us = 0;
    priv->last_stats_bytes = 0;
    priv->registration = !stream_id.empty () && registry
                             ? mirror::IngestRegistration::create (registry, stream_id)
                             : nullptr;
  }

  GstMirrorRingSrcConfig config;
  config.ring = ring;
  config.reconnect_window = window;
  config.on_event = [self] (const GstMirrorIngestEvent &event) {
    gst_mirror_ingest_bin_on_feed_event (self, event);
  };

  GstElement *src = nullptr;
  switch (feed->kind) {
  case mirror::IngestUri::Kind::kSrtListener:
    src = gst_mirror_ingest_bin_build_srt_listener (self, *feed, label, config);
    break;
  case mirror::IngestUri::Kind::kSrtCaller:
    src = gst_mirror_ingest_bin_build_srt_caller (self, *feed, label, config);
    break;
  case mirror::IngestUri::Kind::kRtp:
    src = gst_mirror_ingest_bin_build_rtp (self, *feed, label, config);
    break;
  }
  if (!src)
    return FALSE;

  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->src = src;
  }
  GstPad *pad = gst_element_get_static_pad (src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, gst_mirror_ingest_bin_on_src_event,
                     self, nullptr);
  gst_object_unref (pad);
  GST_INFO_OBJECT (self, "stream %s: receiving %s", label.c_str (), feed->redacted ().c_str ());
  return TRUE;
}

static void
gst_mirror_ingest_bin_teardown (GstMirrorIngestBin *self)
{
  auto *priv = self->priv;
  std::vector<GstElement *> children;
  std::vector<ExposedStream> streams;
  std::shared_ptr<mirror::IngestRegistration> registration;
  GstElement *jitterbuffer;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->running = false;
    children.swap (priv->children);
    streams.swap (priv->streams);
    registration = std::move (priv->registration);
    jitterbuffer = priv->jitterbuffer;
    priv->jitterbuffer = nullptr;
    priv->src = priv->rtpbin = nullptr;
    priv->ring.reset ();
    priv->rtcp_ring.reset ();
    gst_caps_replace (&priv->rtp_caps, nullptr);
  }
  if (registration)
    registration->release ();
  for (auto &stream : streams) {
    gst_pad_set_active (stream.ghost, FALSE);
    gst_element_remove_pad (GST_ELEMENT_CAST (self), stream.ghost);
    gst_object_unref (stream.ghost);
  }
  for (GstElement *child : children) {
    gst_element_set_state (child, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (self), child);
  }
  if (jitterbuffer)
    gst_object_unref (jitterbuffer);
}

static GstStateChangeReturn
gst_mirror_ingest_bin_change_state (GstElement *element, GstStateChange transition)
{
  auto *self = GST_MIRROR_INGEST_BIN (element);
  auto *priv = self->priv;

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
    if (!gst_mirror_ingest_bin_build (self)) {
      gst_mirror_ingest_bin_teardown (self);
      return GST_STATE_CHANGE_FAILURE;
    }
    break;
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    gst_mirror_ingest_bin_stop_stats (self);
    break;
  default:
    break;
  }

  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
  case GST_STATE_CHANGE_READY_TO_PAUSED:
    if (ret == GST_STATE_CHANGE_FAILURE) {
      gst_mirror_ingest_bin_teardown (self);
      break;
    }
    gst_mirror_ingest_bin_start_stats (self);
    // A live source: nothing to preroll.
    if (ret == GST_STATE_CHANGE_SUCCESS)
      ret = GST_STATE_CHANGE_NO_PREROLL;
    break;
  case GST_STATE_CHANGE_PAUSED_TO_PLAYING: {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (priv->playing_since_us == 0)
      priv->playing_since_us = g_get_monotonic_time ();
    break;
  }
  case GST_STATE_CHANGE_PAUSED_TO_READY:
    gst_mirror_ingest_bin_teardown (self);
    break;
  default:
    break;
  }
  return ret;
}

static void
gst_mirror_ingest_bin_set_context (GstElement *element, GstContext *context)
{
  GST_MIRROR_INGEST_BIN (element)->priv->registry.take_context (element, context);
  // GstBin hands it on to the children as well.
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}
