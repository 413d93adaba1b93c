// SPDX-License-Identifier: LGPL-2.1-or-later
// The RTP hub's UDP plumbing: bound sockets with a large receive buffer,
// sender addresses in a form cheap to hash, and recvmmsg() batches.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mirror {

// A sender's IP (IPv4 held as IPv4-mapped IPv6) without the port: senders
// may change ports, sessions are keyed by address and SSRC.
struct RtpPeerAddress {
  std::array<uint8_t, 16> bytes{};

  static RtpPeerAddress from_sockaddr (const sockaddr_storage &addr);
  // "192.0.2.1" or "2001:db8::1"; nullopt when not a numeric address.
  static std::optional<RtpPeerAddress> parse (const std::string &text);
  std::string to_string () const;

  bool operator== (const RtpPeerAddress &other) const = default;
};

// "192.0.2.1:5004" or "[::]:5004", for messages.
std::string describe_udp_endpoint (const std::string &address, uint16_t port);

// A non-blocking UDP socket bound to address:port; -1 and *error naming both
// when that fails. The receive buffer is raised towards rcvbuf_bytes (past
// net.core.rmem_max when running as root); *rcvbuf_got is what the kernel
// granted.
int open_rtp_socket (const std::string &address, uint16_t port, int rcvbuf_bytes, int *rcvbuf_got,
                     std::string *error);

// One recvmmsg() worth of datagrams, buffers reused between calls.
class DatagramBatch {
 public:
  DatagramBatch (size_t count, size_t slot_size);
  DatagramBatch (const DatagramBatch &) = delete;
  DatagramBatch &operator= (const DatagramBatch &) = delete;

  // Datagrams read without blocking: 0 when none are waiting, -1 (errno set)
  // on error.
  int receive (int fd);

  const uint8_t *data (size_t i) const { return &buffer_[i * slot_size_]; }
  size_t size (size_t i) const { return headers_[i].msg_len; }
  // Larger than a slot: the tail was cut off.
  bool truncated (size_t i) const { return headers_[i].msg_hdr.msg_flags & MSG_TRUNC; }
  const sockaddr_storage &peer (size_t i) const { return peers_[i]; }
  size_t capacity () const { return headers_.size (); }

 private:
  size_t slot_size_;
  std::vector<uint8_t> buffer_;
  std::vector<sockaddr_storage> peers_;
  std::vector<iovec> iovecs_;
  std::vector<mmsghdr> headers_;
};

} // namespace mirror
