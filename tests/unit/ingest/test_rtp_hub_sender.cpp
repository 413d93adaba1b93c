// SPDX-License-Identifier: LGPL-2.1-or-later
// The RTP hub fed by a real sender: gst-launch-1.0 encoding H.265 and
// payloading it with rtph265pay, as a contribution encoder would.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "ingest/rtp_hub.h"
#include "rtp_test_util.h"

extern char **environ;

namespace mirror::test {
namespace {

using namespace std::chrono_literals;

// A child process stopped (by PID) when the test ends, however it ends.
class SenderProcess {
 public:
  explicit SenderProcess (const std::vector<std::string> &argv)
  {
    std::vector<char *> args;
    for (const auto &arg : argv)
      args.push_back (const_cast<char *> (arg.c_str ()));
    args.push_back (nullptr);
    if (posix_spawnp (&pid_, args[0], nullptr, nullptr, args.data (), environ) != 0)
      pid_ = -1;
  }

  ~SenderProcess ()
  {
    if (pid_ <= 0)
      return;
    kill (pid_, SIGTERM);
    int status = 0;
    waitpid (pid_, &status, 0);
  }

  bool started () const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

TEST (RtpHubSender, H265FromGstreamerBecomesOneSession)
{
  SessionAnnouncements announcements;
  std::shared_ptr<RtpHub> hub;
  std::string error;
  for (int attempt = 0; attempt < 5 && !hub; attempt++)
    hub = RtpHub::acquire (RtpHubOptions{ .port = find_free_rtp_port_pair () }, &error);
  ASSERT_TRUE (hub) << error;
  hub->set_new_session_handler (announcements.handler ());

  SenderProcess sender ({ "gst-launch-1.0", "-q", "videotestsrc", "num-buffers=60", "!",
                          "video/x-raw,width=320,height=240,framerate=30/1", "!", "x265enc",
                          "speed-preset=ultrafast", "tune=zerolatency", "!", "rtph265pay",
                          "config-interval=-1", "!", "udpsink", "host=127.0.0.1",
                          "port=" + std::to_string (hub->port ()) });
  ASSERT_TRUE (sender.started ()) << "cannot run gst-launch-1.0";

  // The first run may build a plugin registry: allow for it.
  ASSERT_TRUE (announcements.wait_for (1, 60s)) << "no session announced on port " << hub->port ();
  RtpSessionInfo info = announcements.seen ().front ();
  EXPECT_EQ (info.payload_type, 96);
  EXPECT_EQ (info.encoding, "H265");
  EXPECT_EQ (info.clock_rate, 90000);
  EXPECT_EQ (info.source_address, "127.0.0.1");

  auto consumer = std::make_shared<RecordingConsumer> ();
  ASSERT_TRUE (hub->attach (info.ssrc, info.source_address, consumer, &error)) << error;
  // 60 frames at 30 fps: two seconds of packets, at least one per frame.
  ASSERT_TRUE (consumer->wait_for_rtp (60, 30s))
      << "got " << consumer->rtp ().size () << " RTP packets";

  auto packets = consumer->rtp ();
  EXPECT_GT (packets.size (), 0u);
  for (const auto &packet : packets) {
    int payload_type = 0;
    uint32_t ssrc = 0;
    ASSERT_TRUE (parse_rtp_header (packet.data (), packet.size (), &payload_type, &ssrc));
    EXPECT_EQ (ssrc, info.ssrc);
    EXPECT_EQ (payload_type, 96);
  }
  // Held and live packets together come in sender order.
  for (size_t i = 1; i < packets.size (); i++)
    EXPECT_EQ (static_cast<uint16_t> (rtp_sequence (packets[i - 1]) + 1), rtp_sequence (packets[i]))
        << "at packet " << i;

  RtpHubCounters counters = hub->counters ();
  EXPECT_EQ (counters.sessions_started, 1u);
  EXPECT_EQ (counters.not_rtp, 0u);
  EXPECT_GE (counters.packets, packets.size ());
  hub->detach (info.ssrc, consumer.get ());
}

} // namespace
} // namespace mirror::test
