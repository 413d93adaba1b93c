// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/rtp_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ingest/udp_socket.h"

namespace mirror {

std::string
describe_udp_endpoint (const std::string &address, uint16_t port)
{
  if (address.find (':') != std::string::npos)
    return "[" + address + "]:" + std::to_string (port);
  return address + ":" + std::to_string (port);
}

RtpPeerAddress
RtpPeerAddress::from_sockaddr (const sockaddr_storage &addr)
{
  RtpPeerAddress peer;
  if (addr.ss_family == AF_INET) {
    const auto *v4 = reinterpret_cast<const sockaddr_in *> (&addr);
    peer.bytes[10] = 0xff;
    peer.bytes[11] = 0xff;
    std::memcpy (&peer.bytes[12], &v4->sin_addr, 4);
  } else if (addr.ss_family == AF_INET6) {
    const auto *v6 = reinterpret_cast<const sockaddr_in6 *> (&addr);
    std::memcpy (peer.bytes.data (), &v6->sin6_addr, 16);
  }
  return peer;
}

std::optional<RtpPeerAddress>
RtpPeerAddress::parse (const std::string &text)
{
  RtpPeerAddress peer;
  in_addr v4;
  if (inet_pton (AF_INET, text.c_str (), &v4) == 1) {
    peer.bytes[10] = 0xff;
    peer.bytes[11] = 0xff;
    std::memcpy (&peer.bytes[12], &v4, 4);
    return peer;
  }
  in6_addr v6;
  if (inet_pton (AF_INET6, text.c_str (), &v6) == 1) {
    std::memcpy (peer.bytes.data (), &v6, 16);
    return peer;
  }
  return std::nullopt;
}

std::string
RtpPeerAddress::to_string () const
{
  char text[INET6_ADDRSTRLEN] = {};
  static const uint8_t kMappedPrefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
  // Shown as plain IPv4 so "127.0.0.1" matches what operators configure.
  if (std::memcmp (bytes.data (), kMappedPrefix, 12) == 0)
    inet_ntop (AF_INET, &bytes[12], text, sizeof text);
  else
    inet_ntop (AF_INET6, bytes.data (), text, sizeof text);
  return text;
}

int
open_rtp_socket (const std::string &address, uint16_t port, int rcvbuf_bytes, int *rcvbuf_got,
                 std::string *error)
{
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo *found = nullptr;
  const std::string service = std::to_string (port);
  int rc = getaddrinfo (address.empty () ? nullptr : address.c_str (), service.c_str (), &hints,
                        &found);
  if (rc != 0) {
    if (error)
      *error = "cannot bind RTP socket to " + describe_udp_endpoint (address, port)
               + ": bad address (" + gai_strerror (rc) + ")";
    return -1;
  }

  int fd = socket (found->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error)
      *error = "cannot create UDP socket for " + describe_udp_endpoint (address, port) + ": "
               + std::strerror (errno);
    freeaddrinfo (found);
    return -1;
  }
  int got = raise_udp_receive_buffer (fd, rcvbuf_bytes);
  if (rcvbuf_got)
    *rcvbuf_got = got;
  if (bind (fd, found->ai_addr, found->ai_addrlen) != 0) {
    if (error)
      *error = "cannot bind UDP socket to " + describe_udp_endpoint (address, port) + ": "
               + std::strerror (errno);
    close (fd);
    fd = -1;
  }
  freeaddrinfo (found);
  return fd;
}

DatagramBatch::DatagramBatch (size_t count, size_t slot_size)
    : slot_size_ (slot_size), buffer_ (count * slot_size), peers_ (count), iovecs_ (count),
      headers_ (count)
{
  for (size_t i = 0; i < count; i++) {
    iovecs_[i].iov_base = &buffer_[i * slot_size_];
    iovecs_[i].iov_len = slot_size_;
  }
}

int
DatagramBatch::receive (int fd)
{
  // recvmmsg rewrites lengths and flags: reset what it may have changed.
  for (size_t i = 0; i < headers_.size (); i++) {
    msghdr &header = headers_[i].msg_hdr;
    header = msghdr{};
    header.msg_name = &peers_[i];
    header.msg_namelen = sizeof (sockaddr_storage);
    header.msg_iov = &iovecs_[i];
    header.msg_iovlen = 1;
    headers_[i].msg_len = 0;
  }
  int n = recvmmsg (fd, headers_.data (), headers_.size (), MSG_DONTWAIT, nullptr);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  return n;
}

} // namespace mirror
