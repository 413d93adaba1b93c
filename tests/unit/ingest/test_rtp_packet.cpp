// SPDX-License-Identifier: LGPL-2.1-or-later
// The byte-level checks: RTP header parsing (including random bytes), the
// RTCP sender SSRC and payload-type mappings.
#include <random>

#include <gtest/gtest.h>

#include "ingest/rtp_hub.h"
#include "ingest/rtp_packet.h"
#include "rtp_test_util.h"

namespace mirror::test {
namespace {

bool
parses (const Bytes &packet, int *payload_type = nullptr, uint32_t *ssrc = nullptr)
{
  return parse_rtp_header (packet.data (), packet.size (), payload_type, ssrc);
}

TEST (RtpHeader, ValidPacketGivesPayloadTypeAndSsrc)
{
  int payload_type = -1;
  uint32_t ssrc = 0;
  ASSERT_TRUE (parses (make_rtp (96, 0xdeadbeef, 7), &payload_type, &ssrc));
  EXPECT_EQ (payload_type, 96);
  EXPECT_EQ (ssrc, 0xdeadbeefu);
}

TEST (RtpHeader, MarkerBitIsNotPartOfThePayloadType)
{
  Bytes packet = make_rtp (97, 1, 1);
  packet[1] |= 0x80;
  int payload_type = -1;
  ASSERT_TRUE (parses (packet, &payload_type));
  EXPECT_EQ (payload_type, 97);
}

TEST (RtpHeader, BareTwelveByteHeaderIsValid)
{
  EXPECT_TRUE (parses (make_rtp (96, 1, 1, 0)));
}

TEST (RtpHeader, ShortDatagramsAreRejected)
{
  Bytes packet = make_rtp (96, 1, 1, 0);
  for (size_t size = 0; size < 12; size++)
    EXPECT_FALSE (parse_rtp_header (packet.data (), size, nullptr, nullptr)) << size;
  EXPECT_FALSE (parse_rtp_header (nullptr, 0, nullptr, nullptr));
}

TEST (RtpHeader, OtherVersionsAreRejected)
{
  Bytes packet = make_rtp (96, 1, 1);
  for (uint8_t version : { 0, 1, 3 }) {
    packet[0] = static_cast<uint8_t> (version << 6);
    EXPECT_FALSE (parses (packet)) << int (version);
  }
}

TEST (RtpHeader, RtcpOnTheRtpPortIsRejected)
{
  EXPECT_FALSE (parses (make_rtcp_sender_report (5)));
  Bytes packet = make_rtp (96, 1, 1);
  for (int second_byte = 200; second_byte <= 204; second_byte++) {
    packet[1] = static_cast<uint8_t> (second_byte);
    EXPECT_FALSE (parses (packet)) << second_byte;
  }
  // PT 72 without the marker is not RTCP.
  packet[1] = 72;
  EXPECT_TRUE (parses (packet));
}

TEST (RtpHeader, CsrcListMustFit)
{
  Bytes packet = make_rtp (96, 1, 1, 8);
  packet[0] = 0x82; // two CSRCs: exactly the 8 payload bytes
  EXPECT_TRUE (parses (packet));
  packet[0] = 0x83;
  EXPECT_FALSE (parses (packet));
  packet[0] = 0x8f;
  EXPECT_FALSE (parses (packet));
}

TEST (RtpHeader, ExtensionMustFit)
{
  Bytes packet = make_rtp (96, 1, 1, 12);
  packet[0] = 0x90;
  packet[12] = 0xbe; // one-byte header profile
  packet[13] = 0xde;
  packet[14] = 0;
  packet[15] = 2; // two words: exactly the rest
  EXPECT_TRUE (parses (packet));
  packet[15] = 3;
  EXPECT_FALSE (parses (packet));
  packet[14] = 0xff;
  EXPECT_FALSE (parses (packet));
  // Extension bit set but no room for its own header.
  Bytes bare = make_rtp (96, 1, 1, 2);
  bare[0] = 0x90;
  EXPECT_FALSE (parses (bare));
}

TEST (RtpHeader, CsrcAndExtensionTogetherMustFit)
{
  Bytes packet = make_rtp (96, 1, 1, 4 + 4 + 4);
  packet[0] = 0x91; // one CSRC, then an extension
  packet[16 + 2] = 0;
  packet[16 + 3] = 1;
  EXPECT_TRUE (parses (packet));
  packet[16 + 3] = 2;
  EXPECT_FALSE (parses (packet));
}

TEST (RtpHeader, PaddingMustBeSane)
{
  Bytes packet = make_rtp (96, 1, 1, 8);
  packet[0] = 0xa0;
  packet.back () = 8; // all of the payload is padding
  EXPECT_TRUE (parses (packet));
  packet.back () = 9; // eats into the header
  EXPECT_FALSE (parses (packet));
  packet.back () = 0; // counts itself: never zero
  EXPECT_FALSE (parses (packet));
  packet.back () = 255;
  EXPECT_FALSE (parses (packet));
}

TEST (RtpHeader, RandomBytesNeverCrashOrLie)
{
  std::mt19937 random (20240531);
  std::uniform_int_distribution<int> byte (0, 255);
  std::uniform_int_distribution<size_t> length (0, 80);
  size_t accepted = 0;
  for (int round = 0; round < 200000; round++) {
    Bytes datagram (length (random));
    for (auto &b : datagram)
      b = static_cast<uint8_t> (byte (random));
    // Half the time look like v2 so the deeper checks get exercised.
    if (!datagram.empty () && round % 2)
      datagram[0] = static_cast<uint8_t> (0x80 | (datagram[0] & 0x3f));
    int payload_type = -1;
    uint32_t ssrc = 0;
    if (parses (datagram, &payload_type, &ssrc)) {
      accepted++;
      ASSERT_GE (datagram.size (), 12u);
      ASSERT_EQ (datagram[0] >> 6, 2);
      ASSERT_GE (payload_type, 0);
      ASSERT_LE (payload_type, 127);
      size_t header = 12 + 4 * (datagram[0] & 0x0f);
      ASSERT_LE (header, datagram.size ());
    }
    rtcp_sender_ssrc (datagram.data (), datagram.size ());
  }
  EXPECT_GT (accepted, 0u);
}

TEST (RtcpSenderSsrc, ComesFromTheFirstPacket)
{
  Bytes report = make_rtcp_sender_report (0x01020304);
  auto ssrc = rtcp_sender_ssrc (report.data (), report.size ());
  ASSERT_TRUE (ssrc.has_value ());
  EXPECT_EQ (*ssrc, 0x01020304u);
}

TEST (RtcpSenderSsrc, RejectsWhatIsNotRtcp)
{
  Bytes rtp = make_rtp (96, 1, 1);
  EXPECT_FALSE (rtcp_sender_ssrc (rtp.data (), rtp.size ()).has_value ());
  Bytes report = make_rtcp_sender_report (1);
  EXPECT_FALSE (rtcp_sender_ssrc (report.data (), 7).has_value ());
  // First packet's length runs past the datagram.
  EXPECT_FALSE (rtcp_sender_ssrc (report.data (), 27).has_value ());
  report[0] = 0x40;
  EXPECT_FALSE (rtcp_sender_ssrc (report.data (), report.size ()).has_value ());
}

TEST (RtpEncoding, ClockRatesFollowTheMapping)
{
  EXPECT_EQ (parse_rtp_encoding ("H265")->clock_rate, 90000);
  EXPECT_EQ (parse_rtp_encoding ("H264")->clock_rate, 90000);
  EXPECT_EQ (parse_rtp_encoding ("AAC")->clock_rate, 48000);
  auto aac = parse_rtp_encoding ("AAC/44100");
  ASSERT_TRUE (aac.has_value ());
  EXPECT_EQ (aac->name, "AAC");
  EXPECT_EQ (aac->clock_rate, 44100);
  EXPECT_EQ (parse_rtp_encoding ("h265")->name, "H265");
  EXPECT_FALSE (parse_rtp_encoding ("AAC/").has_value ());
  EXPECT_FALSE (parse_rtp_encoding ("AAC/fast").has_value ());
  EXPECT_FALSE (parse_rtp_encoding ("AAC/-1").has_value ());
}

} // namespace
} // namespace mirror::test
