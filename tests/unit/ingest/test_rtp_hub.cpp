// SPDX-License-Identifier: LGPL-2.1-or-later
// The RTP hub against a plain UDP socket sending hand-built datagrams to a
// free loopback port pair.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>

#include <gtest/gtest.h>

#include "ingest/rtp_hub.h"
#include "rtp_test_util.h"
#include "thread_nices.h"
#include "util/thread_priority.h"

namespace mirror::test {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kSsrcA = 0x11111111;
constexpr uint32_t kSsrcB = 0x22222222;

// A hub on a fresh port pair; another process may grab the pair between the
// probe and the bind, so try a few.
std::shared_ptr<RtpHub>
acquire_hub (RtpHubOptions options = {})
{
  std::string error;
  for (int attempt = 0; attempt < 5; attempt++) {
    options.port = find_free_rtp_port_pair ();
    if (auto hub = RtpHub::acquire (options, &error))
      return hub;
  }
  ADD_FAILURE () << "no RTP hub: " << error;
  return nullptr;
}

bool
wait_for_packets (const RtpHub &hub, uint64_t count)
{
  return wait_until ([&] { return hub.counters ().packets >= count; });
}

TEST (RtpHub, GarbageIsCountedAndCreatesNoSession)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  sender.send (hub->port (), Bytes{ 1, 2, 3 });
  sender.send (hub->port (), Bytes (200, 0xff));
  sender.send (hub->port (), make_rtcp_sender_report (kSsrcA)); // RTCP on the RTP port
  ASSERT_TRUE (wait_until ([&] { return hub->counters ().not_rtp == 3; }));

  RtpHubCounters counters = hub->counters ();
  EXPECT_EQ (counters.not_rtp, 3u);
  EXPECT_EQ (counters.sessions_started, 0u);
  EXPECT_TRUE (announcements.seen ().empty ());
}

TEST (RtpHub, UnmappedPayloadTypeIsCountedAndCreatesNoSession)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  for (uint16_t seq = 0; seq < 5; seq++)
    sender.send (hub->port (), make_rtp (120, kSsrcA, seq));
  ASSERT_TRUE (wait_until ([&] { return hub->counters ().unmapped_payload_type == 5; }));

  RtpHubCounters counters = hub->counters ();
  EXPECT_EQ (counters.unmapped_payload_type, 5u);
  EXPECT_EQ (counters.not_rtp, 0u);
  EXPECT_EQ (counters.sessions_started, 0u);
  EXPECT_TRUE (announcements.seen ().empty ());
}

TEST (RtpHub, TwoSsrcsFromOneSourceAreTwoSessions)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 0));
  sender.send (hub->port (), make_rtp (98, kSsrcB, 0));
  ASSERT_TRUE (announcements.wait_for (2));

  auto seen = announcements.seen ();
  ASSERT_EQ (seen.size (), 2u);
  EXPECT_EQ (seen[0].source_address, "127.0.0.1");
  EXPECT_EQ (seen[0].ssrc, kSsrcA);
  EXPECT_EQ (seen[0].payload_type, 96);
  EXPECT_EQ (seen[0].encoding, "H265");
  EXPECT_EQ (seen[0].clock_rate, 90000);
  EXPECT_EQ (seen[1].ssrc, kSsrcB);
  EXPECT_EQ (seen[1].encoding, "AAC");
  EXPECT_EQ (seen[1].clock_rate, 48000);
  EXPECT_TRUE (wait_until ([&] { return hub->counters ().sessions_started == 2; }));

  auto video = std::make_shared<RecordingConsumer> ();
  auto audio = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "127.0.0.1", video, &error)) << error;
  ASSERT_TRUE (hub->attach (kSsrcB, "", audio, &error)) << error;
  for (uint16_t seq = 1; seq < 10; seq++) {
    sender.send (hub->port (), make_rtp (96, kSsrcA, seq));
    sender.send (hub->port (), make_rtp (98, kSsrcB, seq));
  }
  ASSERT_TRUE (video->wait_for_rtp (10));
  ASSERT_TRUE (audio->wait_for_rtp (10));
  for (const auto &packet : video->rtp ())
    EXPECT_EQ (rtp_ssrc (packet), kSsrcA);
  for (const auto &packet : audio->rtp ())
    EXPECT_EQ (rtp_ssrc (packet), kSsrcB);

  // One session, one consumer.
  auto intruder = std::make_shared<RecordingConsumer> ();
  EXPECT_FALSE (hub->attach (kSsrcA, "", intruder, &error));
  EXPECT_NE (error.find ("0x11111111"), std::string::npos) << error;

  hub->detach (kSsrcA, video.get ());
  hub->detach (kSsrcB, audio.get ());
}

