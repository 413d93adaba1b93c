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
 * ## Example launch line
 * |[
 * gst-launch-1.0 mirroringestbin uri="srt://:6000?streamid=cam1" stream-id=cam1 ! \
 *     mirrorheartbeat stream-id=cam1 ! fakesink
 * ]|
 */
#include "ingestbin/gstmirroringestbin.h"

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/gstmirrorcontext.h"
#include "gstmirrorelements.h"
#include "ingestbin/gstmirrorringsrc.h"
#include "ingestbin/gstmirrorrtphubsrc.h"
#include "ingestbin/gstmirrorsrtcallersrc.h"
#include "ingestbin/gstmirrorsrthubsrc.h"
#include "ingestbin/ingestcodecs.h"
#include "ingest/ingest_registration.h"
#include "ingestbin/ingestring.h"
#include "ingestbin/ingesttransport.h"
#include "ingest/ingest_uri.h"
#include "util/message_names.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_ingest_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_ingest_bin_debug

#define DEFAULT_URI nullptr
#define DEFAULT_STREAM_ID nullptr
#define DEFAULT_REGISTRY "memory://"
#define DEFAULT_RING_SIZE (4 * 1024 * 1024)
#define MIN_RING_SIZE (64 * 1024)
#define DEFAULT_RECONNECT_WINDOW (5 * GST_SECOND)

// How often mirror-ingest-stats is posted.
#define STATS_INTERVAL GST_SECOND
// SRT data for this long without a single elementary stream: not MPEG-TS.
#define NO_TS_TIMEOUT_US (5 * G_USEC_PER_SEC)
// rtpbin's jitter buffer.
#define RTP_LATENCY_MS 200
// RTCP is small; its ring only has to absorb a stalled rtpbin.
#define RTCP_RING_SIZE (64 * 1024)
// At most this many RTP datagrams per GstBufferList.
#define RTP_MAX_LIST 64

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

// One elementary stream exposed on a ghost pad.
struct ExposedStream {
  GstElement *parser = nullptr; // a child of the bin
  GstPad *ghost = nullptr;      // ref held
  mirror::IngestCodec codec;
};

struct GstMirrorIngestBinPrivate {
  ~GstMirrorIngestBinPrivate () { gst_object_unref (clock); }

  // Properties.
  std::mutex settings_lock;
  std::string uri;
  std::string stream_id;
  std::string registry_uri = DEFAULT_REGISTRY;
  guint ring_size = DEFAULT_RING_SIZE;
  GstClockTime reconnect_window = DEFAULT_RECONNECT_WINDOW;

  GstMirrorRegistrySlot registry;

  // The running feed, from READY->PAUSED to PAUSED->READY. Streaming
  // threads, the stats timer and state changes meet here; never held while
  // posting, pushing or changing a child's state.
  std::mutex state_lock;
  bool running = false;
  mirror::IngestUri feed;
  std::string label;       // the stream's name in messages
  std::string registry_id; // stream-id; empty: not registered
  std::shared_ptr<mirror::IngestRing> ring;
  std::shared_ptr<mirror::IngestRing> rtcp_ring;
  std::vector<GstElement *> children; // every element this bin added
  GstElement *src = nullptr;          // the ring source (not reffed: a child)
  GstElement *rtpbin = nullptr;
  GstElement *jitterbuffer = nullptr; // ref held
  GstCaps *rtp_caps = nullptr;
  std::vector<ExposedStream> streams;
  guint n_video = 0;
  guint n_audio = 0;
  bool saw_elementary_stream = false;
  bool no_more_pads = false;
  bool no_ts_error_posted = false;
  gint64 playing_since_us = 0;
  std::string peer;
  std::shared_ptr<mirror::IngestRegistration> registration;

