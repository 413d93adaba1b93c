// SPDX-License-Identifier: LGPL-2.1-or-later
// mirroringestbin: its ring and URI rules on their own, then the element
// against real peers on loopback (gst-launch-1.0 senders started here and
// stopped by PID).
//
//   test_ingestbin unit    ring, URI, properties, errors, ring drops (no media peers)
//   test_ingestbin peers   SRT caller and listener (hub), RTP, registry, reconnect,
//                          unknown codec, non-TS data
//
// The C++ headers come first: check.h defines a `fail` macro that would clash
// with std::basic_ios::fail.
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <signal.h>
#include <string>
#include <vector>

#include "ingestbin/ingestring.h"
#include "registry/registry_handle.h"
#include "registry/stream_registry.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>

#include "../common/wait_until.h"

// CI's two cores are busy (encoders run beside the receiver): generous
// deadlines, short polls.
static const GstClockTime kDeadline = 20 * GST_SECOND;

// ---------------------------------------------------------------- helpers

static GstBuffer *
buffer_of_size (gsize size)
{
  GstBuffer *b = gst_buffer_new_allocate (nullptr, size, nullptr);
  gst_buffer_memset (b, 0, 0x47, size);
  return b;
}

static guint16
free_udp_port (guint span = 1)
{
  for (int attempt = 0; attempt < 50; attempt++) {
    GSocket *s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP,
                               nullptr);
    GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    GSocketAddress *any = g_inet_socket_address_new (lo, 0);
    g_socket_bind (s, any, FALSE, nullptr);
    GSocketAddress *bound = g_socket_get_local_address (s, nullptr);
    guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
    g_object_unref (bound);
    g_object_unref (any);
    g_object_unref (s);
    bool ok = port > 0 && port + span < 65535;
    // The following ports (RTCP) must be free as well.
    for (guint i = 1; ok && i < span; i++) {
      GSocket *t = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                                 G_SOCKET_PROTOCOL_UDP, nullptr);
      GSocketAddress *a = g_inet_socket_address_new (lo, port + i);
      ok = g_socket_bind (t, a, FALSE, nullptr);
      g_object_unref (a);
      g_object_unref (t);
    }
    g_object_unref (lo);
    if (ok)
      return port;
  }
  fail ("no free UDP port");
  return 0;
}

// Whether something listens on UDP @port (binding it fails).
static bool
udp_port_taken (guint16 port)
{
  GSocket *s
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *a = g_inet_socket_address_new (lo, port);
  bool taken = !g_socket_bind (s, a, FALSE, nullptr);
  g_object_unref (a);
  g_object_unref (lo);
  g_object_unref (s);
  return taken;
}

// A UDP socket bound to @port on loopback, without address reuse: nobody
// else can listen there while it lives.
static GSocket *
occupy_udp_port (guint16 port)
{
  GSocket *s
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, nullptr);
  GInetAddress *any = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *a = g_inet_socket_address_new (any, port);
  GError *err = nullptr;
  fail_unless (g_socket_bind (s, a, FALSE, &err), "bind %u: %s", port, err ? err->message : "");
  g_object_unref (a);
  g_object_unref (any);
  return s;
}

static std::string
error_text (GstMessage *msg, GError **out = nullptr)
{
  GError *err = nullptr;
  gchar *debug = nullptr;
  gst_message_parse_error (msg, &err, &debug);
  std::string text = err ? err->message : "";
  if (out)
    *out = err;
  else
    g_clear_error (&err);
  g_free (debug);
  return text;
}

// A gst-launch-1.0 peer; killed (SIGKILL, by PID) and reaped when destroyed.
class Peer {
 public:
  // @stdout_path: where its standard output goes (else nowhere).
  explicit Peer (const std::string &description, const std::string &stdout_path = "")
  {
    gchar **args = nullptr;
    GError *err = nullptr;
    fail_unless (g_shell_parse_argv (description.c_str (), nullptr, &args, &err), "%s",
                 err ? err->message : "");
    // -q would also silence -m: quiet only when the output goes nowhere.
    std::vector<const gchar *> argv = { "gst-launch-1.0" };
    if (stdout_path.empty ())
      argv.push_back ("-q");
    for (gchar **a = args; *a; a++)
      argv.push_back (*a);
    argv.push_back (nullptr);
    GSubprocessLauncher *launcher = g_subprocess_launcher_new (
        stdout_path.empty () ? G_SUBPROCESS_FLAGS_STDOUT_SILENCE : G_SUBPROCESS_FLAGS_NONE);
    if (!stdout_path.empty ())
      g_subprocess_launcher_set_stdout_file_path (launcher, stdout_path.c_str ());
    static std::atomic<int> n{ 0 };
    log_ = std::string (g_get_tmp_dir ()) + "/mirror-ingest-peer-" + std::to_string (getpid ())
           + "-" + std::to_string (n++) + ".log";
    g_subprocess_launcher_set_stderr_file_path (launcher, log_.c_str ());
    proc_ = g_subprocess_launcher_spawnv (launcher, argv.data (), &err);
    g_object_unref (launcher);
    g_strfreev (args);
    fail_unless (proc_ != nullptr, "cannot start gst-launch-1.0 %s: %s", description.c_str (),
                 err ? err->message : "");
  }
  ~Peer ()
  {
    kill ();
    g_unlink (log_.c_str ());
  }
  Peer (const Peer &) = delete;
  Peer &operator= (const Peer &) = delete;

  void kill ()
  {
    if (!proc_)
      return;
    g_subprocess_send_signal (proc_, SIGKILL);
    g_subprocess_wait (proc_, nullptr, nullptr);
    g_clear_object (&proc_);
  }

 private:
  GSubprocess *proc_ = nullptr;
  std::string log_;
};

