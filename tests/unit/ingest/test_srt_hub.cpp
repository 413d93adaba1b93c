// SPDX-License-Identifier: LGPL-2.1-or-later
// The SRT hub against real libsrt callers on loopback: routing by streamid,
// every admission decision, held data, reconnects, stats and shutdown.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <srt/access_control.h>

#include "ingest/srt_hub.h"
#include "srt_test_peers.h"
#include "thread_nices.h"
#include "util/thread_priority.h"

namespace mirror::test {
namespace {

using Counts = std::map<SrtRejectReason, uint64_t>;

// The inodes of the UDP sockets bound to port, from /proc/net/udp{,6}: what
// the kernel, not the hub, says holds the port.
std::set<unsigned long>
udp_sockets_on (uint16_t port)
{
  std::set<unsigned long> inodes;
  for (const char *table : { "/proc/net/udp", "/proc/net/udp6" }) {
    std::ifstream in (table);
    std::string line;
    std::getline (in, line); // header
    while (std::getline (in, line)) {
      std::istringstream fields (line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
      unsigned long inode = 0;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout
          >> inode;
      auto colon = local.rfind (':');
      if (colon != std::string::npos && std::stoul (local.substr (colon + 1), nullptr, 16) == port)
        inodes.insert (inode);
    }
  }
  return inodes;
}

// A UDP socket bound to 127.0.0.1:port the plain way (no SO_REUSEPORT), as
// another program would take it; -1 when the port is taken.
int
bind_udp_loopback (uint16_t port)
{
  int fd = socket (AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  address.sin_port = htons (port);
  if (bind (fd, reinterpret_cast<sockaddr *> (&address), sizeof address) == 0)
    return fd;
  close (fd);
  return -1;
}

bool
port_free_for_others (uint16_t port)
{
  int fd = bind_udp_loopback (port);
  if (fd < 0)
    return false;
  close (fd);
  return true;
}

struct Rejection {
  SrtPeer peer;
  SrtRejectReason reason;
  std::string message;
};

class SrtHubTest : public ::testing::Test {
 protected:
  std::shared_ptr<SrtHub> open_hub (const SrtHubOptions &options)
  {
    std::string error;
    auto hub = SrtHub::acquire (options, &error);
    EXPECT_TRUE (hub) << error;
    if (hub) {
      hub->set_reject_observer (
          [this] (const SrtPeer &peer, SrtRejectReason reason, const std::string &message) {
            std::lock_guard lock (mutex_);
            rejections_.push_back ({ peer, reason, message });
          });
    }
    return hub;
  }

  std::shared_ptr<RecordingConsumer> attach (SrtHub &hub, const std::string &id)
  {
    auto consumer = std::make_shared<RecordingConsumer> ();
    std::string error;
    EXPECT_TRUE (hub.attach (id, consumer, &error)) << error;
    return consumer;
  }

  std::vector<Rejection> rejections ()
  {
    std::lock_guard lock (mutex_);
    return rejections_;
  }

  // Sends data and waits until the consumer holds everything sent so far.
  static void send_and_expect (SrtCaller &caller, RecordingConsumer &consumer,
                               const std::vector<uint8_t> &data,
                               const std::vector<uint8_t> &before = {})
  {
    ASSERT_TRUE (caller.send (data));
    std::vector<uint8_t> expected = before;
    expected.insert (expected.end (), data.begin (), data.end ());
    ASSERT_TRUE (consumer.wait_for_bytes (expected.size ()))
        << consumer.data ().size () << " of " << expected.size () << " bytes arrived";
    EXPECT_TRUE (consumer.data () == expected) << "data differs (loss or reordering)";
  }

  std::mutex mutex_;
  std::vector<Rejection> rejections_;
};

TEST_F (SrtHubTest, OneHubPerPortSharedByEveryUser)
{
  SrtHubOptions options = test_hub_options ();
  auto first = open_hub (options);
  ASSERT_TRUE (first);
  EXPECT_EQ (first->port (), options.port);
  options.latency_ms = 500; // ignored (and logged) for an open port
  std::string error;
  auto second = SrtHub::acquire (options, &error);
  EXPECT_EQ (second.get (), first.get ());

  SrtHubOptions bad = test_hub_options ();
  bad.payload_size = 9000;
  EXPECT_EQ (SrtHub::acquire (bad, &error), nullptr);
  EXPECT_NE (error.find (std::to_string (bad.port)), std::string::npos) << error;
  EXPECT_NE (error.find ("payload_size 9000"), std::string::npos) << error;
}

TEST_F (SrtHubTest, PlainIdDataArrivesIntactAndInOrder)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  ASSERT_TRUE (consumer->wait_for_events (1));
  EXPECT_EQ (consumer->peers ().at (0).stream_id, "cam1");
  EXPECT_EQ (consumer->peers ().at (0).address.rfind ("127.0.0.1:", 0), 0u);
  send_and_expect (caller, *consumer, test_bytes (1316 * 400, 1));
  EXPECT_EQ (hub->connection_count (), 1u);
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data" }));
}

// The port's threads run above the process (where it may raise them):
// libsrt's at thread_nice, the hub's receive thread, which drains every
// caller, above that.
TEST_F (SrtHubTest, ItsThreadsRunAtTheirPriority)
{
  {
    ScopedThreadNice probe (-3);
    if (!probe.applied () || probe.nice () != -3)
      GTEST_SKIP () << "this process may not raise a thread's priority";
  }
  SrtHubOptions options = test_hub_options ();
  options.thread_nice = -3;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  EXPECT_EQ (hub->thread_nice (), -3);
  auto consumer = attach (*hub, "cam1");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 50, 3));
  // The caller's own libsrt threads (this process too) keep the process's.
  auto receive = thread_nices ("SRT:RcvQ");
  EXPECT_NE (std::find (receive.begin (), receive.end (), -3), receive.end ());
  auto hub_threads = thread_nices ("srt-hub-" + std::to_string (hub->port ()).substr (0, 7));
  ASSERT_EQ (hub_threads.size (), 1u);
  EXPECT_EQ (hub_threads[0], -8);
}

TEST_F (SrtHubTest, AccessControlIdRoutesToItsResource)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam2");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "#!::u=alice,r=cam2,m=publish" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 200, 2));
  EXPECT_EQ (consumer->peers ().at (0).stream_id, "cam2");
}

