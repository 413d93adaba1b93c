// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcode/droppable_frames.h"

namespace mirror {

namespace {

// The verdict on one NAL unit: droppable, kept, or not a slice (look on).
enum class Verdict { kDroppable, kKept, kNotASlice };

Verdict
judge (VideoCodec codec, const uint8_t *nal, size_t size)
{
  if (size == 0)
    return Verdict::kNotASlice;
  if (codec == VideoCodec::kH264) {
    const int type = nal[0] & 0x1f;
    if (type < 1 || type > 5)
      return Verdict::kNotASlice;
    return (nal[0] & 0x60) == 0 ? Verdict::kDroppable : Verdict::kKept;
  }
  const int type = (nal[0] >> 1) & 0x3f;
  if (type >= 32)
    return Verdict::kNotASlice; // VPS, SPS, PPS, SEI, AUD ...
  return type <= 14 && type % 2 == 0 ? Verdict::kDroppable : Verdict::kKept;
}

// Start of the NAL unit after the start code at or after @from, or @size.
size_t
next_start (const uint8_t *data, size_t size, size_t from)
{
  for (size_t i = from; i + 3 <= size; i++)
    if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1)
      return i + 3;
  return size;
}

} // namespace

bool
access_unit_is_droppable (VideoCodec codec, const uint8_t *data, size_t size, int length_size)
{
  if (!data)
    return false;
  if (length_size == 0) {
    for (size_t at = next_start (data, size, 0); at < size;) {
      const size_t next = next_start (data, size, at);
      // The NAL unit ends where the next start code begins (trailing zero
      // bytes of a four-byte start code are harmless here).
      const size_t end = next < size ? next - 3 : size;
      Verdict v = judge (codec, data + at, end > at ? end - at : 0);
      if (v != Verdict::kNotASlice)
        return v == Verdict::kDroppable;
      at = next;
    }
    return false;
  }
  if (length_size < 1 || length_size > 4)
    return false;
  size_t at = 0;
  while (at + size_t (length_size) <= size) {
    size_t length = 0;
    for (int i = 0; i < length_size; i++)
      length = (length << 8) | data[at + size_t (i)];
    at += size_t (length_size);
    if (length > size - at)
      return false;
    Verdict v = judge (codec, data + at, length);
    if (v != Verdict::kNotASlice)
      return v == Verdict::kDroppable;
    at += length;
  }
  return false;
}

std::optional<int>
nal_length_size (VideoCodec codec, const uint8_t *codec_data, size_t size)
{
  // avcC: configurationVersion, profile, compatibility, level, then
  // lengthSizeMinusOne in the low two bits. hvcC: the same field is the
  // low two bits of byte 21.
  const size_t at = codec == VideoCodec::kH264 ? 4 : 21;
  if (!codec_data || size <= at)
    return std::nullopt;
  return (codec_data[at] & 0x03) + 1;
}

} // namespace mirror
