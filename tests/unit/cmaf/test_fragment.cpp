// SPDX-License-Identifier: LGPL-2.1-or-later
// styp and moof+mdat header against hand-computed bytes.
#include <gtest/gtest.h>

#include "box_test_util.h"
#include "cmaf/fragment.h"

namespace mirror::cmaf::test {
namespace {

TEST (Fragment, StypBrands)
{
  BoxWriter w;
  write_styp (w);
  EXPECT_EQ (w.data (), (Bytes{ 0, 0, 0, 24, 's', 't', 'y', 'p', 'c', 'm', 'f', 's',
                                0, 0, 0, 0,  'm', 's', 'd', 'h', 'c', 'm', 'f', 's' }));
}

TEST (Fragment, ChunkHeaderBytes)
{
  Fragment f;
  f.sequence_number = 5;
  f.track_id = 1;
  f.base_media_decode_time = 0x100000000ull + 3600; // needs the 64-bit tfdt
  f.samples = { { 1000, 3600, 7200, true }, { 200, 3600, -3600, false } };
  BoxWriter w;
  write_chunk_header (w, f);
  const Bytes expected = {
    0,    0,    0,    120,  'm', 'o', 'o',  'f', // moof: 88 + 2 x 16
    0,    0,    0,    16,   'm', 'f', 'h',  'd',  0,    0,    0,    0,    0,
    0,    0,    5,                               // sequence 5
    0,    0,    0,    96,   't', 'r', 'a',  'f', // 16 + 20 + 52
    0,    0,    0,    16,   't', 'f', 'h',  'd',  0,    0x02, 0,    0,    0,
    0,    0,    1, // default-base-is-moof, track 1
    0,    0,    0,    20,   't', 'f', 'd',  't',  1,    0,    0,    0,    // version 1
    0,    0,    0,    1,    0,   0,   0x0e, 0x10,                         // 2^32 + 3600
    0,    0,    0,    52,   't', 'r', 'u',  'n',  1,    0,    0x0f, 0x01, // v1,
                                                                          // offset/dur/size/flags/cto
    0,    0,    0,    2,   // sample_count
    0,    0,    0,    128, // data_offset: moof + mdat header
    0,    0,    0x0e, 0x10, 0,   0,   0x03, 0xe8, 0x02, 0,    0,    0,    0,
    0,    0x1c, 0x20, // sync, cto +7200
    0,    0,    0x0e, 0x10, 0,   0,   0,    200,  0x01, 0x01, 0,    0,    0xff,
    0xff, 0xf1, 0xf0,                            // non-sync, -3600
    0,    0,    0x04, 0xb8, 'm', 'd', 'a',  't', // 8 + 1200
  };
  EXPECT_EQ (w.data (), expected);
  EXPECT_EQ (moof_size (2), 120u);
}

} // namespace
} // namespace mirror::cmaf::test
