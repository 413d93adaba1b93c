// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/part_cutter.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "hls/hls_timing.h"

namespace mirror::cmaf {

namespace {
uint64_t
scale (uint64_t v, uint64_t num, uint64_t den)
{
  return (uint64_t)((unsigned __int128)v * num / den);
}

// To the nearest: 90 kHz ticks carried as truncated nanoseconds come back as
// the same ticks.
uint64_t
scale_round (uint64_t v, uint64_t num, uint64_t den)
{
  return (uint64_t)(((unsigned __int128)v * num + den / 2) / den);
}
} // namespace

PartCutter::PartCutter (uint32_t timescale, uint64_t part_duration_ns, uint64_t segment_duration_ns,
                        uint32_t track_id, double sample_duration_ns)
    : timescale_ (timescale), part_duration_ns_ (part_duration_ns),
      part_ticks_ (scale (part_duration_ns, timescale, 1000000000)),
      segment_ticks_ (scale (segment_duration_ns, timescale, 1000000000)),
      max_segment_ticks_ (
          scale ((uint64_t)longest_segment_ns (target_duration_for ((int64_t)segment_duration_ns)),
                 timescale, 1000000000)),
      track_id_ (track_id)
{
  if (sample_duration_ns > 0)
    set_grid (sample_duration_ns);
}

void
PartCutter::set_grid (double sample_ns)
{
  // The whole number of samples nearest the part duration, a tie (2.5
  // frames at 25 fps) and a near miss (2.997 frames of 29.97 fps) taken up:
  // 3 frames at 23.976 to 30 fps, 6 at 59.94, 5 AAC frames at 48 kHz.
  const double samples = std::max (1.0, std::ceil ((double)part_duration_ns_ / sample_ns - 0.05));
  const double ticks = samples * sample_ns * timescale_ / 1e9;
  part_ticks_ = std::max<uint64_t> (1, (uint64_t)std::ceil (ticks - 1e-3)); // ns rounding
  // Half a frame, but never so much that a part could close under 85 % of
  // the target (RFC 8216bis 4.4.4.9): a part started off the frame grid (after
  // lost frames) is cut by the same rule.
  jitter_ticks_ = std::min<uint64_t> ((uint64_t)(sample_ns * timescale_ / 1e9 / 2),
                                      part_ticks_ * 15 / 100 - (part_ticks_ >= 7 ? 1 : 0));
  segment_jitter_ticks_ = (uint64_t)(sample_ns * timescale_ / 1e9 * 3 / 4);
  grid_known_ = true;
}

uint64_t
PartCutter::ticks_to_ns (uint64_t ticks) const
{
  return scale_round (ticks, 1000000000, timescale_);
}

int64_t
PartCutter::ns_to_ticks (int64_t ns) const
{
  return ns < 0 ? -(int64_t)scale_round (0 - (uint64_t)ns, timescale_, 1000000000)
                : (int64_t)scale_round ((uint64_t)ns, timescale_, 1000000000);
}

uint64_t
PartCutter::decode_ticks_for (const TimedSample &s, bool *brk)
{
  *brk = false;
  if (!have_timeline_) {
    have_timeline_ = true;
    anchor_dts_ns_ = s.dts_ns;
    anchor_ticks_ = (uint64_t)std::max<int64_t> (0, ns_to_ticks (s.dts_ns));
    // After a flush the track goes on where it stopped, never backwards.
    if (resume_ticks_ && anchor_ticks_ < *resume_ticks_) {
      anchor_ticks_ = *resume_ticks_;
      *brk = true;
    }
    return anchor_ticks_;
  }
  int64_t step = s.dts_ns - last_dts_ns_;
  if (step <= 0 || step > kMaxStepNs) {
    // Re-anchor right after the previous sample, which keeps the duration
    // upstream gave it (or the last one measured).
    uint64_t prev = last_step_ticks_;
    if (last_duration_ns_ > 0)
      prev = (uint64_t)ns_to_ticks (last_duration_ns_);
    if (prev == 0)
      prev = timescale_ / 25;
    *brk = true;
    anchor_dts_ns_ = s.dts_ns;
    anchor_ticks_ = last_ticks_ + prev;
    return anchor_ticks_;
  }
  // Measured from the anchor, so rounding never accumulates.
  return anchor_ticks_ + (uint64_t)ns_to_ticks (s.dts_ns - anchor_dts_ns_);
}

void
PartCutter::start_part (uint64_t ticks, const TimedSample &s, const Part *previous)
{
  Part p;
  if (!previous) {
    p.media_sequence = next_msn_++;
    p.part_index = 0;
    p.segment_start = true;
    segment_start_ticks_ = ticks;
  } else {
    p.media_sequence = previous->media_sequence;
    p.part_index = previous->part_index + 1;
  }
  p.independent = s.sync;
  p.fragment.track_id = track_id_;
  p.fragment.base_media_decode_time = ticks;
  part_start_ticks_ = ticks;
  open_ = std::move (p);
}

// Dated by the track's own timeline, anchored on the arrivals that waited
// least: PROGRAM-DATE-TIMEs advance exactly as the durations do.
uint64_t
PartCutter::wallclock_of (uint64_t ticks, const TimedSample &s)
{
  if (!s.wallclock_ns)
    return 0;
  const int64_t decode_ns = ticks_to_ns (ticks);
  // In unsigned arithmetic: whatever the stream's timestamps (they may
  // jump anywhere), the sum wraps, never overflows.
  return uint64_t (wallclock_.offset ((int64_t)s.wallclock_ns, decode_ns)) + uint64_t (decode_ns)
         + (uint64_t (s.pts_ns) - uint64_t (s.dts_ns));
}

void
PartCutter::add_sample (uint64_t ticks, const TimedSample &s)
{
  // Every arrival counts in the mapping; a part is dated by its first.
  const uint64_t wallclock = wallclock_of (ticks, s);
  if (open_->fragment.samples.empty ())
    open_->wallclock_ns = wallclock;
  Sample out;
  out.size = s.size;
  out.sync = s.sync;
  int64_t cto = ns_to_ticks (int64_t (uint64_t (s.pts_ns) - uint64_t (s.dts_ns)));
  out.composition_offset = (int32_t)std::clamp<int64_t> (cto, INT32_MIN, INT32_MAX);
  open_->fragment.samples.push_back (out);
  last_ticks_ = ticks;
  last_dts_ns_ = s.dts_ns;
  last_duration_ns_ = s.duration_ns;
}

Part
PartCutter::close_part (uint64_t end_ticks)
{
  Part p = std::move (*open_);
  open_.reset ();
  p.fragment.samples.back ().duration = (uint32_t)(end_ticks - last_ticks_);
  p.fragment.sequence_number = next_sequence_number_++;
  p.duration_ticks = end_ticks - p.fragment.base_media_decode_time;
  p.duration_ns = ticks_to_ns (p.duration_ticks);
  return p;
}

PushResult
PartCutter::push (const TimedSample &s)
{
  PushResult r;
  if (waiting_sync_ && !s.sync) {
    dropped_++;
    return r;
  }
  r.accepted = true;
  bool brk = false;
  uint64_t ticks = decode_ticks_for (s, &brk);

  if (open_) {
    uint32_t step = (uint32_t)(ticks - last_ticks_);
    last_step_ticks_ = step;
    if (!grid_known_ && step > 0 && !brk)
      set_grid ((double)ticks_to_ns (step));
    bool new_segment
        = s.sync && ticks - segment_start_ticks_ + segment_jitter_ticks_ >= segment_ticks_;
    // No keyframe in time: keyframes further apart than TARGETDURATION
    // allows split their GOP into as few even segments as fit (a 2 s GOP
    // into two of 1 s, so the next keyframe starts a segment again), and
    // whatever the GOP, a segment ends before this sample would take it
    // past TARGETDURATION (the sample lasts about the step just measured).
    if (!new_segment) {
      const uint64_t length = ticks - segment_start_ticks_;
      bool cut = length + step > max_segment_ticks_;
      if (gop_ticks_ > max_segment_ticks_ && last_sync_ticks_) {
        // Even pieces counted from the last keyframe, so the cuts keep in
        // step with the keyframes to come.
        const uint64_t pieces = (gop_ticks_ + max_segment_ticks_ - 1) / max_segment_ticks_;
        const uint64_t piece = gop_ticks_ / pieces;
        const uint64_t key = *last_sync_ticks_;
        auto index = [&] (uint64_t t) { return (t + segment_jitter_ticks_ - key) / piece; };
        cut = cut || index (ticks) > (segment_start_ticks_ >= key ? index (segment_start_ticks_) : 0);
      }
      if (cut) {
        new_segment = true;
        ++keyless_segments_;
      }
    }
    bool new_part = ticks - part_start_ticks_ + jitter_ticks_ >= part_ticks_;
    if (new_segment || new_part) {
      // A gap would stretch the part past the target: its last sample ends
      // at the target instead (it started before it, or the part would
      // have closed then).
      uint64_t end = ticks;
      const bool shorten
          = end - part_start_ticks_ > part_ticks_ && part_start_ticks_ + part_ticks_ > last_ticks_;
      if (shorten) {
        end = part_start_ticks_ + part_ticks_;
        ++shortened_;
      }
      r.closed = close_part (end);
      r.closed->last_in_segment = new_segment;
      r.closed->shortened = shorten;
      // Frames lost within a part's length leave no hole: the sample after
      // them starts where the part ended, decoded and shown that much early,
      // and lasts that much longer. A longer gap stays one.
      if (shorten && ticks - end <= part_ticks_)
        ticks = end;
      start_part (ticks, s, new_segment ? nullptr : &*r.closed);
    } else {
      open_->fragment.samples.back ().duration = step;
    }
  } else {
    start_part (ticks, s, nullptr);
    waiting_sync_ = false;
  }
  if (brk)
    open_->timeline_break = true;
  if (s.sync) {
    // The distance between keyframes, measured on an unbroken timeline.
    gop_ticks_ = last_sync_ticks_ && !brk && ticks > *last_sync_ticks_ ? ticks - *last_sync_ticks_ : 0;
    last_sync_ticks_ = ticks;
  }
  add_sample (ticks, s);
  return r;
}

std::optional<Part>
PartCutter::flush ()
{
  waiting_sync_ = true;
  if (!open_)
    return std::nullopt;
  uint64_t last = last_step_ticks_;
  if (last_duration_ns_ > 0)
    last = (uint64_t)ns_to_ticks (last_duration_ns_);
  if (last == 0)
    last = timescale_ / 25;
  uint64_t end = last_ticks_ + last;
  if (end - part_start_ticks_ > part_ticks_ && part_start_ticks_ + part_ticks_ > last_ticks_)
    end = part_start_ticks_ + part_ticks_;
  last = end - last_ticks_;
  Part p = close_part (end);
  p.last_in_segment = true; // the next sample starts a new segment
  // The timeline continues after the flushed part: the next sample, whatever
  // its timestamp, is placed right after it.
  last_ticks_ = last_ticks_ + last;
  have_timeline_ = false;
  resume_ticks_ = last_ticks_;
  last_sync_ticks_.reset ();
  return p;
}

} // namespace mirror::cmaf