TEST (RtpHub, SameSsrcFromTwoSourcesIsTwoSessions)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender first ("127.0.0.1"), second ("127.0.0.2");
  first.send (hub->port (), make_rtp (96, kSsrcA, 0));
  second.send (hub->port (), make_rtp (96, kSsrcA, 0));
  // Announced first, created right after the handler says yes.
  ASSERT_TRUE (wait_until ([&] { return hub->counters ().sessions_started == 2; }));

  std::string error;
  auto consumer = std::make_shared<RecordingConsumer> ();
  EXPECT_FALSE (hub->attach (kSsrcA, "", consumer, &error));
  EXPECT_NE (error.find ("127.0.0.2"), std::string::npos) << error;
  EXPECT_FALSE (hub->attach (kSsrcA, "not-an-address", consumer, &error));
  EXPECT_NE (error.find ("not-an-address"), std::string::npos) << error;
  ASSERT_TRUE (hub->attach (kSsrcA, "127.0.0.2", consumer, &error)) << error;
  ASSERT_TRUE (consumer->wait_for_rtp (1));
  first.send (hub->port (), make_rtp (96, kSsrcA, 1));
  second.send (hub->port (), make_rtp (96, kSsrcA, 1));
  ASSERT_TRUE (consumer->wait_for_rtp (2));
  ASSERT_TRUE (wait_for_packets (*hub, 4));
  EXPECT_EQ (consumer->rtp ().size (), 2u);
  hub->detach (kSsrcA, consumer.get ());
}

TEST (RtpHub, HeldPacketsAreDeliveredFirstOnAttach)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  for (uint16_t seq = 0; seq < 20; seq++)
    sender.send (hub->port (), make_rtp (96, kSsrcA, seq));
  ASSERT_TRUE (wait_for_packets (*hub, 20));

  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "127.0.0.1", consumer, &error)) << error;
  for (uint16_t seq = 20; seq < 40; seq++)
    sender.send (hub->port (), make_rtp (96, kSsrcA, seq));
  ASSERT_TRUE (consumer->wait_for_rtp (40));

  auto packets = consumer->rtp ();
  ASSERT_EQ (packets.size (), 40u);
  for (uint16_t i = 0; i < 40; i++)
    EXPECT_EQ (rtp_sequence (packets[i]), i);
  EXPECT_EQ (packets[0], make_rtp (96, kSsrcA, 0));
  EXPECT_EQ (hub->counters ().held_dropped, 0u);
  hub->detach (kSsrcA, consumer.get ());
}

// A consumer that hands datagrams on in batches (the ingest ring) relies on
// on_batch_end after the last datagram of every batch, held ones included.
TEST (RtpHub, EveryDeliveryEndsWithABatchEnd)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());
  UdpSender sender;
  for (uint16_t seq = 0; seq < 10; seq++)
    sender.send (hub->port (), make_rtp (96, kSsrcA, seq));
  ASSERT_TRUE (wait_for_packets (*hub, 10));

  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "127.0.0.1", consumer, &error)) << error;
  EXPECT_TRUE (consumer->wait_for_batch_end (10)) << consumer->rtp ().size ();
  for (uint16_t seq = 10; seq < 300; seq++)
    sender.send (hub->port (), make_rtp (96, kSsrcA, seq));
  EXPECT_TRUE (consumer->wait_for_batch_end (300)) << consumer->rtp ().size ();
  hub->detach (kSsrcA, consumer.get ());
}