static std::shared_ptr<mirror::StreamRegistry>
make_memory_registry ()
{
  std::string error;
  mirror::RegistryOptions options;
  options.uri = "memory://";
  auto registry = mirror::make_registry (options, &error);
  fail_unless (registry != nullptr, "make_registry: %s", error.c_str ());
  return registry;
}

static GstContext *
registry_context_new (std::shared_ptr<mirror::StreamRegistry> registry)
{
  GstContext *context = gst_context_new (MIRROR_REGISTRY_CONTEXT_TYPE, TRUE);
  mirror::RegistryHandle *handle = mirror::registry_handle_new (std::move (registry));
  gst_structure_set (gst_context_writable_structure (context), MIRROR_REGISTRY_CONTEXT_FIELD,
                     MIRROR_TYPE_REGISTRY_HANDLE, handle, nullptr);
  g_boxed_free (MIRROR_TYPE_REGISTRY_HANDLE, handle);
  return context;
}

static std::optional<mirror::StreamEntry>
get_entry (mirror::StreamRegistry &registry, const std::string &id)
{
  auto done = std::make_shared<std::promise<std::optional<mirror::StreamEntry>>> ();
  auto result = done->get_future ();
  registry.get_stream (id, [done] (const mirror::RegistryStatus &st,
                                   const std::optional<mirror::StreamEntry> &entry) {
    done->set_value (st.ok () ? entry : std::nullopt);
  });
  fail_unless (result.wait_for (mirror::test::scaled (std::chrono::seconds (5)))
               == std::future_status::ready);
  return result.get ();
}

static mirror::RegistryStatus
register_entry (mirror::StreamRegistry &registry, const std::string &id)
{
  mirror::StreamEntry entry;
  entry.id = id;
  entry.source = "mirrord";
  auto done = std::make_shared<std::promise<mirror::RegistryStatus>> ();
  auto result = done->get_future ();
  registry.register_stream (entry,
                            [done] (const mirror::RegistryStatus &st) { done->set_value (st); });
  fail_unless (result.wait_for (mirror::test::scaled (std::chrono::seconds (5)))
               == std::future_status::ready);
  return result.get ();
}

// A pipeline holding one mirroringestbin; every pad it exposes is linked to
// a fakesink whose buffers are counted per pad.
class IngestRig {
 public:
  explicit IngestRig (const std::string &uri, const std::string &stream_id = "cam",
                      std::function<void (GstElement *)> setup = nullptr)
  {
    pipeline_ = gst_pipeline_new (nullptr);
    bin_ = gst_element_factory_make ("mirroringestbin", "ingest");
    fail_unless (bin_ != nullptr);
    g_object_set (bin_, "uri", uri.c_str (), nullptr);
    if (!stream_id.empty ())
      g_object_set (bin_, "stream-id", stream_id.c_str (), nullptr);
    if (setup)
      setup (bin_);
    gst_bin_add (GST_BIN (pipeline_), bin_);
    g_signal_connect (bin_, "pad-added", G_CALLBACK (on_pad_added), this);
    g_signal_connect (bin_, "no-more-pads", G_CALLBACK (on_no_more_pads), this);
    bus_ = gst_element_get_bus (pipeline_);
  }
  ~IngestRig ()
  {
    stop ();
    for (auto *m : kept_)
      gst_message_unref (m);
    gst_object_unref (bus_);
    gst_object_unref (pipeline_);
  }

  void play ()
  {
    fail_if (gst_element_set_state (pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE,
             "pipeline did not start");
  }
  void stop () { gst_element_set_state (pipeline_, GST_STATE_NULL); }

  guint64 buffers (const std::string &pad)
  {
    std::lock_guard<std::mutex> lk (lock_);
    return counts_.count (pad) ? counts_[pad] : 0;
  }
  std::string caps (const std::string &pad)
  {
    std::lock_guard<std::mutex> lk (lock_);
    return caps_.count (pad) ? caps_[pad] : "";
  }
  bool eos () const { return eos_; }

  // Handles bus messages until @done holds; an error fails the test unless
  // @error_ok. Element messages are kept for find_message.
  bool wait (const std::function<bool ()> &done, GstClockTime timeout = kDeadline,
             bool error_ok = false)
  {
    return mirror::test::wait_until (done, std::chrono::milliseconds (timeout / GST_MSECOND),
                                     [this, error_ok] () { return handle_one (error_ok); });
  }

  // Takes one bus message (waiting 50 ms at most); false when none came.
  bool handle_one (bool error_ok)
  {
    GstMessage *msg = gst_bus_timed_pop (bus_, 50 * GST_MSECOND);
    if (!msg)
      return false;
    switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      if (!error_ok) {
        std::string text = error_text (msg);
        gst_message_unref (msg);
        fail ("unexpected error: %s", text.c_str ());
      }
      kept_.push_back (msg);
      break;
    case GST_MESSAGE_EOS:
      eos_ = true;
      gst_message_unref (msg);
      break;
    case GST_MESSAGE_ELEMENT:
      kept_.push_back (msg);
      break;
    default:
      gst_message_unref (msg);
      break;
    }
    return true;
  }

  // The latest kept message named @name (an element message's structure, or
  // GST_MESSAGE_ERROR for "error"), if any.
  GstMessage *find_message (const char *name)
  {
    for (auto it = kept_.rbegin (); it != kept_.rend (); ++it) {
      if (g_str_equal (name, "error")) {
        if (GST_MESSAGE_TYPE (*it) == GST_MESSAGE_ERROR)
          return *it;
        continue;
      }
      const GstStructure *s = gst_message_get_structure (*it);
      if (GST_MESSAGE_TYPE (*it) == GST_MESSAGE_ELEMENT && s && gst_structure_has_name (s, name))
        return *it;
    }
    return nullptr;
  }
  bool has_message (const char *name) { return find_message (name) != nullptr; }

