// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP/3 front end on loopback: an OriginHandler over a hand-fed store
// and a QuicFrontend on the test's own GMainContext thread, real HTTP/3
// clients (headless Chromium, skipped when absent; tools/h3's where a test
// counts requests on one connection) for the protocol, and a plain UDP
// socket for what a client never sends (garbage, truncated Initials,
// packets for connections that do not exist).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../../common/wait_until.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib.h>

#include "../hls/hls_test_feed.h"
#include "h3_client.h" // tools/h3: our own HTTP/3 client
#include "origin/origin_handler.h"
#include "origin/quic_frontend.h"
#include "origin/tls_identity.h"
#include "quic_test_util.h"
#include "util/main_context.h"

namespace mirror {
namespace {

using test::bare_initial;
using test::Feed;
using test::kMs;
using test::on_context;
using test::random_bytes;
using RawPeer = test::UdpPeer;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr size_t kBigSize = 3 * 1024 * 1024;

// Fetches ?u= with a synchronous XHR while the page loads, so that
// --dump-dom (taken at the load event) holds the answer, with the protocol
// Chromium used for the page and for the fetch. A navigation straight to a
// playlist would not do: Chromium hands it to a <video> element.
constexpr char kFetchPage[] = R"(<!doctype html><html><body><pre id="out"></pre><script>
var u = new URL(new URLSearchParams(location.search).get('u'), location.href).href;
var x = new XMLHttpRequest();
x.open(new URLSearchParams(location.search).get('m') || 'GET', u, false);
var out = '';
try {
  x.send();
  var t = x.responseText;
  var e = performance.getEntriesByName(u)[0];
  out = 'STATUS ' + x.status + '\nPAGE ' +
    performance.getEntriesByType('navigation')[0].nextHopProtocol +
    '\nFETCH ' + (e ? e.nextHopProtocol : '?') + '\nLENGTH ' + t.length +
    '\nCONTENT-LENGTH ' + x.getResponseHeader('content-length') +
    '\nCONTENT-TYPE ' + x.getResponseHeader('content-type') +
    '\nCORS ' + x.getResponseHeader('access-control-allow-origin') +
    '\nTAIL ' + JSON.stringify(t.slice(-8)) + '\nBODY\n' + (t.length < 65536 ? t : '');
} catch (err) {
  out = 'ERROR ' + err;
}
document.getElementById('out').textContent = out;
</script></body></html>
)";

// Starts a held request and abandons it after half a second (Chromium
// resets the stream), while an image that is also held (until the handler
// gives up on it, 3 s here) keeps the page loading.
constexpr char kAbortPage[] = R"(<!doctype html><html><body><script>
var ac = new AbortController();
fetch('/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1', { signal: ac.signal }).catch(function () {});
setTimeout(function () { ac.abort(); }, 500);
</script><img src="/live/cam1/video.m3u8?_HLS_msn=2&amp;_HLS_part=2"></body></html>
)";

std::string
chromium_path ()
{
  const char *env = g_getenv ("MIRROR_CHROMIUM");
  return env && *env ? env : kChromium;
}

class QuicFrontendTest : public test::QuicStoreTest {
 protected:
  void SetUp () override { open_store ("mirror-quic-XXXXXX"); }

  void TearDown () override
  {
    stop ();
    close_store ();
  }

  void start (QuicFrontend::Limits limits = {})
  {
    context_ = g_main_context_new ();
    loop_ = g_main_loop_new (context_, FALSE);
    std::promise<std::string> started;
    auto result = started.get_future ();
    thread_ = std::thread ([this, limits, &started] () {
      g_main_context_push_thread_default (context_);
      handler_ = std::make_unique<OriginHandler> (media_, context_);
      // A body far larger than the flow-control windows' first credit and
      // the congestion window: many packets, acks, window updates.
      std::string big (kBigSize, 'x');
      for (size_t i = 0; i < big.size (); i += 64)
        big[i] = '\n';
      big.replace (big.size () - 8, 8, "THE-END\n");
      handler_->set_asset ("/big.txt", { Bytes::copy (big), "text/plain", "no-cache" });
      handler_->set_asset ("/abort.html",
                           { Bytes::copy (kAbortPage), "text/html; charset=utf-8", "no-cache" });
      handler_->set_asset ("/fetch.html",
                           { Bytes::copy (kFetchPage), "text/html; charset=utf-8", "no-cache" });
      frontend_ = std::make_unique<QuicFrontend> (*handler_, identity_, limits);
      std::string error;
      bool ok = frontend_->listen ("127.0.0.1", 0, &error);
      if (ok)
        port_ = frontend_->port ();
      started.set_value (ok ? std::string () : error);
      if (ok)
        g_main_loop_run (loop_);
      frontend_.reset ();
      handler_.reset ();
      g_main_context_pop_thread_default (context_);
    });
    std::string error = result.get ();
    ASSERT_EQ (error, "");
    ASSERT_NE (port_, 0);
  }

