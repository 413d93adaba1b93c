// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage/segment_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace mirror {

namespace {

constexpr uint32_t kMagic = 0x5852494d; // "MIRX" little-endian
constexpr uint8_t kIndependent = 1, kDiscontinuity = 2, kGap = 4;

void
put (uint8_t *at, uint64_t value, int bytes)
{
  for (int i = 0; i < bytes; i++)
    at[i] = uint8_t (value >> (8 * i));
}

uint64_t
get (const uint8_t *at, int bytes)
{
  uint64_t value = 0;
  for (int i = 0; i < bytes; i++)
    value |= uint64_t (at[i]) << (8 * i);
  return value;
}

std::array<uint32_t, 256>
crc_table ()
{
  std::array<uint32_t, 256> table{};
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}

} // namespace

uint32_t
crc32 (const uint8_t *data, size_t size)
{
  static const std::array<uint32_t, 256> table = crc_table ();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < size; i++)
    c = table[(c ^ data[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

// Layout: magic 0..3, kind 4, flags 5, (2 spare), init generation 8..11,
// parts 12..15, msn 16..23, wallclock 24..31, duration 32..39, offset
// 40..47, length 48..55, segments merged 56..59 (0: one), CRC-32 of 0..59
// at 60..63.
void
encode_index_record (const IndexRecord &r, uint8_t out[kIndexRecordSize])
{
  std::memset (out, 0, kIndexRecordSize);
  put (out, kMagic, 4);
  out[4] = uint8_t (r.kind);
  out[5] = uint8_t ((r.independent ? kIndependent : 0) | (r.discontinuity ? kDiscontinuity : 0)
                    | (r.gap ? kGap : 0));
  put (out + 8, r.init_generation, 4);
  put (out + 12, r.parts, 4);
  put (out + 16, r.msn, 8);
  put (out + 24, uint64_t (r.wallclock_ns), 8);
  put (out + 32, uint64_t (r.duration_ns), 8);
  put (out + 40, r.offset, 8);
  put (out + 48, r.length, 8);
  put (out + 56, r.segments, 4);
  put (out + 60, crc32 (out, 60), 4);
}

bool
decode_index_record (const uint8_t in[kIndexRecordSize], IndexRecord *r)
{
  if (get (in, 4) != kMagic || get (in + 60, 4) != crc32 (in, 60))
    return false;
  if (in[4] != uint8_t (IndexKind::kInit) && in[4] != uint8_t (IndexKind::kSegment))
    return false;
  r->kind = IndexKind (in[4]);
  r->independent = in[5] & kIndependent;
  r->discontinuity = in[5] & kDiscontinuity;
  r->gap = in[5] & kGap;
  r->init_generation = uint32_t (get (in + 8, 4));
  r->parts = uint32_t (get (in + 12, 4));
  r->msn = get (in + 16, 8);
  r->wallclock_ns = int64_t (get (in + 24, 8));
  r->duration_ns = int64_t (get (in + 32, 8));
  r->offset = get (in + 40, 8);
  r->length = get (in + 48, 8);
  r->segments = std::max<uint32_t> (1, uint32_t (get (in + 56, 4)));
  return true;
}

bool
read_index (const std::string &path, std::vector<IndexRecord> *records, uint64_t *valid_bytes,
            std::string *error, uint64_t from)
{
  records->clear ();
  if (valid_bytes)
    *valid_bytes = from;
  int fd = open (path.c_str (), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (error)
      *error = path + ": " + std::strerror (errno);
    return false;
  }
  // Whole records a block at a time.
  std::vector<uint8_t> block (1024 * kIndexRecordSize);
  uint64_t at = from;
  bool done = false;
  while (!done) {
    size_t got = 0;
    while (got < block.size ()) {
      ssize_t n = pread (fd, block.data () + got, block.size () - got, off_t (at + got));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += size_t (n);
    }
    if (got < block.size ())
      done = true;
    for (size_t i = 0; i + kIndexRecordSize <= got; i += kIndexRecordSize) {
      IndexRecord r;
      if (!decode_index_record (block.data () + i, &r)) {
        done = true; // a torn or damaged tail
        break;
      }
      records->push_back (r);
    }
    at += got;
  }
  close (fd);
  if (valid_bytes)
    *valid_bytes = from + records->size () * kIndexRecordSize;
  return true;
}

} // namespace mirror