  GstElement *pipeline () const { return pipeline_; }
  GstElement *bin () const { return bin_; }
  bool no_more_pads () const { return no_more_pads_; }

 private:
  static GstPadProbeReturn count (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
  {
    auto *self = static_cast<IngestRig *> (user_data);
    gchar *name = (gchar *)g_object_get_data (G_OBJECT (pad), "ingest-pad");
    std::lock_guard<std::mutex> lk (self->lock_);
    self->counts_[name]++;
    if (self->caps_[name].empty ()) {
      GstCaps *caps = gst_pad_get_current_caps (pad);
      if (caps) {
        gchar *text = gst_caps_to_string (caps);
        self->caps_[name] = text;
        g_free (text);
        gst_caps_unref (caps);
      }
    }
    return GST_PAD_PROBE_OK;
  }

  static void on_pad_added (GstElement *bin, GstPad *pad, gpointer user_data)
  {
    auto *self = static_cast<IngestRig *> (user_data);
    GstElement *sink = gst_element_factory_make ("fakesink", nullptr);
    g_object_set (sink, "sync", FALSE, "async", FALSE, nullptr);
    gst_bin_add (GST_BIN (self->pipeline_), sink);
    GstPad *sinkpad = gst_element_get_static_pad (sink, "sink");
    g_object_set_data_full (G_OBJECT (sinkpad), "ingest-pad", g_strdup (GST_PAD_NAME (pad)),
                            g_free);
    gst_pad_add_probe (sinkpad, GST_PAD_PROBE_TYPE_BUFFER, count, self, nullptr);
    fail_unless (gst_pad_link (pad, sinkpad) == GST_PAD_LINK_OK);
    gst_object_unref (sinkpad);
    gst_element_sync_state_with_parent (sink);
  }

  static void on_no_more_pads (GstElement *bin, gpointer user_data)
  {
    static_cast<IngestRig *> (user_data)->no_more_pads_ = true;
  }

  GstElement *pipeline_ = nullptr;
  GstElement *bin_ = nullptr;
  GstBus *bus_ = nullptr;
  std::mutex lock_;
  std::map<std::string, guint64> counts_;
  std::map<std::string, std::string> caps_;
  std::vector<GstMessage *> kept_;
  std::atomic<bool> no_more_pads_{ false };
  bool eos_ = false;
};

static std::string
h264_ts (const std::string &sink)
{
  return "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
         "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! "
         "mpegtsmux ! "
         + sink;
}

// HEVC + AAC; h265parse repeats the parameter sets, so a receiver may join at
// any keyframe.
static std::string
hevc_aac_ts (const std::string &sink)
{
  return "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
         "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! "
         "h265parse config-interval=-1 ! mpegtsmux name=mux ! "
         + sink
         + " audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! avenc_aac ! "
           "aacparse ! mux.";
}

static std::string
srt_caller_sink (guint16 port, const std::string &stream_id)
{
  return "srtsink uri=\"srt://127.0.0.1:" + std::to_string (port) + "?streamid=" + stream_id
         + "\" latency=60";
}

static std::string
hub_uri (guint16 port, const std::string &stream_id)
{
  return "srt://127.0.0.1:" + std::to_string (port) + "?streamid=" + stream_id + "&latency=60";
}

// ================================================================ unit

GST_START_TEST (test_ring_drops_oldest)
{
  mirror::IngestRing ring (3000);
  for (int i = 0; i < 3; i++)
    ring.push (buffer_of_size (1000));
  auto c = ring.counters ();
  fail_unless_equals_uint64 (c.bytes_queued, 3000);
  fail_unless_equals_uint64 (c.drops, 0);

  // A fourth chunk does not fit: the oldest goes, and is counted.
  ring.push (buffer_of_size (1000));
  // A big one pushes out two more.
  ring.push (buffer_of_size (1500));
  c = ring.counters ();
  fail_unless_equals_uint64 (c.drops, 3);
  fail_unless_equals_uint64 (c.dropped_bytes, 3000);
  fail_unless_equals_uint64 (c.bytes_queued, 2500);
  fail_unless_equals_uint64 (c.chunks_queued, 2);
  fail_unless_equals_uint64 (c.bytes_in, 5500);
  fail_unless (c.first_data_us > 0);

  // The chunk after a drop says so.
  std::vector<mirror::IngestRing::Item> items;
  mirror::IngestNote note;
  fail_unless (ring.pop (0, 10, &items, &note) == mirror::IngestRing::Wait::kData);
  fail_unless_equals_int (items.size (), 2);
  fail_unless (GST_BUFFER_FLAG_IS_SET (items[0].buffer, GST_BUFFER_FLAG_DISCONT));
  fail_unless (!GST_BUFFER_FLAG_IS_SET (items[1].buffer, GST_BUFFER_FLAG_DISCONT));
  fail_unless_equals_int (gst_buffer_get_size (items[1].buffer), 1500);
  for (auto &item : items)
    gst_buffer_unref (item.buffer);
  fail_unless_equals_uint64 (ring.counters ().bytes_queued, 0);

  // A chunk larger than the ring is kept on its own.
  ring.push (buffer_of_size (5000));
  fail_unless_equals_uint64 (ring.counters ().chunks_queued, 1);
}
GST_END_TEST;

GST_START_TEST (test_ring_notes_flush_deadline)
{
  mirror::IngestRing ring (100000);
  std::vector<mirror::IngestRing::Item> items;
  mirror::IngestNote note;

  // Nothing there: the deadline passes.
  gint64 start = g_get_monotonic_time ();
  fail_unless (ring.pop (start + 20000, 1, &items, &note) == mirror::IngestRing::Wait::kTimeout);
  fail_unless (g_get_monotonic_time () - start >= 20000);

  // Notes go before data; a reconnect flags the next chunk DISCONT.
  ring.push (buffer_of_size (100));
  ring.note ({ mirror::IngestNote::Kind::kDisconnected, "a:1", "gone", 1 });
  ring.mark_discont ();
  ring.note ({ mirror::IngestNote::Kind::kConnected, "a:2", {}, 2 });
  ring.push (buffer_of_size (200));
  fail_unless (ring.pop (-1, 1, &items, &note) == mirror::IngestRing::Wait::kNote);
  fail_unless (note.kind == mirror::IngestNote::Kind::kDisconnected);
  fail_unless_equals_string (note.reason.c_str (), "gone");
  fail_unless (ring.pop (-1, 1, &items, &note) == mirror::IngestRing::Wait::kNote);
  fail_unless (note.kind == mirror::IngestNote::Kind::kConnected);
  fail_unless (ring.pop (-1, 1, &items, &note) == mirror::IngestRing::Wait::kData);
  fail_unless (ring.pop (-1, 1, &items, &note) == mirror::IngestRing::Wait::kData);
  fail_unless_equals_int (items.size (), 2);
  fail_unless (!GST_BUFFER_FLAG_IS_SET (items[0].buffer, GST_BUFFER_FLAG_DISCONT));
  fail_unless (GST_BUFFER_FLAG_IS_SET (items[1].buffer, GST_BUFFER_FLAG_DISCONT));
  for (auto &item : items)
    gst_buffer_unref (item.buffer);
  items.clear ();

  // Flushing wakes a waiting reader at once.
  auto waiter = std::async (std::launch::async, [&] {
    std::vector<mirror::IngestRing::Item> got;
    mirror::IngestNote n;
    return ring.pop (-1, 1, &got, &n);
  });
  fail_unless (waiter.wait_for (std::chrono::milliseconds (50)) == std::future_status::timeout);
  ring.set_flushing (true);
  fail_unless (waiter.wait_for (mirror::test::scaled (std::chrono::seconds (5)))
               == std::future_status::ready);
  fail_unless (waiter.get () == mirror::IngestRing::Wait::kFlushing);
  ring.set_flushing (false);

  // A push wakes a waiting reader.
  auto reader = std::async (std::launch::async, [&] {
    std::vector<mirror::IngestRing::Item> got;
    mirror::IngestNote n;
    auto w = ring.pop (-1, 1, &got, &n);
    for (auto &item : got)
      gst_buffer_unref (item.buffer);
    return w;
  });
  ring.push (buffer_of_size (10));
  fail_unless (reader.wait_for (mirror::test::scaled (std::chrono::seconds (5)))
               == std::future_status::ready);
  fail_unless (reader.get () == mirror::IngestRing::Wait::kData);
}
GST_END_TEST;

GST_START_TEST (test_properties)
{
  GstElement *e = gst_element_factory_make ("mirroringestbin", nullptr);
  guint64 window = 0;
  guint ring = 0;
  g_object_get (e, "reconnect-window", &window, "ring-size", &ring, nullptr);
  fail_unless_equals_uint64 (window, 5 * GST_SECOND);
  fail_unless_equals_int (ring, 4 * 1024 * 1024);
  GParamSpec *p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "reconnect-window");
  fail_unless (strstr (g_param_spec_get_blurb (p), "nanoseconds") != nullptr);
  g_object_set (e, "reconnect-window", (guint64)GST_SECOND, nullptr);
  g_object_get (e, "reconnect-window", &window, nullptr);
  fail_unless_equals_uint64 (window, GST_SECOND);
  gst_object_unref (e);
}
GST_END_TEST;