  void stop ()
  {
    if (!thread_.joinable ())
      return;
    invoke_on (context_, [this] () { g_main_loop_quit (loop_); });
    thread_.join ();
    g_main_loop_unref (loop_);
    g_main_context_unref (context_);
  }

  QuicFrontend::Stats stats ()
  {
    return on_context<QuicFrontend::Stats> (
        context_, [this] () { return frontend_ ? frontend_->stats () : QuicFrontend::Stats{}; });
  }

  bool wait_for (const std::function<bool ()> &done, int timeout_ms)
  {
    return test::wait_until (done, std::chrono::milliseconds (timeout_ms));
  }

  struct Fetch {
    int exit_status = -1;
    std::string out; // the DOM
    std::string err;

    // What the fetch page wrote (HTML-escaped, as the DOM dump has it).
    std::string dom () const
    {
      size_t begin = out.find ("<pre id=\"out\">");
      size_t end = out.find ("</pre>");
      if (begin == std::string::npos || end == std::string::npos)
        return {};
      begin += std::strlen ("<pre id=\"out\">");
      return out.substr (begin, end - begin);
    }
  };

  // One navigation by headless Chromium, forced onto QUIC for our port. The
  // process group is ended by timeout(1) if Chromium hangs.
  // path through the fetch page.
  Fetch chromium_fetch (const std::string &path, const std::string &method = "GET")
  {
    g_autofree char *escaped = g_uri_escape_string (path.c_str (), nullptr, FALSE);
    return chromium_navigate (std::string ("/fetch.html?m=") + method + "&u=" + escaped);
  }

  Fetch chromium_navigate (const std::string &path, int timeout_s = 60)
  {
    static int n = 0;
    std::string profile = tmpdir_ + "/chromium-" + std::to_string (n++);
    std::string origin = "127.0.0.1:" + std::to_string (port_);
    std::string url = "https://" + origin + path;
    std::vector<std::string> args = {
      "timeout",
      "--kill-after=5",
      std::to_string (timeout_s),
      chromium_path (),
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--user-data-dir=" + profile,
      "--enable-quic",
      "--origin-to-force-quic-on=" + origin,
      "--ignore-certificate-errors-spki-list=" + identity_.spki_pin,
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      "--dump-dom",
      url,
    };
    if (const char *netlog = g_getenv ("MIRROR_NETLOG"); netlog && *netlog)
      args.insert (args.end () - 2, std::string ("--log-net-log=") + netlog);
    std::vector<gchar *> argv;
    for (auto &a : args)
      argv.push_back (a.data ());
    argv.push_back (nullptr);
    Fetch f;
    gchar *out = nullptr, *err = nullptr;
    GError *error = nullptr;
    if (!g_spawn_sync (nullptr, argv.data (), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr, &out,
                       &err, &f.exit_status, &error)) {
      f.err = error->message;
      g_error_free (error);
      return f;
    }
    f.out = out ? out : "";
    f.err = err ? err : "";
    g_free (out);
    g_free (err);
    return f;
  }

  bool have_chromium ()
  {
    return g_file_test (chromium_path ().c_str (), G_FILE_TEST_IS_EXECUTABLE);
  }

  GMainContext *context_ = nullptr;
  GMainLoop *loop_ = nullptr;
  std::thread thread_;
  std::unique_ptr<OriginHandler> handler_;
  std::unique_ptr<QuicFrontend> frontend_;
  uint16_t port_ = 0;
};

