// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rtp_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace mirror::test {

namespace {

int
bind_udp (uint16_t port, uint16_t *bound)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (fd, reinterpret_cast<sockaddr *> (&addr), sizeof addr) != 0) {
    close (fd);
    return -1;
  }
  socklen_t length = sizeof addr;
  getsockname (fd, reinterpret_cast<sockaddr *> (&addr), &length);
  if (bound)
    *bound = ntohs (addr.sin_port);
  return fd;
}

void
put_be16 (Bytes &out, size_t at, uint16_t value)
{
  out[at] = value >> 8;
  out[at + 1] = value & 0xff;
}

void
put_be32 (Bytes &out, size_t at, uint32_t value)
{
  for (int i = 0; i < 4; i++)
    out[at + i] = (value >> (24 - 8 * i)) & 0xff;
}

} // namespace

uint16_t
find_free_rtp_port_pair ()
{
  // The kernel picks a free port; keep it only if port + 1 is free as well.
  for (int attempt = 0; attempt < 100; attempt++) {
    uint16_t port = 0;
    int first = bind_udp (0, &port);
    if (first < 0)
      continue;
    int second = port < 65534 ? bind_udp (port + 1, nullptr) : -1;
    close (first);
    if (second >= 0) {
      close (second);
      return port;
    }
  }
  throw std::runtime_error ("no free UDP port pair on loopback after 100 attempts");
}

Bytes
make_rtp (int payload_type, uint32_t ssrc, uint16_t sequence, size_t payload_size)
{
  Bytes packet (12 + payload_size);
  packet[0] = 0x80;
  packet[1] = payload_type & 0x7f;
  put_be16 (packet, 2, sequence);
  put_be32 (packet, 4, sequence * 3000u);
  put_be32 (packet, 8, ssrc);
  for (size_t i = 0; i < payload_size; i++)
    packet[12 + i] = static_cast<uint8_t> (sequence + i);
  return packet;
}

Bytes
make_rtcp_sender_report (uint32_t ssrc)
{
  // SR with no report blocks (28 bytes), then SDES with one CNAME chunk.
  Bytes packet (28 + 16);
  packet[0] = 0x80;
  packet[1] = 200;
  put_be16 (packet, 2, 6);
  put_be32 (packet, 4, ssrc);
  put_be32 (packet, 8, 0xe0000000u); // NTP seconds
  put_be32 (packet, 16, 90000);      // RTP timestamp
  packet[28] = 0x81;
  packet[29] = 202;
  put_be16 (packet, 30, 3);
  put_be32 (packet, 32, ssrc);
  packet[36] = 1; // CNAME
  packet[37] = 2;
  packet[38] = 'c';
  packet[39] = 'n';
  return packet;
}

uint16_t
rtp_sequence (const Bytes &packet)
{
  return static_cast<uint16_t> ((packet.at (2) << 8) | packet.at (3));
}

uint32_t
rtp_ssrc (const Bytes &packet)
{
  return (static_cast<uint32_t> (packet.at (8)) << 24) | (packet.at (9) << 16)
         | (packet.at (10) << 8) | packet.at (11);
}

UdpSender::UdpSender (const std::string &source_ip)
{
  fd_ = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton (AF_INET, source_ip.c_str (), &addr.sin_addr);
  if (fd_ < 0 || bind (fd_, reinterpret_cast<sockaddr *> (&addr), sizeof addr) != 0)
    throw std::runtime_error ("cannot bind a UDP sender to " + source_ip + ": "
                              + std::strerror (errno));
}

UdpSender::~UdpSender ()
{
  if (fd_ >= 0)
    close (fd_);
}

void
UdpSender::send (uint16_t port, const Bytes &datagram)
{
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons (port);
  to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (sendto (fd_, datagram.data (), datagram.size (), 0, reinterpret_cast<sockaddr *> (&to),
              sizeof to)
      != static_cast<ssize_t> (datagram.size ()))
    throw std::runtime_error ("sendto 127.0.0.1:" + std::to_string (port)
                              + " failed: " + std::strerror (errno));
}

void
RecordingConsumer::on_rtp (const uint8_t *data, size_t size)
{
  std::lock_guard lock (mutex_);
  rtp_.emplace_back (data, data + size);
  changed_.notify_all ();
}

void
RecordingConsumer::on_rtcp (const uint8_t *data, size_t size)
{
  std::lock_guard lock (mutex_);
  rtcp_.emplace_back (data, data + size);
  changed_.notify_all ();
}

void
RecordingConsumer::on_timeout ()
{
  std::lock_guard lock (mutex_);
  timeouts_++;
  changed_.notify_all ();
}

void
RecordingConsumer::on_batch_end ()
{
  std::lock_guard lock (mutex_);
  rtp_at_batch_end_ = rtp_.size ();
  batch_ends_++;
  changed_.notify_all ();
}

size_t
RecordingConsumer::batch_ends () const
{
  std::lock_guard lock (mutex_);
  return batch_ends_;
}

bool
RecordingConsumer::wait_for_batch_end (size_t count, std::chrono::milliseconds timeout)
{
  std::unique_lock lock (mutex_);
  return changed_.wait_for (lock, scaled (timeout), [&] { return rtp_at_batch_end_ >= count; });
}

std::vector<Bytes>
RecordingConsumer::rtp () const
{
  std::lock_guard lock (mutex_);
  return rtp_;
}

std::vector<Bytes>
RecordingConsumer::rtcp () const
{
  std::lock_guard lock (mutex_);
  return rtcp_;
}

int
RecordingConsumer::timeouts () const
{
  std::lock_guard lock (mutex_);
  return timeouts_;
}

bool
RecordingConsumer::wait_for_rtp (size_t count, std::chrono::milliseconds timeout)
{
  std::unique_lock lock (mutex_);
  return changed_.wait_for (lock, scaled (timeout), [&] { return rtp_.size () >= count; });
}

bool
RecordingConsumer::wait_for_rtcp (size_t count, std::chrono::milliseconds timeout)
{
  std::unique_lock lock (mutex_);
  return changed_.wait_for (lock, scaled (timeout), [&] { return rtcp_.size () >= count; });
}

bool
RecordingConsumer::wait_for_timeout (std::chrono::milliseconds timeout)
{
  std::unique_lock lock (mutex_);
  return changed_.wait_for (lock, scaled (timeout), [&] { return timeouts_ > 0; });
}

SessionAnnouncements::SessionAnnouncements (bool accept) : record_ (std::make_shared<Record> ())
{
  record_->accept = accept;
}

RtpHub::NewSessionFn
SessionAnnouncements::handler () const
{
  return [record = record_] (const RtpSessionInfo &info) {
    std::lock_guard lock (record->mutex);
    record->seen.push_back (info);
    record->changed.notify_all ();
    return record->accept;
  };
}

std::vector<RtpSessionInfo>
SessionAnnouncements::seen () const
{
  std::lock_guard lock (record_->mutex);
  return record_->seen;
}

bool
SessionAnnouncements::wait_for (size_t count, std::chrono::milliseconds timeout)
{
  std::unique_lock lock (record_->mutex);
  return record_->changed.wait_for (lock, scaled (timeout),
                                    [&] { return record_->seen.size () >= count; });
}

} // namespace mirror::test
