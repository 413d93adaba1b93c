// SPDX-License-Identifier: LGPL-2.1-or-later
// The SRT hub with the callers people actually use: srt-live-transmit (the
// srt-tools package) and GStreamer's srtsink, run as child processes fed
// through their stdin and stopped by PID.
#include <atomic>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "ingest/srt_hub.h"
#include "srt_test_peers.h"

namespace mirror::test {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<SrtHub>
open_hub (const SrtHubOptions &options)
{
  std::string error;
  auto hub = SrtHub::acquire (options, &error);
  EXPECT_TRUE (hub) << error;
  return hub;
}

std::string
srt_uri (uint16_t port, const std::string &query)
{
  return "srt://127.0.0.1:" + std::to_string (port) + "?" + query;
}

// Once the caller is connected, feeds data to the child's stdin from a
// thread (a child that stalls must not hang the test) at about 20 Mbps, the
// way a live source would. srt-live-transmit drops what it reads while its
// side is not ready for it (before it connected, or on a busy box), so the
// feeder goes on, pass after pass, until as much as one pass has arrived.
// What arrives must be whole sent packets, each the one after the one
// before: a gap only where the tool dropped its input (a few at most), no
// corruption, no reordering.
void
feed_and_expect (ChildProcess &child, RecordingConsumer &consumer, const std::vector<uint8_t> &data,
                 std::chrono::milliseconds deadline)
{
  constexpr size_t kPacket = 1316;
  ASSERT_TRUE (consumer.wait_for_events (1, deadline)) << "the caller never connected";
  std::atomic<bool> enough{ false };
  std::thread writer ([&] {
    const auto give_up = std::chrono::steady_clock::now () + scaled (deadline);
    while (!enough && std::chrono::steady_clock::now () < give_up
           && child.write_stdin (data, 4 * kPacket, 2ms)) {
    }
  });
  bool arrived = consumer.wait_for_bytes (data.size (), deadline);
  enough = true;
  if (!arrived)
    child.stop (); // unblocks the writer
  writer.join ();
  ASSERT_TRUE (arrived) << consumer.data ().size () << " of " << data.size () << " bytes arrived";
  std::map<std::vector<uint8_t>, size_t> sent;
  const size_t packets = data.size () / kPacket;
  for (size_t i = 0; i < packets; i++)
    sent.emplace (std::vector<uint8_t> (data.begin () + long (i * kPacket),
                                        data.begin () + long ((i + 1) * kPacket)),
                  i);
  const auto received = consumer.data ();
  ASSERT_EQ (received.size () % kPacket, 0u);
  size_t gaps = 0;
  long previous = -1;
  for (size_t at = 0; at < received.size (); at += kPacket) {
    auto it = sent.find (std::vector<uint8_t> (received.begin () + long (at),
                                               received.begin () + long (at + kPacket)));
    ASSERT_NE (it, sent.end ()) << "the packet at byte " << at << " was never sent (corrupted)";
    if (previous >= 0 && it->second != (size_t (previous) + 1) % packets)
      gaps++;
    previous = long (it->second);
  }
  EXPECT_LE (gaps, 2u) << "packets lost or reordered after the tool's own input drops";
}

TEST (SrtHubTools, SrtLiveTransmitCaller)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach ("slt", consumer, &error)) << error;

  ChildProcess child;
  // -c 1316: one TS-aligned SRT payload per read of stdin.
  ASSERT_TRUE (child.start (
      { "srt-live-transmit", "-a:no", "-c:1316", "file://con",
        srt_uri (hub->port (), "streamid=#!::r=slt,m=publish&latency=300&maxbw=8000000") }));
  feed_and_expect (child, *consumer, test_bytes (1316 * 500, 31), 30s);
  ASSERT_TRUE (consumer->peers ().size () == 1);
  EXPECT_EQ (consumer->peers ()[0].stream_id, "slt");

  // SIGTERM: srt-live-transmit closes its socket, and the consumer hears of it.
  child.stop ();
  EXPECT_TRUE (consumer->wait_for_events (3, 20s));
  EXPECT_EQ (consumer->events (), (std::vector<std::string>{ "connect", "data", "disconnect" }));
}

TEST (SrtHubTools, SrtLiveTransmitWithAWrongPassphraseIsRefused)
{
  SrtHubOptions options = test_hub_options ();
  options.passphrase = "the-right-passphrase";
  options.pbkeylen = 32;
  auto hub = open_hub (options);
  ASSERT_TRUE (hub);
  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach ("slt", consumer, &error)) << error;

  ChildProcess wrong;
  ASSERT_TRUE (wrong.start (
      { "srt-live-transmit", "-a:no", "-c:1316", "file://con",
        srt_uri (hub->port (), "streamid=slt&passphrase=the-wrong-passphrase&pbkeylen=32") }));
  EXPECT_TRUE (wait_until (
      [&] { return hub->reject_counts ()[SrtRejectReason::kBadPassphrase] >= 1; }, 20s));
  wrong.stop ();

  ChildProcess right;
  ASSERT_TRUE (right.start ({ "srt-live-transmit", "-a:no", "-c:1316", "file://con",
                              srt_uri (hub->port (), "streamid=slt&passphrase=the-right-passphrase&"
                                                     "pbkeylen=32&latency=300&maxbw=8000000") }));
  feed_and_expect (right, *consumer, test_bytes (1316 * 200, 32), 30s);
}

TEST (SrtHubTools, GStreamerSrtsinkCaller)
{
  auto hub = open_hub (test_hub_options ());
  ASSERT_TRUE (hub);
  auto consumer = std::make_shared<RecordingConsumer> ();
  std::string error;
  ASSERT_TRUE (hub->attach ("gst", consumer, &error)) << error;

  ChildProcess child;
  ASSERT_TRUE (
      child.start ({ "gst-launch-1.0", "-q", "fdsrc", "fd=0", "blocksize=1316", "!", "srtsink",
                     "uri=" + srt_uri (hub->port (), "streamid=gst&latency=300"), "sync=false" }));
  // The first gst-launch-1.0 of a run builds the test's plugin registry.
  feed_and_expect (child, *consumer, test_bytes (1316 * 300, 33), 60s);
  EXPECT_EQ (consumer->peers ().at (0).stream_id, "gst");
  // SIGTERM kills gst-launch-1.0 without closing its socket: a caller that
  // vanishes, noticed after peer_idle_timeout_ms.
  child.stop ();
  EXPECT_TRUE (consumer->wait_for_events (3, 20s));
}

} // namespace
} // namespace mirror::test