  // Stats timer, on the system clock's thread.
  GstClock *clock = gst_system_clock_obtain ();
  GstClockID stats_id = nullptr;
  gint64 last_stats_us = 0;
  guint64 last_stats_bytes = 0;
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

static void
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

// ------------------------------------------------------------------ registry

// The first access unit of a stream left its parser: register the stream,
// with the video's caps when there is video. Returns true once this pad's
// job is done.
static bool
gst_mirror_ingest_bin_maybe_register (GstMirrorIngestBin *self, GstPad *parser_src, bool video)
{
  auto *priv = self->priv;
  std::shared_ptr<mirror::IngestRegistration> registration;
  mirror::StreamEntry entry;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    registration = priv->registration;
    if (!registration)
      return true;
    if (registration->state () != mirror::IngestRegistration::State::kIdle)
      return true;
    bool has_video = priv->n_video > 0;
    // Audio registers only a stream known to have no video.
    if (!video) {
      if (has_video)
        return true;
      bool video_impossible
          = priv->feed.kind == mirror::IngestUri::Kind::kRtp || priv->no_more_pads;
      if (!video_impossible)
        return false;
    }
    entry.source = priv->peer.empty () ? priv->feed.redacted () : priv->peer;
  }
  GstCaps *caps = gst_pad_get_current_caps (parser_src);
  entry.stats = mirror::stream_stats_from_caps (caps);
  if (caps)
    gst_caps_unref (caps);
  entry.state = mirror::StreamState::kLive;
  GST_INFO_OBJECT (self, "registering stream %s: %s %dx%d at %.3f fps from %s",
                   registration->id ().c_str (), entry.stats.codec.c_str (), entry.stats.width,
                   entry.stats.height, entry.stats.frame_rate, entry.source.c_str ());
  registration->claim (std::move (entry));
  return true;
}

static GstPadProbeReturn
gst_mirror_ingest_bin_on_first_unit (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  bool video = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (pad), "mirror-video")) != 0;
  return gst_mirror_ingest_bin_maybe_register (self, pad, video) ? GST_PAD_PROBE_REMOVE
                                                                 : GST_PAD_PROBE_OK;
}

// The feed's EOS (window passed, session timed out): the stream is over.
static GstPadProbeReturn
gst_mirror_ingest_bin_on_src_event (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) != GST_EVENT_EOS)
    return GST_PAD_PROBE_OK;
  std::shared_ptr<mirror::IngestRegistration> registration;
  {
    std::lock_guard<std::mutex> lk (self->priv->state_lock);
    registration = self->priv->registration;
  }
  if (registration)
    registration->release ();
  return GST_PAD_PROBE_OK;
}

// ------------------------------------------------------------------ pads

static void
gst_mirror_ingest_bin_fail_missing (GstMirrorIngestBin *self, const char *factory,
                                    const std::string &label)
{
  GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN,
                     ("stream %s: GStreamer element \"%s\" is missing (install the plugin that "
                      "provides it)",
                      label.c_str (), factory),
                     (nullptr));
}

