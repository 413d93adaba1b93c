// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/rtp_packet.h"

#include <cstdlib>

#include <glib.h>

#include "ingest/rtp_hub.h"

namespace mirror {

namespace {

constexpr size_t kRtpFixedHeader = 12;
constexpr int kRtcpFirstType = 200; // SR
constexpr int kRtcpLastType = 204;  // APP

uint16_t
read_be16 (const uint8_t *p)
{
  return static_cast<uint16_t> ((p[0] << 8) | p[1]);
}

uint32_t
read_be32 (const uint8_t *p)
{
  return (static_cast<uint32_t> (p[0]) << 24) | (static_cast<uint32_t> (p[1]) << 16)
         | (static_cast<uint32_t> (p[2]) << 8) | p[3];
}

} // namespace

bool
parse_rtp_header (const uint8_t *data, size_t size, int *payload_type, uint32_t *ssrc)
{
  if (data == nullptr || size < kRtpFixedHeader)
    return false;
  if ((data[0] >> 6) != 2)
    return false;
  // RTCP multiplexed onto the RTP port (RFC 5761) looks like RTP with the
  // marker set and PT 72..76: the second byte tells them apart.
  if (data[1] >= kRtcpFirstType && data[1] <= kRtcpLastType)
    return false;

  size_t header = kRtpFixedHeader + 4 * static_cast<size_t> (data[0] & 0x0f);
  if (header > size)
    return false;
  if (data[0] & 0x10) {
    if (header + 4 > size)
      return false;
    header += 4 + 4 * static_cast<size_t> (read_be16 (data + header + 2));
    if (header > size)
      return false;
  }
  if (data[0] & 0x20) {
    // The last byte counts itself: zero padding is impossible.
    size_t padding = data[size - 1];
    if (padding == 0 || header + padding > size)
      return false;
  }

  if (payload_type)
    *payload_type = data[1] & 0x7f;
  if (ssrc)
    *ssrc = read_be32 (data + 8);
  return true;
}

std::optional<uint32_t>
rtcp_sender_ssrc (const uint8_t *data, size_t size)
{
  if (data == nullptr || size < 8 || (data[0] >> 6) != 2)
    return std::nullopt;
  if (data[1] < kRtcpFirstType || data[1] > kRtcpLastType)
    return std::nullopt;
  size_t first_length = (static_cast<size_t> (read_be16 (data + 2)) + 1) * 4;
  if (first_length > size)
    return std::nullopt;
  return read_be32 (data + 4);
}

std::optional<RtpEncoding>
parse_rtp_encoding (const std::string &mapping)
{
  RtpEncoding encoding;
  size_t slash = mapping.find ('/');
  // Maps come from config files: "h265" means H265.
  encoding.name = mapping.substr (0, slash);
  for (char &c : encoding.name)
    c = static_cast<char> (g_ascii_toupper (c));
  if (slash != std::string::npos) {
    const std::string rate = mapping.substr (slash + 1);
    char *end = nullptr;
    long value = std::strtol (rate.c_str (), &end, 10);
    if (rate.empty () || *end != '\0' || value <= 0 || value > 10000000)
      return std::nullopt;
    encoding.clock_rate = static_cast<int> (value);
    return encoding;
  }
  if (encoding.name == "AAC" || encoding.name == "MP4A-LATM" || encoding.name == "OPUS")
    encoding.clock_rate = 48000;
  return encoding;
}

} // namespace mirror
