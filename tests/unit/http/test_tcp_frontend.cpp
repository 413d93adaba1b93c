// SPDX-License-Identifier: LGPL-2.1-or-later
// The event-driven HTTP/1.1 server on loopback: a MediaStore fed by hand
// behind an OriginHandler, the server on a GMainContext thread of its own,
// and a raw TCP client on the test's thread whose responses are read with
// http-parser too. Keep-alive, pipelining order behind a held request, HEAD,
// Connection: close, malformed and oversized heads, a slow head, the
// per-connection held cap, and a client that leaves while held.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <glib/gstdio.h>
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>
#include <http_parser.h>

#include "../../common/wait_until.h"
#include "../hls/hls_test_feed.h"
#include "http/tcp_frontend.h"
#include "origin/tls_identity.h"
#include "util/main_context.h"

namespace mirror {
namespace {

using test::Feed;
using test::kMs;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
};

// A blocking TCP socket to 127.0.0.1:port: its fd (-1 when the connect
// failed; the socket is closed then). 10 s for an answer or a close,
// stretched by MIRROR_TEST_SLOWDOWN.
int
dial (uint16_t port)
{
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  struct timeval tv
      = { time_t (test::scaled (std::chrono::milliseconds (10000)).count () / 1000), 0 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {};
  sa.sin_family = AF_INET;
  sa.sin_port = htons (port);
  inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
  if (connect (fd, reinterpret_cast<sockaddr *> (&sa), sizeof sa) != 0) {
    close (fd);
    return -1;
  }
  return fd;
}

// A blocking loopback client; responses parsed with http-parser.
class Client {
 public:
  explicit Client (uint16_t port)
  {
    fd_ = dial (port);
    connected_ = fd_ >= 0;
    http_parser_settings_init (&settings_);
    settings_.on_header_field = [] (http_parser *p, const char *at, size_t n) {
      auto *c = static_cast<Client *> (p->data);
      if (c->in_value_) {
        c->current_.headers[c->field_] = c->value_;
        c->field_.clear ();
        c->value_.clear ();
        c->in_value_ = false;
      }
      for (size_t i = 0; i < n; i++)
        c->field_ += char (g_ascii_tolower (at[i]));
      return 0;
    };
    settings_.on_header_value = [] (http_parser *p, const char *at, size_t n) {
      auto *c = static_cast<Client *> (p->data);
      c->in_value_ = true;
      c->value_.append (at, n);
      return 0;
    };
    settings_.on_headers_complete = [] (http_parser *p) {
      auto *c = static_cast<Client *> (p->data);
      if (c->in_value_)
        c->current_.headers[c->field_] = c->value_;
      c->field_.clear ();
      c->value_.clear ();
      c->in_value_ = false;
      c->current_.status = int (p->status_code);
      return c->skip_body_ ? 1 : 0; // 1: a response to HEAD has no body
    };
    settings_.on_body = [] (http_parser *p, const char *at, size_t n) {
      static_cast<Client *> (p->data)->current_.body.append (at, n);
      return 0;
    };
    settings_.on_message_complete = [] (http_parser *p) {
      auto *c = static_cast<Client *> (p->data);
      c->done_.push_back (std::move (c->current_));
      c->current_ = Response ();
      return 0;
    };
    http_parser_init (&parser_, HTTP_RESPONSE);
    parser_.data = this;
  }
  ~Client ()
  {
    if (fd_ >= 0)
      close (fd_);
  }
  bool connected () const { return connected_; }
  void send_raw (const std::string &bytes) { (void)!write (fd_, bytes.data (), bytes.size ()); }
  void get (const std::string &target, const std::string &extra = "",
            const std::string &method = "GET")
  {
    send_raw (method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n");
  }
  // The next response (nullopt when the connection closed or timed out).
  std::optional<Response> next (bool head = false)
  {
    skip_body_ = head;
    while (done_.empty ()) {
      char buf[65536];
      ssize_t n = recv (fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        return std::nullopt;
      }
      http_parser_execute (&parser_, &settings_, buf, size_t (n));
    }
    Response r = std::move (done_.front ());
    done_.erase (done_.begin ());
    return r;
  }
  // True when the server closes the connection (read returns 0) in time.
  bool closed_by_server ()
  {
    char buf[4096];
    for (;;) {
      ssize_t n = recv (fd_, buf, sizeof buf, 0);
      if (n == 0)
        return true;
      if (n < 0)
        return errno == ECONNRESET; // else timed out
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  bool skip_body_ = false;
  http_parser parser_;
  http_parser_settings settings_;
  std::string field_, value_;
  bool in_value_ = false;
  Response current_;
  std::vector<Response> done_;
};

class TcpFrontendTest : public ::testing::Test {
 protected:
  void SetUp () override
  {
    stream_ = media_.open_stream ("cam1", test::default_config ());
    stream_->add_rendition (test::video_info ("video"));
    stream_->set_init ("video", test::fake_init ());
    feed_ = std::make_unique<Feed> (*stream_, "video");
    feed_->segments (2);
    feed_->next_segment_part (); // 2.0
  }
  void start (TcpFrontend::Limits limits = {}, bool tls = false)
  {
    std::shared_ptr<TcpFrontend::Tls> credentials;
    if (tls) {
      gchar *dir = g_dir_make_tmp ("mirror-tcp-XXXXXX", nullptr);
      tls_dir_ = dir;
      g_free (dir);
      std::string error;
      auto identity = load_or_create_tls_identity ("", "", tls_dir_, &error);
      ASSERT_TRUE (identity) << error;
      credentials = TcpFrontend::Tls::create (*identity, &error);
      ASSERT_TRUE (credentials) << error;
    }
    context_ = g_main_context_new ();
    loop_ = g_main_loop_new (context_, FALSE);
    std::promise<uint16_t> port;
    thread_ = std::thread ([&] {
      g_main_context_push_thread_default (context_);
      handler_ = std::make_unique<OriginHandler> (media_, context_);
      server_ = std::make_unique<TcpFrontend> (*handler_, context_, limits, credentials);
      std::string error;
      port.set_value (server_->listen ("127.0.0.1", 0, false, &error) ? server_->port () : 0);
      g_main_loop_run (loop_);
      server_.reset ();
      handler_.reset ();
      g_main_context_pop_thread_default (context_);
    });
    port_ = port.get_future ().get ();
    ASSERT_NE (port_, 0);
  }
  void TearDown () override
  {
    if (thread_.joinable ()) {
      invoke_on (context_, [this] { g_main_loop_quit (loop_); });
      thread_.join ();
      g_main_loop_unref (loop_);
      g_main_context_unref (context_);
    }
    feed_.reset ();
    stream_.reset ();
    media_.remove_stream ("cam1");
    if (!tls_dir_.empty ()) {
      const std::string rm = "rm -rf '" + tls_dir_ + "'";
      g_spawn_command_line_sync (rm.c_str (), nullptr, nullptr, nullptr, nullptr);
    }
  }
  // A command's exit status and standard output.
  static std::pair<int, std::string> run (const std::string &cmd)
  {
    gchar *out = nullptr;
    gint status = -1;
    if (!g_spawn_command_line_sync (cmd.c_str (), &out, nullptr, &status, nullptr))
      return { -1, "" };
    std::string text = out ? out : "";
    g_free (out);
    return { g_spawn_check_wait_status (status, nullptr) ? 0 : 1, text };
  }
  uint64_t held_now ()
  {
    return on_server<uint64_t> ([this] { return handler_->stats ().held_now; });
  }
  std::string https (const std::string &path) const
  {
    return "'https://127.0.0.1:" + std::to_string (port_) + path + "'";
  }
  // Taken on the server's thread.
  template <typename T> T on_server (std::function<T ()> fn)
  {
    std::promise<T> p;
    invoke_on (context_, [&] { p.set_value (fn ()); });
    return p.get_future ().get ();
  }
  TcpFrontend::Stats stats ()
  {
    return on_server<TcpFrontend::Stats> ([this] { return server_->stats (); });
  }
  bool wait_until (const std::function<bool ()> &done)
  {
    const int64_t deadline = g_get_monotonic_time ()
                             + test::scaled (std::chrono::milliseconds (10000)).count () * 1000;
    while (!done () && g_get_monotonic_time () < deadline)
      g_usleep (5000);
    return done ();
  }

  MediaStore media_;
  std::shared_ptr<StreamStore> stream_;
  std::unique_ptr<Feed> feed_;
  GMainContext *context_ = nullptr;
  GMainLoop *loop_ = nullptr;
  std::thread thread_;
  std::unique_ptr<OriginHandler> handler_;
  std::unique_ptr<TcpFrontend> server_;
  uint16_t port_ = 0;
  std::string tls_dir_;
};

TEST_F (TcpFrontendTest, KeepAliveServesRequestsInTurn)
{
  start ();
  Client c (port_);
  ASSERT_TRUE (c.connected ());
  c.get ("/live/cam1/video.m3u8");
  auto playlist = c.next ();
  ASSERT_TRUE (playlist);
  EXPECT_EQ (playlist->status, 200);
  EXPECT_EQ (playlist->headers["content-type"], "application/vnd.apple.mpegurl");
  EXPECT_EQ (playlist->headers["content-length"], std::to_string (playlist->body.size ()));
  EXPECT_NE (playlist->body.find ("#EXT-X-PART:"), std::string::npos);
  // The same connection, a part, a 404 and a HEAD.
  c.get ("/live/cam1/video/part1.0.m4s");
  auto part = c.next ();
  ASSERT_TRUE (part);
  EXPECT_EQ (part->status, 200);
  EXPECT_GT (part->body.size (), 0u);
  c.get ("/live/cam1/nothing.m3u8");
  EXPECT_EQ (c.next ()->status, 404);
  c.get ("/live/cam1/video/part1.0.m4s", "", "HEAD");
  auto head = c.next (true);
  ASSERT_TRUE (head);
  EXPECT_EQ (head->status, 200);
  EXPECT_EQ (head->headers["content-length"], std::to_string (part->body.size ()));
  EXPECT_TRUE (head->body.empty ());
  EXPECT_EQ (stats ().connections_total, 1u);
  EXPECT_EQ (stats ().requests, 4u);
}

TEST_F (TcpFrontendTest, PipelinedAnswersKeepTheirOrderBehindAHeldOne)
{
  start ();
  Client c (port_);
  // A blocking reload for the next part, then a plain request, in one write.
  c.send_raw ("GET /live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1 HTTP/1.1\r\nHost: x\r\n\r\n"
              "GET /live/cam1/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE (wait_until (
      [&] { return on_server<uint64_t> ([this] { return handler_->stats ().held_now; }) == 1; }));
  feed_->part (100 * kMs, false); // 2.1: the held one is answered, then the other
  auto first = c.next ();
  auto second = c.next ();
  ASSERT_TRUE (first && second);
  EXPECT_EQ (first->status, 200);
  EXPECT_NE (first->body.find ("part2.1.m4s"), std::string::npos);
  EXPECT_EQ (second->status, 200);
  EXPECT_NE (second->body.find ("#EXT-X-STREAM-INF"), std::string::npos);
}

TEST_F (TcpFrontendTest, ConnectionCloseAndHttp10Close)
{
  start ();
  Client c (port_);
  c.get ("/live/cam1/index.m3u8", "Connection: close\r\n");
  auto r = c.next ();
  ASSERT_TRUE (r);
  EXPECT_EQ (r->headers["connection"], "close");
  EXPECT_TRUE (c.closed_by_server ());
  Client old (port_);
  old.send_raw ("GET /live/cam1/index.m3u8 HTTP/1.0\r\n\r\n");
  ASSERT_TRUE (old.next ());
  EXPECT_TRUE (old.closed_by_server ());
}

TEST_F (TcpFrontendTest, MalformedAndOversizedHeadsAreRefused)
{
  TcpFrontend::Limits limits;
  limits.max_header_bytes = 1024;
  start (limits);
  Client bad (port_);
  bad.send_raw ("GET /live/cam1/index.m3u8 HTTP/1.1\r\nHost x\r\n\r\n");
  auto r = bad.next ();
  ASSERT_TRUE (r);
  EXPECT_EQ (r->status, 400);
  EXPECT_TRUE (bad.closed_by_server ());
  Client big (port_);
  big.get ("/live/cam1/index.m3u8", "X-Filler: " + std::string (2000, 'a') + "\r\n");
  r = big.next ();
  ASSERT_TRUE (r);
  EXPECT_EQ (r->status, 431);
  EXPECT_TRUE (big.closed_by_server ());
  EXPECT_EQ (stats ().too_large, 1u);
  EXPECT_EQ (stats ().bad_requests, 1u);
}

TEST_F (TcpFrontendTest, ASlowHeadIsClosedAndAnIdleConnectionToo)
{
  TcpFrontend::Limits limits;
  // Scaled: the idle client's whole head, sent at once, must be read before
  // the head timeout and answered before the idle one on a busy box too.
  limits.header_timeout_ms = test::scaled (std::chrono::milliseconds (200)).count ();
  limits.idle_timeout_ms = test::scaled (std::chrono::milliseconds (300)).count ();
  start (limits);
  Client slow (port_);
  slow.send_raw ("GET /live/cam1/index.m3u8 HTTP/1.1\r\nHost: x\r\n"); // never ends
  EXPECT_TRUE (slow.closed_by_server ());
  EXPECT_EQ (stats ().header_timeouts, 1u);
  Client idle (port_);
  idle.get ("/live/cam1/index.m3u8");
  ASSERT_TRUE (idle.next ());
  EXPECT_TRUE (idle.closed_by_server ());
  EXPECT_EQ (stats ().idle_closed, 1u);
  EXPECT_TRUE (wait_until ([&] { return stats ().connections_now == 0; }));
}

// One client address takes at most max_per_address connections: the rest
// are closed at accept and counted; one that leaves frees its slot.
TEST_F (TcpFrontendTest, ConnectionsPerAddressAreCapped)
{
  TcpFrontend::Limits limits;
  limits.max_per_address = 3;
  start (limits);
  std::vector<std::unique_ptr<Client>> kept;
  for (int i = 0; i < 3; i++) {
    kept.push_back (std::make_unique<Client> (port_));
    kept.back ()->get ("/live/cam1/index.m3u8");
    ASSERT_TRUE (kept.back ()->next ()) << i;
  }
  Client fourth (port_);
  EXPECT_TRUE (fourth.closed_by_server ());
  Client fifth (port_);
  EXPECT_TRUE (fifth.closed_by_server ());
  EXPECT_EQ (stats ().refused_per_address, 2u);
  EXPECT_EQ (stats ().refused, 0u);
  EXPECT_EQ (stats ().connections_now, 3u);
  kept.pop_back ();
  ASSERT_TRUE (wait_until ([&] { return stats ().connections_now == 2; }));
  Client again (port_);
  again.get ("/live/cam1/index.m3u8");
  EXPECT_TRUE (again.next ());
}

// The budget is the process's: front ends sharing one (the workers, both
// ports) together take no more than its total.
TEST (ConnectionBudget, SharedTotalAndPerAddress)
{
  ConnectionBudget budget (3, 2);
  EXPECT_EQ (budget.take ("10.0.0.1"), ConnectionBudget::Verdict::kOk);
  EXPECT_EQ (budget.take ("10.0.0.1"), ConnectionBudget::Verdict::kOk);
  EXPECT_EQ (budget.take ("10.0.0.1"), ConnectionBudget::Verdict::kAddress);
  EXPECT_EQ (budget.take ("10.0.0.2"), ConnectionBudget::Verdict::kOk);
  EXPECT_EQ (budget.take ("10.0.0.3"), ConnectionBudget::Verdict::kTotal);
  EXPECT_EQ (budget.in_use (), 3u);
  budget.give_back ("10.0.0.1");
  EXPECT_EQ (budget.from ("10.0.0.1"), 1u);
  EXPECT_EQ (budget.take ("10.0.0.3"), ConnectionBudget::Verdict::kOk);
  ConnectionBudget open (2, 0); // no per-address cap
  EXPECT_EQ (open.take ("a"), ConnectionBudget::Verdict::kOk);
  EXPECT_EQ (open.take ("a"), ConnectionBudget::Verdict::kOk);
  EXPECT_EQ (open.take ("a"), ConnectionBudget::Verdict::kTotal);

  sockaddr_in6 mapped = {};
  mapped.sin6_family = AF_INET6;
  inet_pton (AF_INET6, "::ffff:192.0.2.7", &mapped.sin6_addr);
  EXPECT_EQ (peer_ip (reinterpret_cast<sockaddr *> (&mapped)), "192.0.2.7");
  inet_pton (AF_INET6, "2001:db8::1", &mapped.sin6_addr);
  EXPECT_EQ (peer_ip (reinterpret_cast<sockaddr *> (&mapped)), "2001:db8::1");
}

TEST_F (TcpFrontendTest, HeldRequestsAreCappedAndCancelledWhenTheClientLeaves)
{
  TcpFrontend::Limits limits;
  limits.max_held = 1;
  start (limits);
  {
    Client c (port_);
    c.send_raw ("GET /live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /live/cam1/video/part2.1.m4s HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE (wait_until ([&] { return stats ().held_refused == 1; }));
    EXPECT_EQ (on_server<uint64_t> ([this] { return handler_->stats ().held_now; }), 1u);
    // The client goes away: its held reload is no longer waited on.
  }
  EXPECT_TRUE (wait_until ([&] {
    return on_server<uint64_t> ([this] { return handler_->stats ().held_now; }) == 0
           && stats ().connections_now == 0;
  }));
  // The cap answered in order: the held one first, then the 503.
  Client c (port_);
  c.send_raw ("GET /live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1 HTTP/1.1\r\nHost: x\r\n\r\n"
              "GET /live/cam1/video/part2.1.m4s HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE (wait_until ([&] { return stats ().held_refused == 2; }));
  feed_->part (100 * kMs, false); // 2.1
  auto first = c.next ();
  auto second = c.next ();
  ASSERT_TRUE (first && second);
  EXPECT_EQ (first->status, 200);
  EXPECT_EQ (second->status, 503);
}

TEST_F (TcpFrontendTest, CurlReusesTheConnectionAndWaitsOutABlockingReload)
{
  start ();
  const std::string base = "http://127.0.0.1:" + std::to_string (port_) + "/live/cam1/";
  // Two objects on one connection: the second made no new connection.
  gchar *out = nullptr;
  gint status = -1;
  const std::string cmd = "curl -sS --http1.1 -o /dev/null -o /dev/null -w '%{http_code} "
                          "%{num_connects}\\n' "
                          + base + "index.m3u8 " + base + "video/part1.0.m4s";
  ASSERT_TRUE (g_spawn_command_line_sync (cmd.c_str (), &out, nullptr, &status, nullptr));
  EXPECT_EQ (std::string (out), "200 1\n200 0\n");
  g_free (out);
  // A blocking reload, answered when the part is published.
  std::thread publisher ([this] {
    wait_until (
        [&] { return on_server<uint64_t> ([this] { return handler_->stats ().held_now; }) == 1; });
    feed_->part (100 * kMs, false); // 2.1
  });
  const std::string held = "curl -sS --http1.1 '" + base + "video.m3u8?_HLS_msn=2&_HLS_part=1'";
  ASSERT_TRUE (g_spawn_command_line_sync (held.c_str (), &out, nullptr, &status, nullptr));
  publisher.join ();
  EXPECT_EQ (status, 0);
  EXPECT_NE (std::string (out).find ("part2.1.m4s"), std::string::npos) << out;
  g_free (out);
}

// curl over TLS, HTTP/1.1 and HTTP/2 in turn, waits out a blocking reload.
TEST_F (TcpFrontendTest, CurlOverTlsWaitsOutABlockingReload)
{
  start ({}, true);
  int part = 1;
  for (const char *proto : { "--http1.1", "--http2" }) {
    std::thread publisher ([this] {
      wait_until ([&] { return held_now () == 1; });
      feed_->part (100 * kMs, false);
    });
    const std::string q = "/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=" + std::to_string (part);
    auto [rc, out] = run (std::string ("curl -sSk ") + proto + " " + https (q));
    publisher.join ();
    EXPECT_EQ (rc, 0) << proto;
    EXPECT_NE (out.find ("part2." + std::to_string (part) + ".m4s"), std::string::npos)
        << proto << out;
    part++;
  }
}

// Pipelined requests in TLS records of their own, arriving in one segment:
// the server reads what the socket has ahead of GnuTLS, and the records it
// keeps wake no poll, yet every one of them is answered.
TEST_F (TcpFrontendTest, TlsRecordsArrivingTogetherAreAllAnswered)
{
  start ({}, true);
  const int fd = dial (port_);
  ASSERT_GE (fd, 0);
  gnutls_certificate_credentials_t cred;
  gnutls_certificate_allocate_credentials (&cred);
  gnutls_session_t s;
  gnutls_init (&s, GNUTLS_CLIENT);
  gnutls_set_default_priority (s);
  gnutls_credentials_set (s, GNUTLS_CRD_CERTIFICATE, cred);
  gnutls_datum_t alpn = { (unsigned char *)"http/1.1", 8 };
  gnutls_alpn_set_protocols (s, &alpn, 1, 0);
  gnutls_transport_set_int (s, fd);
  int rv;
  do
    rv = gnutls_handshake (s);
  while (rv < 0 && !gnutls_error_is_fatal (rv));
  ASSERT_EQ (rv, 0) << gnutls_strerror (rv);

  // Three records collected, then written in one send ().
  std::string wire;
  gnutls_transport_set_ptr2 (s, reinterpret_cast<gnutls_transport_ptr_t> (intptr_t (fd)), &wire);
  gnutls_transport_set_push_function (
      s, [] (gnutls_transport_ptr_t to, const void *data, size_t n) -> ssize_t {
        static_cast<std::string *> (to)->append (static_cast<const char *> (data), n);
        return ssize_t (n);
      });
  for (int i = 0; i < 3; i++) {
    const std::string req
        = "GET /live/cam1/none" + std::to_string (i) + ".m3u8 HTTP/1.1\r\nHost: a\r\n\r\n";
    ASSERT_EQ (gnutls_record_send (s, req.data (), req.size ()), ssize_t (req.size ()));
  }
  ASSERT_GT (wire.size (), 3 * 22u) << "three records";
  ASSERT_EQ (send (fd, wire.data (), wire.size (), 0), ssize_t (wire.size ()));

  std::string got;
  auto answers = [&got] {
    size_t n = 0;
    for (size_t at = got.find ("HTTP/1.1 404"); at != std::string::npos;
         at = got.find ("HTTP/1.1 404", at + 1))
      n++;
    return n;
  };
  char buf[4096];
  const auto deadline
      = std::chrono::steady_clock::now () + test::scaled (std::chrono::milliseconds (10000));
  while (answers () < 3 && std::chrono::steady_clock::now () < deadline) {
    const ssize_t n = gnutls_record_recv (s, buf, sizeof buf);
    // GNUTLS_E_AGAIN: a session ticket taken, or the receive timeout.
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
      continue;
    if (n <= 0)
      break;
    got.append (buf, size_t (n));
  }
  EXPECT_EQ (answers (), 3u) << got;
  EXPECT_EQ (stats ().requests, 3u);
  gnutls_deinit (s);
  gnutls_certificate_free_credentials (cred);
  close (fd);
}

// A client that chose h2 and then sends garbage gets a GOAWAY and is
// closed; the server goes on.
TEST_F (TcpFrontendTest, Http2GarbageIsAProtocolErrorAndCloses)
{
  start ({}, true);
  const std::string file = tls_dir_ + "/garbage";
  const std::string garbage
      = std::string ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + "this is not a frame at all";
  ASSERT_TRUE (
      g_file_set_contents (file.c_str (), garbage.data (), gssize (garbage.size ()), nullptr));
  // s_client -quiet ignores the end of its input: it returns when we close.
  const std::string cmd = "sh -c 'timeout 10 openssl s_client -alpn h2 -quiet -connect 127.0.0.1:"
                          + std::to_string (port_) + " < " + file + " > /dev/null 2>&1'";
  run (cmd);
  EXPECT_TRUE (wait_until ([&] { return stats ().h2_protocol_errors == 1; }));
  EXPECT_TRUE (wait_until ([&] { return stats ().connections_now == 0; }));
  EXPECT_EQ (stats ().h2_connections, 1u);
  // And the next client is served.
  auto [rc, out]
      = run ("curl -sSk --http2 -o /dev/null -w '%{http_code}' " + https ("/live/cam1/index.m3u8"));
  EXPECT_EQ (out, "200");
}

// Over TLS, ALPN picks HTTP/2 or HTTP/1.1, and either keeps its
// connection for the next request.
TEST_F (TcpFrontendTest, TlsServesHttp2AndHttp11ByAlpn)
{
  start ({}, true);
  const std::string fmt = " -w '%{http_version} %{http_code} %{num_connects}\\n' ";
  auto [rc2, out2]
      = run ("curl -sSk --http2 -o /dev/null -o /dev/null" + fmt + https ("/live/cam1/index.m3u8")
             + " " + https ("/live/cam1/video/part1.0.m4s"));
  EXPECT_EQ (rc2, 0);
  EXPECT_EQ (out2, "2 200 1\n2 200 0\n");
  auto [rc1, out1] = run ("curl -sSk --http1.1 -o /dev/null -o /dev/null" + fmt
                          + https ("/live/cam1/index.m3u8") + " " + https ("/live/cam1/nope.m3u8"));
  EXPECT_EQ (rc1, 0);
  EXPECT_EQ (out1, "1.1 200 1\n1.1 404 0\n");
  // HEAD over HTTP/2: the length, no body.
  auto [rch, head] = run ("curl -sSk --http2 -I " + https ("/live/cam1/video/part1.0.m4s"));
  EXPECT_EQ (rch, 0);
  EXPECT_NE (head.find ("HTTP/2 200"), std::string::npos) << head;
  EXPECT_NE (head.find ("content-length: "), std::string::npos) << head;
  // The handler's common fields, shared by every answer: lowercase over
  // HTTP/2 (twice on one connection, the second time from HPACK's table),
  // as written over HTTP/1.1.
  auto [rcc, twice] = run ("curl -sSk --http2 -I " + https ("/live/cam1/video/part1.0.m4s") + " "
                           + https ("/live/cam1/index.m3u8"));
  EXPECT_EQ (rcc, 0);
  size_t first = twice.find ("access-control-allow-origin: *\r\n");
  ASSERT_NE (first, std::string::npos) << twice;
  EXPECT_NE (twice.find ("access-control-allow-origin: *\r\n", first + 1), std::string::npos)
      << twice;
  EXPECT_NE (twice.find ("access-control-expose-headers: Age, Date, Content-Length, Alt-Svc"),
             std::string::npos)
      << twice;
  auto [rc11, h11] = run ("curl -sSk --http1.1 -I " + https ("/live/cam1/index.m3u8"));
  EXPECT_EQ (rc11, 0);
  EXPECT_NE (h11.find ("Access-Control-Allow-Origin: *\r\n"), std::string::npos) << h11;
  const TcpFrontend::Stats s = stats ();
  EXPECT_EQ (s.tls_connections, 5u);
  EXPECT_EQ (s.h2_connections, 3u);
  EXPECT_EQ (s.h2_requests, 5u);
  EXPECT_EQ (s.requests, 8u);
}

// A body larger than every window and record: byte for byte over HTTP/2
// and HTTP/1.1 over TLS (DATA frames and records cut from the buffer).
TEST_F (TcpFrontendTest, LargeBodiesArriveWholeOverBothProtocols)
{
  start ({}, true);
  std::vector<uint8_t> big (3 * 1024 * 1024 + 12345);
  for (size_t i = 0; i < big.size (); i++)
    big[i] = uint8_t ((i * 2654435761u) >> 13);
  on_server<bool> ([&] {
    handler_->set_asset ("/big.bin", { Bytes::copy (big.data (), big.size ()),
                                       "application/octet-stream", "no-cache" });
    return true;
  });
  const std::string file
      = std::string (g_get_tmp_dir ()) + "/mirror-tcp-big-" + std::to_string (getpid ());
  for (const char *proto : { "--http2", "--http1.1" }) {
    // Two at once on HTTP/2: their DATA frames interleave.
    auto [rc, out] = run (std::string ("curl -sSk ") + proto + " -o " + file + ".1 -o " + file
                          + ".2 " + https ("/big.bin") + " " + https ("/big.bin"));
    EXPECT_EQ (rc, 0) << proto;
    for (const char *n : { ".1", ".2" }) {
      gchar *data = nullptr;
      gsize size = 0;
      ASSERT_TRUE (g_file_get_contents ((file + n).c_str (), &data, &size, nullptr)) << proto;
      EXPECT_EQ (size, big.size ()) << proto;
      EXPECT_TRUE (size == big.size () && std::memcmp (data, big.data (), size) == 0) << proto;
      g_free (data);
      g_unlink ((file + n).c_str ());
    }
  }
}

// Held requests on one HTTP/2 connection wait side by side (a blocking
// reload and the hinted part), and both are answered by one publication.
TEST_F (TcpFrontendTest, Http2HoldsConcurrentStreamsOnOneConnection)
{
  start ({}, true);
  std::thread publisher ([this] {
    wait_until ([&] { return held_now () == 2; });
    feed_->part (100 * kMs, false); // 2.1
  });
  auto [rc, out] = run ("curl -sSk --http2 --parallel --parallel-max 2 -w '%{http_code} "
                        "%{num_connects}\\n' -o /dev/null -o /dev/null "
                        + https ("/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1") + " "
                        + https ("/live/cam1/video/part2.1.m4s"));
  publisher.join ();
  EXPECT_EQ (rc, 0);
  // One connection for both, whichever finished first.
  EXPECT_TRUE (out == "200 1\n200 0\n" || out == "200 0\n200 1\n") << out;
  EXPECT_EQ (stats ().h2_connections, 1u);
}

// Past max_held an HTTP/2 stream gets 503; a client that leaves cancels
// what it held.
TEST_F (TcpFrontendTest, Http2HeldCapAndAbandonedStreams)
{
  TcpFrontend::Limits limits;
  limits.max_held = 1;
  start (limits, true);
  auto [rc, out] = run ("timeout 5 curl -sSk --http2 --parallel -w '%{http_code}\\n' -o /dev/null "
                        "-o /dev/null --max-time 2 "
                        + https ("/live/cam1/video.m3u8?_HLS_msn=2&_HLS_part=1") + " "
                        + https ("/live/cam1/video/part2.1.m4s"));
  // The second held request was refused at once; the first gave up (curl's
  // --max-time, well inside the handler's own 503 after three target
  // durations: 3 s here) and its stream was cancelled.
  EXPECT_NE (out.find ("503"), std::string::npos) << out;
  EXPECT_EQ (stats ().held_refused, 1u);
  EXPECT_TRUE (wait_until ([&] { return held_now () == 0 && stats ().connections_now == 0; }));
  EXPECT_EQ (stats ().held_abandoned, 1u) << out;
}

// A TLS handshake that never comes is closed by the head timeout; a client
// that speaks no TLS is refused.
TEST_F (TcpFrontendTest, SilentAndNonTlsClientsAreClosed)
{
  TcpFrontend::Limits limits;
  // Scaled: the plain client's request, sent at once, must be read (and
  // fail as TLS) before the head timeout closes it on a busy box too.
  limits.header_timeout_ms = test::scaled (std::chrono::milliseconds (300)).count ();
  start (limits, true);
  Client silent (port_);
  ASSERT_TRUE (silent.connected ());
  EXPECT_TRUE (silent.closed_by_server ());
  EXPECT_EQ (stats ().header_timeouts, 1u);
  Client plain (port_);
  plain.get ("/live/cam1/index.m3u8");
  EXPECT_TRUE (plain.closed_by_server ());
  EXPECT_TRUE (wait_until ([&] { return stats ().tls_failures == 1; }));
  EXPECT_TRUE (wait_until ([&] { return stats ().connections_now == 0; }));
}

} // namespace
} // namespace mirror
