// SPDX-License-Identifier: LGPL-2.1-or-later
// HTTP/3 front ends as one port's workers (QuicWorkerGroup) on loopback:
// two worker threads, each with its own GMainContext, OriginHandler and
// QuicFrontend on its own SO_REUSEPORT socket, over one hand-fed store.
// Hand-made datagrams from fresh source ports (the kernel hashes each to
// either socket) check that connection IDs name their worker and strays
// reach it; a real HTTP/3 client (mirror-h3get --follow) behind a relay
// that rebinds like a NAT checks that one connection keeps being served
// whichever socket its packets land on.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../../common/wait_until.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "../hls/hls_test_feed.h"
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
using test::loopback;
using test::on_context;
using test::random_bytes;
using Peer = test::UdpPeer;

constexpr unsigned kWorkers = 2;
constexpr size_t kCidLen = 18; // the front end's connection IDs
// Each datagram from a fresh source port lands on the owner's socket with
// probability 1/2: this many all landing there fails a test 2^-24 of the time.
constexpr int kStrays = 24;
constexpr int kMaxRebinds = 30;

// A short-header packet for dcid: to a server that cannot decrypt it, a
// packet of a connection it does not know.
std::vector<uint8_t>
short_packet (const std::vector<uint8_t> &dcid)
{
  auto d = random_bytes (60);
  d[0] = (uint8_t)(0x40 | (d[0] & 0x3f));
  std::copy (dcid.begin (), dcid.end (), d.begin () + 1);
  return d;
}

// The SCID of a Retry packet (the server's choice), or nothing.
std::optional<std::vector<uint8_t>>
retry_scid (const std::vector<uint8_t> &p)
{
  if (p.size () < 7 || (p[0] & 0xf0) != 0xf0 || std::memcmp (p.data () + 1, "\0\0\0\1", 4) != 0)
    return std::nullopt;
  size_t at = 6 + p[5];
  if (at >= p.size () || at + 1 + p[at] > p.size ())
    return std::nullopt;
  return std::vector<uint8_t> (p.begin () + (ptrdiff_t)at + 1,
                               p.begin () + (ptrdiff_t)(at + 1 + p[at]));
}

bool
is_stateless_reset (const std::optional<std::vector<uint8_t>> &d)
{
  return d && d->size () >= 21 && ((*d)[0] & 0xc0) == 0x40;
}

// Between a client and the port, like a NAT: the client talks to
// port (), the relay to the server from an upstream socket of its own. After
// rebind (), the client's next datagram leaves from a new upstream socket
// (a new source port, opened before the old one closes so the port differs)
// and the old one is gone, as when a NAT's mapping expires.
class NatRelay {
 public:
  explicit NatRelay (uint16_t server_port) : server_port_ (server_port)
  {
    client_fd_ = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in any = loopback (0);
    bind (client_fd_, reinterpret_cast<sockaddr *> (&any), sizeof any);
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    getsockname (client_fd_, reinterpret_cast<sockaddr *> (&bound), &len);
    port_ = ntohs (bound.sin_port);
    upstream_fd_ = open_upstream ();
    wake_fd_ = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    thread_ = std::thread ([this] () { run (); });
  }
  ~NatRelay ()
  {
    stop_ = true;
    wake ();
    thread_.join ();
    close (client_fd_);
    close (upstream_fd_);
    close (wake_fd_);
  }
  NatRelay (const NatRelay &) = delete;
  NatRelay &operator= (const NatRelay &) = delete;

  uint16_t port () const { return port_; }
  void rebind ()
  {
    rebind_wanted_ = true;
    wake ();
  }
  uint64_t rebinds () const { return rebinds_; }
  // Datagrams from the server that reached the current upstream socket.
  uint64_t downstream () const { return downstream_; }