// Starts a lone bin; returns the error it posted (or nullptr) and whether
// READY->PAUSED failed.
static GstMessage *
start_and_get_error (const std::string &uri, const char *stream_id, bool *failed)
{
  GstElement *e = gst_element_factory_make ("mirroringestbin", nullptr);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  g_object_set (e, "uri", uri.c_str (), "stream-id", stream_id, nullptr);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  *failed = gst_element_set_state (e, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE;
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 0, GST_MESSAGE_ERROR);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, nullptr);
  gst_object_unref (bus);
  gst_object_unref (e);
  return msg;
}

GST_START_TEST (test_bad_uri_fails)
{
  const char *bad[] = {
    "http://:6000?streamid=a",    "srt://:6000",
    "srt://:99999?streamid=a",    "rtp://:5004?ssrc=1&encoding=VP8",
    "rtp://:5004?encoding=H265",  "srt://:6000?streamid=a&passphrase=short",
    "srt://:6000?streamid=a%20b",
  };
  for (const char *uri : bad) {
    bool failed = false;
    GstMessage *msg = start_and_get_error (uri, "badcam", &failed);
    fail_unless (failed, "%s: state change did not fail", uri);
    fail_unless (msg != nullptr, "%s: no error", uri);
    GError *err = nullptr;
    std::string text = error_text (msg, &err);
    fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS), "%s: %s",
                 uri, text.c_str ());
    fail_unless (text.find ("badcam") != std::string::npos, "%s", text.c_str ());
    fail_unless (text.find ("\"uri\"") != std::string::npos, "%s", text.c_str ());
    // The value, except a passphrase.
    if (!strstr (uri, "passphrase"))
      fail_unless (text.find (uri) != std::string::npos, "%s", text.c_str ());
    else
      fail_unless (text.find ("short") == std::string::npos, "%s", text.c_str ());
    g_error_free (err);
    gst_message_unref (msg);
  }

  // No uri at all.
  bool failed = false;
  GstMessage *msg = start_and_get_error ("", "nouri", &failed);
  fail_unless (failed && msg);
  fail_unless (error_text (msg).find ("nouri") != std::string::npos);
  gst_message_unref (msg);
}
GST_END_TEST;