TEST_F (SrtHubTest, TwoStreamsOnOnePortAtOnce)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto one = attach (*hub, "one");
  auto two = attach (*hub, "two");
  SrtCaller caller_one, caller_two;
  ASSERT_TRUE (caller_one.connect (hub->port (), { .stream_id = "one" }));
  ASSERT_TRUE (caller_two.connect (hub->port (), { .stream_id = "#!::r=two,m=publish" }));
  auto data_one = test_bytes (1316 * 300, 11);
  auto data_two = test_bytes (1316 * 300, 22);
  std::thread sender ([&] { EXPECT_TRUE (caller_two.send (data_two)); });
  EXPECT_TRUE (caller_one.send (data_one));
  sender.join ();
  ASSERT_TRUE (one->wait_for_bytes (data_one.size ()));
  ASSERT_TRUE (two->wait_for_bytes (data_two.size ()));
  EXPECT_TRUE (one->data () == data_one);
  EXPECT_TRUE (two->data () == data_two);
  EXPECT_EQ (hub->connection_count (), 2u);
}

TEST_F (SrtHubTest, AllowListRefusesOtherIds)
{
  SrtHubOptions options = test_hub_options ();
  options.allow_list = { "cam*", "studio" };
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  auto cam = attach (*hub, "cam7");
  auto other = attach (*hub, "other");
  SrtCaller allowed, refused;
  EXPECT_TRUE (allowed.connect (hub->port (), { .stream_id = "cam7" }));
  EXPECT_FALSE (refused.connect (hub->port (), { .stream_id = "other" }));
  EXPECT_EQ (refused.reject_reason (), SRT_REJX_FORBIDDEN);
  send_and_expect (allowed, *cam, test_bytes (1316 * 50, 3));
  EXPECT_TRUE (other->events ().empty ());
  EXPECT_EQ (hub->reject_counts ()[SrtRejectReason::kNotAllowed], 1u);
  auto seen = rejections ();
  ASSERT_EQ (seen.size (), 1u);
  EXPECT_EQ (seen[0].peer.stream_id, "other");
  EXPECT_NE (seen[0].message.find ("'other'"), std::string::npos) << seen[0].message;
  EXPECT_NE (seen[0].message.find ("127.0.0.1:"), std::string::npos) << seen[0].message;
}

