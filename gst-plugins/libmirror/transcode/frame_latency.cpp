// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcode/frame_latency.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

namespace mirror {

double
nearest_rank_percentile (std::deque<double> values, double p)
{
  if (values.empty ())
    return 0;
  std::vector<double> sorted (values.begin (), values.end ());
  std::sort (sorted.begin (), sorted.end ());
  size_t rank = (size_t)std::ceil (p * (double)sorted.size ());
  return sorted[std::min (rank == 0 ? 0 : rank - 1, sorted.size () - 1)];
}

void
FrameLatency::drop_before (std::map<uint64_t, int64_t>::iterator it)
{
  counts_.frames_dropped += (uint64_t)std::distance (pending_.begin (), it);
  pending_.erase (pending_.begin (), it);
}

void
FrameLatency::input (uint64_t key, int64_t at_us)
{
  std::lock_guard lock (lock_);
  counts_.frames_in++;
  if (key == kNoKey)
    return;
  pending_[key] = at_us;
  if (pending_.size () > kMaxPending)
    drop_before (std::next (pending_.begin ()));
}

bool
FrameLatency::output (uint64_t key, int64_t at_us)
{
  std::lock_guard lock (lock_);
  counts_.frames_out++;
  auto it = pending_.find (key);
  if (it == pending_.end ())
    return false;
  transit_ms_.push_back ((double)(at_us - it->second) / 1000.0);
  if (transit_ms_.size () > kWindow)
    transit_ms_.pop_front ();
  drop_before (it);
  pending_.erase (it);
  return true;
}

FrameLatencyStats
FrameLatency::stats () const
{
  std::lock_guard lock (lock_);
  FrameLatencyStats s = counts_;
  s.p50_ms = nearest_rank_percentile (transit_ms_, 0.50);
  s.p99_ms = nearest_rank_percentile (transit_ms_, 0.99);
  return s;
}

void
FrameLatency::reset ()
{
  std::lock_guard lock (lock_);
  counts_ = {};
  pending_.clear ();
  transit_ms_.clear ();
}

} // namespace mirror
