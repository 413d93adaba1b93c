// SPDX-License-Identifier: LGPL-2.1-or-later
// The RTP hub: one UDP socket per port (and RTCP on port + 1), shared by the
// process. Packets are routed by (source address, SSRC); each session becomes
// its own stream. Packets that are not RTP, or carry a payload type with no
// mapping, are counted and dropped without creating anything.
//
// Threading: one receive thread per hub; consumer callbacks run there and
// must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace mirror {

struct RtpHubOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 5004; // RTCP on port + 1
  std::map<int, std::string> payload_types = { { 96, "H265" }, { 97, "H264" }, { 98, "AAC" } };
  int64_t session_timeout_ms = 10000;           // no packet for this long ends a session
  size_t pending_limit_bytes = 4 * 1024 * 1024; // held per new session until a consumer attaches
  // Nice value of the hub's receive thread (as SrtHubOptions::thread_nice).
  int thread_nice = -10;
  // After a pass that read RTP, the hub reads again no sooner than this
  // (microseconds, 0: at once): one wake-up of each stream's thread carries
  // a millisecond of its datagrams instead of one or two. Costs at most this
  // much buffer latency; the socket holds seconds.
  int64_t read_interval_us = 1000;
  // A user that names only the port (rtp://:5004?ssrc=... in a process that
  // already listens there): the open hub's address and timeouts are taken
  // as they are; only payload types it lacks are worth a warning.
  bool join_open_port = false;
};

struct RtpSessionInfo {
  std::string source_address; // "ip" of the sender (port not included: senders may change it)
  uint32_t ssrc = 0;
  int payload_type = 0;
  std::string encoding;   // "H265", "H264", "AAC"
  int clock_rate = 90000; // 90000 for video, from the config for audio (default 48000)
};

// Parses an RTP fixed header: false when the datagram is not RTP v2.
bool parse_rtp_header (const uint8_t *data, size_t size, int *payload_type, uint32_t *ssrc);

class RtpSessionConsumer {
 public:
  virtual ~RtpSessionConsumer () = default;
  // One datagram each.
  virtual void on_rtp (const uint8_t *data, size_t size) = 0;
  // After the last on_rtp of one receive batch (every datagram the hub read
  // in one go): a consumer that hands datagrams on in batches, waking its
  // reader once rather than per datagram, hands them on here. Always
  // follows on_rtp before the hub thread waits again.
  virtual void on_batch_end () {}
  virtual void on_rtcp (const uint8_t *data, size_t size) = 0;
  // The session saw no packet for session_timeout_ms.
  virtual void on_timeout () = 0;
};

struct RtpHubCounters {
  uint64_t packets = 0; // every datagram on the RTP port, including the dropped ones
  uint64_t bytes = 0;
  uint64_t not_rtp = 0; // includes RTCP sent to the RTP port and datagrams too large to read
  uint64_t unmapped_payload_type = 0;
  uint64_t sessions_started = 0;
  uint64_t sessions_timed_out = 0;
  uint64_t rtcp_packets = 0;  // every datagram on the RTCP port
  uint64_t rtcp_unrouted = 0; // not RTCP, or no session with its sender SSRC
  uint64_t held_dropped = 0;  // held datagrams dropped (oldest first) at pending_limit_bytes
};

class RtpHub {
 public:
  // Process-wide hub for options.port (same contract as SrtHub::acquire).
  static std::shared_ptr<RtpHub> acquire (const RtpHubOptions &options, std::string *error);

  virtual ~RtpHub () = default;
  virtual uint16_t port () const = 0;
  // The nice value the hub's thread runs at (as SrtHub::thread_nice).
  virtual int thread_nice () const = 0;

  // Attaches to the session with this SSRC (and source, when not empty);
  // packets held since the session began are delivered first. With no such
  // session yet, the consumer waits for it: the first packet with that SSRC
  // (and source) starts the session without asking the new-session handler.
  // false and *error when another consumer has the session, the source is not
  // an IP address, or the SSRC is live from several sources and none is named.
  virtual bool attach (uint32_t ssrc, const std::string &source_address,
                       std::shared_ptr<RtpSessionConsumer> consumer, std::string *error)
      = 0;
  // Once detach returns, the consumer gets no more callbacks (called from one
  // of its own callbacks, the datagrams already in hand may still come). The
  // session goes on, holding again.
  virtual void detach (uint32_t ssrc, const RtpSessionConsumer *consumer) = 0;

  // Called (on the hub thread) for the first packet of an unknown session
  // with a mapped payload type; return true to hold its packets until a
  // consumer attaches, false to drop the session (remembered for
  // session_timeout_ms, then asked again). Without a handler only sessions
  // awaited by attach() start.
  using NewSessionFn = std::function<bool (const RtpSessionInfo &info)>;
  virtual void set_new_session_handler (NewSessionFn fn) = 0;

  virtual RtpHubCounters counters () const = 0;
};

} // namespace mirror
