// SPDX-License-Identifier: LGPL-2.1-or-later
// Helpers for reading back the boxes the writer made.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mirror::cmaf::test {

using Bytes = std::vector<uint8_t>;

inline uint32_t
be32 (const Bytes &b, size_t at)
{
  return ((uint32_t)b[at] << 24) | ((uint32_t)b[at + 1] << 16) | ((uint32_t)b[at + 2] << 8)
         | b[at + 3];
}

inline uint64_t
be64 (const Bytes &b, size_t at)
{
  return ((uint64_t)be32 (b, at) << 32) | be32 (b, at + 4);
}

inline std::string
type_at (const Bytes &b, size_t at)
{
  return std::string (b.begin () + at + 4, b.begin () + at + 8);
}

// Offset of the box @path ("moov/trak/mdia") among the boxes in
// [begin, end), descending through containers; nullopt when absent.
// @skip gives how many payload bytes precede the children of a box whose
// type is a sample entry or full box container (stsd: 8, avc1: 78).
inline std::optional<size_t>
find_box (const Bytes &b, const std::string &path, size_t begin = 0, size_t end = SIZE_MAX)
{
  if (end == SIZE_MAX)
    end = b.size ();
  std::string head = path.substr (0, path.find ('/'));
  std::string rest = path.find ('/') == std::string::npos ? "" : path.substr (path.find ('/') + 1);
  size_t at = begin;
  while (at + 8 <= end) {
    uint32_t size = be32 (b, at);
    if (size < 8 || at + size > end)
      return std::nullopt;
    if (type_at (b, at) == head) {
      if (rest.empty ())
        return at;
      size_t skip = 8;
      if (head == "stsd" || head == "dref")
        skip = 16;
      else if (head == "avc1" || head == "avc3" || head == "hvc1" || head == "hev1")
        skip = 86;
      else if (head == "mp4a")
        skip = 36;
      return find_box (b, rest, at + skip, at + size);
    }
    at += size;
  }
  return std::nullopt;
}

inline Bytes
fourcc_bytes (const char *s)
{
  return Bytes (s, s + 4);
}

} // namespace mirror::cmaf::test