GST_START_TEST (test_port_in_use)
{
  for (bool srt : { true, false }) {
    guint16 port = free_udp_port (2);
    GSocket *blocker = occupy_udp_port (port);
    std::string uri = srt ? "srt://:" + std::to_string (port) + "?streamid=busy"
                          : "rtp://:" + std::to_string (port) + "?ssrc=5&encoding=H264";
    bool failed = false;
    GstMessage *msg = start_and_get_error (uri, "busycam", &failed);
    fail_unless (failed, "%s: state change did not fail", uri.c_str ());
    fail_unless (msg != nullptr, "%s: no error", uri.c_str ());
    GError *err = nullptr;
    std::string text = error_text (msg, &err);
    fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ), "%s",
                 text.c_str ());
    fail_unless (text.find (std::to_string (port)) != std::string::npos, "%s", text.c_str ());
    fail_unless (text.find ("busycam") != std::string::npos, "%s", text.c_str ());
    g_error_free (err);
    gst_message_unref (msg);
    g_object_unref (blocker);
  }
}
GST_END_TEST;

// RTP datagrams (fake payload) straight from a socket in the test.
static void
send_rtp (guint16 port, guint32 ssrc, int count, gsize size)
{
  GSocket *s
      = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, nullptr);
  GInetAddress *lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  GSocketAddress *to = g_inet_socket_address_new (lo, port);
  std::vector<guint8> packet (size, 0);
  for (int i = 0; i < count; i++) {
    packet[0] = 0x80;
    packet[1] = 96;
    packet[2] = (i >> 8) & 0xff;
    packet[3] = i & 0xff;
    guint32 ts = i * 3000;
    for (int b = 0; b < 4; b++) {
      packet[4 + b] = (ts >> (24 - 8 * b)) & 0xff;
      packet[8 + b] = (ssrc >> (24 - 8 * b)) & 0xff;
    }
    g_socket_send_to (s, to, (const gchar *)packet.data (), packet.size (), nullptr, nullptr);
    // Loopback drops what the receiver cannot take at once: keep a pace
    // the hub's thread can follow on a busy machine.
    if (i % 16 == 15)
      g_usleep (1000);
  }
  g_object_unref (to);
  g_object_unref (lo);
  g_object_unref (s);
}

// Downstream of the ring stalls (a blocking probe, like a sink that does not
// pull): the network side goes on, the ring drops its oldest data and counts
// every drop.
GST_START_TEST (test_ring_drops_counted_when_downstream_blocks)
{
  guint16 port = free_udp_port (2);
  const guint32 ssrc = 0x1234;
  const gsize size = 1200;
  IngestRig rig ("rtp://127.0.0.1:" + std::to_string (port) + "?ssrc=" + std::to_string (ssrc)
                     + "&encoding=H265",
                 "", [] (GstElement *bin) { g_object_set (bin, "ring-size", 64 * 1024, nullptr); });
  fail_unless (gst_element_set_state (rig.pipeline (), GST_STATE_PAUSED)
               != GST_STATE_CHANGE_FAILURE);
  GstElement *src = gst_bin_get_by_name (GST_BIN (rig.bin ()), "src");
  fail_unless (src != nullptr, "no child named src");
  GstPad *pad = gst_element_get_static_pad (src, "src");
  gulong block = gst_pad_add_probe (
      pad, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM,
      [] (GstPad *, GstPadProbeInfo *, gpointer) { return GST_PAD_PROBE_OK; }, nullptr, nullptr);
  rig.play ();

  send_rtp (port, ssrc, 400, size);
  guint64 drops = 0, dropped = 0, held = 0;
  bool seen = rig.wait ([&] {
    GstMessage *m = rig.find_message ("mirror-ingest-stats");
    if (!m)
      return false;
    const GstStructure *s = gst_message_get_structure (m);
    gst_structure_get (s, "ring-drops", G_TYPE_UINT64, &drops, "ring-dropped-bytes", G_TYPE_UINT64,
                       &dropped, "ring-bytes", G_TYPE_UINT64, &held, nullptr);
    return drops > 0;
  });
  fail_unless (seen, "no ring drop reported");
  fail_unless_equals_uint64 (dropped, drops * size);
  fail_unless (held <= 64 * 1024, "ring holds %" G_GUINT64_FORMAT " bytes", held);
  fail_unless (held + dropped <= 400 * size);
  GstMessage *m = rig.find_message ("mirror-ingest-stats");
  const GstStructure *s = gst_message_get_structure (m);
  fail_unless_equals_string (gst_structure_get_string (s, "transport"), "rtp");
  fail_unless (gst_structure_has_field (s, "packets-lost"));
  fail_unless (gst_structure_has_field (s, "receive-rate-mbps"));

  gst_pad_remove_probe (pad, block);
  gst_object_unref (pad);
  gst_object_unref (src);
  rig.stop ();
}
GST_END_TEST;

// ================================================================ peers

// Pull from a remote SRT listener with stock srtsrc (caller mode).
GST_START_TEST (test_srt_caller_h264)
{
  guint16 port = free_udp_port ();
  // (srtsink bound to 127.0.0.1 refuses srtsrc callers: it listens on any.)
  Peer sender (h264_ts ("srtsink mode=listener latency=60 uri=srt://:" + std::to_string (port)));
  IngestRig rig ("srt://127.0.0.1:" + std::to_string (port) + "?mode=caller&latency=60",
                 "caller-cam");
  rig.play ();
  fail_unless (rig.wait ([&] { return rig.buffers ("video_0") >= 20; }),
               "no H.264 access units on video_0");
  fail_unless (rig.caps ("video_0").find ("video/x-h264") == 0, "%s",
               rig.caps ("video_0").c_str ());
  fail_unless (rig.caps ("video_0").find ("alignment=(string)au") != std::string::npos);
  fail_unless (rig.has_message ("mirror-ingest-connected"));
  fail_unless (rig.wait ([&] { return rig.has_message ("mirror-ingest-stats"); }));
  const GstStructure *s = gst_message_get_structure (rig.find_message ("mirror-ingest-stats"));
  fail_unless_equals_string (gst_structure_get_string (s, "transport"), "srt");
  fail_unless_equals_string (gst_structure_get_string (s, "stream-id"), "caller-cam");
  guint64 bytes = 0;
  gst_structure_get_uint64 (s, "bytes-received", &bytes);
  fail_unless (bytes > 0);

  // Back to READY: the sometimes pads and the media children are gone.
  fail_unless (gst_element_set_state (rig.pipeline (), GST_STATE_READY)
               == GST_STATE_CHANGE_SUCCESS);
  GstPad *pad = gst_element_get_static_pad (rig.bin (), "video_0");
  fail_unless (pad == nullptr, "video_0 still there in READY");
  fail_unless_equals_int (GST_ELEMENT (rig.bin ())->numsrcpads, 0);
  fail_unless_equals_int (GST_BIN (rig.bin ())->numchildren, 0);
}
GST_END_TEST;