TEST_F (SrtHubTest, SecondCallerForALiveIdIsRefusedAndTheFirstKeepsFlowing)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  SrtCaller first, second;
  ASSERT_TRUE (first.connect (hub->port (), { .stream_id = "cam1" }));
  auto before = test_bytes (1316 * 100, 4);
  send_and_expect (first, *consumer, before);
  EXPECT_FALSE (second.connect (hub->port (), { .stream_id = "#!::r=cam1,m=publish" }));
  EXPECT_EQ (second.reject_reason (), SRT_REJX_CONFLICT);
  send_and_expect (first, *consumer, test_bytes (1316 * 100, 5), before);
  EXPECT_EQ (hub->reject_counts ()[SrtRejectReason::kAlreadyLive], 1u);
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data" }));
}

TEST_F (SrtHubTest, MalformedAndMissingIdsAreRefused)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  hub->set_new_stream_handler ([] (const SrtPeer &) { return true; });
  std::vector<CallerSettings> callers = {
    { .stream_id = "", .send_stream_id = false }, { .stream_id = "cam 1" },
    { .stream_id = "#!::r=cam1,m=request" },      { .stream_id = "#!::u=bob,m=publish" },
    { .stream_id = std::string (300, 'x') },
  };
  for (const auto &settings : callers) {
    SrtCaller caller;
    EXPECT_FALSE (caller.connect (hub->port (), settings)) << settings.stream_id;
    EXPECT_EQ (caller.reject_reason (), SRT_REJX_BAD_REQUEST) << settings.stream_id;
  }
  EXPECT_EQ (hub->reject_counts ()[SrtRejectReason::kMalformedStreamId], callers.size ());
  EXPECT_EQ (hub->connection_count (), 0u);
}

TEST_F (SrtHubTest, CallersBeyondMaxConnectionsAreRefused)
{
  SrtHubOptions options = test_hub_options ();
  options.max_connections = 2;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  auto a = attach (*hub, "a");
  auto b = attach (*hub, "b");
  auto c = attach (*hub, "c");
  SrtCaller caller_a, caller_b, caller_c;
  ASSERT_TRUE (caller_a.connect (hub->port (), { .stream_id = "a" }));
  ASSERT_TRUE (caller_b.connect (hub->port (), { .stream_id = "b" }));
  EXPECT_FALSE (caller_c.connect (hub->port (), { .stream_id = "c" }));
  EXPECT_EQ (caller_c.reject_reason (), SRT_REJX_DOWN);
  EXPECT_EQ (hub->reject_counts ()[SrtRejectReason::kTooManyConnections], 1u);
  send_and_expect (caller_a, *a, test_bytes (1316 * 50, 6));
  // A slot frees up when a caller leaves.
  caller_b.close ();
  ASSERT_TRUE (b->wait_for_events (2));
  ASSERT_TRUE (wait_until ([&] { return caller_c.connect (hub->port (), { .stream_id = "c" }); }));
  send_and_expect (caller_c, *c, test_bytes (1316 * 50, 7));
}

TEST_F (SrtHubTest, GlobalPassphraseAes128)
{
  SrtHubOptions options = test_hub_options ();
  options.passphrase = "correct horse battery";
  options.pbkeylen = 16;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");

  SrtCaller wrong, missing, right;
  EXPECT_FALSE (wrong.connect (
      hub->port (), { .stream_id = "cam1", .passphrase = "wrong horse battery", .pbkeylen = 16 }));
  EXPECT_EQ (wrong.reject_reason (), SRT_REJ_BADSECRET);
  EXPECT_FALSE (missing.connect (hub->port (), { .stream_id = "cam1" }));
  EXPECT_EQ (missing.reject_reason (), SRT_REJ_UNSECURE);
  // Counted once libsrt has refused them, after the listen callback.
  ASSERT_TRUE (wait_until ([&] {
    return hub->reject_counts ()[SrtRejectReason::kBadPassphrase] == 2;
  })) << hub->reject_counts ()[SrtRejectReason::kBadPassphrase];
  // Their claims on the id are gone: the right caller gets in.
  ASSERT_TRUE (right.connect (
      hub->port (),
      { .stream_id = "cam1", .passphrase = "correct horse battery", .pbkeylen = 16 }));
  send_and_expect (right, *consumer, test_bytes (1316 * 100, 8));
  auto seen = rejections ();
  ASSERT_EQ (seen.size (), 2u);
  for (const auto &rejection : seen) {
    EXPECT_EQ (rejection.reason, SrtRejectReason::kBadPassphrase);
    EXPECT_EQ (rejection.peer.stream_id, "cam1");
    EXPECT_NE (rejection.message.find ("AES-128"), std::string::npos) << rejection.message;
  }
}