// Links @upstream (a demuxer or depayloader pad) to a parser and exposes the
// parser's output as video_%u or audio_%u. A stream of the same kind whose
// parser lost its upstream (the demuxer replaced its pads after a reconnect)
// is reused, so downstream links survive.
static void
gst_mirror_ingest_bin_expose (GstMirrorIngestBin *self, GstPad *upstream,
                              const mirror::IngestCodec &codec)
{
  auto *priv = self->priv;
  const bool video = codec.media == mirror::IngestCodec::Media::kVideo;
  std::string label;
  GstElement *reuse = nullptr;
  guint index = 0;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!priv->running)
      return;
    label = priv->label;
    for (auto &stream : priv->streams) {
      if (g_strcmp0 (stream.codec.parser, codec.parser) != 0)
        continue;
      GstPad *sink = gst_element_get_static_pad (stream.parser, "sink");
      bool free = !gst_pad_is_linked (sink);
      gst_object_unref (sink);
      if (free) {
        reuse = GST_ELEMENT (gst_object_ref (stream.parser));
        break;
      }
    }
    if (!reuse)
      index = video ? priv->n_video++ : priv->n_audio++;
  }

  if (reuse) {
    GstPad *sink = gst_element_get_static_pad (reuse, "sink");
    GstPadLinkReturn ret = gst_pad_link (upstream, sink);
    GST_INFO_OBJECT (self, "stream %s: %s:%s relinked to %s: %d", label.c_str (),
                     GST_DEBUG_PAD_NAME (upstream), GST_OBJECT_NAME (reuse), ret);
    gst_object_unref (sink);
    gst_object_unref (reuse);
    return;
  }

  gchar *pad_name = g_strdup_printf (video ? "video_%u" : "audio_%u", index);
  gchar *parser_name = g_strdup_printf ("%s_parse", pad_name);
  GstElement *parser = gst_element_factory_make (codec.parser, parser_name);
  g_free (parser_name);
  if (!parser) {
    g_free (pad_name);
    gst_mirror_ingest_bin_fail_missing (self, codec.parser, label);
    return;
  }
  // Parameter sets in front of every keyframe: decoders downstream may join
  // at any keyframe (and after a reconnect).
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (parser), "config-interval"))
    g_object_set (parser, "config-interval", -1, nullptr);
  gst_bin_add (GST_BIN (self), parser);

  GstPad *sink = gst_element_get_static_pad (parser, "sink");
  GstPadLinkReturn link = gst_pad_link (upstream, sink);
  gst_object_unref (sink);
  if (GST_PAD_LINK_FAILED (link)) {
    GST_ELEMENT_ERROR (
        self, CORE, NEGOTIATION,
        ("stream %s: cannot link %s to %s", label.c_str (), GST_PAD_NAME (upstream), codec.parser),
        ("gst_pad_link returned %d", link));
    gst_bin_remove (GST_BIN (self), parser);
    g_free (pad_name);
    return;
  }

  GstPad *target = gst_element_get_static_pad (parser, "src");
  g_object_set_data (G_OBJECT (target), "mirror-video", GINT_TO_POINTER (video ? 1 : 0));
  gst_pad_add_probe (target, GST_PAD_PROBE_TYPE_BUFFER, gst_mirror_ingest_bin_on_first_unit, self,
                     nullptr);
  GstPadTemplate *templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self),
                                                              video ? "video_%u" : "audio_%u");
  GstPad *ghost = gst_ghost_pad_new_from_template (pad_name, target, templ);
  gst_object_unref (target);
  g_free (pad_name);
  gst_pad_set_active (ghost, TRUE);
  gst_element_sync_state_with_parent (parser);

  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->children.push_back (parser);
    priv->streams.push_back (ExposedStream{ parser, GST_PAD (gst_object_ref (ghost)), codec });
  }
  GST_INFO_OBJECT (self, "stream %s: exposing %s (%s)", label.c_str (), GST_PAD_NAME (ghost),
                   codec.name.c_str ());
  gst_element_add_pad (GST_ELEMENT_CAST (self), ghost);
}

static void
gst_mirror_ingest_bin_on_demux_pad_added (GstElement *demux, GstPad *pad, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  auto *priv = self->priv;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, nullptr);
  mirror::IngestCodec codec = mirror::classify_elementary_stream (caps);
  gst_caps_unref (caps);

  std::string label;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->saw_elementary_stream = true;
    label = priv->label;
  }
  if (codec.media == mirror::IngestCodec::Media::kVideo && !codec.parser) {
    GST_ELEMENT_ERROR (self, STREAM, CODEC_NOT_FOUND,
                       ("stream %s: video codec \"%s\" is not supported (H.265 or H.264 only)",
                        label.c_str (), codec.name.c_str ()),
                       ("tsdemux pad %s", GST_PAD_NAME (pad)));
    return;
  }
  if (!codec.parser) {
    GST_INFO_OBJECT (self, "stream %s: ignoring %s (%s)", label.c_str (), GST_PAD_NAME (pad),
                     codec.name.c_str ());
    return;
  }
  gst_mirror_ingest_bin_expose (self, pad, codec);
}

static void
gst_mirror_ingest_bin_on_demux_no_more_pads (GstElement *demux, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  bool first;
  {
    std::lock_guard<std::mutex> lk (self->priv->state_lock);
    first = !self->priv->no_more_pads;
    self->priv->no_more_pads = true;
  }
  // tsdemux says it again when the program changes; the bin says it once.
  if (first)
    gst_element_no_more_pads (GST_ELEMENT_CAST (self));
}

