// SPDX-License-Identifier: LGPL-2.1-or-later
// One (sender address, SSRC) flow seen by an RTP hub: what was announced, who
// consumes it, and the datagrams held until a consumer attaches.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "ingest/rtp_hub.h"
#include "ingest/rtp_socket.h"

namespace mirror {

struct RtpSessionKey {
  RtpPeerAddress source;
  uint32_t ssrc = 0;

  bool operator== (const RtpSessionKey &other) const = default;
};

struct RtpSessionKeyHash {
  size_t operator() (const RtpSessionKey &key) const noexcept
  {
    // FNV-1a over the address, mixed with the SSRC (already random).
    uint64_t hash = 1469598103934665603ull;
    for (uint8_t byte : key.source.bytes)
      hash = (hash ^ byte) * 1099511628211ull;
    return static_cast<size_t> (hash ^ (static_cast<uint64_t> (key.ssrc) * 0x9e3779b97f4a7c15ull));
  }
};

// Datagrams kept for a session nobody consumes yet; the oldest go first when
// the byte limit is reached, as in the per-stream ring.
class RtpHeldPackets {
 public:
  // Returns how many older datagrams were dropped to make room.
  uint64_t push (const uint8_t *data, size_t size, size_t limit_bytes);
  std::deque<std::vector<uint8_t>> take ();
  bool empty () const { return packets_.empty (); }
  size_t bytes () const { return bytes_; }

 private:
  std::deque<std::vector<uint8_t>> packets_;
  size_t bytes_ = 0;
};

struct RtpSession {
  RtpSessionKey key;
  RtpSessionInfo info;
  std::shared_ptr<RtpSessionConsumer> consumer;
  RtpHeldPackets held;
  int64_t last_rtp_ms = 0;
};

} // namespace mirror
