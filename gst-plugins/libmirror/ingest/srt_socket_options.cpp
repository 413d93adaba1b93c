// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_socket_options.h"

#include <algorithm>

#include "ingest/srt_hub_options.h"

namespace mirror {

namespace {

constexpr int64_t kStreamBitsPerSecond = 50'000'000;
constexpr int64_t kBurstFactor = 2;
// Retransmission needs a NAK and a resend inside the latency; what arrives
// late still has to fit. 200 ms covers several round trips of a
// contribution link.
constexpr int64_t kRoundTripAllowanceMs = 200;
// libsrt sizes SRTO_RCVBUF in buffer units of MSS - 28 bytes (1472 with the
// default MSS 1500), one packet each, whatever the payload size.
constexpr int64_t kBufferUnitBytes = 1500 - 28;
// libsrt's minimum receive buffer, in packets.
constexpr int64_t kMinBufferPackets = 32;

constexpr int64_t kCallersPerPort = 25;
// How long libsrt's UDP reading threads may be descheduled on a busy 2-core
// box before the kernel drops datagrams. Longer than a scheduler period
// under load; what waits in the buffer only eats into the SRT latency.
// Measured (tools/bench/srt_ingest.py --pin, 25 x 50 Mbit/s with every
// mirrord thread on one core): 100 ms lost 0.2-2 % of the packets in every
// run, 400 ms none. The kernel charges a buffer only for what it holds.
constexpr int64_t kUdpStallMs = 400;

bool
set_flag (SRTSOCKET s, SRT_SOCKOPT option, const char *name, const void *value, int size,
          std::string *error)
{
  if (srt_setsockflag (s, option, value, size) != SRT_ERROR)
    return true;
  *error = std::string ("cannot set ") + name + ": " + srt_getlasterror_str ();
  return false;
}

template <typename T>
bool
set_flag (SRTSOCKET s, SRT_SOCKOPT option, const char *name, T value, std::string *error)
{
  return set_flag (s, option, name, &value, sizeof value, error);
}

} // namespace

int
srt_receive_buffer_bytes (int64_t latency_ms, int payload_size, int flow_control_window)
{
  int64_t bytes_per_second = kStreamBitsPerSecond * kBurstFactor / 8;
  int64_t bytes = bytes_per_second * (latency_ms + kRoundTripAllowanceMs) / 1000;
  int64_t packets = (bytes + payload_size - 1) / payload_size;
  packets = std::clamp<int64_t> (packets, kMinBufferPackets, flow_control_window);
  return int (packets * kBufferUnitBytes);
}

int
srt_udp_receive_buffer_bytes (int receive_threads)
{
  const int64_t all = kCallersPerPort * kStreamBitsPerSecond / 8 * kUdpStallMs / 1000;
  // The kernel spreads callers over the sockets by a hash, not evenly: each
  // gets room for twice its share.
  return int (std::min (all, all * 2 / std::max (1, receive_threads)));
}

bool
configure_srt_listener (SRTSOCKET s, const SrtHubOptions &o, bool ipv6, std::string *error)
{
  // SRTO_TRANSTYPE resets the mode's defaults: it goes first.
  if (!set_flag (s, SRTO_TRANSTYPE, "SRTO_TRANSTYPE", SRTT_LIVE, error))
    return false;
  // Non-blocking accept and receive: one thread serves the port from an epoll.
  if (!set_flag (s, SRTO_RCVSYN, "SRTO_RCVSYN", false, error)
      || !set_flag (s, SRTO_SNDSYN, "SRTO_SNDSYN", false, error))
    return false;
  if (!set_flag (s, SRTO_LATENCY, "SRTO_LATENCY", int (o.latency_ms), error)
      || !set_flag (s, SRTO_RCVLATENCY, "SRTO_RCVLATENCY", int (o.latency_ms), error))
    return false;
  if (!set_flag (s, SRTO_PAYLOADSIZE, "SRTO_PAYLOADSIZE", o.payload_size, error))
    return false;
  // SRTO_FC before SRTO_RCVBUF: libsrt caps the buffer by the window.
  if (!set_flag (s, SRTO_FC, "SRTO_FC", o.flow_control_window, error))
    return false;
  int rcvbuf = srt_receive_buffer_bytes (o.latency_ms, o.payload_size, o.flow_control_window);
  if (!set_flag (s, SRTO_RCVBUF, "SRTO_RCVBUF", rcvbuf, error))
    return false;
  // The kernel caps this at net.core.rmem_max.
  if (!set_flag (s, SRTO_UDP_RCVBUF, "SRTO_UDP_RCVBUF",
                 srt_udp_receive_buffer_bytes (srt_receive_threads (o)), error))
    return false;
  if (!set_flag (s, SRTO_PEERIDLETIMEO, "SRTO_PEERIDLETIMEO", int (o.peer_idle_timeout_ms), error))
    return false;
  if (o.input_bandwidth > 0
      && !set_flag (s, SRTO_INPUTBW, "SRTO_INPUTBW", int64_t (o.input_bandwidth), error))
    return false;
  // A passphrase mismatch must fail the handshake, not leave an undecryptable
  // connection up (libsrt's default, made explicit).
  if (!set_flag (s, SRTO_ENFORCEDENCRYPTION, "SRTO_ENFORCEDENCRYPTION", true, error))
    return false;
  if (ipv6 && !set_flag (s, SRTO_IPV6ONLY, "SRTO_IPV6ONLY", 0, error))
    return false;
  return true;
}

std::optional<SrtConnectionStats>
srt_receive_stats (SRTSOCKET sock)
{
  SRT_TRACEBSTATS perf{};
  if (srt_bstats (sock, &perf, 0) == SRT_ERROR)
    return std::nullopt;
  SrtConnectionStats out;
  out.bytes_received = perf.byteRecvTotal;
  out.packets_received = uint64_t (perf.pktRecvTotal);
  out.packets_lost = uint64_t (std::max (perf.pktRcvLossTotal, 0));
  out.packets_dropped = uint64_t (std::max (perf.pktRcvDropTotal, 0));
  out.packets_retransmitted = uint64_t (std::max (perf.pktRcvRetrans, 0));
  out.rtt_ms = perf.msRTT;
  out.receive_rate_mbps = perf.mbpsRecvRate;
  return out;
}

} // namespace mirror