TEST_F (SrtHubTest, PerStreamPassphraseAes256)
{
  SrtHubOptions options = test_hub_options ();
  options.pbkeylen = 32;
  options.stream_passphrases["vault"] = "open sesame 256";
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  auto vault = attach (*hub, "vault");
  auto open = attach (*hub, "open");
  auto other = attach (*hub, "other");

  // The unencrypted stream flows while callers of the other one are refused.
  SrtCaller open_caller;
  ASSERT_TRUE (open_caller.connect (hub->port (), { .stream_id = "open" }));
  auto open_data = test_bytes (1316 * 50, 9);
  send_and_expect (open_caller, *open, open_data);

  SrtCaller wrong, missing, unexpected, right;
  EXPECT_FALSE (wrong.connect (
      hub->port (), { .stream_id = "vault", .passphrase = "open sesame 255", .pbkeylen = 32 }));
  EXPECT_EQ (wrong.reject_reason (), SRT_REJ_BADSECRET);
  EXPECT_FALSE (missing.connect (hub->port (), { .stream_id = "#!::r=vault,m=publish" }));
  EXPECT_EQ (missing.reject_reason (), SRT_REJ_UNSECURE);
  // A passphrase on a stream that has none is a mismatch too.
  EXPECT_FALSE (unexpected.connect (
      hub->port (), { .stream_id = "other", .passphrase = "open sesame 256", .pbkeylen = 32 }));
  EXPECT_EQ (unexpected.reject_reason (), SRT_REJ_UNSECURE);
  ASSERT_TRUE (wait_until ([&] {
    return hub->reject_counts ()[SrtRejectReason::kBadPassphrase] == 3;
  })) << hub->reject_counts ()[SrtRejectReason::kBadPassphrase];

  ASSERT_TRUE (right.connect (
      hub->port (), { .stream_id = "vault", .passphrase = "open sesame 256", .pbkeylen = 32 }));
  send_and_expect (right, *vault, test_bytes (1316 * 100, 10));
  send_and_expect (open_caller, *open, test_bytes (1316 * 50, 12), open_data);
  EXPECT_EQ (open->events (), (std::vector<std::string>{ "connect", "data" }));
}

// libsrt's listener takes the caller's key length: pbkeylen does not lock
// out a caller that knows the passphrase.
TEST_F (SrtHubTest, TheCallerChoosesTheKeyLength)
{
  SrtHubOptions options = test_hub_options ();
  options.passphrase = "correct horse battery";
  options.pbkeylen = 32;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  SrtCaller aes128;
  ASSERT_TRUE (aes128.connect (
      hub->port (),
      { .stream_id = "cam1", .passphrase = "correct horse battery", .pbkeylen = 16 }));
  send_and_expect (aes128, *consumer, test_bytes (1316 * 50, 25));
}

TEST_F (SrtHubTest, WithoutConsumerOrHandlerCallersAreRefused)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  SrtCaller nobody;
  EXPECT_FALSE (nobody.connect (hub->port (), { .stream_id = "cam1" }));
  EXPECT_EQ (nobody.reject_reason (), SRT_REJX_DOWN);

  std::vector<SrtPeer> asked;
  hub->set_new_stream_handler ([&] (const SrtPeer &peer) {
    asked.push_back (peer);
    return false;
  });
  SrtCaller declined;
  EXPECT_FALSE (declined.connect (hub->port (), { .stream_id = "#!::r=cam2,m=publish" }));
  EXPECT_EQ (declined.reject_reason (), SRT_REJX_DOWN);
  ASSERT_EQ (asked.size (), 1u);
  EXPECT_EQ (asked[0].stream_id, "cam2");
  EXPECT_EQ (hub->reject_counts ()[SrtRejectReason::kNoConsumer], 2u);
}

TEST_F (SrtHubTest, HeldDataIsDeliveredFirstWhenTheConsumerAttaches)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  hub->set_new_stream_handler ([] (const SrtPeer &) { return true; });
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "late" }));
  auto held = test_bytes (1316 * 300, 13);
  ASSERT_TRUE (caller.send (held));
  ASSERT_TRUE (wait_until ([&] {
    auto stats = hub->stats ("late");
    return stats && stats->held_bytes == held.size ();
  })) << (hub->stats ("late") ? hub->stats ("late")->held_bytes : 0);

  auto consumer = attach (*hub, "late");
  ASSERT_TRUE (consumer->wait_for_bytes (held.size ()));
  EXPECT_TRUE (consumer->data () == held);
  send_and_expect (caller, *consumer, test_bytes (1316 * 100, 14), held);
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data" }));
  EXPECT_EQ (hub->stats ("late")->held_bytes, 0u);
}

