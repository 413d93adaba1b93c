// SPDX-License-Identifier: LGPL-2.1-or-later
// What mirrorheartbeat measures on a stream of access units, kept free of
// GObject so the arithmetic can be reasoned about (and tested) on its own.
// Times are nanoseconds; kNoTime marks an unknown time. Not thread-safe: the
// element serialises access.
#pragma once

#include <cstdint>
#include <deque>

namespace mirror {

struct StreamReading {
  uint64_t bytes = 0;
  uint64_t buffers = 0;
  uint64_t gaps = 0;       // timestamp jumps forward or backwards
  double bitrate_bps = 0;  // over the last second of media
  double frame_rate = 0;   // access units per second, same window
  unsigned gop_length = 0; // access units in the last complete GOP, 0 until one completed
  uint64_t keyframe_interval = UINT64_MAX; // between the last two keyframes, kNoTime until two
};

class StreamMeter {
 public:
  static constexpr uint64_t kNoTime = UINT64_MAX;
  static constexpr uint64_t kWindow = 1000000000; // 1 s

  void reset ();
  // The nominal access-unit duration (from caps), kNoTime if unknown.
  void set_frame_duration (uint64_t duration);
  // After a flush or a new stream: the next timestamp starts a new timeline
  // and is not compared with the previous one.
  void restart_timeline ();

  // One access unit. @timestamp: DTS when known, else PTS, else kNoTime (then
  // @arrival, a monotonic time, places it in the rate window). Returns true if
  // it was counted as a gap.
  bool add (uint64_t timestamp, uint64_t duration, uint64_t size, bool keyframe, uint64_t arrival);

  // Rates read 0 once nothing has arrived for a whole window (@now and
  // @arrival share a clock).
  StreamReading read (uint64_t now) const;

 private:
  struct Sample {
    uint64_t time;
    uint64_t size;
  };

  void restart_window (uint64_t time);

  StreamReading totals_;
  uint64_t frame_duration_ = kNoTime; // from caps
  uint64_t last_duration_ = kNoTime;  // of the previous buffer
  uint64_t prev_timestamp_ = kNoTime;
  uint64_t last_arrival_ = kNoTime;
  uint64_t last_keyframe_time_ = kNoTime;
  unsigned since_keyframe_ = 0;     // access units since the last keyframe, 0 before one
  bool window_on_arrival_ = false;  // window placed by arrival rather than media time
  uint64_t window_start_ = kNoTime; // time of the first sample since the window restarted
  uint64_t window_bytes_ = 0;
  std::deque<Sample> window_; // samples within kWindow of the newest, oldest first
};

} // namespace mirror
