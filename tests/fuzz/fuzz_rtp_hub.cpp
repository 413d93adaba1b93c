// SPDX-License-Identifier: LGPL-2.1-or-later
// The RTP hub's routing: datagrams from several senders (127.0.0.1 to
// 127.0.0.4, each its own source address) to one RtpHub's RTP and RTCP ports
// on loopback, with consumers attaching to and detaching from sessions as
// the input says and the new-session handler holding or refusing sessions.
// A consumer must only ever get RTP of its own SSRC, and RTCP whose sender
// SSRC is its own. Input: records of one control byte (sender, RTCP port,
// attach, detach, hold new sessions), a length byte, then the datagram.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <glib.h>

#include "fuzz_check.h"
#include "ingest/rtp_hub.h"
#include "ingest/rtp_packet.h"

namespace {

constexpr int kSenders = 4;

class Consumer : public mirror::RtpSessionConsumer {
 public:
  explicit Consumer (uint32_t ssrc) : ssrc_ (ssrc) {}
  void on_rtp (const uint8_t *data, size_t size) override
  {
    int pt = 0;
    uint32_t ssrc = 0;
    FUZZ_CHECK (mirror::parse_rtp_header (data, size, &pt, &ssrc), "a consumer got a non-RTP datagram");
    FUZZ_CHECK (ssrc == ssrc_, "SSRC " + std::to_string (ssrc) + " routed to the consumer of "
                                   + std::to_string (ssrc_));
    packets++;
  }
  void on_rtcp (const uint8_t *data, size_t size) override
  {
    auto sender = mirror::rtcp_sender_ssrc (data, size);
    FUZZ_CHECK (sender && *sender == ssrc_, "RTCP routed to the consumer of another SSRC");
  }
  void on_timeout () override {}
  std::atomic<uint64_t> packets{ 0 };

 private:
  const uint32_t ssrc_;
};

struct Rig {
  std::shared_ptr<mirror::RtpHub> hub;
  int senders[kSenders];
  std::atomic<bool> hold{ true };

  Rig ()
  {
    // An even port whose next one is free too: try a few.
    std::string error;
    for (int i = 0; i < 200 && !hub; ++i) {
      mirror::RtpHubOptions options;
      options.bind_address = "0.0.0.0";
      options.port = uint16_t (20000 + 2 * g_random_int_range (0, 10000));
      options.thread_nice = 0;
      options.session_timeout_ms = 2000;
      options.pending_limit_bytes = 64 * 1024;
      options.read_interval_us = 0;
      hub = mirror::RtpHub::acquire (options, &error);
    }
    FUZZ_CHECK (hub, error);
    hub->set_new_session_handler ([this] (const mirror::RtpSessionInfo &info) {
      FUZZ_CHECK (!info.encoding.empty () && info.clock_rate > 0, info.encoding);
      return hold.load ();
    });
    for (int i = 0; i < kSenders; ++i) {
      senders[i] = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in from{};
      from.sin_family = AF_INET;
      from.sin_addr.s_addr = htonl (INADDR_LOOPBACK + uint32_t (i));
      FUZZ_CHECK (bind (senders[i], reinterpret_cast<sockaddr *> (&from), sizeof from) == 0,
                  "cannot bind a sender on 127.0.0." + std::to_string (i + 1));
    }
  }

  void send (int sender, bool rtcp, const uint8_t *data, size_t size)
  {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons (uint16_t (hub->port () + (rtcp ? 1 : 0)));
    to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    sendto (senders[sender], data, size, 0, reinterpret_cast<sockaddr *> (&to), sizeof to);
  }
};

Rig *rig;

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  g_log_set_always_fatal (GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  rig = new Rig ();
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  std::map<uint32_t, std::shared_ptr<Consumer>> attached;
  const uint64_t before = rig->hub->counters ().packets + rig->hub->counters ().rtcp_packets;
  uint64_t sent = 0;
  size_t at = 0;
  while (at + 2 <= size && sent < 64) {
    const uint8_t control = data[at];
    const size_t len = std::min<size_t> (data[at + 1] + (control & 0x80 ? 256 : 0), size - at - 2);
    const uint8_t *datagram = data + at + 2;
    at += 2 + len;
    rig->hold = control & 0x40;
    const int sender = control & 3;
    const bool rtcp = control & 4;
    rig->send (sender, rtcp, datagram, len);
    sent++;
    uint32_t ssrc = 0;
    int pt = 0;
    if (!mirror::parse_rtp_header (datagram, len, &pt, &ssrc))
      continue;
    if (control & 0x08 && !attached.count (ssrc)) {
      auto consumer = std::make_shared<Consumer> (ssrc);
      std::string error;
      const std::string source = control & 0x20 ? "127.0.0." + std::to_string (sender + 1) : "";
      if (rig->hub->attach (ssrc, source, consumer, &error))
        attached[ssrc] = consumer;
    } else if (control & 0x10 && attached.count (ssrc)) {
      rig->hub->detach (ssrc, attached[ssrc].get ());
      attached.erase (ssrc);
    }
  }
  // The hub has read them all (or the kernel dropped some: give up waiting).
  for (int i = 0; i < 200; ++i) {
    auto c = rig->hub->counters ();
    if (c.packets + c.rtcp_packets >= before + sent)
      break;
    std::this_thread::sleep_for (std::chrono::microseconds (100));
  }
  for (auto &[ssrc, consumer] : attached)
    rig->hub->detach (ssrc, consumer.get ());
  return 0;
}