// mirrord attaches from the main loop after the held-stream handler: a
// caller may have come and gone by then. Its consumer still hears of it,
// data and end, or the stream would wait for a first caller forever.
TEST_F (SrtHubTest, ACallerGoneBeforeItsConsumerAttachedIsStillAnnouncedWithItsEnd)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  hub->set_new_stream_handler ([] (const SrtPeer &) { return true; });
  auto held = test_bytes (1316 * 50, 21);
  {
    SrtCaller caller;
    ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "brief" }));
    ASSERT_TRUE (caller.send (held));
    ASSERT_TRUE (wait_until ([&] {
      auto stats = hub->stats ("brief");
      return stats && stats->held_bytes == held.size ();
    }));
  }
  ASSERT_TRUE (wait_until ([&] { return hub->connection_count () == 0u; }));

  auto consumer = attach (*hub, "brief");
  ASSERT_TRUE (consumer->wait_for_events (3));
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data", "disconnect" }));
  EXPECT_TRUE (consumer->data () == held);

  // Told once: the next consumer of the id waits for a caller of its own.
  hub->detach ("brief", consumer.get ());
  auto next = attach (*hub, "brief");
  SrtCaller again;
  ASSERT_TRUE (again.connect (hub->port (), { .stream_id = "brief" }));
  send_and_expect (again, *next, test_bytes (1316 * 20, 22));
  EXPECT_EQ (next->events (), (std::vector<std::string>{ "connect", "data" }));
}

// mirrord refused the held caller's stream: the caller is closed now, not
// at the hold timeout, and its id is free again.
TEST_F (SrtHubTest, DetachWithoutAConsumerClosesAHeldCaller)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  hub->set_new_stream_handler ([] (const SrtPeer &) { return true; });
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "refused" }));
  ASSERT_TRUE (caller.send (test_bytes (1316 * 10, 25)));
  ASSERT_TRUE (wait_until ([&] { return hub->stats ("refused").has_value (); }));
  hub->detach ("refused", nullptr);
  ASSERT_TRUE (wait_until ([&] { return hub->connection_count () == 0u; }));
  EXPECT_TRUE (wait_until ([&] { return caller.is_broken (); }));
  // Nothing of it reaches a later consumer of the id.
  auto consumer = attach (*hub, "refused");
  SrtCaller next;
  ASSERT_TRUE (next.connect (hub->port (), { .stream_id = "refused" }));
  auto data = test_bytes (1316 * 10, 26);
  send_and_expect (next, *consumer, data);
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data" }));
}

// A new caller of the id before any consumer attached replaces the one that
// ended: the consumer hears of the live one only.
TEST_F (SrtHubTest, ANewCallerReplacesOneThatEndedUnannounced)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  hub->set_new_stream_handler ([] (const SrtPeer &) { return true; });
  {
    SrtCaller first;
    ASSERT_TRUE (first.connect (hub->port (), { .stream_id = "cam1" }));
    ASSERT_TRUE (first.send (test_bytes (1316 * 10, 23)));
    ASSERT_TRUE (wait_until ([&] {
      auto stats = hub->stats ("cam1");
      return stats && stats->held_bytes > 0;
    }));
  }
  ASSERT_TRUE (wait_until ([&] { return hub->connection_count () == 0u; }));
  SrtCaller second;
  ASSERT_TRUE (second.connect (hub->port (), { .stream_id = "cam1" }));
  auto data = test_bytes (1316 * 30, 24);
  ASSERT_TRUE (second.send (data));
  ASSERT_TRUE (wait_until ([&] {
    auto stats = hub->stats ("cam1");
    return stats && stats->held_bytes == data.size ();
  }));
  auto consumer = attach (*hub, "cam1");
  ASSERT_TRUE (consumer->wait_for_bytes (data.size ()));
  EXPECT_TRUE (consumer->data () == data);
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data" }));
}

