// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/fragment.h"

namespace mirror::cmaf {

namespace {
// trun flags: data-offset, sample-duration, sample-size, sample-flags and
// sample-composition-time-offset present.
constexpr uint32_t kTrunFlags = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;
// tfhd flags: default-base-is-moof (CMAF requires it; no base_data_offset).
constexpr uint32_t kTfhdFlags = 0x020000;
} // namespace

size_t
moof_size (size_t sample_count)
{
  // moof 8 + mfhd 16 + traf 8 + tfhd 16 + tfdt(v1) 20 + trun 20 + 16 per sample.
  return 88 + 16 * sample_count;
}

void
write_styp (BoxWriter &w)
{
  auto box = w.begin_box ("styp");
  w.fourcc ("cmfs");
  w.u32 (0);
  w.fourcc ("msdh");
  w.fourcc ("cmfs");
  w.end_box (box);
}

void
write_chunk_header (BoxWriter &w, const Fragment &f)
{
  const size_t start = w.size ();
  auto moof = w.begin_box ("moof");
  auto mfhd = w.begin_full_box ("mfhd", 0, 0);
  w.u32 (f.sequence_number);
  w.end_box (mfhd);

  auto traf = w.begin_box ("traf");
  auto tfhd = w.begin_full_box ("tfhd", 0, kTfhdFlags);
  w.u32 (f.track_id);
  w.end_box (tfhd);
  auto tfdt = w.begin_full_box ("tfdt", 1, 0);
  w.u64 (f.base_media_decode_time);
  w.end_box (tfdt);

  // Version 1: signed composition offsets, so B-frames may start before
  // their decode time without an edit list.
  auto trun = w.begin_full_box ("trun", 1, kTrunFlags);
  w.u32 ((uint32_t)f.samples.size ());
  const size_t data_offset_at = w.size ();
  w.u32 (0);
  uint64_t payload = 0;
  for (const Sample &s : f.samples) {
    w.u32 (s.duration);
    w.u32 (s.size);
    w.u32 (s.sync ? kSyncSampleFlags : kNonSyncSampleFlags);
    w.u32 ((uint32_t)s.composition_offset);
    payload += s.size;
  }
  w.end_box (trun);
  w.end_box (traf);
  w.end_box (moof);

  // The first sample's bytes start right after the mdat header.
  w.patch_u32 (data_offset_at, (uint32_t)(w.size () - start + 8));
  w.u32 ((uint32_t)(8 + payload));
  w.fourcc ("mdat");
}

} // namespace mirror::cmaf