// HEVC + AAC through the process-wide SRT hub, a srtsink caller as the peer;
// the stream registers itself in the registry the pipeline's context gives.
GST_START_TEST (test_srt_hub_hevc_aac_registers)
{
  auto registry = make_memory_registry ();
  guint16 port = free_udp_port ();
  IngestRig rig (hub_uri (port, "hubcam"), "hub-cam");
  GstContext *context = registry_context_new (registry);
  gst_element_set_context (rig.pipeline (), context);
  gst_context_unref (context);
  rig.play ();
  Peer sender (hevc_aac_ts (srt_caller_sink (port, "hubcam")));

  fail_unless (
      rig.wait ([&] { return rig.buffers ("video_0") >= 15 && rig.buffers ("audio_0") >= 15; }),
      "video_0 %" G_GUINT64_FORMAT ", audio_0 %" G_GUINT64_FORMAT " buffers",
      rig.buffers ("video_0"), rig.buffers ("audio_0"));
  fail_unless (rig.caps ("video_0").find ("video/x-h265") == 0, "%s",
               rig.caps ("video_0").c_str ());
  fail_unless (rig.caps ("audio_0").find ("audio/mpeg") == 0, "%s", rig.caps ("audio_0").c_str ());
  fail_unless (rig.caps ("audio_0").find ("mpegversion=(int)4") != std::string::npos, "%s",
               rig.caps ("audio_0").c_str ());
  fail_unless (rig.no_more_pads ());
  GstMessage *connected = rig.find_message ("mirror-ingest-connected");
  fail_unless (connected != nullptr);
  const gchar *peer = gst_structure_get_string (gst_message_get_structure (connected), "peer");
  fail_unless (g_str_has_prefix (peer, "127.0.0.1:"), "peer %s", peer);

  std::optional<mirror::StreamEntry> entry;
  fail_unless (rig.wait ([&] {
    entry = get_entry (*registry, "hub-cam");
    return entry && entry->stats.codec == "h265";
  }),
               "hub-cam not registered with its codec");
  fail_unless_equals_int (entry->stats.width, 320);
  fail_unless_equals_int (entry->stats.height, 240);
  fail_unless (entry->state == mirror::StreamState::kLive);
  fail_unless_equals_string (entry->node_id.c_str (), registry->node_id ().c_str ());
  fail_unless (g_str_has_prefix (entry->source.c_str (), "127.0.0.1:"), "%s",
               entry->source.c_str ());

  // Transport figures follow within a stats period or two.
  fail_unless (rig.wait ([&] {
    entry = get_entry (*registry, "hub-cam");
    return entry && entry->stats.packets > 0;
  }),
               "no transport figures in the registry");

  // It registered the stream itself: stopping unregisters it.
  rig.stop ();
  fail_unless (mirror::test::wait_until ([&] { return !get_entry (*registry, "hub-cam"); }),
               "still registered after stop");
}
GST_END_TEST;

// mirrord registered the stream first (same node): the bin only updates the
// entry's media figures, leaves its state to mirrord (the owner of the
// stream's lifecycle), and leaves the entry in place when it stops.
GST_START_TEST (test_registry_entry_of_this_node_is_adopted)
{
  auto registry = make_memory_registry ();
  fail_unless (register_entry (*registry, "adopted").ok ());
  guint16 port = free_udp_port ();
  IngestRig rig (hub_uri (port, "adopted"), "adopted");
  GstContext *context = registry_context_new (registry);
  gst_element_set_context (rig.pipeline (), context);
  gst_context_unref (context);
  rig.play ();
  Peer sender (h264_ts (srt_caller_sink (port, "adopted")));

  std::optional<mirror::StreamEntry> entry;
  fail_unless (rig.wait ([&] {
    entry = get_entry (*registry, "adopted");
    return entry && entry->stats.codec == "h264";
  }),
               "entry not updated");
  fail_unless_equals_string (mirror::to_string (entry->state), "starting");
  fail_unless_equals_int (entry->stats.width, 320);
  fail_unless_equals_string (entry->source.c_str (), "mirrord");
  fail_if (rig.find_message ("error"));
  rig.stop ();
  sender.kill ();
  fail_unless (get_entry (*registry, "adopted").has_value (), "mirrord's entry was removed");
}
GST_END_TEST;

