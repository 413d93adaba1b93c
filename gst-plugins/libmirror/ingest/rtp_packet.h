// SPDX-License-Identifier: LGPL-2.1-or-later
// Byte-level checks the RTP hub makes before routing a datagram, kept apart
// from the sockets so the parsers can be tested (and fuzzed) on plain bytes.
// parse_rtp_header itself is declared in rtp_hub.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace mirror {

// The sender SSRC of an RTCP compound packet (bytes 4..7 of its first
// packet): nullopt when the datagram is not RTCP v2 starting with a packet of
// type 200..204 whose length fits.
std::optional<uint32_t> rtcp_sender_ssrc (const uint8_t *data, size_t size);

// A payload-type mapping such as "H265" or "AAC/44100", split into the
// encoding name and its RTP clock rate.
struct RtpEncoding {
  std::string name;
  int clock_rate = 90000;
};

// "NAME/RATE" gives RATE; otherwise video is 90000 and AAC/Opus 48000.
// nullopt when RATE is not a positive number.
std::optional<RtpEncoding> parse_rtp_encoding (const std::string &mapping);

} // namespace mirror