// After a pass that read RTP the hub waits read_interval_us before reading
// again, so what arrives meanwhile reaches the consumer as one batch; a stop
// during that wait is not held up by it.
TEST (RtpHub, DatagramsArrivingWithinTheReadIntervalAreOneBatch)
{
  // 1.5 s, stretched by MIRROR_TEST_SLOWDOWN: the test thread must send the
  // next 20 datagrams within the hold, however long a busy box keeps it off
  // the CPU after the first batch.
  const auto hold = scaled (1500ms);
  RtpHubOptions options;
  options.read_interval_us = std::chrono::duration_cast<std::chrono::microseconds> (hold).count ();
  auto hub = acquire_hub (options);
  ASSERT_TRUE (hub);
  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "127.0.0.1", consumer, &error)) << error;
  UdpSender sender;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 0));
  ASSERT_TRUE (consumer->wait_for_batch_end (1));
  const size_t batches = consumer->batch_ends ();
  // Sent within the hold that the first datagram started.
  for (uint16_t seq = 1; seq <= 20; seq++)
    sender.send (hub->port (), make_rtp (96, kSsrcA, seq));
  ASSERT_TRUE (consumer->wait_for_batch_end (21)) << consumer->rtp ().size ();
  EXPECT_EQ (consumer->batch_ends (), batches + 1);

  // The hub is holding again: releasing it must not wait for the hold.
  sender.send (hub->port (), make_rtp (96, kSsrcA, 21));
  ASSERT_TRUE (consumer->wait_for_batch_end (22));
  const auto start = std::chrono::steady_clock::now ();
  hub->detach (kSsrcA, consumer.get ());
  hub.reset ();
  EXPECT_LT (std::chrono::steady_clock::now () - start, hold * 2 / 3);
}

TEST (RtpHub, HeldPacketsAreBoundedDroppingTheOldest)
{
  SessionAnnouncements announcements;
  RtpHubOptions options;
  options.pending_limit_bytes = 5 * 112; // five 100-byte payloads with headers
  auto hub = acquire_hub (options);
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  for (uint16_t seq = 0; seq < 20; seq++)
    sender.send (hub->port (), make_rtp (96, kSsrcA, seq));
  ASSERT_TRUE (wait_until ([&] { return hub->counters ().held_dropped == 15; }));

  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "", consumer, &error)) << error;
  ASSERT_TRUE (consumer->wait_for_rtp (5));
  auto packets = consumer->rtp ();
  ASSERT_EQ (packets.size (), 5u);
  for (uint16_t i = 0; i < 5; i++)
    EXPECT_EQ (rtp_sequence (packets[i]), 15 + i);
  hub->detach (kSsrcA, consumer.get ());
}

TEST (RtpHub, RtcpReachesTheSessionOfItsSender)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 0));
  sender.send (hub->port (), make_rtp (97, kSsrcB, 0));
  ASSERT_TRUE (announcements.wait_for (2));
  auto a = std::make_shared<RecordingConsumer> ();
  auto b = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "", a, &error)) << error;
  ASSERT_TRUE (hub->attach (kSsrcB, "", b, &error)) << error;

  const uint16_t rtcp_port = hub->port () + 1;
  sender.send (rtcp_port, make_rtcp_sender_report (kSsrcB));
  sender.send (rtcp_port, make_rtcp_sender_report (0x33333333)); // nobody's
  sender.send (rtcp_port, Bytes{ 0xde, 0xad });                  // not RTCP
  ASSERT_TRUE (b->wait_for_rtcp (1));
  ASSERT_TRUE (wait_until ([&] { return hub->counters ().rtcp_unrouted == 2; }));

  EXPECT_EQ (b->rtcp ().front (), make_rtcp_sender_report (kSsrcB));
  EXPECT_TRUE (a->rtcp ().empty ());
  EXPECT_EQ (hub->counters ().rtcp_packets, 3u);
  hub->detach (kSsrcA, a.get ());
  hub->detach (kSsrcB, b.get ());
}

