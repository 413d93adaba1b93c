// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-mirrorheartbeat
 *
 * Watches a stream without touching it: buffers pass through in place (same
 * GstBuffer, no copy) whatever their caps. One buffer is counted as one
 * access unit (a video frame, an audio frame).
 *
 * Every #GstMirrorHeartbeat:interval it posts an element message
 * `mirror-heartbeat` (fields: stream-id, bytes, buffers, bitrate (bits/s,
 * double, over the last second of media), frame-rate (double), gop-length
 * (access units from one keyframe to the next), keyframe-interval
 * (GstClockTime), gaps (timestamp jumps: backwards, or forward by more than
 * twice the nominal frame duration; DTS is used when set, else PTS), codec,
 * width, height, stalled), and one more at EOS. When #GstMirrorHeartbeat:stream-id
 * is set it also refreshes that stream's registry entry (heartbeat and
 * statistics); the stream must have been registered by its owner (normally
 * mirroringestbin or mirrord).
 *
 * The first buffer after each start (PAUSED->PLAYING) posts `mirror-flowing`
 * (stream-id): media arrives. While PLAYING, if no buffer arrives for
 * #GstMirrorHeartbeat:timeout it posts
 * `mirror-stalled` (stream-id, last-buffer-age) once, and `mirror-recovered`
 * (stream-id, stalled-for) when data returns. These timers run on the
 * monotonic system clock, not the pipeline clock. EOS is not a stall.
 *
 * Figures are reset on READY->PAUSED and kept afterwards, so they can still
 * be read (#GstMirrorHeartbeat:stats) once the pipeline has stopped.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m videotestsrc is-live=true ! x264enc ! h264parse ! \
 *     mirrorheartbeat interval=500000000 ! fakesink
 * ]|
 */
#include "heartbeat/gstmirrorheartbeat.h"

#include <exception>
#include <mutex>
#include <string>
#include <utility>

#include "common/gstmirrorclocktimer.h"
#include "common/gstmirrorcontext.h"
#include "gstmirrorelements.h"
#include "health/stream_meter.h"
#include "util/message_names.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_heartbeat_debug);
#define GST_CAT_DEFAULT gst_mirror_heartbeat_debug

#define DEFAULT_STREAM_ID nullptr
#define DEFAULT_REGISTRY "memory://"
#define DEFAULT_INTERVAL (1 * GST_SECOND)
#define DEFAULT_TIMEOUT (3 * GST_SECOND)

enum {
  PROP_0,
  PROP_STREAM_ID,
  PROP_REGISTRY,
  PROP_INTERVAL,
  PROP_TIMEOUT,
  PROP_STATS,
};

static GstStaticPadTemplate sink_template
    = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

struct GstMirrorHeartbeatPrivate {
  ~GstMirrorHeartbeatPrivate () { gst_object_unref (clock); }

  // Properties.
  std::mutex settings_lock;
  std::string stream_id;
  std::string registry_uri = DEFAULT_REGISTRY;
  GstClockTime interval = DEFAULT_INTERVAL;
  GstClockTime timeout = DEFAULT_TIMEOUT;

  GstMirrorRegistrySlot registry;

  // Measurements and timers: the streaming thread, the clock's callback
  // thread and state changes meet here. Never held while posting.
  std::mutex state_lock;
  std::string active_stream_id; // the settings, as of READY->PAUSED
  GstClockTime active_interval = DEFAULT_INTERVAL;
  GstClockTime active_timeout = DEFAULT_TIMEOUT;
  mirror::StreamMeter meter;
  std::string codec;
  gint width = 0;
  gint height = 0;
  GstClockTime last_buffer = GST_CLOCK_TIME_NONE; // on `clock`
  bool eos = false;
  bool playing = false;
  GstClockTime playing_since = GST_CLOCK_TIME_NONE;
  bool stalled = false;
  bool flow_announced = false; // mirror-flowing posted since the last PAUSED->PLAYING
  GstClockTime silent_since = GST_CLOCK_TIME_NONE; // while stalled: when data was last seen
  GstMirrorClockTimer heartbeat_timer;
  GstMirrorClockTimer stall_timer;