// mirrord starts a pipeline from the held-stream handler, so a caller whose
// handshake fails (a wrong passphrase) must never reach it.
TEST_F (SrtHubTest, HeldStreamHandlerSeesOnlyCompletedHandshakes)
{
  auto options = test_hub_options ();
  options.stream_passphrases["locked"] = "correct horse battery";
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  hub->set_new_stream_handler ([] (const SrtPeer &) { return true; });
  std::mutex lock;
  std::vector<std::string> held;
  hub->set_held_stream_handler ([&] (const SrtPeer &peer) {
    std::lock_guard guard (lock);
    held.push_back (peer.stream_id);
  });
  auto held_ids = [&] {
    std::lock_guard guard (lock);
    return held;
  };

  SrtCaller wrong;
  EXPECT_FALSE (wrong.connect (
      hub->port (), { .stream_id = "locked", .passphrase = "wrong horse battery", .pbkeylen = 16 }));
  ASSERT_TRUE (wait_until ([&] {
    return hub->reject_counts ()[SrtRejectReason::kBadPassphrase] == 1u;
  }));
  EXPECT_TRUE (held_ids ().empty ());

  SrtCaller right;
  ASSERT_TRUE (right.connect (
      hub->port (), { .stream_id = "locked", .passphrase = "correct horse battery", .pbkeylen = 16 }));
  ASSERT_TRUE (wait_until ([&] { return held_ids ().size () == 1u; }));
  EXPECT_EQ (held_ids ()[0], "locked");
}

TEST_F (SrtHubTest, ReconnectFeedsTheSameConsumer)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  auto first_data = test_bytes (1316 * 100, 15);
  {
    SrtCaller first;
    ASSERT_TRUE (first.connect (hub->port (), { .stream_id = "cam1" }));
    send_and_expect (first, *consumer, first_data);
  }
  ASSERT_TRUE (consumer->wait_for_events (3));
  EXPECT_EQ (hub->connection_count (), 0u);

  SrtCaller second;
  ASSERT_TRUE (second.connect (hub->port (), { .stream_id = "#!::r=cam1,m=publish" }));
  send_and_expect (second, *consumer, test_bytes (1316 * 100, 16), first_data);
  EXPECT_EQ (consumer->events (),
             (std::vector<std::string>{ "connect", "data", "disconnect", "connect", "data" }));
}

TEST_F (SrtHubTest, StatsDescribeTheConnection)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  EXPECT_FALSE (hub->stats ("cam1"));
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  auto data = test_bytes (1316 * 200, 17);
  send_and_expect (caller, *consumer, data);
  auto stats = hub->stats ("cam1");
  ASSERT_TRUE (stats);
  EXPECT_GE (stats->packets_received, 200u);
  EXPECT_GE (stats->bytes_received, data.size ());
  EXPECT_GT (stats->rtt_ms, 0.0);
  EXPECT_GE (stats->connected_ms, 0);
  EXPECT_EQ (stats->peer, consumer->peers ().at (0).address);
  EXPECT_FALSE (hub->stats ("nobody"));
}

TEST_F (SrtHubTest, DetachClosesTheCallerAndFreesTheId)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 50, 18));
  hub->detach ("cam1", consumer.get ());
  EXPECT_TRUE (wait_until ([&] { return caller.is_broken (); }));
  EXPECT_TRUE (wait_until ([&] { return hub->connection_count () == 0; }));
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data" }));

  auto next = attach (*hub, "cam1");
  SrtCaller again;
  ASSERT_TRUE (again.connect (hub->port (), { .stream_id = "cam1" }));
  send_and_expect (again, *next, test_bytes (1316 * 50, 19));

  std::string error;
  EXPECT_FALSE (hub->attach ("cam1", std::make_shared<RecordingConsumer> (), &error));
  EXPECT_NE (error.find ("'cam1'"), std::string::npos) << error;
}