TEST (RtpHub, SilentSessionTimesOutAndANewOneStartsLater)
{
  SessionAnnouncements announcements;
  RtpHubOptions options;
  // Long enough that a busy box does not end a session between its first
  // packet and the attach that follows its announcement (then the packet
  // would be gone with it).
  options.session_timeout_ms = scaled (1000ms).count ();
  auto hub = acquire_hub (options);
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 0));
  ASSERT_TRUE (announcements.wait_for (1));
  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "", consumer, &error)) << error;
  ASSERT_TRUE (consumer->wait_for_rtp (1));

  ASSERT_TRUE (consumer->wait_for_timeout (5s));
  EXPECT_EQ (consumer->timeouts (), 1);
  ASSERT_TRUE (wait_until ([&] { return hub->counters ().sessions_timed_out == 1; }));

  // Same SSRC again: a new session, so the handler is asked again.
  sender.send (hub->port (), make_rtp (96, kSsrcA, 1));
  ASSERT_TRUE (announcements.wait_for (2));
  EXPECT_TRUE (wait_until ([&] { return hub->counters ().sessions_started == 2; }));
  auto next = std::make_shared<RecordingConsumer> ();
  ASSERT_TRUE (hub->attach (kSsrcA, "", next, &error)) << error;
  ASSERT_TRUE (next->wait_for_rtp (1));
  EXPECT_EQ (rtp_sequence (next->rtp ().front ()), 1);
  EXPECT_EQ (consumer->rtp ().size (), 1u);
  hub->detach (kSsrcA, next.get ());
}

TEST (RtpHub, HeldSessionTimesOutWithoutAConsumer)
{
  SessionAnnouncements announcements;
  RtpHubOptions options;
  options.session_timeout_ms = 100;
  auto hub = acquire_hub (options);
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());

  UdpSender sender;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 0));
  ASSERT_TRUE (wait_until ([&] { return hub->counters ().sessions_timed_out == 1; }));
  // The held packet went with the session.
  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "", consumer, &error)) << error;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 1));
  ASSERT_TRUE (consumer->wait_for_rtp (1));
  EXPECT_EQ (rtp_sequence (consumer->rtp ().front ()), 1);
  hub->detach (kSsrcA, consumer.get ());
}

TEST (RtpHub, RefusedSessionIsNotAskedAboutOnEveryPacket)
{
  SessionAnnouncements refusing (false);
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (refusing.handler ());

  UdpSender sender;
  for (uint16_t seq = 0; seq < 30; seq++)
    sender.send (hub->port (), make_rtp (97, kSsrcA, seq));
  ASSERT_TRUE (wait_for_packets (*hub, 30));
  EXPECT_EQ (refusing.seen ().size (), 1u);
  EXPECT_EQ (hub->counters ().sessions_started, 0u);
}

TEST (RtpHub, ConsumerAttachedBeforeTheFirstPacketGetsTheSession)
{
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcB, "127.0.0.1", consumer, &error)) << error;

  UdpSender sender;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 0)); // nobody's, no handler: dropped
  sender.send (hub->port (), make_rtp (96, kSsrcB, 0));
  ASSERT_TRUE (consumer->wait_for_rtp (1));
  EXPECT_EQ (rtp_ssrc (consumer->rtp ().front ()), kSsrcB);
  EXPECT_EQ (hub->counters ().sessions_started, 1u);
  hub->detach (kSsrcB, consumer.get ());
}