TEST_F (QuicFrontendTest, ChromiumFetchesThePlaylistOverHttp3)
{
  start ();
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  Fetch f = chromium_fetch ("/live/cam1/video.m3u8");
  std::printf ("%s\n", f.dom ().c_str ());
  EXPECT_NE (f.dom ().find ("STATUS 200\nPAGE h3\nFETCH h3\n"), std::string::npos)
      << f.out << "\n--- stderr:\n"
      << f.err;
  EXPECT_NE (f.dom ().find ("#EXTM3U"), std::string::npos);
  EXPECT_NE (f.dom ().find ("part2.0.m4s"), std::string::npos);
  QuicFrontend::Stats s = stats ();
  std::printf ("stats: connections_now=%llu connections_total=%llu streams_total=%llu "
               "retries_sent=%llu handshake_failures=%llu bytes_sent=%llu bytes_received=%llu\n",
               (unsigned long long)s.connections_now, (unsigned long long)s.connections_total,
               (unsigned long long)s.streams_total, (unsigned long long)s.retries_sent,
               (unsigned long long)s.handshake_failures, (unsigned long long)s.bytes_sent,
               (unsigned long long)s.bytes_received);
  EXPECT_GE (s.connections_total, 1u);
  EXPECT_GE (s.streams_total, 2u); // the page and the playlist
  // No token yet: the first connection had to come through a Retry.
  EXPECT_GE (s.retries_sent, 1u);
  EXPECT_EQ (s.handshake_failures, 0u);
  EXPECT_EQ (s.held_now, 0u);
}

TEST_F (QuicFrontendTest, HeadIsHeadersOnly)
{
  start ();
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  Fetch get = chromium_fetch ("/live/cam1/video.m3u8");
  Fetch head = chromium_fetch ("/live/cam1/video.m3u8", "HEAD");
  std::printf ("%s\n", head.dom ().c_str ());
  size_t at = get.dom ().find ("\nLENGTH ");
  ASSERT_NE (at, std::string::npos) << get.out << "\n--- stderr:\n" << get.err;
  std::string length = get.dom ().substr (at + 8, get.dom ().find ('\n', at + 1) - at - 8);
  EXPECT_NE (head.dom ().find ("STATUS 200\nPAGE h3\nFETCH h3\nLENGTH 0\nCONTENT-LENGTH " + length
                               + "\nCONTENT-TYPE application/vnd.apple.mpegurl\nCORS *\n"),
             std::string::npos)
      << head.out << "\n--- stderr:\n"
      << head.err;
}

TEST_F (QuicFrontendTest, HeldPlaylistIsAnsweredWhenThePartArrives)
{
  start ();
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  // 2.1 does not exist yet: the request waits on its stream until it does.
  bool was_held = false;
  std::thread publisher ([this, &was_held] () {
    was_held = wait_for ([this] () { return stats ().held_now > 0; }, 30000);
    std::this_thread::sleep_for (std::chrono::milliseconds (300));
    feed_->part (100 * kMs, false); // 2.1
  });
  Fetch f = chromium_fetch ("/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1");
  publisher.join ();
  EXPECT_TRUE (was_held);
  EXPECT_NE (f.dom ().find ("STATUS 200\nPAGE h3\nFETCH h3\n"), std::string::npos)
      << f.out << "\n--- stderr:\n"
      << f.err;
  EXPECT_NE (f.dom ().find ("part2.1.m4s"), std::string::npos) << f.dom ();
  EXPECT_EQ (stats ().held_now, 0u);
}

TEST_F (QuicFrontendTest, AbandonedHeldRequestStopsWaiting)
{
  start ();
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  // Both requests wait; the fetch is aborted after 0.5 s, the image waits
  // for the handler's hold timeout (3 s here). The first to go must be the
  // aborted one, released by the abort: no hold has timed out by then.
  bool both_held = false, one_left = false;
  uint64_t timeouts_when_one_left = 0;
  std::thread watcher ([&] () {
    both_held = wait_for ([this] () { return stats ().held_now == 2; }, 30000);
    one_left = wait_for ([this] () { return stats ().held_now <= 1; }, 30000);
    timeouts_when_one_left = on_context<uint64_t> (
        context_, [this] () { return handler_ ? handler_->stats ().hold_timeouts : 0; });
  });
  Fetch f = chromium_navigate ("/abort.html");
  watcher.join ();
  ASSERT_TRUE (both_held) << f.out << "\n--- stderr:\n" << f.err;
  ASSERT_TRUE (one_left);
  EXPECT_EQ (timeouts_when_one_left, 0u) << "the aborted request waited for its timeout";
  EXPECT_TRUE (wait_for ([this] () { return stats ().held_now == 0; }, 30000));
}