// Parameter sets in front of every keyframe (x265 with closed GOPs), so that
// the receiver may start at any keyframe, also after a restart.
GST_START_TEST (test_rtp_h265)
{
  guint16 port = free_udp_port (2);
  const guint32 ssrc = 4242;
  IngestRig rig ("rtp://127.0.0.1:" + std::to_string (port) + "?ssrc=" + std::to_string (ssrc)
                     + "&encoding=H265",
                 "rtp-cam");
  rig.play ();
  Peer sender ("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! "
               "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
               "option-string=repeat-headers=1:open-gop=0 ! "
               "rtph265pay config-interval=-1 pt=96 ssrc="
               + std::to_string (ssrc) + " ! udpsink host=127.0.0.1 port=" + std::to_string (port));
  fail_unless (rig.wait ([&] { return rig.buffers ("video_0") >= 20; }), "no H.265 on video_0");
  fail_unless (rig.caps ("video_0").find ("video/x-h265") == 0, "%s",
               rig.caps ("video_0").c_str ());
  fail_unless (rig.has_message ("mirror-ingest-connected"));
  fail_unless (rig.wait ([&] {
    GstMessage *m = rig.find_message ("mirror-ingest-stats");
    guint64 packets = 0;
    if (m)
      gst_structure_get_uint64 (gst_message_get_structure (m), "packets-received", &packets);
    return packets > 0;
  }),
               "no RTP packet counted");
  const GstStructure *s = gst_message_get_structure (rig.find_message ("mirror-ingest-stats"));
  fail_unless_equals_string (gst_structure_get_string (s, "transport"), "rtp");

  // READY and back: the bin attaches to the same session again and exposes
  // a fresh video_0.
  fail_unless (gst_element_set_state (rig.pipeline (), GST_STATE_READY)
               == GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (GST_ELEMENT (rig.bin ())->numsrcpads, 0);
  guint64 before = rig.buffers ("video_0");
  rig.play ();
  fail_unless (rig.wait ([&] { return rig.buffers ("video_0") >= before + 20; }),
               "no data after READY -> PLAYING");
}
GST_END_TEST;

// The caller drops and another comes back with the same id within the
// window: one reconnected message, data goes on, no EOS.
GST_START_TEST (test_srt_reconnect_within_window)
{
  guint16 port = free_udp_port ();
  IngestRig rig (hub_uri (port, "flaky"), "flaky", [] (GstElement *bin) {
    // Stretched by MIRROR_TEST_SLOWDOWN: the second caller (a new
    // gst-launch-1.0 and its encoder) must connect within it on a busy box.
    const guint64 window = mirror::test::scaled (std::chrono::seconds (20)).count ();
    g_object_set (bin, "reconnect-window", window * GST_MSECOND, nullptr);
  });
  rig.play ();
  auto first = std::make_unique<Peer> (h264_ts (srt_caller_sink (port, "flaky")));
  fail_unless (rig.wait ([&] { return rig.buffers ("video_0") >= 10; }),
               "no data from the first caller");

  first->kill ();
  // The hub notices a vanished caller after its idle timeout.
  fail_unless (rig.wait ([&] { return rig.has_message ("mirror-ingest-disconnected"); }),
               "no disconnected message");
  guint64 before = rig.buffers ("video_0");
  Peer second (h264_ts (srt_caller_sink (port, "flaky")));
  fail_unless (rig.wait ([&] { return rig.has_message ("mirror-ingest-reconnected"); }),
               "no reconnected message");
  const GstStructure *s
      = gst_message_get_structure (rig.find_message ("mirror-ingest-reconnected"));
  guint64 gap = 0;
  fail_unless (gst_structure_get_uint64 (s, "gap", &gap));
  fail_unless (gap > 0);
  fail_unless_equals_string (gst_structure_get_string (s, "stream-id"), "flaky");
  fail_unless (rig.wait ([&] { return rig.buffers ("video_0") >= before + 20; }),
               "data did not continue after the reconnect");
  fail_if (rig.eos (), "EOS within the window");
  GstPad *pad = gst_element_get_static_pad (rig.bin (), "video_1");
  fail_unless (pad == nullptr, "a second video pad after the reconnect");
}
GST_END_TEST;

// Nobody comes back within the window: the stream ends, and the entry the
// bin registered goes with it.
GST_START_TEST (test_srt_window_passes_eos)
{
  auto registry = make_memory_registry ();
  guint16 port = free_udp_port ();
  IngestRig rig (hub_uri (port, "gone"), "gone", [] (GstElement *bin) {
    g_object_set (bin, "reconnect-window", (guint64)(500 * GST_MSECOND), nullptr);
  });
  GstContext *context = registry_context_new (registry);
  gst_element_set_context (rig.pipeline (), context);
  gst_context_unref (context);
  rig.play ();
  Peer sender (h264_ts (srt_caller_sink (port, "gone")));
  fail_unless (rig.wait ([&] {
    return rig.buffers ("video_0") >= 10 && get_entry (*registry, "gone").has_value ();
  }),
               "no data or no registration");
  sender.kill ();
  fail_unless (rig.wait ([&] { return rig.eos (); }), "no EOS after the window");
  fail_unless (rig.has_message ("mirror-ingest-disconnected"));
  fail_if (rig.has_message ("mirror-ingest-reconnected"));
  fail_unless (rig.wait ([&] { return !get_entry (*registry, "gone").has_value (); }),
               "still registered after EOS");
}
GST_END_TEST;

// What a user types: gst-launch-1.0 links the first pad when it appears.
GST_START_TEST (test_gst_launch_delayed_linking)
{
  guint16 port = free_udp_port ();
  gchar *out = g_build_filename (g_get_tmp_dir (), "mirror-ingest-launch-XXXXXX", nullptr);
  gint fd = g_mkstemp (out);
  fail_unless (fd >= 0);
  close (fd);
  {
    Peer receiver ("-m mirroringestbin uri=\"srt://127.0.0.1:" + std::to_string (port)
                       + "?streamid=cam1\" ! mirrorheartbeat interval=200000000 ! fakesink",
                   out);
    // srtsink gives up when nobody listens yet: start it once the receiver's
    // hub holds the port.
    fail_unless (mirror::test::wait_until ([&] { return udp_port_taken (port); }),
                 "the gst-launch-1.0 receiver does not listen");
    Peer sender (h264_ts (srt_caller_sink (port, "cam1")));
    bool flowing = mirror::test::wait_until ([&] {
      bool seen = false;
      gchar *text = nullptr;
      if (g_file_get_contents (out, &text, nullptr, nullptr)) {
        // A heartbeat that saw H.264 access units.
        for (const gchar *at = strstr (text, "mirror-heartbeat,"); at && !seen;
             at = strstr (at + 1, "mirror-heartbeat,")) {
          const gchar *end = strchr (at, '\n');
          std::string line (at, end ? end - at : strlen (at));
          seen = line.find ("codec=(string)h264") != std::string::npos
                 && line.find ("buffers=(guint64)0,") == std::string::npos;
        }
      }
      g_free (text);
      return seen;
    });
    if (!flowing) {
      gchar *text = nullptr;
      g_file_get_contents (out, &text, nullptr, nullptr);
      std::string tail = text ? text : "";
      g_free (text);
      if (tail.size () > 1500)
        tail = tail.substr (tail.size () - 1500);
      fail ("gst-launch-1.0 pipeline did not get H.264 through mirrorheartbeat:\n%s",
            tail.c_str ());
    }
  }
  g_unlink (out);
  g_free (out);
}
GST_END_TEST;

GST_START_TEST (test_unknown_video_codec)
{
  guint16 port = free_udp_port ();
  IngestRig rig (hub_uri (port, "mpeg2"), "mpeg2-cam");
  rig.play ();
  Peer sender ("videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 ! "
               "mpeg2enc format=3 ! mpegvideoparse ! mpegtsmux ! "
               + srt_caller_sink (port, "mpeg2"));
  fail_unless (rig.wait ([&] { return rig.has_message ("error"); }, kDeadline, true), "no error");
  GError *err = nullptr;
  std::string text = error_text (rig.find_message ("error"), &err);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND), "%s",
               text.c_str ());
  fail_unless (text.find ("mpeg2-cam") != std::string::npos, "%s", text.c_str ());
  fail_unless (text.find ("video/mpeg") != std::string::npos, "%s", text.c_str ());
  fail_unless (text.find ("mpegversion=(int)2") != std::string::npos, "%s", text.c_str ());
  g_error_free (err);
}
GST_END_TEST;

