// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/box_writer.h"

#include <cassert>

namespace mirror::cmaf {

BoxWriter::Mark
BoxWriter::begin_box (std::string_view type)
{
  Mark mark = buf_.size ();
  u32 (0);
  fourcc (type);
  return mark;
}

BoxWriter::Mark
BoxWriter::begin_full_box (std::string_view type, uint8_t version, uint32_t flags)
{
  Mark mark = begin_box (type);
  u8 (version);
  u24 (flags);
  return mark;
}

void
BoxWriter::end_box (Mark mark)
{
  patch_u32 (mark, (uint32_t)(buf_.size () - mark));
}

void
BoxWriter::u8 (uint8_t v)
{
  buf_.push_back (v);
}

void
BoxWriter::u16 (uint16_t v)
{
  u8 ((uint8_t)(v >> 8));
  u8 ((uint8_t)v);
}

void
BoxWriter::u24 (uint32_t v)
{
  u8 ((uint8_t)(v >> 16));
  u16 ((uint16_t)v);
}

void
BoxWriter::u32 (uint32_t v)
{
  u16 ((uint16_t)(v >> 16));
  u16 ((uint16_t)v);
}

void
BoxWriter::u64 (uint64_t v)
{
  u32 ((uint32_t)(v >> 32));
  u32 ((uint32_t)v);
}

void
BoxWriter::fourcc (std::string_view type)
{
  assert (type.size () == 4);
  for (size_t i = 0; i < 4; i++)
    u8 (i < type.size () ? (uint8_t)type[i] : (uint8_t)' ');
}

void
BoxWriter::zeros (size_t n)
{
  buf_.insert (buf_.end (), n, 0);
}

void
BoxWriter::bytes (const uint8_t *data, size_t size)
{
  if (size)
    buf_.insert (buf_.end (), data, data + size);
}

void
BoxWriter::patch_u32 (size_t offset, uint32_t v)
{
  assert (offset + 4 <= buf_.size ());
  buf_[offset] = (uint8_t)(v >> 24);
  buf_[offset + 1] = (uint8_t)(v >> 16);
  buf_[offset + 2] = (uint8_t)(v >> 8);
  buf_[offset + 3] = (uint8_t)v;
}

} // namespace mirror::cmaf