TEST_F (QuicFrontendTest, GracefulShutdownFinishesHeldRequestsThenCloses)
{
  start ();
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  bool was_held = false, closed = false;
  std::thread stopper ([&] () {
    was_held = wait_for ([this] () { return stats ().held_now > 0; }, 30000);
    on_context<bool> (context_, [this] () {
      frontend_->shutdown ();
      return true;
    });
    std::this_thread::sleep_for (std::chrono::milliseconds (500));
    feed_->part (100 * kMs, false); // 2.1: the held request still gets it
    closed = wait_for ([this] () { return stats ().connections_now == 0; }, 10000);
  });
  Fetch f = chromium_fetch ("/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1");
  stopper.join ();
  ASSERT_TRUE (was_held);
  EXPECT_NE (f.dom ().find ("STATUS 200\nPAGE h3\nFETCH h3\n"), std::string::npos)
      << f.out << "\n--- stderr:\n"
      << f.err;
  EXPECT_NE (f.dom ().find ("part2.1.m4s"), std::string::npos);
  EXPECT_TRUE (closed) << "the drained connection was not closed";
}

TEST_F (QuicFrontendTest, DestructionClosesConnectionsAndCancelsHeldRequests)
{
  start ();
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  bool was_held = false;
  uint64_t handler_held_after = 1;
  std::thread destroyer ([&] () {
    was_held = wait_for ([this] () { return stats ().held_now > 0; }, 30000);
    handler_held_after = on_context<uint64_t> (context_, [this] () {
      frontend_.reset ();
      return handler_->stats ().held_now;
    });
  });
  auto begin = std::chrono::steady_clock::now ();
  Fetch f = chromium_fetch ("/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1");
  auto took = std::chrono::steady_clock::now () - begin;
  destroyer.join ();
  ASSERT_TRUE (was_held);
  EXPECT_EQ (handler_held_after, 0u)
      << "the handler still waits for a request of a closed connection";
  // Chromium learnt from the CONNECTION_CLOSE, not by its 30 s idle
  // timeout (the bound leaves a busy box room for Chromium's start-up).
  EXPECT_NE (f.dom ().find ("ERROR"), std::string::npos) << f.out << "\n--- stderr:\n" << f.err;
  EXPECT_LT (std::chrono::duration_cast<std::chrono::seconds> (took).count (), 25);
}

TEST_F (QuicFrontendTest, HeldRequestsBeyondTheConnectionLimitAre503)
{
  QuicFrontend::Limits limits;
  limits.max_held_per_connection = 0;
  start (limits);
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  Fetch f = chromium_fetch ("/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1");
  EXPECT_NE (f.dom ().find ("STATUS 503\n"), std::string::npos) << f.out << "\n--- stderr:\n"
                                                                << f.err;
  EXPECT_NE (f.dom ().find ("too many waiting requests"), std::string::npos);
  EXPECT_EQ (stats ().held_now, 0u);
  // Answered at once by the limit, never held until the handler's hold
  // timeout (3 s here) answered it.
  EXPECT_EQ (
      on_context<uint64_t> (context_, [this] () { return handler_->stats ().hold_timeouts; }), 0u);
}

TEST_F (QuicFrontendTest, LargeBodyArrivesWhole)
{
  start ();
  if (!have_chromium ())
    GTEST_SKIP () << chromium_path () << " is not installed";
  Fetch f = chromium_fetch ("/big.txt");
  std::string size = std::to_string (kBigSize);
  EXPECT_NE (f.dom ().find ("STATUS 200\nPAGE h3\nFETCH h3\nLENGTH " + size + "\nCONTENT-LENGTH "
                            + size + "\nCONTENT-TYPE text/plain\nCORS *\nTAIL \"THE-END\\n\""),
             std::string::npos)
      << f.out << "\n--- stderr:\n"
      << f.err;
  EXPECT_GT (stats ().bytes_sent, kBigSize);
}