 private:
  int open_upstream ()
  {
    int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to = loopback (server_port_);
    connect (fd, reinterpret_cast<sockaddr *> (&to), sizeof to);
    return fd;
  }
  void wake ()
  {
    uint64_t one = 1;
    if (write (wake_fd_, &one, sizeof one) < 0)
      ADD_FAILURE () << "eventfd write: " << g_strerror (errno);
  }
  void run ()
  {
    std::vector<uint8_t> buf (65536);
    sockaddr_in client{};
    bool have_client = false;
    while (!stop_) {
      pollfd p[3]
          = { { client_fd_, POLLIN, 0 }, { upstream_fd_, POLLIN, 0 }, { wake_fd_, POLLIN, 0 } };
      if (poll (p, 3, -1) < 0)
        continue;
      if (p[2].revents & POLLIN) {
        uint64_t n;
        if (read (wake_fd_, &n, sizeof n) < 0)
          continue;
      }
      if (p[0].revents & POLLIN) {
        socklen_t len = sizeof client;
        ssize_t n = recvfrom (client_fd_, buf.data (), buf.size (), MSG_DONTWAIT,
                              reinterpret_cast<sockaddr *> (&client), &len);
        if (n >= 0) {
          have_client = true;
          if (rebind_wanted_.exchange (false)) {
            int fresh = open_upstream ();
            close (upstream_fd_);
            upstream_fd_ = fresh;
            downstream_ = 0;
            ++rebinds_;
          }
          ::send (upstream_fd_, buf.data (), (size_t)n, 0);
        }
      }
      if (p[1].revents & POLLIN) {
        ssize_t n = recv (upstream_fd_, buf.data (), buf.size (), MSG_DONTWAIT);
        if (n >= 0 && have_client) {
          ++downstream_;
          sendto (client_fd_, buf.data (), (size_t)n, 0, reinterpret_cast<sockaddr *> (&client),
                  sizeof client);
        }
      }
    }
  }

  uint16_t server_port_;
  uint16_t port_ = 0;
  int client_fd_ = -1;
  int upstream_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{ false };
  std::atomic<bool> rebind_wanted_{ false };
  std::atomic<uint64_t> rebinds_{ 0 };
  std::atomic<uint64_t> downstream_{ 0 };
  std::thread thread_;
};

// A child process whose stdout and stderr are read as they come.
class Child {
 public:
  bool spawn (const std::vector<std::string> &args, std::string *error)
  {
    std::vector<gchar *> argv;
    for (const auto &a : args)
      argv.push_back (const_cast<gchar *> (a.c_str ()));
    argv.push_back (nullptr);
    GError *e = nullptr;
    int out = -1, err = -1;
    if (!g_spawn_async_with_pipes (nullptr, argv.data (), nullptr, G_SPAWN_DO_NOT_REAP_CHILD,
                                   nullptr, nullptr, &pid_, nullptr, &out, &err, &e)) {
      *error = e->message;
      g_error_free (e);
      return false;
    }
    readers_.emplace_back ([this, out] () { drain (out, &out_); });
    readers_.emplace_back ([this, err] () { drain (err, &err_); });
    return true;
  }
  ~Child ()
  {
    stop ();
    for (auto &t : readers_)
      t.join ();
  }
  // SIGTERM, and waits for it to exit.
  void stop ()
  {
    if (pid_ > 0) {
      kill (pid_, SIGTERM);
      int status;
      waitpid (pid_, &status, 0);
      g_spawn_close_pid (pid_);
      pid_ = 0;
    }
  }

  std::string out () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return out_;
  }
  std::string err () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return err_;
  }

 private:
  void drain (int fd, std::string *into)
  {
    char buf[4096];
    ssize_t n;
    while ((n = read (fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n < 0)
        continue;
      std::lock_guard<std::mutex> lock (mutex_);
      into->append (buf, (size_t)n);
    }
    close (fd);
  }

  GPid pid_ = 0;
  mutable std::mutex mutex_;
  std::string out_, err_;
  std::vector<std::thread> readers_;
};

class QuicWorkersTest : public test::QuicStoreTest {
 protected:
  struct Worker {
    GMainContext *context = nullptr;
    GMainLoop *loop = nullptr;
    std::thread thread;
    std::unique_ptr<OriginHandler> handler;
    std::unique_ptr<QuicFrontend> frontend;
  };

  void SetUp () override { open_store ("mirror-quic-workers-XXXXXX"); }

  void TearDown () override
  {
    stop_feeding ();
    for (unsigned i = 0; i < workers_.size (); ++i)
      stop_worker (i);
    close_store ();
  }