static void
gst_mirror_ingest_bin_on_rtpbin_pad_added (GstElement *rtpbin, GstPad *pad, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  auto *priv = self->priv;
  if (!g_str_has_prefix (GST_PAD_NAME (pad), "recv_rtp_src_"))
    return;

  std::string encoding, label;
  bool first;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    encoding = priv->feed.encoding;
    label = priv->label;
    first = priv->n_video + priv->n_audio == 0;
  }
  mirror::IngestCodec codec;
  if (encoding == "H265") {
    codec = { mirror::IngestCodec::Media::kVideo, "h265parse", "h265" };
  } else if (encoding == "H264") {
    codec = { mirror::IngestCodec::Media::kVideo, "h264parse", "h264" };
  } else {
    codec = { mirror::IngestCodec::Media::kAudio, "aacparse", "aac" };
  }

  GstElement *depay = nullptr;
  if (first) {
    const char *factory = mirror::rtp_depayloader_for (encoding);
    depay = gst_element_factory_make (factory, "depay");
    if (!depay) {
      gst_mirror_ingest_bin_fail_missing (self, factory, label);
      return;
    }
    gst_bin_add (GST_BIN (self), depay);
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->children.push_back (depay);
    }
    GstPad *sink = gst_element_get_static_pad (depay, "sink");
    gst_pad_link (pad, sink);
    gst_object_unref (sink);
    gst_element_sync_state_with_parent (depay);
    GstPad *out = gst_element_get_static_pad (depay, "src");
    gst_mirror_ingest_bin_expose (self, out, codec);
    gst_object_unref (out);
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->no_more_pads = true;
    }
    gst_element_no_more_pads (GST_ELEMENT_CAST (self));
  } else {
    // The session's SSRC is fixed, but rtpbin makes a new pad if the
    // payload type changes: feed the same depayloader.
    GstElement *existing = gst_bin_get_by_name (GST_BIN (self), "depay");
    if (existing) {
      GstPad *sink = gst_element_get_static_pad (existing, "sink");
      if (!gst_pad_is_linked (sink))
        gst_pad_link (pad, sink);
      gst_object_unref (sink);
      gst_object_unref (existing);
    }
  }
}

static GstCaps *
gst_mirror_ingest_bin_on_request_pt_map (GstElement *rtpbin, guint session, guint pt,
                                         gpointer user_data)
{
  auto *priv = GST_MIRROR_INGEST_BIN (user_data)->priv;
  std::lock_guard<std::mutex> lk (priv->state_lock);
  return priv->rtp_caps ? gst_caps_ref (priv->rtp_caps) : nullptr;
}

static void
gst_mirror_ingest_bin_on_new_jitterbuffer (GstElement *rtpbin, GstElement *jitterbuffer,
                                           guint session, guint ssrc, gpointer user_data)
{
  auto *priv = GST_MIRROR_INGEST_BIN (user_data)->priv;
  std::lock_guard<std::mutex> lk (priv->state_lock);
  gst_object_replace ((GstObject **)&priv->jitterbuffer, GST_OBJECT (jitterbuffer));
}

// ------------------------------------------------------------------ stats

