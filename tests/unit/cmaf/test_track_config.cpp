// SPDX-License-Identifier: LGPL-2.1-or-later
// avcC / hvcC / AudioSpecificConfig checks and RFC 6381 codecs strings.
#include <gtest/gtest.h>

#include "box_test_util.h"
#include "cmaf/track_config.h"

namespace mirror::cmaf::test {
namespace {

const Bytes kAvcC = { 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64,
                      0x00, 0x1f, 0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80 };

TEST (TrackConfig, AvcCGivesCodecsAndNalLength)
{
  std::string err;
  auto rec = parse_avcc (kAvcC, "avc1", &err);
  ASSERT_TRUE (rec.has_value ()) << err;
  EXPECT_EQ (rec->codecs, "avc1.64001F");
  EXPECT_EQ (rec->nal_length_size, 4);
}

TEST (TrackConfig, TruncatedAvcCIsRefused)
{
  std::string err;
  Bytes cut (kAvcC.begin (), kAvcC.end () - 2);
  EXPECT_FALSE (parse_avcc (cut, "avc1", &err).has_value ());
  EXPECT_NE (err.find ("PPS"), std::string::npos) << err;
  EXPECT_FALSE (parse_avcc ({ 0x02, 0x64, 0, 0x1f, 0xff, 0xe0, 0 }, "avc1", &err).has_value ());
}

TEST (TrackConfig, Avc3MayCarryNoParameterSets)
{
  std::string err;
  Bytes bare = { 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0x00 };
  EXPECT_FALSE (parse_avcc (bare, "avc1", &err).has_value ());
  EXPECT_TRUE (parse_avcc (bare, "avc3", &err).has_value ()) << err;
}

TEST (TrackConfig, HvcCGivesCodecs)
{
  Bytes h (23, 0);
  h[0] = 1;
  h[1] = 0x01; // Main
  h[2] = 0x60; // compatible with profiles 1 and 2
  h[6] = 0xb0;
  h[12] = 93; // level 3.1
  h[21] = 0x0f;
  std::string err;
  auto rec = parse_hvcc (h, "hvc1", &err);
  ASSERT_TRUE (rec.has_value ()) << err;
  EXPECT_EQ (rec->codecs, "hvc1.1.6.L93.B0");
  EXPECT_EQ (rec->nal_length_size, 4);
  EXPECT_FALSE (parse_hvcc (Bytes (22, 1), "hvc1", &err).has_value ());
}

TEST (TrackConfig, AudioSpecificConfig)
{
  auto cfg = parse_audio_specific_config ({ 0x12, 0x10 });
  ASSERT_TRUE (cfg.has_value ());
  EXPECT_EQ (cfg->object_type, 2);
  EXPECT_EQ (cfg->sample_rate, 44100u);
  EXPECT_EQ (cfg->channels, 2);
  EXPECT_FALSE (parse_audio_specific_config ({ 0x12 }).has_value ());
}

} // namespace
} // namespace mirror::cmaf::test