  // Heartbeats and stalls are about wall time, whatever clock the pipeline
  // runs on: the (monotonic) system clock, whose one shared thread runs the
  // callbacks.
  GstClock *clock = gst_system_clock_obtain ();
};

struct _GstMirrorHeartbeat {
  GstBaseTransform parent;
  GstMirrorHeartbeatPrivate *priv;
};

// One heartbeat's worth of figures, taken under the lock, published outside it.
struct HeartbeatReport {
  GstStructure *structure = nullptr;
  std::string stream_id;
  mirror::StreamStats stats;
};

#define gst_mirror_heartbeat_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorHeartbeat, gst_mirror_heartbeat, GST_TYPE_BASE_TRANSFORM,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_heartbeat_debug, "mirrorheartbeat", 0,
                                                  "Mirror stream heartbeat"));
GST_ELEMENT_REGISTER_DEFINE (mirrorheartbeat, "mirrorheartbeat", GST_RANK_NONE,
                             GST_TYPE_MIRROR_HEARTBEAT);

static void gst_mirror_heartbeat_finalize (GObject *object);
static void gst_mirror_heartbeat_set_property (GObject *object, guint prop_id, const GValue *value,
                                               GParamSpec *pspec);
static void gst_mirror_heartbeat_get_property (GObject *object, guint prop_id, GValue *value,
                                               GParamSpec *pspec);
static GstStateChangeReturn gst_mirror_heartbeat_change_state (GstElement *element,
                                                               GstStateChange transition);
static void gst_mirror_heartbeat_set_context (GstElement *element, GstContext *context);
static gboolean gst_mirror_heartbeat_start (GstBaseTransform *trans);
static gboolean gst_mirror_heartbeat_set_caps (GstBaseTransform *trans, GstCaps *incaps,
                                               GstCaps *outcaps);
static gboolean gst_mirror_heartbeat_sink_event (GstBaseTransform *trans, GstEvent *event);
static gboolean gst_mirror_heartbeat_query (GstBaseTransform *trans, GstPadDirection direction,
                                            GstQuery *query);
static GstFlowReturn gst_mirror_heartbeat_transform_ip (GstBaseTransform *trans, GstBuffer *buf);