static gboolean
gst_mirror_ingest_bin_on_stats_tick (GstClock *clock, GstClockTime time, GstClockID id,
                                     gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  auto *priv = self->priv;

  mirror::IngestUri feed;
  std::string label;
  std::shared_ptr<mirror::IngestRing> ring;
  std::shared_ptr<mirror::IngestRegistration> registration;
  GstElement *src = nullptr, *rtpbin = nullptr, *jitterbuffer = nullptr;
  bool saw_es, error_posted;
  gint64 playing_since;
  mirror::TransportFigures f;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!priv->running || id != priv->stats_id)
      return TRUE;
    feed = priv->feed;
    label = priv->label;
    ring = priv->ring;
    registration = priv->registration;
    f.peer = priv->peer;
    saw_es = priv->saw_elementary_stream;
    error_posted = priv->no_ts_error_posted;
    playing_since = priv->playing_since_us;
    if (priv->src)
      src = GST_ELEMENT (gst_object_ref (priv->src));
    if (priv->rtpbin)
      rtpbin = GST_ELEMENT (gst_object_ref (priv->rtpbin));
    if (priv->jitterbuffer)
      jitterbuffer = GST_ELEMENT (gst_object_ref (priv->jitterbuffer));
  }

  mirror::IngestRingCounters ring_counters
      = ring ? ring->counters () : mirror::IngestRingCounters{};
  f.bytes = ring_counters.bytes_in;
  switch (feed.kind) {
  case mirror::IngestUri::Kind::kSrtListener:
    if (src && GST_IS_MIRROR_SRT_HUB_SRC (src)) {
      if (auto s = gst_mirror_srt_hub_src_stats (GST_MIRROR_SRT_HUB_SRC (src)))
        mirror::transport_figures_from_srt_hub (*s, &f);
    }
    break;
  case mirror::IngestUri::Kind::kSrtCaller:
    if (src && GST_IS_MIRROR_SRT_CALLER_SRC (src)) {
      if (auto s = gst_mirror_srt_caller_src_stats (GST_MIRROR_SRT_CALLER_SRC (src)))
        mirror::transport_figures_from_srt_hub (*s, &f);
    }
    break;
  case mirror::IngestUri::Kind::kRtp:
    f.bytes = ring_counters.bytes_in;
    if (rtpbin)
      mirror::transport_figures_from_rtpbin (rtpbin, jitterbuffer, feed.ssrc, &f);
    if (f.packets == 0)
      f.packets = ring_counters.chunks_in;
    break;
  }
  for (GstElement *e : { src, rtpbin, jitterbuffer })
    if (e)
      gst_object_unref (e);

  gint64 now = g_get_monotonic_time ();
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (f.rate_mbps < 0) {
      gint64 span = now - priv->last_stats_us;
      f.rate_mbps = priv->last_stats_us > 0 && span > 0 && f.bytes >= priv->last_stats_bytes
                        ? (double)(f.bytes - priv->last_stats_bytes) * 8 / span
                        : 0;
    }
    priv->last_stats_us = now;
    priv->last_stats_bytes = f.bytes;
  }

  // clang-format off
  gst_mirror_ingest_bin_post (self, gst_structure_new (mirror::msg::kIngestStats,
      "stream-id", G_TYPE_STRING, label.c_str (),
      "peer", G_TYPE_STRING, f.peer.c_str (),
      "transport", G_TYPE_STRING, feed.is_srt () ? "srt" : "rtp",
      "bytes-received", G_TYPE_UINT64, f.bytes,
      "packets-received", G_TYPE_UINT64, f.packets,
      "packets-lost", G_TYPE_UINT64, f.lost,
      "packets-dropped", G_TYPE_UINT64, f.dropped,
      "packets-retransmitted", G_TYPE_UINT64, f.retransmitted,
      "rtt-ms", G_TYPE_DOUBLE, f.rtt_ms,
      "receive-rate-mbps", G_TYPE_DOUBLE, f.rate_mbps,
      "ring-bytes", G_TYPE_UINT64, ring_counters.bytes_queued,
      "ring-drops", G_TYPE_UINT64, ring_counters.drops,
      "ring-dropped-bytes", G_TYPE_UINT64, ring_counters.dropped_bytes,
      nullptr));
  // clang-format on

  if (registration) {
    mirror::StreamStats stats;
    stats.packets = f.packets;
    stats.packets_lost = f.lost;
    registration->update_transport (stats);
    std::string problem = registration->take_problem ();
    if (!problem.empty ())
      GST_ELEMENT_WARNING (self, RESOURCE, BUSY,
                           ("stream %s: not registered: %s", label.c_str (), problem.c_str ()),
                           ("registry id \"%s\"", registration->id ().c_str ()));
  }

  // MPEG-TS that is not: tsdemux silently finds nothing in it.
  if (feed.is_srt () && !saw_es && !error_posted && ring_counters.first_data_us > 0
      && playing_since > 0
      && now - MAX (ring_counters.first_data_us, playing_since) >= NO_TS_TIMEOUT_US) {
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->no_ts_error_posted = true;
    }
    std::string from = f.peer.empty () ? feed.redacted () : f.peer;
    GST_ELEMENT_ERROR (self, STREAM, DEMUX,
                       ("stream %s: no MPEG-TS in the data from %s", label.c_str (), from.c_str ()),
                       ("%" G_GUINT64_FORMAT " bytes received in %.1f s and tsdemux found no "
                        "elementary stream",
                        f.bytes, (now - ring_counters.first_data_us) / 1e6));
  }
  return TRUE;
}

static void
gst_mirror_ingest_bin_start_stats (GstMirrorIngestBin *self)
{
  auto *priv = self->priv;
  std::lock_guard<std::mutex> lk (priv->state_lock);
  GstClockTime now = gst_clock_get_time (priv->clock);
  priv->stats_id = gst_clock_new_periodic_id (priv->clock, now + STATS_INTERVAL, STATS_INTERVAL);
  // The pending wait holds a ref on the bin, dropped when the clock frees it.
  GstClockReturn ret
      = gst_clock_id_wait_async (priv->stats_id, gst_mirror_ingest_bin_on_stats_tick,
                                 gst_object_ref (self), (GDestroyNotify)gst_object_unref);
  if (ret != GST_CLOCK_OK) {
    gst_object_unref (self);
    gst_clock_id_unref (priv->stats_id);
    priv->stats_id = nullptr;
    GST_WARNING_OBJECT (self, "cannot schedule the stats timer: %d", ret);
  }
}