// Raw bytes over SRT: after ~5 s without an elementary stream, that stream
// fails with a clear demux error; another stream on the same hub port goes on.
GST_START_TEST (test_non_ts_payload)
{
  guint16 port = free_udp_port ();
  IngestRig good (hub_uri (port, "good"), "good-cam");
  IngestRig bad (hub_uri (port, "junk"), "junk-cam");
  good.play ();
  bad.play ();
  Peer good_sender (h264_ts (srt_caller_sink (port, "good")));
  Peer bad_sender ("videotestsrc is-live=true pattern=snow ! "
                   "video/x-raw,format=I420,width=64,height=48,framerate=30/1 ! "
                   + srt_caller_sink (port, "junk"));

  fail_unless (bad.wait ([&] { return bad.has_message ("error"); }, kDeadline, true),
               "no demux error");
  GError *err = nullptr;
  std::string text = error_text (bad.find_message ("error"), &err);
  fail_unless (g_error_matches (err, GST_STREAM_ERROR, GST_STREAM_ERROR_DEMUX), "%s",
               text.c_str ());
  fail_unless (text.find ("junk-cam") != std::string::npos, "%s", text.c_str ());
  fail_unless (text.find ("no MPEG-TS") != std::string::npos, "%s", text.c_str ());
  fail_unless (text.find ("127.0.0.1:") != std::string::npos, "%s", text.c_str ());
  g_error_free (err);
  fail_unless_equals_uint64 (bad.buffers ("video_0"), 0);
  bad.stop ();

  guint64 seen = good.buffers ("video_0");
  fail_unless (good.wait ([&] { return good.buffers ("video_0") >= seen + 10; }),
               "the good stream stopped too");
}
GST_END_TEST;

// ================================================================ main

static Suite *
ingestbin_suite (const char *which)
{
  Suite *s = suite_create ("mirroringestbin");
  if (!which || g_str_equal (which, "unit")) {
    TCase *tc = tcase_create ("unit");
    tcase_set_timeout (tc, 60);
    suite_add_tcase (s, tc);
    tcase_add_test (tc, test_ring_drops_oldest);
    tcase_add_test (tc, test_ring_notes_flush_deadline);
    tcase_add_test (tc, test_properties);
    tcase_add_test (tc, test_bad_uri_fails);
    tcase_add_test (tc, test_port_in_use);
    tcase_add_test (tc, test_ring_drops_counted_when_downstream_blocks);
  }
  if (!which || g_str_equal (which, "peers")) {
    TCase *tc = tcase_create ("peers");
    tcase_set_timeout (tc, 90);
    suite_add_tcase (s, tc);
    tcase_add_test (tc, test_srt_caller_h264);
    tcase_add_test (tc, test_srt_hub_hevc_aac_registers);
    tcase_add_test (tc, test_registry_entry_of_this_node_is_adopted);
    tcase_add_test (tc, test_rtp_h265);
    tcase_add_test (tc, test_srt_reconnect_within_window);
    tcase_add_test (tc, test_srt_window_passes_eos);
    tcase_add_test (tc, test_gst_launch_delayed_linking);
    tcase_add_test (tc, test_unknown_video_codec);
    tcase_add_test (tc, test_non_ts_payload);
  }
  return s;
}

int
main (int argc, char **argv)
{
  // argv[1]: "unit" or "peers" (meson registers one test per part).
  const char *which = argc > 1 ? argv[1] : nullptr;
  gst_check_init (&argc, &argv);
  Suite *s = ingestbin_suite (which);
  return gst_check_run_suite (s, "mirroringestbin", __FILE__);
}
