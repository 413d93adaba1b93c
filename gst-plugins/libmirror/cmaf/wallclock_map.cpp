// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/wallclock_map.h"

#include <cstdint>
#include <limits>

namespace mirror::cmaf {

namespace {

// a - b and a + b held to int64_t's range: decode times come from the
// stream (a broken encoder's, a hostile caller's), and no jump of theirs may
// overflow (undefined behaviour; a fuzzed MPEG-TS found one).
int64_t
clamped_sub (int64_t a, int64_t b)
{
  int64_t r;
  if (!__builtin_sub_overflow (a, b, &r))
    return r;
  return b < 0 ? std::numeric_limits<int64_t>::max () : std::numeric_limits<int64_t>::min ();
}

int64_t
clamped_add (int64_t a, int64_t b)
{
  int64_t r;
  if (!__builtin_add_overflow (a, b, &r))
    return r;
  return b > 0 ? std::numeric_limits<int64_t>::max () : std::numeric_limits<int64_t>::min ();
}

} // namespace

int64_t
WallclockMap::offset (int64_t arrival_ns, int64_t decode_ns)
{
  const int64_t candidate = clamped_sub (arrival_ns, decode_ns);
  const bool back = valid_ && clamped_add (decode_ns, kBackNs) < last_decode_ns_;
  if (valid_ && decode_ns > last_decode_ns_) {
    // kDriftPpm of the step, in two halves that cannot overflow.
    const int64_t step = clamped_sub (decode_ns, last_decode_ns_);
    offset_ns_ = clamped_add (offset_ns_, step / 1'000'000 * kDriftPpm
                                              + step % 1'000'000 * kDriftPpm / 1'000'000);
  }
  if (!valid_ || back || candidate < offset_ns_) {
    offset_ns_ = candidate;
    late_ = false;
  } else if (clamped_sub (candidate, offset_ns_) > kResyncNs) {
    // Late by more than kResyncNs: a gap, if it lasts; one sample held up
    // is not.
    if (!late_ || candidate < late_least_ns_)
      late_least_ns_ = candidate;
    if (!late_)
      late_since_ns_ = decode_ns;
    late_ = true;
    if (clamped_sub (decode_ns, late_since_ns_) >= kSettleNs) {
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
