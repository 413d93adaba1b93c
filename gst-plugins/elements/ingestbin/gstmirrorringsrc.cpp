// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingestbin/gstmirrorringsrc.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "util/thread_priority.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_ring_src_debug);
#define GST_CAT_DEFAULT gst_mirror_ring_src_debug

struct GstMirrorRingSrcState {
  ~GstMirrorRingSrcState ()
  {
    if (caps)
      gst_caps_unref (caps);
  }

  // Set by configure (READY), read by the streaming thread.
  std::mutex lock;
  std::shared_ptr<mirror::IngestRing> ring;
  GstCaps *caps = nullptr;
  GstClockTime window = 5 * GST_SECOND;
  guint max_chunks = 1;
  GstMirrorIngestEventFn on_event;

  // Streaming thread only (reset in start()).
  bool ever_connected = false;
  bool disconnected = false;
  gint64 disconnected_at_us = 0;
  // A caller came back: kReconnected waits for its first data, so that the
  // event means "the feed flows again", not only "someone connected".
  bool reconnect_pending = false;
  GstClockTime reconnect_gap = GST_CLOCK_TIME_NONE;
  // A pull's failed attempts before this connection: its first connection
  // is then a return too (the stream was already said to be reconnecting).
  bool retrying = false;
  gint64 retrying_since_us = 0;
  std::string last_peer;
  bool ended = false;
  std::vector<mirror::IngestRing::Item> items;
  // The nice value the streaming thread takes at its first create () after
  // each start (0: the process's): that of the hub whose data it takes.
  std::atomic<int> thread_nice{ 0 };
  bool nice_applied = false;
};

struct GstMirrorRingSrcPrivate {
  GstMirrorRingSrcState *state;
};

#define gst_mirror_ring_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorRingSrc, gst_mirror_ring_src, GST_TYPE_PUSH_SRC,
                         G_ADD_PRIVATE (GstMirrorRingSrc);
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_ring_src_debug, "mirrorringsrc", 0,
                                                  "Mirror ingest ring source"));

static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static GstMirrorRingSrcState *
state_of (GstMirrorRingSrc *src)
{
  auto *priv
      = static_cast<GstMirrorRingSrcPrivate *> (gst_mirror_ring_src_get_instance_private (src));
  return priv->state;
}

