// SPDX-License-Identifier: LGPL-2.1-or-later
#include "health/stream_meter.h"

namespace mirror {

void
StreamMeter::reset ()
{
  *this = StreamMeter ();
}

void
StreamMeter::set_frame_duration (uint64_t duration)
{
  frame_duration_ = duration == 0 ? kNoTime : duration;
}

void
StreamMeter::restart_timeline ()
{
  prev_timestamp_ = kNoTime;
  last_keyframe_time_ = kNoTime;
  window_.clear ();
  window_bytes_ = 0;
  window_start_ = kNoTime;
}

void
StreamMeter::restart_window (uint64_t time)
{
  window_.clear ();
  window_bytes_ = 0;
  window_start_ = time;
}

bool
StreamMeter::add (uint64_t timestamp, uint64_t duration, uint64_t size, bool keyframe,
                  uint64_t arrival)
{
  totals_.bytes += size;
  totals_.buffers++;
  last_arrival_ = arrival;

  // Gaps: backwards, or further forward than two nominal durations.
  bool gap = false;
  if (timestamp != kNoTime && prev_timestamp_ != kNoTime) {
    uint64_t expected = frame_duration_ != kNoTime ? frame_duration_ : last_duration_;
    if (timestamp < prev_timestamp_)
      gap = true;
    else if (expected != kNoTime && expected > 0 && timestamp - prev_timestamp_ > 2 * expected)
      gap = true;
  }
  if (gap)
    totals_.gaps++;
  if (timestamp != kNoTime)
    prev_timestamp_ = timestamp;
  last_duration_ = duration;

  // GOP: access units from one keyframe to the next.
  if (keyframe) {
    if (since_keyframe_ > 0)
      totals_.gop_length = since_keyframe_;
    if (timestamp != kNoTime && last_keyframe_time_ != kNoTime && timestamp > last_keyframe_time_)
      totals_.keyframe_interval = timestamp - last_keyframe_time_;
    if (timestamp != kNoTime)
      last_keyframe_time_ = timestamp;
    since_keyframe_ = 1;
  } else if (since_keyframe_ > 0) {
    since_keyframe_++;
  }

  // Rate window: media time when the buffer has one, else arrival time; a
  // switch between the two, or a jump backwards, starts the window afresh.
  bool on_arrival = timestamp == kNoTime;
  uint64_t time = on_arrival ? arrival : timestamp;
  if (window_.empty () || on_arrival != window_on_arrival_ || time < window_.back ().time
      || window_start_ == kNoTime)
    restart_window (time);
  window_on_arrival_ = on_arrival;
  window_.push_back ({ time, size });
  window_bytes_ += size;
  while (!window_.empty () && window_.front ().time + kWindow <= time) {
    window_bytes_ -= window_.front ().size;
    window_.pop_front ();
  }
  return gap;
}

StreamReading
StreamMeter::read (uint64_t now) const
{
  StreamReading r = totals_;
  if (window_.empty () || last_arrival_ == kNoTime
      || (now != kNoTime && now > last_arrival_ && now - last_arrival_ > kWindow))
    return r; // nothing recent: rates stay 0

  uint64_t newest = window_.back ().time;
  uint64_t span;
  if (window_start_ + kWindow <= newest) {
    span = kWindow;
  } else {
    // Less than a window of history: the samples cover their own spread plus
    // one access unit.
    uint64_t unit = frame_duration_ != kNoTime ? frame_duration_ : last_duration_;
    if (unit == kNoTime && window_.size () > 1)
      unit = (newest - window_.front ().time) / (window_.size () - 1);
    if (unit == kNoTime)
      return r;
    span = newest - window_start_ + unit;
  }
  if (span == 0)
    return r;
  r.bitrate_bps = static_cast<double> (window_bytes_) * 8.0 * 1e9 / static_cast<double> (span);
  // Frame rate from the intervals between the samples: counting samples over
  // the window's length is off by one whenever rounded timestamps put one
  // sample on each edge.
  uint64_t covered = newest - window_.front ().time;
  if (window_.size () > 1 && covered > 0)
    r.frame_rate = static_cast<double> (window_.size () - 1) * 1e9 / static_cast<double> (covered);
  else
    r.frame_rate = static_cast<double> (window_.size ()) * 1e9 / static_cast<double> (span);
  return r;
}

} // namespace mirror