  // Worker 0 first (any free port), then the others on its port, each
  // listening on its own thread, as the Origin does.
  void start_workers ()
  {
    group_ = std::make_shared<QuicWorkerGroup> (kWorkers);
    workers_.resize (kWorkers);
    for (unsigned i = 0; i < kWorkers; ++i) {
      std::string error = start_worker (i);
      ASSERT_EQ (error, "") << "worker " << i;
    }
    port_ = group_->port ();
    ASSERT_NE (port_, 0);
    for (unsigned i = 0; i < kWorkers; ++i)
      ASSERT_EQ (on_context<uint16_t> (workers_[i]->context,
                                       [this, i] () { return workers_[i]->frontend->port (); }),
                 port_);
  }

  std::string start_worker (unsigned i)
  {
    auto w = std::make_unique<Worker> ();
    w->context = g_main_context_new ();
    w->loop = g_main_loop_new (w->context, FALSE);
    std::promise<std::string> started;
    auto result = started.get_future ();
    Worker *raw = w.get ();
    raw->thread = std::thread ([this, raw, i, &started] () {
      g_main_context_push_thread_default (raw->context);
      raw->handler = std::make_unique<OriginHandler> (media_, raw->context);
      raw->frontend = std::make_unique<QuicFrontend> (*raw->handler, identity_,
                                                      QuicFrontend::Limits{}, group_, i);
      std::string error;
      bool ok = raw->frontend->listen ("127.0.0.1", 0, &error);
      started.set_value (ok ? std::string () : error);
      if (ok)
        g_main_loop_run (raw->loop);
      raw->frontend.reset ();
      raw->handler.reset ();
      g_main_context_pop_thread_default (raw->context);
    });
    workers_[i] = std::move (w);
    return result.get ();
  }

  // Quits worker i's loop; its front end is destroyed on its thread.
  void stop_worker (unsigned i)
  {
    if (!workers_[i])
      return;
    Worker &w = *workers_[i];
    invoke_on (w.context, [&w] () { g_main_loop_quit (w.loop); });
    w.thread.join ();
    g_main_loop_unref (w.loop);
    g_main_context_unref (w.context);
    workers_[i].reset ();
  }

  QuicFrontend::Stats stats (unsigned i)
  {
    if (!workers_[i])
      return {};
    return on_context<QuicFrontend::Stats> (workers_[i]->context, [this, i] () {
      return workers_[i]->frontend ? workers_[i]->frontend->stats () : QuicFrontend::Stats{};
    });
  }

  QuicFrontend::Stats total ()
  {
    QuicFrontend::Stats t;
    for (unsigned i = 0; i < workers_.size (); ++i) {
      QuicFrontend::Stats s = stats (i);
      t.connections_now += s.connections_now;
      t.connections_total += s.connections_total;
      t.handshake_failures += s.handshake_failures;
      t.streams_total += s.streams_total;
      t.retries_sent += s.retries_sent;
      t.stateless_resets_sent += s.stateless_resets_sent;
      t.forwarded_out += s.forwarded_out;
      t.forwarded_in += s.forwarded_in;
      t.forward_dropped += s.forward_dropped;
    }
    return t;
  }

  // A Retry's SCID and the worker that sent it (the one whose socket the
  // Initial reached).
  void retry_cid (std::vector<uint8_t> *cid, unsigned *worker)
  {
    Peer peer (port_);
    peer.send (bare_initial (8));
    auto retry = peer.receive (5000);
    ASSERT_TRUE (retry) << "no Retry";
    auto scid = retry_scid (*retry);
    ASSERT_TRUE (scid) << "not a Retry";
    ASSERT_EQ (scid->size (), kCidLen);
    *cid = *scid;
    ASSERT_TRUE (test::wait_until ([this] () { return total ().retries_sent == 1; }));
    *worker = stats (0).retries_sent == 1 ? 0 : 1;
  }

  // Publishes a part every 100 ms (the media's own pace, five to a
  // segment) until stop_feeding ().
  void start_feeding ()
  {
    feeder_ = std::thread ([this] () {
      std::unique_lock<std::mutex> lock (feed_mutex_);
      for (int i = 1; !stop_feed_; ++i) {
        if (feed_cv_.wait_for (lock, std::chrono::milliseconds (100),
                               [this] () { return stop_feed_; }))
          break;
        if (i % 5 == 0)
          feed_->next_segment_part (test::clock_part_ns (i));
        else
          feed_->part (test::clock_part_ns (i), false, i % 5 == 4);
      }
    });
  }

