// SPDX-License-Identifier: LGPL-2.1-or-later
// One CMAF chunk: moof (mfhd + traf with tfhd, tfdt, trun) followed by the
// mdat header; the sample bytes follow the returned header unchanged, so a
// caller can append them without copying.
#pragma once

#include <cstdint>
#include <vector>

#include "cmaf/box_writer.h"

namespace mirror::cmaf {

struct Sample {
  uint32_t size = 0;
  uint32_t duration = 0;          // in track ticks
  int32_t composition_offset = 0; // PTS - DTS in track ticks (trun version 1)
  bool sync = true;
};

struct Fragment {
  uint32_t sequence_number = 1; // mfhd: counts up from 1 per track
  uint32_t track_id = 1;
  uint64_t base_media_decode_time = 0; // tfdt, in track ticks
  std::vector<Sample> samples;
};

// sample_flags for trun: a sync sample depends on nothing; any other one
// depends on others and is a non-sync sample.
constexpr uint32_t kSyncSampleFlags = 0x02000000;
constexpr uint32_t kNonSyncSampleFlags = 0x01010000;

// styp at each segment start: major brand cmfs, compatible msdh and cmfs.
void write_styp (BoxWriter &w);
// moof + the 8-byte mdat header for @fragment's samples.
void write_chunk_header (BoxWriter &w, const Fragment &fragment);
// Size of the moof alone (what trun's data_offset skips, less the mdat header).
size_t moof_size (size_t sample_count);

} // namespace mirror::cmaf