static void
gst_mirror_ring_src_finalize (GObject *object)
{
  delete state_of (GST_MIRROR_RING_SRC (object));
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

void
gst_mirror_ring_src_configure (GstMirrorRingSrc *src, const GstMirrorRingSrcConfig &config)
{
  auto *st = state_of (src);
  std::lock_guard<std::mutex> lk (st->lock);
  st->ring = config.ring;
  gst_caps_replace (&st->caps, config.caps);
  st->window = config.reconnect_window;
  st->max_chunks = MAX (config.max_chunks_per_push, 1u);
  st->on_event = config.on_event;
}

std::shared_ptr<mirror::IngestRing>
gst_mirror_ring_src_get_ring (GstMirrorRingSrc *src)
{
  auto *st = state_of (src);
  std::lock_guard<std::mutex> lk (st->lock);
  return st->ring;
}

void
gst_mirror_ring_src_set_thread_nice (GstMirrorRingSrc *src, int hub_nice)
{
  // As the hub's threads: a lower one held the ring's lock while the hub
  // waited for it (measured: libsrt's buffers overflowed, and the buffer
  // latency's p99 grew from 5 to 50 ms).
  state_of (src)->thread_nice = hub_nice;
}

static gboolean
gst_mirror_ring_src_start (GstBaseSrc *bsrc)
{
  auto *st = state_of (GST_MIRROR_RING_SRC (bsrc));
  std::lock_guard<std::mutex> lk (st->lock);
  if (!st->ring) {
    GST_ELEMENT_ERROR (bsrc, CORE, STATE_CHANGE, (nullptr), ("started without a ring"));
    return FALSE;
  }
  st->ever_connected = false;
  st->disconnected = false;
  st->reconnect_pending = false;
  st->retrying = false;
  st->ended = false;
  st->last_peer.clear ();
  st->nice_applied = false;
  return TRUE;
}

static gboolean
gst_mirror_ring_src_stop (GstBaseSrc *bsrc)
{
  auto ring = gst_mirror_ring_src_get_ring (GST_MIRROR_RING_SRC (bsrc));
  if (ring)
    ring->clear ();
  return TRUE;
}

static gboolean
gst_mirror_ring_src_unlock (GstBaseSrc *bsrc)
{
  auto ring = gst_mirror_ring_src_get_ring (GST_MIRROR_RING_SRC (bsrc));
  if (ring)
    ring->set_flushing (true);
  return TRUE;
}

static gboolean
gst_mirror_ring_src_unlock_stop (GstBaseSrc *bsrc)
{
  auto ring = gst_mirror_ring_src_get_ring (GST_MIRROR_RING_SRC (bsrc));
  if (ring)
    ring->set_flushing (false);
  return TRUE;
}

static GstCaps *
gst_mirror_ring_src_get_caps (GstBaseSrc *bsrc, GstCaps *filter)
{
  auto *st = state_of (GST_MIRROR_RING_SRC (bsrc));
  GstCaps *caps;
  {
    std::lock_guard<std::mutex> lk (st->lock);
    caps = st->caps ? gst_caps_ref (st->caps) : gst_caps_new_any ();
  }
  if (filter) {
    GstCaps *both = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = both;
  }
  return caps;
}

static void
gst_mirror_ring_src_emit (GstMirrorRingSrcState *st, GstMirrorIngestEvent event)
{
  GstMirrorIngestEventFn fn;
  {
    std::lock_guard<std::mutex> lk (st->lock);
    fn = st->on_event;
  }
  if (fn)
    fn (event);
}

// Turns one connection note into the source's state and an event.
static void
gst_mirror_ring_src_handle_note (GstMirrorRingSrc *src, GstMirrorRingSrcState *st,
                                 const mirror::IngestNote &note)
{
  GstMirrorIngestEvent event;
  event.peer = note.peer;
  event.reason = note.reason;
  switch (note.kind) {
  case mirror::IngestNote::Kind::kConnected:
    if ((st->ever_connected && st->disconnected) || st->retrying) {
      gint64 since = st->disconnected ? st->disconnected_at_us : st->retrying_since_us;
      st->reconnect_pending = true;
      st->reconnect_gap = (GstClockTime)MAX (note.at_us - since, 0) * GST_USECOND;
      st->disconnected = false;
      st->retrying = false;
      st->ever_connected = true;
      st->last_peer = note.peer;
      GST_INFO_OBJECT (src, "%s is back, waiting for its data", note.peer.c_str ());
      return;
    }
    event.kind = GstMirrorIngestEvent::Kind::kConnected;
    st->ever_connected = true;
    st->disconnected = false;
    st->last_peer = note.peer;
    GST_INFO_OBJECT (src, "connected %s", note.peer.c_str ());
    break;
  case mirror::IngestNote::Kind::kDisconnected:
    event.kind = GstMirrorIngestEvent::Kind::kDisconnected;
    // Back and gone again without data: the window runs from this loss.
    st->reconnect_pending = false;
    st->disconnected = true;
    st->disconnected_at_us = note.at_us;
    GST_INFO_OBJECT (src, "%s disconnected: %s", note.peer.c_str (), note.reason.c_str ());
    break;
  case mirror::IngestNote::Kind::kRetrying:
    if (!st->retrying && !st->disconnected)
      st->retrying_since_us = note.at_us;
    st->retrying = true;
    event.kind = GstMirrorIngestEvent::Kind::kRetrying;
    event.attempt = note.attempt;
    event.delay = (GstClockTime)note.delay_ms * GST_MSECOND;
    st->last_peer = note.peer;
    GST_INFO_OBJECT (src, "attempt %u on %s failed (%s), next in %" G_GINT64_FORMAT " ms",
                     note.attempt, note.peer.c_str (), note.reason.c_str (), note.delay_ms);
    break;
  case mirror::IngestNote::Kind::kEnded:
    // Reported when the EOS is actually returned, after the ring drained.
    st->ended = true;
    if (!note.peer.empty ())
      st->last_peer = note.peer;
    return;
  }
  gst_mirror_ring_src_emit (st, std::move (event));
}

// Arrival times (monotonic) become running times on the element's clock, so
// the demuxer and jitter buffer see when each chunk really arrived, not when
// this thread got round to it.
static void
gst_mirror_ring_src_timestamp (GstMirrorRingSrc *src, std::vector<mirror::IngestRing::Item> &items)
{
  GstClock *clock = gst_element_get_clock (GST_ELEMENT_CAST (src));
  GstClockTime running_now = GST_CLOCK_TIME_NONE;
  gint64 mono_now = g_get_monotonic_time ();
  if (clock) {
    GstClockTime now = gst_clock_get_time (clock);
    GstClockTime base = gst_element_get_base_time (GST_ELEMENT_CAST (src));
    if (now >= base)
      running_now = now - base;
    gst_object_unref (clock);
  }
  for (auto &item : items) {
    GstClockTime dts = GST_CLOCK_TIME_NONE;
    if (GST_CLOCK_TIME_IS_VALID (running_now)) {
      GstClockTime age = (GstClockTime)MAX (mono_now - item.arrival_us, 0) * GST_USECOND;
      dts = running_now > age ? running_now - age : 0;
    }
    if (GST_BUFFER_PTS_IS_VALID (item.buffer) || GST_BUFFER_DTS (item.buffer) != dts) {
      item.buffer = gst_buffer_make_writable (item.buffer);
      GST_BUFFER_PTS (item.buffer) = GST_CLOCK_TIME_NONE;
      GST_BUFFER_DTS (item.buffer) = dts;
    }
  }
}

static GstFlowReturn
gst_mirror_ring_src_create (GstPushSrc *psrc, GstBuffer **outbuf)
{
  auto *src = GST_MIRROR_RING_SRC (psrc);
  auto *st = state_of (src);
  std::shared_ptr<mirror::IngestRing> ring;
  GstClockTime window;
  size_t max_chunks;
  {
    std::lock_guard<std::mutex> lk (st->lock);
    ring = st->ring;
    window = st->window;
    max_chunks = st->max_chunks;
  }

  // The data waits in the ring until this thread takes it: it runs at the
  // priority of the network thread that put it there, or a box short of
  // CPU would hold it here (the buffer latency) while the network side runs.
  if (!st->nice_applied) {
    st->nice_applied = true;
    const int nice = st->thread_nice;
    if (nice != 0 && !mirror::set_thread_nice (nice))
      GST_INFO_OBJECT (src, "streaming thread keeps its priority (nice %d not permitted)", nice);
  }

  for (;;) {
    // Before the first caller: wait as long as it takes. After a
    // disconnection: until the window closes. After the end: drain only.
    gint64 deadline = -1;
    if (st->ended)
      deadline = 0;
    else if (st->ever_connected && st->disconnected && GST_CLOCK_TIME_IS_VALID (window))
      deadline = st->disconnected_at_us + (gint64)(window / GST_USECOND);

    mirror::IngestNote note;
    st->items.clear ();
    switch (ring->pop (deadline, max_chunks, &st->items, &note)) {
    case mirror::IngestRing::Wait::kFlushing:
      return GST_FLOW_FLUSHING;
    case mirror::IngestRing::Wait::kNote:
      gst_mirror_ring_src_handle_note (src, st, note);
      continue;
    case mirror::IngestRing::Wait::kTimeout: {
      GstMirrorIngestEvent event;
      event.peer = st->last_peer;
      if (st->ended) {
        event.kind = GstMirrorIngestEvent::Kind::kEnded;
        GST_INFO_OBJECT (src, "feed ended, EOS");
      } else {
        event.kind = GstMirrorIngestEvent::Kind::kWindowExpired;
        GST_INFO_OBJECT (src, "no caller within the reconnect window of %" GST_TIME_FORMAT ", EOS",
                         GST_TIME_ARGS (window));
      }
      gst_mirror_ring_src_emit (st, std::move (event));
      return GST_FLOW_EOS;
    }
    case mirror::IngestRing::Wait::kData:
      break;
    }

    // Paused or stopping while it waited: what it read goes (basesrc drops
    // it as it waits to play again), and as one buffer, not a list:
    // GStreamer 1.22's basesrc, finding a live source paused after a create
    // that submitted a list (outbuf NULL), unrefs that NULL (a critical;
    // the list waits until stop).
    g_mutex_lock (&GST_BASE_SRC (src)->live_lock);
    const bool running = GST_BASE_SRC (src)->live_running;
    g_mutex_unlock (&GST_BASE_SRC (src)->live_lock);
    if (!running && st->items.size () > 1) {
      // One buffer, which basesrc drops as it waits to play again.
      for (size_t i = 0; i + 1 < st->items.size (); i++)
        gst_buffer_unref (st->items[i].buffer);
      st->items.erase (st->items.begin (), st->items.end () - 1);
    }

    if (st->reconnect_pending) {
      st->reconnect_pending = false;
      GstMirrorIngestEvent event;
      event.kind = GstMirrorIngestEvent::Kind::kReconnected;
      event.peer = st->last_peer;
      event.gap = st->reconnect_gap;
      GST_INFO_OBJECT (src, "%s reconnected, its data flows", event.peer.c_str ());
      gst_mirror_ring_src_emit (st, std::move (event));
    }

    gst_mirror_ring_src_timestamp (src, st->items);
    if (st->items.size () == 1) {
      *outbuf = st->items[0].buffer;
    } else {
      // Datagrams stay separate buffers; one push carries them all.
      GstBufferList *list = gst_buffer_list_new_sized (st->items.size ());
      for (auto &item : st->items)
        gst_buffer_list_add (list, item.buffer);
      gst_base_src_submit_buffer_list (GST_BASE_SRC (src), list);
      *outbuf = nullptr;
    }
    st->items.clear ();
    return GST_FLOW_OK;
  }
}

static void
gst_mirror_ring_src_class_init (GstMirrorRingSrcClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto *basesrc_class = GST_BASE_SRC_CLASS (klass);
  auto *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  object_class->finalize = gst_mirror_ring_src_finalize;

  gst_element_class_set_static_metadata (
      element_class, "Mirror ingest ring source", "Source/Network",
      "Internal to mirroringestbin: pushes what the network left in the ingest ring",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &src_template);

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_mirror_ring_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_mirror_ring_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_mirror_ring_src_unlock);
  basesrc_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_mirror_ring_src_unlock_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_mirror_ring_src_get_caps);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_mirror_ring_src_create);
}

static void
gst_mirror_ring_src_init (GstMirrorRingSrc *src)
{
  auto *priv
      = static_cast<GstMirrorRingSrcPrivate *> (gst_mirror_ring_src_get_instance_private (src));
  priv->state = new GstMirrorRingSrcState ();
  gst_base_src_set_live (GST_BASE_SRC (src), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (src), GST_FORMAT_TIME);
  // Arrival times are set per chunk (see _timestamp): basesrc's own
  // do-timestamp would stamp the pop time instead.
  gst_base_src_set_do_timestamp (GST_BASE_SRC (src), FALSE);
}