TEST (RtpHub, DetachedConsumerGetsNothingMoreAndTheSessionHoldsAgain)
{
  SessionAnnouncements announcements;
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());
  UdpSender sender;
  sender.send (hub->port (), make_rtp (96, kSsrcA, 0));
  ASSERT_TRUE (announcements.wait_for (1));

  auto first = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "", first, &error)) << error;
  ASSERT_TRUE (first->wait_for_rtp (1));
  hub->detach (kSsrcA, first.get ());
  sender.send (hub->port (), make_rtp (96, kSsrcA, 1));
  ASSERT_TRUE (wait_for_packets (*hub, 2));

  auto second = std::make_shared<RecordingConsumer> ();
  ASSERT_TRUE (hub->attach (kSsrcA, "", second, &error)) << error;
  ASSERT_TRUE (second->wait_for_rtp (1));
  EXPECT_EQ (rtp_sequence (second->rtp ().front ()), 1);
  EXPECT_EQ (first->rtp ().size (), 1u);
  hub->detach (kSsrcA, second.get ());
}

TEST (RtpHub, ManySessionsOnOnePortLoseNothing)
{
  // 25 feeds on one port, as on a full box, sent in bursts of up to 2,000
  // datagrams: all 10,000 at once would outgrow the socket's receive buffer
  // whenever a busy box keeps the hub's thread off the CPU for a moment, and
  // losing those says nothing about the hub's routing.
  constexpr uint32_t kSessions = 25;
  constexpr uint16_t kPacketsEach = 400;
  constexpr uint16_t kWindow = 80; // sequence numbers in flight per session
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  std::vector<std::shared_ptr<RecordingConsumer>> consumers;
  std::string error;
  for (uint32_t i = 0; i < kSessions; i++) {
    consumers.push_back (std::make_shared<RecordingConsumer> ());
    ASSERT_TRUE (hub->attach (0x1000 + i, "127.0.0.1", consumers.back (), &error)) << error;
  }

  UdpSender sender;
  const auto start = std::chrono::steady_clock::now ();
  for (uint16_t seq = 0; seq < kPacketsEach; seq++) {
    if (seq >= kWindow && seq % (kWindow / 2) == 0) {
      for (auto &consumer : consumers)
        ASSERT_TRUE (consumer->wait_for_rtp (seq - kWindow)) << consumer->rtp ().size ();
    }
    for (uint32_t i = 0; i < kSessions; i++)
      sender.send (hub->port (), make_rtp (96, 0x1000 + i, seq, 1200));
  }
  for (auto &consumer : consumers)
    ASSERT_TRUE (consumer->wait_for_rtp (kPacketsEach)) << consumer->rtp ().size ();
  const double seconds
      = std::chrono::duration<double> (std::chrono::steady_clock::now () - start).count ();
  std::cout << kSessions * kPacketsEach << " datagrams in " << seconds * 1000 << " ms\n";

  for (uint32_t i = 0; i < kSessions; i++) {
    auto packets = consumers[i]->rtp ();
    ASSERT_EQ (packets.size (), kPacketsEach);
    for (uint16_t seq = 0; seq < kPacketsEach; seq++) {
      ASSERT_EQ (rtp_sequence (packets[seq]), seq);
      ASSERT_EQ (rtp_ssrc (packets[seq]), 0x1000 + i);
    }
    hub->detach (0x1000 + i, consumers[i].get ());
  }
  EXPECT_EQ (hub->counters ().sessions_started, kSessions);
}

// The hub's one thread drains the socket of every session, so it runs above
// the streaming threads that take the sessions' data (thread_nice ()).
TEST (RtpHub, ItsThreadRunsAboveItsSessionsStreamingThreads)
{
  {
    ScopedThreadNice probe (-8);
    if (!probe.applied () || probe.nice () != -8)
      GTEST_SKIP () << "this process may not raise a thread's priority";
  }
  RtpHubOptions options;
  options.thread_nice = -3;
  auto hub = acquire_hub (options);
  ASSERT_TRUE (hub);
  EXPECT_EQ (hub->thread_nice (), -3);
  // The thread names itself once it runs.
  const std::string name = "rtp-hub:" + std::to_string (hub->port ());
  ASSERT_TRUE (wait_until ([&] { return thread_nices (name).size () == 1; }));
  EXPECT_EQ (thread_nices (name), std::vector<int>{ -8 });
}

