// SPDX-License-Identifier: LGPL-2.1-or-later
// The recorder's index: one fixed-size record per init or media segment
// appended to a period's data file, each with its own CRC, so that a reader
// (or the recorder, reopening after a crash) takes every whole record up to
// the first torn or damaged one and ignores the rest. A record is written
// only after the bytes it points to, so a valid record never points past
// what the data file holds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mirror {

enum class IndexKind : uint8_t {
  kInit = 1,
  kSegment = 2,
};

struct IndexRecord {
  IndexKind kind = IndexKind::kSegment;
  bool independent = false;   // the segment starts with a sync sample
  bool discontinuity = false; // EXT-X-DISCONTINUITY before it
  bool gap = false;           // media missing before it (an outage)
  uint32_t init_generation = 0;
  uint64_t msn = 0;
  int64_t wallclock_ns = 0; // unix ns of its first frame (init: of the next segment)
  int64_t duration_ns = 0;
  uint64_t offset = 0; // in the period's data file
  uint64_t length = 0;
  uint32_t parts = 0;
  // Packaged segments merged into this one (storage.dvr.segment_length);
  // msn is the first's. Stored in what was spare, so 0 on disk reads as 1.
  uint32_t segments = 1;
};

inline constexpr size_t kIndexRecordSize = 64;

// The record as stored (little-endian, CRC-32 in the last four bytes).
void encode_index_record (const IndexRecord &record, uint8_t out[kIndexRecordSize]);
// False for a damaged record (wrong magic or CRC).
bool decode_index_record (const uint8_t in[kIndexRecordSize], IndexRecord *record);

// Every valid record of an index file from byte @from (a record boundary),
// in order, up to the first invalid one. *valid_bytes (optional) is where
// the valid records end; false and *error when the file cannot be read at
// all.
bool read_index (const std::string &path, std::vector<IndexRecord> *records,
                 uint64_t *valid_bytes = nullptr, std::string *error = nullptr, uint64_t from = 0);

uint32_t crc32 (const uint8_t *data, size_t size);

} // namespace mirror