static void
gst_mirror_ingest_bin_stop_stats (GstMirrorIngestBin *self)
{
  auto *priv = self->priv;
  GstClockID id;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    id = priv->stats_id;
    priv->stats_id = nullptr;
  }
  if (id) {
    gst_clock_id_unschedule (id);
    gst_clock_id_unref (id);
  }
}

// ------------------------------------------------------------------ build / tear down

static GstElement *
gst_mirror_ingest_bin_add (GstMirrorIngestBin *self, GstElement *element)
{
  gst_bin_add (GST_BIN (self), element);
  std::lock_guard<std::mutex> lk (self->priv->state_lock);
  self->priv->children.push_back (element);
  return element;
}

static GstElement *
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

static GstCaps *
gst_mirror_ingest_bin_rtp_caps (const mirror::IngestUri &feed)
{
  GstCaps *caps = gst_caps_new_simple (
      "application/x-rtp", "media", G_TYPE_STRING, feed.is_video () ? "video" : "audio",
      "clock-rate", G_TYPE_INT, feed.effective_clock_rate (), "payload", G_TYPE_INT,
      feed.effective_payload_type (), "encoding-name", G_TYPE_STRING,
      feed.encoding == "AAC" ? "MPEG4-GENERIC" : feed.encoding.c_str (), nullptr);
  if (feed.encoding == "AAC") {
    // RFC 3640 AAC-hbr, what rtpmp4gpay and most encoders send.
    gst_caps_set_simple (caps, "mode", G_TYPE_STRING, "AAC-hbr", "sizelength", G_TYPE_STRING, "13",
                         "indexlength", G_TYPE_STRING, "3", "indexdeltalength", G_TYPE_STRING, "3",
                         "streamtype", G_TYPE_STRING, "5", nullptr);
    if (!feed.config.empty ())
      gst_caps_set_simple (caps, "config", G_TYPE_STRING, feed.config.c_str (), nullptr);
  }
  return caps;
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
  if (feed->is_srt ()) {
    GstCaps *caps = gst_caps_new_simple ("video/mpegts", "systemstream", G_TYPE_BOOLEAN, TRUE,
                                         "packetsize", G_TYPE_INT, 188, nullptr);
    config.caps = caps;
    if (feed->kind == mirror::IngestUri::Kind::kSrtListener) {
      // The hub routes by the plain id, also when the URI uses the
      // access-control form "#!::r=NAME".
      std::optional<std::string> hub_id = mirror::parse_srt_stream_id (feed->stream_id);
      if (!hub_id) {
        gst_caps_unref (caps);
        GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                           ("stream %s: property \"uri\" = \"%s\" is not usable: streamid \"%s\" "
                            "is malformed",
                            label.c_str (), feed->redacted ().c_str (), feed->stream_id.c_str ()),
                           (nullptr));
        return FALSE;
      }
      src = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_SRT_HUB_SRC, "name", "src", nullptr));
      mirror::SrtHubOptions options;
      options.bind_address = feed->host.empty () ? "0.0.0.0" : feed->host;
      options.port = feed->port;
      if (feed->latency_ms >= 0)
        options.latency_ms = feed->latency_ms;
      options.passphrase = feed->passphrase;
      if (feed->pbkeylen)
        options.pbkeylen = feed->pbkeylen;
      options.join_open_port = feed->host.empty () && feed->latency_ms < 0
                               && feed->passphrase.empty () && !feed->pbkeylen;
      gst_mirror_srt_hub_src_set_hub (GST_MIRROR_SRT_HUB_SRC (src), options, *hub_id, label);
    } else {
      // A pull never ends by itself: it retries with backoff until stopped.
      config.reconnect_window = GST_CLOCK_TIME_NONE;
      src = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_SRT_CALLER_SRC, "name", "src", nullptr));
      mirror::SrtCallerOptions options;
      options.host = feed->host;
      options.port = feed->port;
      options.stream_id = feed->stream_id;
      if (feed->latency_ms >= 0)
        options.latency_ms = feed->latency_ms;
      options.passphrase = feed->passphrase;
      options.pbkeylen = feed->pbkeylen;
      gst_mirror_srt_caller_src_set_options (GST_MIRROR_SRT_CALLER_SRC (src), options, label);
    }
    gst_mirror_ring_src_configure (GST_MIRROR_RING_SRC (src), config);
    gst_caps_unref (caps);
    gst_mirror_ingest_bin_add (self, src);

    GstElement *demux = gst_mirror_ingest_bin_make (self, "tsdemux", "demux", label);
    if (!demux)
      return FALSE;
    // Only the elementary streams matter here; SCTE-35 and private sections
    // would cost parsing for nothing.
    g_object_set (demux, "parse-private-sections", FALSE, nullptr);
    g_signal_connect (demux, "pad-added", G_CALLBACK (gst_mirror_ingest_bin_on_demux_pad_added),
                      self);
    g_signal_connect (demux, "no-more-pads",
                      G_CALLBACK (gst_mirror_ingest_bin_on_demux_no_more_pads), self);
    if (!gst_element_link (src, demux)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
                         ("stream %s: cannot link src to tsdemux", label.c_str ()), (nullptr));
      return FALSE;
    }
  } else {
    auto rtcp_ring = std::make_shared<mirror::IngestRing> (RTCP_RING_SIZE);
    GstCaps *caps = gst_mirror_ingest_bin_rtp_caps (*feed);
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->rtcp_ring = rtcp_ring;
      gst_caps_replace (&priv->rtp_caps, caps);
    }
    config.caps = caps;
    config.max_chunks_per_push = RTP_MAX_LIST;
    src = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_RTP_HUB_SRC, "name", "src", nullptr));
    mirror::RtpHubOptions options;
    options.bind_address = feed->host.empty () ? "0.0.0.0" : feed->host;
    options.port = feed->port;
    // For a hub this element starts (gst-launch-1.0): the URI's payload type
    // must be mapped or the hub drops the packets.
    options.payload_types[feed->effective_payload_type ()] = feed->encoding;
    options.join_open_port = feed->host.empty ();
    std::string peer = feed->source.empty () ? feed->redacted () : feed->source;
    gst_mirror_rtp_hub_src_set_hub (GST_MIRROR_RTP_HUB_SRC (src), options, feed->ssrc, feed->source,
                                    rtcp_ring, peer, label);
    gst_mirror_ring_src_configure (GST_MIRROR_RING_SRC (src), config);
    gst_caps_unref (caps);
    gst_mirror_ingest_bin_add (self, src);

    GstElement *rtcpsrc
        = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_RING_SRC, "name", "rtcpsrc", nullptr));
    GstMirrorRingSrcConfig rtcp_config;
    rtcp_config.ring = rtcp_ring;
    rtcp_config.caps = gst_caps_new_empty_simple ("application/x-rtcp");
    rtcp_config.max_chunks_per_push = 1;
    gst_mirror_ring_src_configure (GST_MIRROR_RING_SRC (rtcpsrc), rtcp_config);
    gst_caps_unref (rtcp_config.caps);
    gst_mirror_ingest_bin_add (self, rtcpsrc);

    GstElement *rtpbin = gst_mirror_ingest_bin_make (self, "rtpbin", "rtpbin", label);
    if (!rtpbin)
      return FALSE;
    g_object_set (rtpbin, "latency", (guint)RTP_LATENCY_MS, "do-lost", TRUE, nullptr);
    g_signal_connect (rtpbin, "pad-added", G_CALLBACK (gst_mirror_ingest_bin_on_rtpbin_pad_added),
                      self);
    g_signal_connect (rtpbin, "request-pt-map",
                      G_CALLBACK (gst_mirror_ingest_bin_on_request_pt_map), self);
    g_signal_connect (rtpbin, "new-jitterbuffer",
                      G_CALLBACK (gst_mirror_ingest_bin_on_new_jitterbuffer), self);
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->rtpbin = rtpbin;
    }
    if (!gst_element_link_pads (src, "src", rtpbin, "recv_rtp_sink_0")
        || !gst_element_link_pads (rtcpsrc, "src", rtpbin, "recv_rtcp_sink_0")) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
                         ("stream %s: cannot link to rtpbin", label.c_str ()), (nullptr));
      return FALSE;
    }
  }

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