TEST (RtpHub, ClockRateCanBeSetInTheMapping)
{
  SessionAnnouncements announcements;
  RtpHubOptions options;
  options.payload_types = { { 96, "H264" }, { 98, "AAC/44100" } };
  auto hub = acquire_hub (options);
  ASSERT_TRUE (hub);
  hub->set_new_session_handler (announcements.handler ());
  UdpSender sender;
  sender.send (hub->port (), make_rtp (98, kSsrcA, 0));
  ASSERT_TRUE (announcements.wait_for (1));
  EXPECT_EQ (announcements.seen ()[0].encoding, "AAC");
  EXPECT_EQ (announcements.seen ()[0].clock_rate, 44100);
}

TEST (RtpHub, OnePortOneHub)
{
  auto hub = acquire_hub ();
  ASSERT_TRUE (hub);
  RtpHubOptions options;
  options.port = hub->port ();
  std::string error;
  auto same = RtpHub::acquire (options, &error);
  EXPECT_EQ (same, hub) << error;

  // Released and acquired again: the sockets were closed and bind again.
  same.reset ();
  hub.reset ();
  auto again = RtpHub::acquire (options, &error);
  ASSERT_TRUE (again) << error;
  UdpSender sender;
  sender.send (options.port, Bytes{ 0 });
  EXPECT_TRUE (wait_for_packets (*again, 1));
}

// A consumer holding the last reference to its hub drops it in a callback,
// on the hub's own thread.
class HubOwningConsumer : public RecordingConsumer {
 public:
  std::shared_ptr<RtpHub> hub;

  void on_timeout () override
  {
    hub.reset ();
    RecordingConsumer::on_timeout ();
  }
};

TEST (RtpHub, LastReferenceDroppedOnTheHubThreadShutsDownCleanly)
{
  RtpHubOptions options;
  options.session_timeout_ms = 50;
  auto hub = acquire_hub (options);
  ASSERT_TRUE (hub);
  options.port = hub->port ();
  auto consumer = std::make_shared<HubOwningConsumer> ();
  consumer->hub = hub;
  std::string error;
  ASSERT_TRUE (hub->attach (kSsrcA, "", consumer, &error)) << error;
  hub.reset ();

  UdpSender sender;
  sender.send (options.port, make_rtp (96, kSsrcA, 0));
  ASSERT_TRUE (consumer->wait_for_timeout ());
  EXPECT_FALSE (consumer->hub);
  // The detached thread closes the sockets as it unwinds: the port comes back.
  std::shared_ptr<RtpHub> again;
  EXPECT_TRUE (wait_until ([&] { return (again = RtpHub::acquire (options, &error)) != nullptr; }))
      << error;
}

TEST (RtpHub, BadOptionsAreRefusedWithTheValue)
{
  std::string error;
  RtpHubOptions options;
  options.port = 65535;
  EXPECT_FALSE (RtpHub::acquire (options, &error));
  EXPECT_NE (error.find ("65535"), std::string::npos) << error;

  options.port = find_free_rtp_port_pair ();
  options.payload_types = { { 96, "AAC/fast" } };
  EXPECT_FALSE (RtpHub::acquire (options, &error));
  EXPECT_NE (error.find ("AAC/fast"), std::string::npos) << error;

  // RTCP's port taken by someone else: the error names it.
  options.payload_types = { { 96, "H265" } };
  options.port = find_free_rtp_port_pair ();
  int squatter = socket (AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons (options.port + 1);
  ASSERT_EQ (bind (squatter, reinterpret_cast<sockaddr *> (&addr), sizeof addr), 0);
  EXPECT_FALSE (RtpHub::acquire (options, &error));
  EXPECT_NE (error.find (std::to_string (options.port + 1)), std::string::npos) << error;
  close (squatter);
}

} // namespace
} // namespace mirror::test
