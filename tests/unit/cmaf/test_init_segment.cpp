// SPDX-License-Identifier: LGPL-2.1-or-later
// ftyp + moov for H.264, H.265 and AAC tracks: sizes and fields computed by
// hand from ISO/IEC 14496-12, -14 and -15.
#include <gtest/gtest.h>

#include "box_test_util.h"
#include "cmaf/init_segment.h"

namespace mirror::cmaf::test {
namespace {

const Bytes kAvcC = { 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64,
                      0x00, 0x1f, 0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80 };

TrackConfig
h264_track ()
{
  TrackConfig t;
  t.codec = Codec::H264;
  t.sample_entry = "avc1";
  t.width = 640;
  t.height = 360;
  t.codec_data = kAvcC;
  return t;
}

TEST (InitSegment, FtypBrands)
{
  BoxWriter w;
  write_ftyp (w);
  EXPECT_EQ (w.data (), (Bytes{ 0, 0, 0, 24, 'f', 't', 'y', 'p', 'c', 'm', 'f', 'c',
                                0, 0, 0, 0,  'i', 's', 'o', '6', 'c', 'm', 'f', 'c' }));
}

TEST (InitSegment, H264BoxSizes)
{
  Bytes b = make_init_segment (h264_track ());
  ASSERT_EQ (type_at (b, 0), "ftyp");
  ASSERT_EQ (type_at (b, 24), "moov");
  // avc1: 86 + avcC (8 + 19); stsd 16 + 113; stbl 8 + 129 + 16 + 16 + 20 + 16.
  const std::pair<const char *, uint32_t> sizes[] = {
    { "moov/mvhd", 108 },
    { "moov/trak/tkhd", 92 },
    { "moov/trak/mdia/mdhd", 32 },
    { "moov/trak/mdia/hdlr", 45 },
    { "moov/trak/mdia/minf/vmhd", 20 },
    { "moov/trak/mdia/minf/dinf", 36 },
    { "moov/trak/mdia/minf/dinf/dref/url ", 12 },
    { "moov/trak/mdia/minf/stbl/stsd/avc1/avcC", 27 },
    { "moov/trak/mdia/minf/stbl/stsd/avc1", 113 },
    { "moov/trak/mdia/minf/stbl/stsd", 129 },
    { "moov/trak/mdia/minf/stbl/stts", 16 },
    { "moov/trak/mdia/minf/stbl/stsc", 16 },
    { "moov/trak/mdia/minf/stbl/stsz", 20 },
    { "moov/trak/mdia/minf/stbl/stco", 16 },
    { "moov/trak/mdia/minf/stbl", 205 },
    { "moov/mvex/trex", 32 },
    { "moov/mvex", 40 },
  };
  for (auto &[path, size] : sizes) {
    auto at = find_box (b, path);
    ASSERT_TRUE (at.has_value ()) << path;
    EXPECT_EQ (be32 (b, *at), size) << path;
  }
  // moov = 8 + mvhd 108 + trak (8 + tkhd 92 + mdia (8 + 32 + 45 + minf (8 + 20 + 36 + 205))) + 40
  EXPECT_EQ (be32 (b, 24), 8u + 108 + (8 + 92 + (8 + 32 + 45 + (8 + 20 + 36 + 205))) + 40);
  EXPECT_EQ (b.size (), 24u + be32 (b, 24));
}

TEST (InitSegment, H264Fields)
{
  Bytes b = make_init_segment (h264_track ());
  size_t mvhd = *find_box (b, "moov/mvhd");
  EXPECT_EQ (be32 (b, mvhd + 20), 90000u); // timescale
  EXPECT_EQ (be32 (b, mvhd + 104), 2u);    // next_track_ID
  size_t tkhd = *find_box (b, "moov/trak/tkhd");
  EXPECT_EQ (be32 (b, tkhd + 8), 0x00000003u); // v0, enabled | in movie
  EXPECT_EQ (be32 (b, tkhd + 20), 1u);         // track_ID
  EXPECT_EQ (be32 (b, tkhd + 84), 640u << 16);
  EXPECT_EQ (be32 (b, tkhd + 88), 360u << 16);
  size_t mdhd = *find_box (b, "moov/trak/mdia/mdhd");
  EXPECT_EQ (be32 (b, mdhd + 20), 90000u);
  EXPECT_EQ (be32 (b, mdhd + 28), 0x55c40000u); // "und"
  size_t hdlr = *find_box (b, "moov/trak/mdia/hdlr");
  EXPECT_EQ (type_at (b, hdlr + 12), "vide");
  size_t avc1 = *find_box (b, "moov/trak/mdia/minf/stbl/stsd/avc1");
  EXPECT_EQ (be32 (b, avc1 + 12) & 0xffff, 1u); // data_reference_index
  EXPECT_EQ (be32 (b, avc1 + 32), (640u << 16) | 360u);
  size_t avcc = *find_box (b, "moov/trak/mdia/minf/stbl/stsd/avc1/avcC");
  EXPECT_EQ (Bytes (b.begin () + avcc + 8, b.begin () + avcc + 27), kAvcC);
  size_t trex = *find_box (b, "moov/mvex/trex");
  EXPECT_EQ (be32 (b, trex + 12), 1u);
  EXPECT_EQ (be32 (b, trex + 16), 1u);
}

TEST (InitSegment, H265UsesHvc1AndHvcC)
{
  TrackConfig t = h264_track ();
  t.codec = Codec::H265;
  t.sample_entry = "hvc1";
  t.codec_data = Bytes (23, 0);
  t.codec_data[0] = 1;
  Bytes b = make_init_segment (t);
  auto hvcc = find_box (b, "moov/trak/mdia/minf/stbl/stsd/hvc1/hvcC");
  ASSERT_TRUE (hvcc.has_value ());
  EXPECT_EQ (be32 (b, *hvcc), 31u);
  EXPECT_FALSE (find_box (b, "moov/trak/mdia/minf/stbl/stsd/avc1").has_value ());
}

TEST (InitSegment, AacTrack)
{
  TrackConfig t;
  t.codec = Codec::Aac;
  t.sample_entry = "mp4a";
  t.timescale = 44100;
  t.sample_rate = 44100;
  t.channels = 2;
  t.codec_data = { 0x12, 0x10 };
  t.avg_bitrate = 64000;
  t.max_bitrate = 64000;
  Bytes b = make_init_segment (t);
  size_t mdhd = *find_box (b, "moov/trak/mdia/mdhd");
  EXPECT_EQ (be32 (b, mdhd + 20), 44100u);
  size_t hdlr = *find_box (b, "moov/trak/mdia/hdlr");
  EXPECT_EQ (type_at (b, hdlr + 12), "soun");
  ASSERT_TRUE (find_box (b, "moov/trak/mdia/minf/smhd").has_value ());
  EXPECT_EQ (be32 (b, *find_box (b, "moov/trak/mdia/minf/smhd")), 16u);
  size_t tkhd = *find_box (b, "moov/trak/tkhd");
  EXPECT_EQ (be32 (b, tkhd + 44) >> 16, 0x0100u); // volume
  size_t mp4a = *find_box (b, "moov/trak/mdia/minf/stbl/stsd/mp4a");
  EXPECT_EQ (be32 (b, mp4a), 36u + 39);
  EXPECT_EQ (be32 (b, mp4a + 24), (2u << 16) | 16u); // channelcount, samplesize
  EXPECT_EQ (be32 (b, mp4a + 32), 44100u << 16);
  size_t esds = *find_box (b, "moov/trak/mdia/minf/stbl/stsd/mp4a/esds");
  const Bytes expected = { 0,    0,    0,    39,   'e',  's', 'd',  's', 0,
                           0,    0,    0,    0x03, 0x19, 0,   1,    0, // ES_Descriptor, ES_ID 1
                           0x04, 0x11, 0x40, 0x15, 0,    0,   0,       // DecoderConfig, AAC, audio
                           0,    0,    0xfa, 0,    0,    0,   0xfa, 0, // max, avg bitrate 64000
                           0x05, 0x02, 0x12, 0x10,                     // AudioSpecificConfig
                           0x06, 0x01, 0x02 };
  EXPECT_EQ (Bytes (b.begin () + esds, b.begin () + esds + 39), expected);
}

} // namespace
} // namespace mirror::cmaf::test