// mirrord restarts a wedged pipeline this way: the old one's consumer goes,
// the caller stays connected, and the new consumer gets it and the data sent
// in between, as for a caller that came first.
TEST_F (SrtHubTest, AKeptCallerOutlivesItsConsumerAndFeedsTheNextOne)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto first = attach (*hub, "cam1");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  send_and_expect (caller, *first, test_bytes (1316 * 50, 30));

  hub->keep_caller ("cam1");
  hub->detach ("cam1", first.get ());
  auto between = test_bytes (1316 * 40, 31);
  ASSERT_TRUE (caller.send (between));
  ASSERT_TRUE (wait_until ([&] {
    auto stats = hub->stats ("cam1");
    return stats && stats->held_bytes == between.size ();
  }));
  EXPECT_FALSE (caller.is_broken ());
  EXPECT_EQ (hub->connection_count (), 1u);
  // The id is still live: a second caller is refused while it is held.
  SrtCaller intruder;
  EXPECT_FALSE (intruder.connect (hub->port (), { .stream_id = "cam1" }));

  auto second = attach (*hub, "cam1");
  ASSERT_TRUE (second->wait_for_bytes (between.size ()));
  EXPECT_TRUE (second->data () == between);
  send_and_expect (caller, *second, test_bytes (1316 * 50, 32), between);
  EXPECT_EQ (second->events (), (std::vector<std::string>{ "connect", "data" }));
  EXPECT_EQ (second->peers ().at (0).address, first->peers ().at (0).address);
  EXPECT_EQ (first->events (), (std::vector<std::string>{ "connect", "data" }));

  // The keep was for one detach: the next one closes the caller.
  hub->detach ("cam1", second.get ());
  EXPECT_TRUE (wait_until ([&] { return caller.is_broken (); }));
  EXPECT_TRUE (wait_until ([&] { return hub->connection_count () == 0; }));
}

TEST_F (SrtHubTest, GarbageDatagramsHarmNothing)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  int fd = socket (AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons (hub->port ());
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  std::mt19937 random (20);
  for (int i = 0; i < 500; ++i) {
    auto junk = test_bytes (random () % 1500, random ());
    // Some look like SRT control packets (handshakes) with garbage inside.
    if (junk.size () > 4 && i % 2)
      junk[0] = 0x80;
    sendto (fd, junk.data (), junk.size (), 0, reinterpret_cast<sockaddr *> (&address),
            sizeof address);
  }
  close (fd);
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 50, 21));
}

TEST_F (SrtHubTest, LastReleaseClosesEverythingAndThePortCanBeReopened)
{
  SrtHubOptions options = test_hub_options ();
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  auto consumer = attach (*hub, "cam1");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 50, 22));
  hub.reset ();
  EXPECT_TRUE (wait_until ([&] { return caller.is_broken (); }));

  auto reopened = open_hub (options);
  ASSERT_TRUE (reopened);
  auto next = attach (*reopened, "cam1");
  SrtCaller again;
  ASSERT_TRUE (again.connect (reopened->port (), { .stream_id = "cam1" }));
  send_and_expect (again, *next, test_bytes (1316 * 50, 23));
}

TEST_F (SrtHubTest, SeveralReceiveThreadsShareOnePort)
{
  SrtHubOptions options = test_hub_options ();
  options.receive_threads = 4;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  // Four sockets on the port, each read by its own libsrt thread; nobody
  // else gets in.
  EXPECT_EQ (udp_sockets_on (hub->port ()).size (), 4u);
  EXPECT_FALSE (port_free_for_others (hub->port ()));

  // Callers land on whichever socket the kernel picks; each one's data
  // arrives whole, in order, at its own consumer.
  constexpr int kCallers = 8;
  std::vector<std::shared_ptr<RecordingConsumer>> consumers;
  std::vector<std::unique_ptr<SrtCaller>> callers;
  std::vector<std::vector<uint8_t>> data;
  for (int i = 0; i < kCallers; ++i) {
    consumers.push_back (attach (*hub, "cam" + std::to_string (i)));
    callers.push_back (std::make_unique<SrtCaller> ());
    ASSERT_TRUE (callers[i]->connect (hub->port (), { .stream_id = "cam" + std::to_string (i) }));
    data.push_back (test_bytes (1316 * 200, uint8_t (40 + i)));
  }
  std::vector<std::thread> senders;
  for (int i = 0; i < kCallers; ++i)
    senders.emplace_back ([&, i] { EXPECT_TRUE (callers[i]->send (data[i])); });
  for (auto &sender : senders)
    sender.join ();
  for (int i = 0; i < kCallers; ++i) {
    ASSERT_TRUE (consumers[i]->wait_for_bytes (data[i].size ())) << "cam" << i;
    EXPECT_TRUE (consumers[i]->data () == data[i]) << "cam" << i;
  }
  EXPECT_EQ (hub->connection_count (), size_t (kCallers));
  // A second caller for a live id is refused whichever socket it reaches.
  for (int i = 0; i < kCallers; ++i) {
    SrtCaller again;
    EXPECT_FALSE (again.connect (hub->port (), { .stream_id = "cam" + std::to_string (i) }));
  }
  EXPECT_EQ (hub->reject_counts ()[SrtRejectReason::kAlreadyLive], uint64_t (kCallers));
}

