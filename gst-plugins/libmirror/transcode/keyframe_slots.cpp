// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcode/keyframe_slots.h"

namespace mirror {

int64_t
keyframe_slot (uint64_t pts, uint64_t epoch, uint64_t interval)
{
  const int64_t d = (int64_t)(pts - epoch), step = (int64_t)interval;
  return d >= 0 ? d / step : -((-d + step - 1) / step);
}

uint64_t
KeyframeEpoch::fix (uint64_t pts)
{
  std::lock_guard lock (lock_);
  if (epoch_ == kNone)
    epoch_ = pts;
  return epoch_;
}

void
KeyframeEpoch::reset ()
{
  std::lock_guard lock (lock_);
  epoch_ = kNone;
}

bool
KeyframeSlots::due (uint64_t pts, uint64_t epoch, uint64_t interval, int64_t *slot)
{
  if (interval == 0)
    return false;
  *slot = keyframe_slot (pts, epoch, interval);
  if (*slot == last_)
    return false;
  const bool first = last_ == kNoSlot;
  last_ = *slot;
  return !first;
}

} // namespace mirror