  void stop_feeding ()
  {
    if (!feeder_.joinable ())
      return;
    {
      std::lock_guard<std::mutex> lock (feed_mutex_);
      stop_feed_ = true;
    }
    feed_cv_.notify_all ();
    feeder_.join ();
  }

  std::shared_ptr<QuicWorkerGroup> group_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uint16_t port_ = 0;

  std::thread feeder_;
  std::mutex feed_mutex_;
  std::condition_variable feed_cv_;
  bool stop_feed_ = false;
};

TEST_F (QuicWorkersTest, StraysReachTheWorkerTheirConnectionIdNames)
{
  start_workers ();
  std::vector<uint8_t> cid;
  unsigned owner = 0;
  retry_cid (&cid, &owner);
  unsigned other = 1 - owner;

  // Packets for the Retry's ID from fresh source ports: whichever socket
  // the kernel picks, the worker that made the ID answers (it knows no
  // such connection: a stateless reset).
  int resets = 0;
  for (int i = 0; i < kStrays; ++i) {
    Peer peer (port_);
    peer.send (short_packet (cid));
    resets += is_stateless_reset (peer.receive (5000));
  }
  EXPECT_EQ (resets, kStrays);
  QuicFrontend::Stats o = stats (owner), x = stats (other);
  std::printf ("owner: worker %u, forwarded to it: %llu of %d\n", owner,
               (unsigned long long)o.forwarded_in, kStrays);
  EXPECT_EQ (o.stateless_resets_sent, (uint64_t)kStrays) << "not all answered by the owner";
  EXPECT_EQ (x.stateless_resets_sent, 0u);
  EXPECT_GE (x.forwarded_out, 1u) << "the kernel put all " << kStrays << " on the owner's socket?";
  EXPECT_EQ (o.forwarded_in, x.forwarded_out);
  EXPECT_EQ (o.forwarded_out, 0u);
  EXPECT_EQ (group_->stats ().forwarded, x.forwarded_out);
  EXPECT_EQ (group_->stats ().forward_dropped, 0u);

  // Random IDs of the same length name no worker: answered where they land.
  uint64_t forwarded = total ().forwarded_out;
  for (int i = 0; i < kStrays; ++i) {
    Peer peer (port_);
    peer.send (short_packet (random_bytes (kCidLen)));
    resets += is_stateless_reset (peer.receive (5000));
  }
  EXPECT_EQ (resets, 2 * kStrays);
  EXPECT_EQ (total ().forwarded_out, forwarded);
  EXPECT_EQ (total ().stateless_resets_sent, 2u * kStrays);

  // New connections (Initials with the client's own DCID, of our length
  // too) stay where the kernel put them: each gets its Retry there.
  int retries = 0;
  for (int i = 0; i < kStrays; ++i) {
    Peer peer (port_);
    peer.send (bare_initial (i % 2 ? kCidLen : 8));
    auto answer = peer.receive (5000);
    retries += answer && retry_scid (*answer).has_value ();
  }
  EXPECT_EQ (retries, kStrays);
  QuicFrontend::Stats t = total ();
  EXPECT_EQ (t.retries_sent, 1u + kStrays);
  EXPECT_EQ (t.forwarded_out, forwarded);
  EXPECT_EQ (t.forwarded_in, forwarded);
}

