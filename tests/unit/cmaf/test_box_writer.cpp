// SPDX-License-Identifier: LGPL-2.1-or-later
// BoxWriter: big-endian fields and sizes patched when a box closes.
#include <gtest/gtest.h>

#include "box_test_util.h"
#include "cmaf/box_writer.h"

namespace mirror::cmaf::test {
namespace {

TEST (BoxWriter, FieldsAreBigEndian)
{
  BoxWriter w;
  w.u8 (0x01);
  w.u16 (0x0203);
  w.u24 (0x040506);
  w.u32 (0x0708090a);
  w.u64 (0x0b0c0d0e0f101112ull);
  EXPECT_EQ (w.data (), (Bytes{ 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12 }));
}

TEST (BoxWriter, NestedBoxSizesArePatched)
{
  BoxWriter w;
  auto outer = w.begin_box ("moof");
  auto inner = w.begin_full_box ("mfhd", 0, 0);
  w.u32 (7);
  w.end_box (inner);
  w.end_box (outer);
  EXPECT_EQ (w.data (), (Bytes{ 0,   0,   0,   24,  'm', 'o', 'o', 'f', 0, 0, 0, 16,
                                'm', 'f', 'h', 'd', 0,   0,   0,   0,   0, 0, 0, 7 }));
}

TEST (BoxWriter, FullBoxCarriesVersionAndFlags)
{
  BoxWriter w;
  auto b = w.begin_full_box ("tfhd", 1, 0x020000);
  w.end_box (b);
  EXPECT_EQ (w.data (), (Bytes{ 0, 0, 0, 12, 't', 'f', 'h', 'd', 1, 0x02, 0, 0 }));
}

} // namespace
} // namespace mirror::cmaf::test
