// SPDX-License-Identifier: LGPL-2.1-or-later
// Which compressed frames a decoder that falls behind may be spared.
#include <gtest/gtest.h>

#include <vector>

#include "transcode/droppable_frames.h"

namespace mirror {
namespace {

using Bytes = std::vector<uint8_t>;

// An access unit of NAL units (each its header bytes and a little payload),
// as an Annex B byte stream (four-byte start codes) or length-prefixed.
Bytes
access_unit (const std::vector<Bytes> &nals, int length_size)
{
  Bytes out;
  for (const Bytes &nal : nals) {
    if (length_size == 0) {
      out.insert (out.end (), { 0, 0, 0, 1 });
    } else {
      for (int i = length_size - 1; i >= 0; i--)
        out.push_back (uint8_t (nal.size () >> (8 * i)));
    }
    out.insert (out.end (), nal.begin (), nal.end ());
  }
  return out;
}

bool
droppable (VideoCodec codec, const std::vector<Bytes> &nals, int length_size)
{
  Bytes au = access_unit (nals, length_size);
  return access_unit_is_droppable (codec, au.data (), au.size (), length_size);
}

// H.265 NAL unit headers: type << 1, then layer 0, temporal id 1.
Bytes
hevc (int type)
{
  return { uint8_t (type << 1), 0x01, 0xaf, 0x00, 0x00, 0x03, 0x01 };
}

TEST (DroppableFrames, HevcSubLayerNonReferencePicturesOnly)
{
  for (int length_size : { 0, 2, 4 }) {
    const Bytes aud = hevc (35), sei = hevc (39);
    EXPECT_TRUE (droppable (VideoCodec::kH265, { aud, sei, hevc (0) }, length_size)); // TRAIL_N
    EXPECT_TRUE (droppable (VideoCodec::kH265, { aud, hevc (8) }, length_size));      // RASL_N
    EXPECT_FALSE (droppable (VideoCodec::kH265, { aud, hevc (1) }, length_size));     // TRAIL_R
    EXPECT_FALSE (droppable (VideoCodec::kH265, { aud, hevc (19) }, length_size));    // IDR_W_RADL
    EXPECT_FALSE (droppable (VideoCodec::kH265, { aud, hevc (21) }, length_size));    // CRA
    // Parameter sets and no slice: kept.
    EXPECT_FALSE (droppable (VideoCodec::kH265, { hevc (32), hevc (33), hevc (34) }, length_size));
  }
}

TEST (DroppableFrames, H264NalRefIdcZeroOnly)
{
  for (int length_size : { 0, 4 }) {
    const Bytes aud = { 0x09, 0xf0 };
    EXPECT_TRUE (droppable (VideoCodec::kH264, { aud, { 0x01, 0x9a, 0x02 } }, length_size));
    EXPECT_FALSE (droppable (VideoCodec::kH264, { aud, { 0x41, 0x9a, 0x02 } }, length_size));
    EXPECT_FALSE (droppable (VideoCodec::kH264, { aud, { 0x65, 0x88, 0x84 } }, length_size));
    EXPECT_FALSE (droppable (VideoCodec::kH264, { { 0x67, 0x4d }, { 0x68, 0xee } }, length_size));
  }
}

TEST (DroppableFrames, TruncatedOrOddInputIsKept)
{
  Bytes au = access_unit ({ hevc (0) }, 4);
  au[3] = 200; // a length beyond the buffer
  EXPECT_FALSE (access_unit_is_droppable (VideoCodec::kH265, au.data (), au.size (), 4));
  EXPECT_FALSE (access_unit_is_droppable (VideoCodec::kH265, nullptr, 0, 4));
  EXPECT_FALSE (access_unit_is_droppable (VideoCodec::kH265, au.data (), au.size (), 7));
  const uint8_t zeros[8] = {};
  EXPECT_FALSE (access_unit_is_droppable (VideoCodec::kH264, zeros, sizeof zeros, 0));
}

TEST (DroppableFrames, NalLengthSizeFromCodecData)
{
  const uint8_t avcc[] = { 1, 0x4d, 0x40, 0x1f, 0xff, 0xe1 };
  EXPECT_EQ (nal_length_size (VideoCodec::kH264, avcc, sizeof avcc), 4);
  uint8_t hvcc[23] = {};
  hvcc[21] = 0xfc | 1;
  EXPECT_EQ (nal_length_size (VideoCodec::kH265, hvcc, sizeof hvcc), 2);
  EXPECT_FALSE (nal_length_size (VideoCodec::kH265, hvcc, 10));
}

} // namespace
} // namespace mirror