// The client's stream credit is raised by half of max_streams_bidi at a time
// (not a MAX_STREAMS packet per stream closed): a viewer's requests, two at a
// time as a live player's blocking reload and part, go on over one
// connection far past the limit, none of them refused or left waiting.
TEST_F (QuicFrontendTest, RequestsFarBeyondTheStreamLimitShareOneConnection)
{
  QuicFrontend::Limits limits;
  limits.max_streams_bidi = 4;
  start (limits);
  auto url = tools::Url::parse ("https://127.0.0.1:" + std::to_string (port_) + "/fetch.html");
  ASSERT_TRUE (url);
  sockaddr_storage addr;
  socklen_t addrlen = 0;
  std::string error;
  ASSERT_TRUE (tools::resolve (*url, &addr, &addrlen, &error)) << error;
  tools::EventLoop loop;
  tools::ClientConfig config;
  auto conn = tools::connect_h3 (loop, *url, addr, addrlen, config);
  constexpr int kRequests = 60;
  int answered = 0, ok = 0;
  std::string failure;
  std::function<void ()> next_pair = [&] () {
    for (int i = 0; i < 2; ++i) {
      tools::Request request;
      request.path = "/fetch.html";
      conn->fetch (std::move (request), [&] (tools::Response &&r) {
        ++answered;
        if (r.ok () && r.status == 200)
          ++ok;
        else if (failure.empty ())
          failure = std::to_string (r.status) + " " + r.error_text;
        if (answered == kRequests)
          loop.quit ();
        else if (answered % 2 == 0)
          next_pair ();
      });
    }
  };
  next_pair ();
  loop.run_until (tools::monotonic_ns () + 60 * tools::kNsPerSecond);
  EXPECT_EQ (answered, kRequests);
  EXPECT_EQ (ok, kRequests) << failure;
  EXPECT_TRUE (conn->ready ());
  EXPECT_FALSE (conn->failed ());
  EXPECT_EQ (stats ().connections_total, 1u);
  conn->close ();
}

TEST_F (QuicFrontendTest, MalformedDatagramsAreDroppedAndCounted)
{
  start ();
  RawPeer peer (port_);
  uint64_t dropped_before = stats ().packets_dropped;

  std::vector<std::vector<uint8_t>> junk;
  junk.push_back ({});               // empty
  junk.push_back (random_bytes (1)); // one byte
  for (int i = 0; i < 20; ++i) {
    // A long header of random version and lengths, under 1200 bytes (an
    // unknown version that long would rightly get a Version Negotiation).
    auto d = random_bytes (1 + g_random_int_range (0, 1198));
    d[0] |= 0x80;
    junk.push_back (d);
  }
  // A truncated QUIC v1 Initial: a plausible header, no 1200-byte padding.
  std::vector<uint8_t> initial = { 0xc3, 0x00, 0x00, 0x00, 0x01, 8 };
  for (int i = 0; i < 8; ++i)
    initial.push_back ((uint8_t)g_random_int ());
  initial.push_back (0); // no SCID
  initial.push_back (0); // no token
  initial.push_back (0x40);
  initial.push_back (0x60); // length 96
  auto rest = random_bytes (96);
  initial.insert (initial.end (), rest.begin (), rest.end ());
  junk.push_back (initial);
  // A full-size "Initial" whose protection is garbage: accepted as a new
  // connection attempt, answered with a Retry (no token), costs nothing else.
  auto padded = initial;
  padded.resize (1200, 0);
  junk.push_back (padded);

  for (auto &d : junk)
    peer.send (d);
  // The one full-size Initial gets a Retry, everything else nothing.
  EXPECT_TRUE (wait_for (
      [&] () {
        QuicFrontend::Stats now = stats ();
        return now.packets_dropped - dropped_before >= junk.size () - 1 && now.retries_sent >= 1;
      },
      30000));
  QuicFrontend::Stats s = stats ();
  std::printf ("junk datagrams: %zu, dropped: %llu, retries: %llu, connections: %llu\n",
               junk.size (), (unsigned long long)(s.packets_dropped - dropped_before),
               (unsigned long long)s.retries_sent, (unsigned long long)s.connections_now);
  EXPECT_EQ (s.packets_dropped - dropped_before, junk.size () - 1);
  EXPECT_EQ (s.retries_sent, 1u);
  EXPECT_EQ (s.connections_now, 0u);
  EXPECT_EQ (s.connections_total, 0u);

  // Still serving: a datagram of an unknown version gets a Version
  // Negotiation listing QUIC v1.
  while (peer.receive (50))
    ;
  std::vector<uint8_t> unknown = { 0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8 };
  for (int i = 0; i < 8; ++i)
    unknown.push_back ((uint8_t)i);
  unknown.push_back (4);
  for (int i = 0; i < 4; ++i)
    unknown.push_back ((uint8_t)(0xa0 + i));
  unknown.resize (1200, 0);
  peer.send (unknown);
  auto vn = peer.receive (2000);
  ASSERT_TRUE (vn);
  ASSERT_GE (vn->size (), 7u + 4 + 8 + 4);
  EXPECT_TRUE ((*vn)[0] & 0x80);
  EXPECT_EQ (std::memcmp (vn->data () + 1, "\0\0\0\0", 4), 0) << "not a Version Negotiation";
  bool lists_v1 = false;
  for (size_t i = 7 + 4 + 8; i + 4 <= vn->size (); i += 4)
    lists_v1 |= std::memcmp (vn->data () + i, "\0\0\0\1", 4) == 0;
  EXPECT_TRUE (lists_v1);
}