TEST_F (QuicWorkersTest, ListenRulesOfAGroup)
{
  start_workers ();
  // An index already listening, and one beyond the group, are refused.
  std::string taken = on_context<std::string> (workers_[1]->context, [this] () {
    QuicFrontend f (*workers_[1]->handler, identity_, {}, group_, 0);
    std::string error;
    return f.listen ("127.0.0.1", 0, &error) ? std::string ("listened") : error;
  });
  EXPECT_NE (taken.find ("already listening"), std::string::npos) << taken;
  std::string beyond = on_context<std::string> (workers_[1]->context, [this] () {
    QuicFrontend f (*workers_[1]->handler, identity_, {}, group_, kWorkers);
    std::string error;
    return f.listen ("127.0.0.1", 0, &error) ? std::string ("listened") : error;
  });
  EXPECT_NE (beyond.find ("only 2 workers"), std::string::npos) << beyond;
  // Without a group the port stays the group's alone.
  bool alone = on_context<bool> (workers_[1]->context, [this] () {
    QuicFrontend f (*workers_[1]->handler, identity_, {});
    std::string error;
    return f.listen ("127.0.0.1", port_, &error);
  });
  EXPECT_FALSE (alone);
}

TEST_F (QuicWorkersTest, DestroyingAWorkerWhileAnotherForwardsToItIsSafe)
{
  start_workers ();
  std::vector<uint8_t> cid;
  unsigned owner = 0;
  retry_cid (&cid, &owner);
  unsigned other = 1 - owner;

  // Strays for the owner from ever new source ports, unanswered, while the
  // owner goes away.
  std::atomic<bool> flooding{ true };
  std::atomic<uint64_t> sent{ 0 };
  std::thread flooder ([&] () {
    while (flooding) {
      Peer peer (port_);
      peer.send (short_packet (cid));
      ++sent;
    }
  });
  EXPECT_TRUE (test::wait_until ([&] () { return group_->stats ().forwarded >= 10; }));
  stop_worker (owner);
  uint64_t sent_at_stop = sent;
  EXPECT_TRUE (test::wait_until ([&] () { return sent >= sent_at_stop + 50; }));
  flooding = false;
  flooder.join ();

  // The survivor answers the gone worker's strays itself (the reset secret
  // is the group's) and forwards nothing more. The flood may have spent its
  // stateless-reset budget (100 a second): a stray may go unanswered until
  // the budget is back, so each is tried until one is answered.
  uint64_t forwarded = stats (other).forwarded_out;
  uint64_t resets = stats (other).stateless_resets_sent;
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE (test::wait_until ([&] () {
      Peer peer (port_);
      peer.send (short_packet (cid));
      return is_stateless_reset (peer.receive (100));
    }));
  }
  EXPECT_EQ (stats (other).forwarded_out, forwarded);
  EXPECT_GE (stats (other).stateless_resets_sent, resets + 5);

  // The index can listen again, on the group's port, and is forwarded to.
  ASSERT_EQ (start_worker (owner), "");
  EXPECT_EQ (on_context<uint16_t> (workers_[owner]->context,
                                   [this, owner] () { return workers_[owner]->frontend->port (); }),
             port_);
  int resets_by_owner = 0;
  for (int i = 0; i < kStrays; ++i) {
    Peer peer (port_);
    peer.send (short_packet (cid));
    resets_by_owner += is_stateless_reset (peer.receive (5000));
  }
  EXPECT_EQ (resets_by_owner, kStrays);
  EXPECT_EQ (stats (owner).stateless_resets_sent, (uint64_t)kStrays);
  EXPECT_GE (stats (owner).forwarded_in, 1u);
}

std::string
h3get_path ()
{
  if (const char *env = g_getenv ("MIRROR_H3GET"); env && *env)
    return env;
  const char *build = g_getenv ("MIRROR_BUILD_ROOT");
  return std::string (build ? build : ".") + "/tools/h3/mirror-h3get";
}

