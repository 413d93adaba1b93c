// SPDX-License-Identifier: LGPL-2.1-or-later
// Helpers for the RTP hub tests: free loopback ports, hand-built RTP/RTCP
// datagrams, a UDP sender, and a consumer that records what the hub delivers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ingest/rtp_hub.h"

#include "../../common/wait_until.h"

namespace mirror::test {

using Bytes = std::vector<uint8_t>;

// A port whose successor is free too (RTP and RTCP), both on UDP loopback.
uint16_t find_free_rtp_port_pair ();

Bytes make_rtp (int payload_type, uint32_t ssrc, uint16_t sequence, size_t payload_size = 100);
// An RTCP sender report from ssrc, followed by an SDES chunk (a compound).
Bytes make_rtcp_sender_report (uint32_t ssrc);
uint16_t rtp_sequence (const Bytes &packet);
uint32_t rtp_ssrc (const Bytes &packet);

// A UDP socket sending to 127.0.0.1, from source_ip (any loopback address).
class UdpSender {
 public:
  explicit UdpSender (const std::string &source_ip = "127.0.0.1");
  ~UdpSender ();
  UdpSender (const UdpSender &) = delete;
  UdpSender &operator= (const UdpSender &) = delete;

  void send (uint16_t port, const Bytes &datagram);

 private:
  int fd_ = -1;
};

class RecordingConsumer : public RtpSessionConsumer {
 public:
  void on_rtp (const uint8_t *data, size_t size) override;
  void on_rtcp (const uint8_t *data, size_t size) override;
  void on_timeout () override;
  void on_batch_end () override;

  std::vector<Bytes> rtp () const;
  // The waits' timeouts are stretched by MIRROR_TEST_SLOWDOWN (scaled ()).
  // Blocks until on_batch_end has followed at least count RTP datagrams.
  bool wait_for_batch_end (size_t count,
                           std::chrono::milliseconds timeout = std::chrono::seconds (10));
  // How many batches ended, with or without datagrams of this consumer.
  size_t batch_ends () const;
  std::vector<Bytes> rtcp () const;
  int timeouts () const;
  // Blocks until at least count RTP datagrams (or one timeout) arrived.
  bool wait_for_rtp (size_t count, std::chrono::milliseconds timeout = std::chrono::seconds (10));
  bool wait_for_rtcp (size_t count, std::chrono::milliseconds timeout = std::chrono::seconds (10));
  bool wait_for_timeout (std::chrono::milliseconds timeout = std::chrono::seconds (10));

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Bytes> rtp_;
  std::vector<Bytes> rtcp_;
  int timeouts_ = 0;
  size_t rtp_at_batch_end_ = 0; // rtp_.size () at the last on_batch_end
  size_t batch_ends_ = 0;
};

// Records every new-session question and answers with `accept`. The handler
// shares the record, so it may outlive this object inside a hub.
class SessionAnnouncements {
 public:
  explicit SessionAnnouncements (bool accept = true);
  RtpHub::NewSessionFn handler () const;

  std::vector<RtpSessionInfo> seen () const;
  // timeout stretched by MIRROR_TEST_SLOWDOWN (scaled ()).
  bool wait_for (size_t count, std::chrono::milliseconds timeout = std::chrono::seconds (10));

 private:
  struct Record {
    bool accept = true;
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<RtpSessionInfo> seen;
  };
  std::shared_ptr<Record> record_;
};

} // namespace mirror::test