TEST_F (QuicFrontendTest, UnknownConnectionGetsAStatelessReset)
{
  start ();
  RawPeer peer (port_);
  // A short header for an 18-byte connection ID nobody has.
  auto packet = random_bytes (60);
  packet[0] = (uint8_t)(0x40 | (packet[0] & 0x3f));
  peer.send (packet);
  auto reset = peer.receive (2000);
  ASSERT_TRUE (reset) << "no stateless reset";
  EXPECT_EQ (reset->size (), 42u); // bounded, and smaller than what provoked it
  EXPECT_EQ ((*reset)[0] & 0xc0, 0x40) << "not a short header";

  // Too short to be from a connection of ours: dropped, no answer. Counted
  // once the front end's thread has read it (a busy box may take a while);
  // an answer would have been sent by then.
  uint64_t dropped_before = stats ().packets_dropped;
  auto tiny = random_bytes (30);
  tiny[0] = (uint8_t)(0x40 | (tiny[0] & 0x3f));
  peer.send (tiny);
  EXPECT_TRUE (wait_for ([&] () { return stats ().packets_dropped > dropped_before; }, 30000));
  EXPECT_FALSE (peer.receive (300));
  QuicFrontend::Stats s = stats ();
  EXPECT_EQ (s.stateless_resets_sent, 1u);
  EXPECT_EQ (s.packets_dropped, dropped_before + 1);

  // A short trigger gets a reset one byte shorter than itself.
  auto short_trigger = random_bytes (41);
  short_trigger[0] = (uint8_t)(0x40 | (short_trigger[0] & 0x3f));
  peer.send (short_trigger);
  auto small_reset = peer.receive (2000);
  ASSERT_TRUE (small_reset);
  EXPECT_EQ (small_reset->size (), 40u);
}

TEST_F (QuicFrontendTest, ConnectionsBeyondTheLimitAreRefused)
{
  QuicFrontend::Limits limits;
  limits.max_connections = 0;
  start (limits);
  RawPeer peer (port_);
  peer.send (bare_initial (8));
  auto answer = peer.receive (2000);
  ASSERT_TRUE (answer);
  // An Initial (CONNECTION_CLOSE, CONNECTION_REFUSED), not a Retry (0xf0).
  EXPECT_EQ ((*answer)[0] & 0xf0, 0xc0);
  QuicFrontend::Stats s = stats ();
  EXPECT_EQ (s.retries_sent, 0u);
  EXPECT_EQ (s.connections_total, 0u);
}

TEST_F (QuicFrontendTest, ShutdownAndDestructionWithoutConnections)
{
  start ();
  on_context<bool> (context_, [this] () {
    frontend_->shutdown ();
    return true;
  });
  // New connection attempts are refused now (CONNECTION_REFUSED, not Retry).
  RawPeer peer (port_);
  peer.send (bare_initial (8));
  auto answer = peer.receive (2000);
  ASSERT_TRUE (answer);
  EXPECT_EQ (stats ().retries_sent, 0u);
  EXPECT_EQ ((*answer)[0] & 0xf0, 0xc0) << "expected an Initial carrying CONNECTION_CLOSE";
}

} // namespace
} // namespace mirror