static void
gst_mirror_heartbeat_class_init (GstMirrorHeartbeatClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  object_class->finalize = gst_mirror_heartbeat_finalize;
  object_class->set_property = gst_mirror_heartbeat_set_property;
  object_class->get_property = gst_mirror_heartbeat_get_property;

  g_object_class_install_property (
      object_class, PROP_STREAM_ID,
      g_param_spec_string (
          "stream-id", "Stream ID",
          "Registry id of the watched stream (a name); when set, every heartbeat "
          "refreshes that registry entry and its statistics; empty: bus messages "
          "only",
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
      object_class, PROP_INTERVAL,
      g_param_spec_uint64 (
          "interval", "Interval",
          "Time between two mirror-heartbeat messages and registry refreshes, in "
          "nanoseconds (0: only one at EOS)",
          0, G_MAXUINT64, DEFAULT_INTERVAL,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      object_class, PROP_TIMEOUT,
      g_param_spec_uint64 (
          "timeout", "Stall timeout",
          "Time without a buffer while PLAYING after which mirror-stalled is "
          "posted, in nanoseconds (0: never)",
          0, G_MAXUINT64, DEFAULT_TIMEOUT,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  // Read-only, so no GST_PARAM_MUTABLE_* flag: there is nothing to change.
  g_object_class_install_property (
      object_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
                          "The figures a mirror-heartbeat message would carry now (bytes, buffers, "
                          "bitrate in bits/s, frame-rate in frames/s, gop-length in frames, "
                          "keyframe-interval in ns, gaps, codec, width and height in pixels)",
                          GST_TYPE_STRUCTURE,
                          (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata (
      element_class, "Mirror stream heartbeat", "Generic",
      "Passes a stream through untouched and measures it (bytes, bitrate, frame rate, GOP length, "
      "keyframe interval, timestamp gaps): posts mirror-heartbeat every interval, mirror-stalled "
      "and mirror-recovered when data stops and returns, and refreshes the stream's registry entry",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_heartbeat_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR (gst_mirror_heartbeat_set_context);

  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = TRUE;
  trans_class->start = GST_DEBUG_FUNCPTR (gst_mirror_heartbeat_start);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_mirror_heartbeat_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_mirror_heartbeat_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_mirror_heartbeat_query);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_mirror_heartbeat_transform_ip);
}

static void
gst_mirror_heartbeat_init (GstMirrorHeartbeat *self)
{
  self->priv = new GstMirrorHeartbeatPrivate ();
  // In place and untouched: buffers leave as they came, without a copy.
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_mirror_heartbeat_finalize (GObject *object)
{
  auto *self = GST_MIRROR_HEARTBEAT (object);
  delete self->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_heartbeat_set_property (GObject *object, guint prop_id, const GValue *value,
                                   GParamSpec *pspec)
{
  auto *priv = GST_MIRROR_HEARTBEAT (object)->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);

  switch (prop_id) {
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
  case PROP_INTERVAL:
    priv->interval = g_value_get_uint64 (value);
    break;
  case PROP_TIMEOUT:
    priv->timeout = g_value_get_uint64 (value);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static GstClockTime
gst_mirror_heartbeat_now (GstMirrorHeartbeat *self)
{
  return gst_clock_get_time (self->priv->clock);
}

// When data was last seen: the newest buffer, or entering PLAYING if later.
static GstClockTime
gst_mirror_heartbeat_last_seen_locked (GstMirrorHeartbeat *self)
{
  auto *priv = self->priv;
  if (!GST_CLOCK_TIME_IS_VALID (priv->last_buffer))
    return priv->playing_since;
  if (!GST_CLOCK_TIME_IS_VALID (priv->playing_since))
    return priv->last_buffer;
  return MAX (priv->last_buffer, priv->playing_since);
}

static GstStructure *
gst_mirror_heartbeat_figures_locked (GstMirrorHeartbeat *self, GstClockTime now,
                                     mirror::StreamStats *stats)
{
  auto *priv = self->priv;
  mirror::StreamReading r = priv->meter.read (now);
  if (stats) {
    stats->bytes = r.bytes;
    stats->packets = r.buffers;
    stats->bitrate_bps = r.bitrate_bps;
    stats->codec = priv->codec;
    stats->width = priv->width;
    stats->height = priv->height;
    stats->frame_rate = r.frame_rate;
  }
  // clang-format off
  return gst_structure_new (mirror::msg::kHeartbeat,
      "stream-id", G_TYPE_STRING, priv->active_stream_id.c_str (),
      "bytes", G_TYPE_UINT64, (guint64) r.bytes,
      "buffers", G_TYPE_UINT64, (guint64) r.buffers,
      "bitrate", G_TYPE_DOUBLE, r.bitrate_bps,
      "frame-rate", G_TYPE_DOUBLE, r.frame_rate,
      "gop-length", G_TYPE_UINT, (guint) r.gop_length,
      "keyframe-interval", G_TYPE_UINT64, (guint64) r.keyframe_interval,
      "gaps", G_TYPE_UINT64, (guint64) r.gaps,
      "codec", G_TYPE_STRING, priv->codec.c_str (),
      "width", G_TYPE_INT, priv->width,
      "height", G_TYPE_INT, priv->height,
      "stalled", G_TYPE_BOOLEAN, (gboolean) priv->stalled,
      nullptr);
  // clang-format on
}

static HeartbeatReport
gst_mirror_heartbeat_report_locked (GstMirrorHeartbeat *self, GstClockTime now)
{
  HeartbeatReport report;
  report.stream_id = self->priv->active_stream_id;
  report.structure = gst_mirror_heartbeat_figures_locked (self, now, &report.stats);
  return report;
}

// Posts the report and hands the figures to the registry, whose own thread
// does any I/O. Called without locks held.
static void
gst_mirror_heartbeat_publish (GstMirrorHeartbeat *self, HeartbeatReport &report)
{
  gst_element_post_message (GST_ELEMENT_CAST (self),
                            gst_message_new_element (GST_OBJECT_CAST (self), report.structure));
  report.structure = nullptr;

  if (report.stream_id.empty ())
    return;
  auto registry = self->priv->registry.get ();
  if (!registry)
    return;
  try {
    registry->update_stats (report.stream_id, report.stats, mirror::kStatsMedia);
    registry->heartbeat (report.stream_id);
  } catch (const std::exception &e) {
    GST_WARNING_OBJECT (self, "registry %s refused the heartbeat of stream %s: %s",
                        registry->describe ().c_str (), report.stream_id.c_str (), e.what ());
  }
}

static void
gst_mirror_heartbeat_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  auto *self = GST_MIRROR_HEARTBEAT (object);
  auto *priv = self->priv;

  if (prop_id == PROP_STATS) {
    GstClockTime now = gst_mirror_heartbeat_now (self);
    std::lock_guard<std::mutex> lk (priv->state_lock);
    g_value_take_boxed (value, gst_mirror_heartbeat_figures_locked (self, now, nullptr));
    return;
  }

  std::lock_guard<std::mutex> lk (priv->settings_lock);
  switch (prop_id) {
  case PROP_STREAM_ID:
    g_value_set_string (value, priv->stream_id.empty () ? nullptr : priv->stream_id.c_str ());
    break;
  case PROP_REGISTRY:
    g_value_set_string (value, priv->registry_uri.c_str ());
    break;
  case PROP_INTERVAL:
    g_value_set_uint64 (value, priv->interval);
    break;
  case PROP_TIMEOUT:
    g_value_set_uint64 (value, priv->timeout);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    break;
  }
}

static void gst_mirror_heartbeat_on_stall_check (GstMirrorHeartbeat *self);

// (Re)arms the stall check to fire at @at.
static void
gst_mirror_heartbeat_arm_stall_locked (GstMirrorHeartbeat *self, GstClockTime at)
{
  auto *priv = self->priv;
  priv->stall_timer.stop ();
  if (priv->active_timeout == 0 || !priv->playing || !GST_CLOCK_TIME_IS_VALID (at))
    return;
  priv->stall_timer.start (GST_OBJECT (self), priv->clock, at, 0,
                           [self] () { gst_mirror_heartbeat_on_stall_check (self); });
}

// Fires when data may have stopped for `timeout`. The streaming thread only
// records arrival times; this check re-arms itself from the newest one, so a
// flowing stream costs one wake-up per timeout, not one timer per buffer.
static void
gst_mirror_heartbeat_on_stall_check (GstMirrorHeartbeat *self)
{
  auto *priv = self->priv;
  GstStructure *stalled = nullptr;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!priv->playing)
      return; // stopped meanwhile

    GstClockTime now = gst_mirror_heartbeat_now (self);
    GstClockTime seen = gst_mirror_heartbeat_last_seen_locked (self);
    if (priv->eos) {
      gst_mirror_heartbeat_arm_stall_locked (self, now + priv->active_timeout);
    } else if (now >= seen + priv->active_timeout) {
      // Not re-armed: the next buffer re-arms it after posting mirror-recovered.
      priv->stalled = true;
      priv->silent_since = seen;
      stalled = gst_structure_new (mirror::msg::kStalled, "stream-id", G_TYPE_STRING,
                                   priv->active_stream_id.c_str (), "last-buffer-age",
                                   G_TYPE_UINT64, (guint64)(now - seen), nullptr);
      GST_WARNING_OBJECT (self, "stream %s stalled: no buffer for %" GST_TIME_FORMAT,
                          priv->active_stream_id.c_str (), GST_TIME_ARGS (now - seen));
    } else {
      gst_mirror_heartbeat_arm_stall_locked (self, seen + priv->active_timeout);
    }
  }
  if (stalled)
    gst_element_post_message (GST_ELEMENT_CAST (self),
                              gst_message_new_element (GST_OBJECT_CAST (self), stalled));
}

static void
gst_mirror_heartbeat_on_tick (GstMirrorHeartbeat *self)
{
  auto *priv = self->priv;
  HeartbeatReport report;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!priv->playing)
      return;
    report = gst_mirror_heartbeat_report_locked (self, gst_mirror_heartbeat_now (self));
  }
  gst_mirror_heartbeat_publish (self, report);
}

static void
gst_mirror_heartbeat_start_timers_locked (GstMirrorHeartbeat *self)
{
  auto *priv = self->priv;
  GstClockTime now = gst_mirror_heartbeat_now (self);
  priv->playing = true;
  priv->playing_since = now;
  priv->stalled = false;
  priv->flow_announced = false;

  if (priv->active_interval > 0)
    priv->heartbeat_timer.start (GST_OBJECT (self), priv->clock, now + priv->active_interval,
                                 priv->active_interval,
                                 [self] () { gst_mirror_heartbeat_on_tick (self); });
  gst_mirror_heartbeat_arm_stall_locked (self, now + priv->active_timeout);
}

static void
gst_mirror_heartbeat_stop_timers_locked (GstMirrorHeartbeat *self)
{
  auto *priv = self->priv;
  priv->playing = false;
  priv->heartbeat_timer.stop ();
  priv->stall_timer.stop ();
}

static GstStateChangeReturn
gst_mirror_heartbeat_change_state (GstElement *element, GstStateChange transition)
{
  auto *self = GST_MIRROR_HEARTBEAT (element);
  auto *priv = self->priv;

  switch (transition) {
  case GST_STATE_CHANGE_NULL_TO_READY: {
    std::string stream_id, registry_uri;
    {
      std::lock_guard<std::mutex> lk (priv->settings_lock);
      stream_id = priv->stream_id;
      registry_uri = priv->registry_uri;
    }
    // Only a stream id needs the registry.
    if (!stream_id.empty () && !priv->registry.ensure (element, registry_uri))
      return GST_STATE_CHANGE_FAILURE;
    break;
  }
  case GST_STATE_CHANGE_PLAYING_TO_PAUSED: {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    gst_mirror_heartbeat_stop_timers_locked (self);
    break;
  }
  default:
    break;
  }

  GstStateChangeReturn ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (ret == GST_STATE_CHANGE_FAILURE)
    return ret;

  if (transition == GST_STATE_CHANGE_PAUSED_TO_PLAYING) {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    gst_mirror_heartbeat_start_timers_locked (self);
  }
  return ret;
}

static void
gst_mirror_heartbeat_set_context (GstElement *element, GstContext *context)
{
  GST_MIRROR_HEARTBEAT (element)->priv->registry.take_context (element, context);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

static gboolean
gst_mirror_heartbeat_query (GstBaseTransform *trans, GstPadDirection direction, GstQuery *query)
{
  if (GST_QUERY_TYPE (query) == GST_QUERY_CONTEXT
      && GST_MIRROR_HEARTBEAT (trans)->priv->registry.answer_query (query))
    return TRUE;
  return GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query);
}

static gboolean
gst_mirror_heartbeat_start (GstBaseTransform *trans)
{
  auto *priv = GST_MIRROR_HEARTBEAT (trans)->priv;
  std::string stream_id;
  GstClockTime interval, timeout;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    stream_id = priv->stream_id;
    interval = priv->interval;
    timeout = priv->timeout;
  }

  std::lock_guard<std::mutex> lk (priv->state_lock);
  priv->active_stream_id = std::move (stream_id);
  priv->active_interval = interval;
  priv->active_timeout = timeout;
  priv->meter.reset ();
  priv->codec.clear ();
  priv->width = priv->height = 0;
  priv->last_buffer = GST_CLOCK_TIME_NONE;
  priv->eos = false;
  priv->stalled = false;
  return TRUE;
}

// "video/x-h265" -> "h265", "audio/mpeg" -> "aac" (or "mp3"), raw -> "raw".
static std::string
gst_mirror_heartbeat_codec_name (const GstStructure *s)
{
  const gchar *media = gst_structure_get_name (s);
  if (g_str_has_suffix (media, "/x-raw"))
    return "raw";
  if (g_str_equal (media, "audio/mpeg")) {
    gint version = 0;
    gst_structure_get_int (s, "mpegversion", &version);
    return version == 1 ? "mp3" : "aac";
  }
  const gchar *name = strchr (media, '/');
  name = name ? name + 1 : media;
  if (g_str_has_prefix (name, "x-"))
    name += 2;
  return name;
}

static gboolean
gst_mirror_heartbeat_set_caps (GstBaseTransform *trans, GstCaps *incaps, GstCaps *outcaps)
{
  auto *self = GST_MIRROR_HEARTBEAT (trans);
  auto *priv = self->priv;
  const GstStructure *s
      = gst_caps_get_size (incaps) > 0 ? gst_caps_get_structure (incaps, 0) : nullptr;
  if (!s)
    return TRUE;

  std::string codec = gst_mirror_heartbeat_codec_name (s);
  gint width = 0, height = 0, fps_n = 0, fps_d = 1;
  gst_structure_get_int (s, "width", &width);
  gst_structure_get_int (s, "height", &height);
  guint64 frame_duration = GST_CLOCK_TIME_NONE;
  if (gst_structure_get_fraction (s, "framerate", &fps_n, &fps_d) && fps_n > 0 && fps_d > 0)
    frame_duration = gst_util_uint64_scale_int (GST_SECOND, fps_d, fps_n);

  GST_DEBUG_OBJECT (self, "codec %s, %dx%d, frame duration %" GST_TIME_FORMAT, codec.c_str (),
                    width, height, GST_TIME_ARGS (frame_duration));
  std::lock_guard<std::mutex> lk (priv->state_lock);
  priv->codec = std::move (codec);
  priv->width = width;
  priv->height = height;
  priv->meter.set_frame_duration (frame_duration);
  return TRUE;
}

static gboolean
gst_mirror_heartbeat_sink_event (GstBaseTransform *trans, GstEvent *event)
{
  auto *self = GST_MIRROR_HEARTBEAT (trans);
  auto *priv = self->priv;

  switch (GST_EVENT_TYPE (event)) {
  case GST_EVENT_EOS: {
    // A last report, so a short stream is measured at least once.
    HeartbeatReport report;
    GstClockTime now = gst_mirror_heartbeat_now (self);
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->eos = true;
      report = gst_mirror_heartbeat_report_locked (self, now);
    }
    gst_mirror_heartbeat_publish (self, report);
    break;
  }
  case GST_EVENT_STREAM_START:
  case GST_EVENT_FLUSH_STOP: {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->eos = false;
    priv->meter.restart_timeline ();
    break;
  }
  default:
    break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static GstFlowReturn
gst_mirror_heartbeat_transform_ip (GstBaseTransform *trans, GstBuffer *buf)
{
  auto *self = GST_MIRROR_HEARTBEAT (trans);
  auto *priv = self->priv;
  GstClockTime now = gst_mirror_heartbeat_now (self);
  GstClockTime timestamp
      = GST_BUFFER_DTS_IS_VALID (buf) ? GST_BUFFER_DTS (buf) : GST_BUFFER_PTS (buf);
  bool keyframe = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);

  GstStructure *recovered = nullptr, *flowing = nullptr;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!priv->flow_announced && priv->playing) {
      priv->flow_announced = true;
      flowing = gst_structure_new (mirror::msg::kFlowing, "stream-id", G_TYPE_STRING,
                                   priv->active_stream_id.c_str (), nullptr);
    }
    if (priv->meter.add (timestamp, GST_BUFFER_DURATION (buf), gst_buffer_get_size (buf), keyframe,
                         now))
      GST_INFO_OBJECT (self, "timestamp gap at %" GST_TIME_FORMAT, GST_TIME_ARGS (timestamp));
    priv->last_buffer = now;
    if (priv->stalled) {
      priv->stalled = false;
      GstClockTime stalled_for = now - priv->silent_since;
      recovered = gst_structure_new (mirror::msg::kRecovered, "stream-id", G_TYPE_STRING,
                                     priv->active_stream_id.c_str (), "stalled-for", G_TYPE_UINT64,
                                     (guint64)stalled_for, nullptr);
      GST_INFO_OBJECT (self, "stream %s recovered after %" GST_TIME_FORMAT,
                       priv->active_stream_id.c_str (), GST_TIME_ARGS (stalled_for));
      gst_mirror_heartbeat_arm_stall_locked (self, now + priv->active_timeout);
    }
  }
  if (flowing)
    gst_element_post_message (GST_ELEMENT_CAST (self),
                              gst_message_new_element (GST_OBJECT_CAST (self), flowing));
  if (recovered)
    gst_element_post_message (GST_ELEMENT_CAST (self),
                              gst_message_new_element (GST_OBJECT_CAST (self), recovered));
  return GST_FLOW_OK;
}