TEST_F (QuicWorkersTest, OneConnectionSurvivesNatRebindingsAcrossWorkers)
{
  std::string h3get = h3get_path ();
  if (!g_file_test (h3get.c_str (), G_FILE_TEST_IS_EXECUTABLE))
    GTEST_SKIP () << h3get << " is not built";
  start_workers ();
  start_feeding ();
  NatRelay relay (port_);

  // A low-latency player on one connection: for every part a blocking
  // playlist reload and the hinted part, each answered only once the part
  // exists. It prints a line per part (both answered 200) and one per error.
  Child client;
  std::string error;
  ASSERT_TRUE (client.spawn (
      { h3get, "--follow", "--seconds", "600", "--timeout", "20", "--pin", identity_.spki_pin,
        "https://127.0.0.1:" + std::to_string (relay.port ()) + "/live/cam1/video.m3u8" },
      &error))
      << error;
  auto parts = [&client] () { return test::count_prefix (client.out (), "part "); };
  auto report = [&] () {
    QuicFrontend::Stats s0 = stats (0), s1 = stats (1);
    return "\nworker 0: connections " + std::to_string (s0.connections_total) + ", requests "
           + std::to_string (s0.streams_total) + ", forwarded in/out "
           + std::to_string (s0.forwarded_in) + "/" + std::to_string (s0.forwarded_out)
           + "\nworker 1: connections " + std::to_string (s1.connections_total) + ", requests "
           + std::to_string (s1.streams_total) + ", forwarded in/out "
           + std::to_string (s1.forwarded_in) + "/" + std::to_string (s1.forwarded_out)
           + "\n--- mirror-h3get stdout:\n" + client.out () + "--- stderr:\n" + client.err ();
  };
  ASSERT_TRUE (test::wait_until ([&] () { return parts () >= 3; })) << report ();
  ASSERT_EQ (total ().connections_total, 1u) << report ();
  // One 4-tuple, one socket: nothing to forward yet.
  ASSERT_EQ (group_->stats ().forwarded, 0u) << report ();

  // Rebind until the kernel has put the new source port on the socket of
  // the worker that does not own the connection (each time a coin toss);
  // after every rebinding the server must have reached the new port and
  // the player must have had two more parts.
  int rebinds = 0;
  bool forwarded = false;
  while (!forwarded && rebinds < kMaxRebinds) {
    int parts_before = parts ();
    relay.rebind ();
    ++rebinds;
    ASSERT_TRUE (test::wait_until ([&] () {
      return relay.rebinds () == (uint64_t)rebinds && relay.downstream () >= 1
             && parts () >= parts_before + 2;
    })) << "no answers after rebinding "
        << rebinds << report ();
    // By the same connection: a player whose connection failed reconnects,
    // and says so.
    ASSERT_EQ (total ().connections_total, 1u) << "after rebinding " << rebinds << report ();
    ASSERT_EQ (test::count_prefix (client.err (), "error "), 0)
        << "after rebinding " << rebinds << report ();
    forwarded = group_->stats ().forwarded > 0;
  }
  std::printf ("rebinds: %d, datagrams forwarded: %llu, parts: %d\n", rebinds,
               (unsigned long long)group_->stats ().forwarded, parts ());
  ASSERT_TRUE (forwarded) << kMaxRebinds << " rebindings, none landed on the other worker"
                          << report ();

  // And once more after that, wherever it lands.
  int parts_before = parts ();
  relay.rebind ();
  ++rebinds;
  EXPECT_TRUE (test::wait_until ([&] () {
    return relay.rebinds () == (uint64_t)rebinds && relay.downstream () >= 1
           && parts () >= parts_before + 2;
  })) << report ();

  // One connection all along (the player reconnects after a failure, which
  // would count), on one worker, and not one failed request.
  QuicFrontend::Stats t = total ();
  EXPECT_EQ (t.connections_total, 1u) << report ();
  EXPECT_EQ (t.connections_now, 1u);
  EXPECT_EQ (t.handshake_failures, 0u);
  EXPECT_EQ (test::count_prefix (client.err (), "error "), 0) << report ();
  // Every datagram handed over was taken in, none dropped: counted once the
  // player is gone, since datagrams in flight between the workers are on one
  // side's count and not yet on the other's.
  client.stop ();
  uint64_t handed = 0;
  EXPECT_TRUE (test::wait_until ([&] () {
    t = total ();
    handed = group_->stats ().forwarded;
    return t.forwarded_in == t.forwarded_out && t.forwarded_out == handed;
  })) << "forwarded in " << t.forwarded_in << ", out " << t.forwarded_out << ", by the group "
      << handed;
  EXPECT_EQ (t.forward_dropped, 0u);
  QuicFrontend::Stats s0 = stats (0), s1 = stats (1);
  // Forwarding only ever goes to the worker owning the connection.
  EXPECT_TRUE ((s0.connections_total == 1 && s0.forwarded_out == 0)
               || (s1.connections_total == 1 && s1.forwarded_out == 0))
      << report ();
}

} // namespace
} // namespace mirror