TEST_F (SrtHubTest, OneReceiveThreadTakesThePortAlone)
{
  SrtHubOptions options = test_hub_options ();
  options.receive_threads = 1;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  EXPECT_EQ (udp_sockets_on (hub->port ()).size (), 1u);
  EXPECT_FALSE (port_free_for_others (hub->port ()));
  auto consumer = attach (*hub, "cam1");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (hub->port (), { .stream_id = "cam1" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 50, 25));
}

TEST_F (SrtHubTest, ATakenPortIsRefusedNamingIt)
{
  SrtHubOptions options = test_hub_options ();
  int fd = bind_udp_loopback (options.port);
  ASSERT_GE (fd, 0);
  for (int threads : { 1, 3 }) {
    options.receive_threads = threads;
    std::string error;
    EXPECT_EQ (SrtHub::acquire (options, &error), nullptr);
    EXPECT_NE (error.find (std::to_string (options.port)), std::string::npos) << error;
    EXPECT_NE (error.find ("in use"), std::string::npos) << error;
  }
  close (fd);
}

TEST_F (SrtHubTest, AReleasedPortIsTakenBackWithItsSockets)
{
  SrtHubOptions options = test_hub_options ();
  options.receive_threads = 2;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  const auto sockets = udp_sockets_on (options.port);
  ASSERT_EQ (sockets.size (), 2u);
  auto consumer = attach (*hub, "cam1");
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (options.port, { .stream_id = "cam1" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 20, 26));
  hub.reset ();
  // Released: the caller is dropped and newcomers are refused...
  EXPECT_TRUE (wait_until ([&] { return caller.is_broken (); }));
  SrtCaller refused;
  EXPECT_FALSE (refused.connect (options.port, { .stream_id = "cam1" }));
  // ...until a new user takes the port back, on the very same sockets (a
  // pipeline restarted does not wait for libsrt to free them).
  auto again = open_hub (options);
  ASSERT_TRUE (again);
  EXPECT_EQ (udp_sockets_on (options.port), sockets);
  auto next = attach (*again, "cam1");
  SrtCaller caller2;
  ASSERT_TRUE (caller2.connect (options.port, { .stream_id = "cam1" }));
  send_and_expect (caller2, *next, test_bytes (1316 * 20, 27));
  again.reset ();

  // Other options make a new port, once libsrt has let go of the old one.
  options.receive_threads = 3;
  options.latency_ms = 200;
  auto changed = open_hub (options);
  ASSERT_TRUE (changed);
  auto renewed = udp_sockets_on (options.port);
  EXPECT_EQ (renewed.size (), 3u);
  for (unsigned long inode : sockets)
    EXPECT_EQ (renewed.count (inode), 0u);
  auto third = attach (*changed, "cam1");
  SrtCaller caller3;
  ASSERT_TRUE (caller3.connect (options.port, { .stream_id = "cam1" }));
  send_and_expect (caller3, *third, test_bytes (1316 * 20, 28));
}

// A consumer that drops the last hub reference from its own callback (an
// element torn down on disconnect): the hub must neither deadlock nor crash.
class ReleasingConsumer : public RecordingConsumer {
 public:
  std::shared_ptr<SrtHub> hub;
  void on_disconnect (const SrtPeer &peer, const std::string &reason) override
  {
    RecordingConsumer::on_disconnect (peer, reason);
    hub.reset ();
  }
};

TEST_F (SrtHubTest, ReleasingTheHubFromACallbackIsSafe)
{
  auto consumer = std::make_shared<ReleasingConsumer> ();
  SrtHubOptions options = test_hub_options ();
  {
    auto hub = open_hub (options);
    ASSERT_TRUE (hub);
    std::string error;
    ASSERT_TRUE (hub->attach ("cam1", consumer, &error)) << error;
    consumer->hub = hub;
  }
  SrtCaller caller;
  ASSERT_TRUE (caller.connect (options.port, { .stream_id = "cam1" }));
  send_and_expect (caller, *consumer, test_bytes (1316 * 20, 24));
  caller.close ();
  ASSERT_TRUE (consumer->wait_for_events (3));
  // The port is free again once the hub has gone.
  ASSERT_TRUE (wait_until ([&] {
    std::string error;
    return SrtHub::acquire (options, &error) != nullptr;
  }));
}

} // namespace
} // namespace mirror::test
