// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/wallclock_map.h"

namespace mirror::cmaf {

int64_t
WallclockMap::offset (int64_t arrival_ns, int64_t decode_ns)
{
  const int64_t candidate = arrival_ns - decode_ns;
  const bool back = valid_ && decode_ns + kBackNs < last_decode_ns_;
  if (valid_ && decode_ns > last_decode_ns_)
    offset_ns_ += (decode_ns - last_decode_ns_) * kDriftPpm / 1'000'000;
  if (!valid_ || back || candidate < offset_ns_) {
    offset_ns_ = candidate;
    late_ = false;
  } else if (candidate - offset_ns_ > kResyncNs) {
    // Late by more than kResyncNs: a gap, if it lasts; one sample held up
    // is not.
    if (!late_ || candidate < late_least_ns_)
      late_least_ns_ = candidate;
    if (!late_)
      late_since_ns_ = decode_ns;
    late_ = true;
    if (decode_ns - late_since_ns_ >= kSettleNs) {
      offset_ns_ = late_least_ns_;
      late_ = false;
    }
  } else {
    late_ = false;
  }
  if (!valid_ || back || decode_ns > last_decode_ns_)
    last_decode_ns_ = decode_ns;
  valid_ = true;
  return offset_ns_;
}

} // namespace mirror::cmaf
