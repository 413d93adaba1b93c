// SPDX-License-Identifier: LGPL-2.1-or-later
// The byte-level checks the RTP hub makes on every datagram before routing
// it: the RTP header (version, CSRCs, extension, padding), RTCP's sender SSRC
// (RFC 5761 muxing), and the payload-type mapping strings of the config.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "ingest/rtp_hub.h"
#include "ingest/rtp_packet.h"

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  // An exact-size copy, so AddressSanitizer sees any read past the datagram.
  std::vector<uint8_t> datagram (data, data + size);
  const uint8_t *p = datagram.empty () ? nullptr : datagram.data ();

  int payload_type = -1;
  uint32_t ssrc = 0;
  const bool rtp = mirror::parse_rtp_header (p, size, &payload_type, &ssrc);
  if (rtp) {
    FUZZ_CHECK (size >= 12, "RTP shorter than its fixed header");
    FUZZ_CHECK (payload_type >= 0 && payload_type < 128, std::to_string (payload_type));
    FUZZ_CHECK ((data[0] >> 6) == 2, "not version 2");
    uint32_t wire;
    std::memcpy (&wire, data + 8, 4);
    FUZZ_CHECK (ssrc == __builtin_bswap32 (wire), "SSRC is not bytes 8..11");
  }
  auto sender = mirror::rtcp_sender_ssrc (p, size);
  if (sender) {
    FUZZ_CHECK (!rtp, "a datagram taken as both RTP and RTCP");
    FUZZ_CHECK (size >= 8, "RTCP without a sender SSRC");
  }

  const std::string mapping (reinterpret_cast<const char *> (data), std::min<size_t> (size, 64));
  if (auto encoding = mirror::parse_rtp_encoding (mapping))
    FUZZ_CHECK (encoding->clock_rate > 0, mapping);
  return 0;
}
