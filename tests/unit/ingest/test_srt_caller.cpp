// SPDX-License-Identifier: LGPL-2.1-or-later
// A pull (mirror::SrtCaller): its backoff, its retries against a port where
// nobody listens, and a real listener (srt-live-transmit) that goes away and
// comes back.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "ingest/srt_caller.h"
#include "srt_test_peers.h"

namespace mirror {
namespace {

using namespace std::chrono_literals;
using test::ChildProcess;
using test::free_udp_port;
using test::RecordingConsumer;
using test::wait_until;

TEST (SrtCallerBackoff, DoublesFromTheFirstStepUpToTheCap)
{
  EXPECT_EQ (srt_caller_backoff_ms (0, 1000, 30000), 1000);
  EXPECT_EQ (srt_caller_backoff_ms (1, 1000, 30000), 1000);
  EXPECT_EQ (srt_caller_backoff_ms (2, 1000, 30000), 2000);
  EXPECT_EQ (srt_caller_backoff_ms (3, 1000, 30000), 4000);
  EXPECT_EQ (srt_caller_backoff_ms (5, 1000, 30000), 16000);
  EXPECT_EQ (srt_caller_backoff_ms (6, 1000, 30000), 30000);
  EXPECT_EQ (srt_caller_backoff_ms (1000, 1000, 30000), 30000);
}

class Retries {
 public:
  void add (const SrtCallerRetry &r)
  {
    std::lock_guard lock (mutex_);
    seen_.push_back (r);
  }
  std::vector<SrtCallerRetry> seen () const
  {
    std::lock_guard lock (mutex_);
    return seen_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<SrtCallerRetry> seen_;
};

SrtCallerOptions
quick_options (uint16_t port)
{
  SrtCallerOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.stream_id = "pulled";
  options.latency_ms = 300;
  options.connect_timeout_ms = 300;
  options.backoff_initial_ms = 50;
  options.backoff_max_ms = 200;
  return options;
}

TEST (SrtCaller, NobodyListeningMeansRetriesThatWaitLonger)
{
  auto consumer = std::make_shared<RecordingConsumer> ();
  auto retries = std::make_shared<Retries> ();
  SrtCaller caller (quick_options (free_udp_port ()), consumer,
                    [retries] (const SrtCallerRetry &r) { retries->add (r); });
  std::string error;
  ASSERT_TRUE (caller.start (&error)) << error;
  ASSERT_TRUE (wait_until ([&] { return retries->seen ().size () >= 4; }, 30s));
  caller.stop ();
  auto seen = retries->seen ();
  const int64_t expected[] = { 50, 100, 200, 200 };
  for (size_t i = 0; i < 4; i++) {
    EXPECT_EQ (seen[i].attempt, i + 1);
    EXPECT_EQ (seen[i].delay_ms, expected[i]);
    EXPECT_NE (seen[i].reason.find ("no answer within 300 ms"), std::string::npos)
        << seen[i].reason;
  }
  EXPECT_TRUE (consumer->events ().empty ());
  EXPECT_FALSE (caller.stats ());
}

std::string
joined (const std::vector<std::string> &events)
{
  std::string out;
  for (const auto &event : events)
    out += (out.empty () ? "" : ", ") + event;
  return out;
}

// srt-live-transmit listening: the pull receives what it sends, notices when
// it goes, and connects again once a listener is back on the port.
TEST (SrtCaller, FollowsAListenerThatGoesAndComesBack)
{
  const uint16_t port = free_udp_port ();
  const std::string listener
      = "srt://:" + std::to_string (port) + "?mode=listener&latency=300&maxbw=8000000";
  auto consumer = std::make_shared<RecordingConsumer> ();
  auto retries = std::make_shared<Retries> ();
  SrtCallerOptions options = quick_options (port);
  // srt-live-transmit accepts one caller and closes its listening socket:
  // a handshake it completed that the pull gave up on (300 ms is short for a
  // busy box under the sanitizers) would leave nothing to connect to. And a
  // peer that stalls for the idle timeout under load would look gone.
  options.connect_timeout_ms = test::scaled (3000ms).count ();
  options.peer_idle_timeout_ms = test::scaled (3000ms).count ();
  SrtCaller caller (options, consumer, [retries] (const SrtCallerRetry &r) { retries->add (r); });

  auto first = std::make_unique<ChildProcess> ();
  ASSERT_TRUE (first->start ({ "srt-live-transmit", "-a:no", "-c:1316", "file://con", listener }));
  std::string error;
  ASSERT_TRUE (caller.start (&error)) << error;
  ASSERT_TRUE (consumer->wait_for_events (1, 30s)) << "never connected";
  // srt-live-transmit drops what it reads before its own side of the
  // connection is ready (a busy box can take a while), so the sender goes on
  // until as much as one pass has arrived; what arrives must be whole sent
  // packets.
  const auto data = test::test_bytes (1316 * 100, 7);
  std::atomic<bool> enough{ false };
  std::thread writer ([&] {
    const auto give_up = std::chrono::steady_clock::now () + test::scaled (60s);
    while (!enough && std::chrono::steady_clock::now () < give_up
           && first->write_stdin (data, 4 * 1316, 2ms)) {
    }
  });
  bool arrived = consumer->wait_for_bytes (data.size (), 60s);
  enough = true;
  writer.join ();
  EXPECT_TRUE (arrived) << consumer->data ().size () << " of " << data.size ();
  const auto received = consumer->data ();
  std::set<std::vector<uint8_t>> sent_packets;
  for (size_t at = 0; at < data.size (); at += 1316)
    sent_packets.emplace (data.begin () + at, data.begin () + at + 1316);
  ASSERT_EQ (received.size () % 1316, 0u);
  for (size_t at = 0; at < received.size (); at += 1316)
    ASSERT_TRUE (sent_packets.count ({ received.begin () + at, received.begin () + at + 1316 }))
        << "packet at byte " << at << " was never sent";
  EXPECT_TRUE (caller.stats ().has_value ());

  first.reset (); // SIGTERM: it closes its socket
  ASSERT_TRUE (consumer->wait_for_events (3, 30s))
      << joined (consumer->events ());
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data", "disconnect" }));

  // The listener that comes back is GStreamer's srtsink, which goes on
  // listening after a caller. srt-live-transmit closes its listening socket
  // once it has accepted one: under the sanitizers the pull's first
  // handshake with it sometimes broke at both ends as it completed ("attempt
  // 1 failed (Connection was broken)", and srt-live-transmit "Accepted",
  // then "disconnected"), and nothing listened for the rest of the test.
  ChildProcess second;
  ASSERT_TRUE (second.start ({ "gst-launch-1.0", "-q", "fakesrc", "is-live=true", "sizetype=fixed",
                               "sizemax=1316", "filltype=zero", "datarate=131600", "!", "srtsink",
                               "uri=srt://:" + std::to_string (port) + "?mode=listener",
                               "latency=300" }));
  ASSERT_TRUE (consumer->wait_for_events (4, 30s))
      << "did not connect again: " << joined (consumer->events ());
  EXPECT_EQ (consumer->events ().back (), "connect");
  caller.stop ();
  for (const auto &peer : consumer->peers ())
    EXPECT_EQ (peer.address, "127.0.0.1:" + std::to_string (port));
}

} // namespace
} // namespace mirror
