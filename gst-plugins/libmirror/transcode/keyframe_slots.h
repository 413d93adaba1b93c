// SPDX-License-Identifier: LGPL-2.1-or-later
// Where a ladder forces its keyframes: on the first frame at or past each
// multiple of the interval after a shared epoch (the first frame any
// rendition saw), so every rendition cuts at the same instants whatever the
// frame rate or the source GOP. Times in nanoseconds.
#pragma once

#include <cstdint>
#include <limits>
#include <mutex>

namespace mirror {

// The interval slot of pts after epoch (floor division, also before it).
int64_t keyframe_slot (uint64_t pts, uint64_t epoch, uint64_t interval);

// The epoch every rendition of one transcode counts from. Thread-safe.
class KeyframeEpoch {
 public:
  static constexpr uint64_t kNone = UINT64_MAX;
  // The epoch, taken from pts by the first caller.
  uint64_t fix (uint64_t pts);
  void reset ();

 private:
  std::mutex lock_;
  uint64_t epoch_ = kNone;
};

// One rendition's position: whether a frame must be a keyframe.
class KeyframeSlots {
 public:
  // True when pts opens a slot after the first one (the first frame is a
  // keyframe anyway); *slot is its number.
  bool due (uint64_t pts, uint64_t epoch, uint64_t interval, int64_t *slot);
  void reset () { last_ = kNoSlot; }

 private:
  static constexpr int64_t kNoSlot = std::numeric_limits<int64_t>::min ();
  int64_t last_ = kNoSlot;
};

} // namespace mirror
