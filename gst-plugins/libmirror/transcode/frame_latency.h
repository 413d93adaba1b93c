// SPDX-License-Identifier: LGPL-2.1-or-later
// How long frames take through a transcode: each frame is noted when it
// enters (by a key that survives the trip, the running time of its PTS) and
// matched when it leaves; the last kWindow transit times give percentiles.
// Frames still waiting when a later one leaves were dropped on the way (the
// output leaves in PTS order). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>

namespace mirror {

struct FrameLatencyStats {
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t frames_dropped = 0;
  double p50_ms = 0; // 0 while nothing went through
  double p99_ms = 0;
};

class FrameLatency {
 public:
  static constexpr size_t kWindow = 256;     // transit times kept for percentiles
  static constexpr size_t kMaxPending = 1024; // frames waiting before the oldest counts as dropped
  static constexpr uint64_t kNoKey = UINT64_MAX;

  // A frame entered at monotonic time at_us; kNoKey frames are only counted.
  void input (uint64_t key, int64_t at_us);
  // A frame left at at_us; false when its key never entered.
  bool output (uint64_t key, int64_t at_us);
  FrameLatencyStats stats () const;
  void reset ();

 private:
  void drop_before (std::map<uint64_t, int64_t>::iterator it);

  mutable std::mutex lock_;
  FrameLatencyStats counts_;
  std::map<uint64_t, int64_t> pending_; // key -> when it entered (µs)
  std::deque<double> transit_ms_;
};

// The p-quantile (0..1, nearest rank) of values; 0 when empty.
double nearest_rank_percentile (std::deque<double> values, double p);

} // namespace mirror
