// SPDX-License-Identifier: LGPL-2.1-or-later
// The wall clock of a track's samples, for EXT-X-PROGRAM-DATE-TIME: media
// time plus one offset, so that PDTs advance exactly as the EXTINF and
// PART durations do, whatever the arrival jitter (SRT bursts, an encoder's
// delay, a demuxer that hands audio over in lumps).
#pragma once

#include <cstdint>

namespace mirror::cmaf {

class WallclockMap {
 public:
  // The offset from media time to wall clock (unix ns) after a sample that
  // decodes at @decode_ns (any timeline that moves with the media) and
  // arrived at @arrival_ns: the sample's wall clock is the offset plus its
  // presentation time. The offset is the least arrival - decode time seen:
  // the sample that waited least sets it, later ones that waited longer map
  // onto it. It creeps forward by kDriftPpm of media time, so a sender
  // whose clock runs slow against ours is followed, and starts again from
  // the sample when the media jumps: decode time going back more than
  // kBackNs (a timeline reset; less is rounding), or arrivals more than
  // kResyncNs after their mapped time for kSettleNs of media (a gap; a
  // single sample held up is not one).
  int64_t offset (int64_t arrival_ns, int64_t decode_ns);

  void reset () { valid_ = false; }

  static constexpr int64_t kDriftPpm = 1000; // 1 ms per second
  static constexpr int64_t kResyncNs = 1'000'000'000;
  static constexpr int64_t kBackNs = 100'000'000;
  static constexpr int64_t kSettleNs = 5'000'000'000;

 private:
  bool valid_ = false;
  int64_t offset_ns_ = 0;
  int64_t last_decode_ns_ = 0;
  bool late_ = false; // arrivals kResyncNs late since late_since_ns_
  int64_t late_since_ns_ = 0;
  int64_t late_least_ns_ = 0;
};

} // namespace mirror::cmaf
