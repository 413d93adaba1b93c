// SPDX-License-Identifier: LGPL-2.1-or-later
// Cuts a timestamped stream of samples into LL-HLS parts and segments, and
// keeps the track's decode time monotonic whatever the input timestamps do
// (MPEG-TS wrap, jumps, repeats).
//
// Parts sit on the sample grid: the part target (PART-TARGET) is the part
// duration rounded to whole samples (3 frames at 25, 29.97 or 30 fps, 6 at
// 59.94, 5 AAC frames), from the sample duration given, else the first
// decode step measured. Every boundary takes some timestamp jitter
// (MPEG-TS rounding, a source's irregular steps) in its favour.
//
// Rules: nothing is kept before the first sync sample; a segment starts at
// the first sync sample whose decode time reaches segment-duration after
// the segment's start, or, when the source's keyframes come further apart
// than that, at the last sample that keeps the segment within
// EXT-X-TARGETDURATION (which is fixed from segment-duration and must bound
// every EXTINF: RFC 8216bis 4.4.3.1, 6.2.1), a GOP that long being split
// into as few even segments as fit; such a segment starts with a part that
// is not independent (counted); a part closes at the first sample boundary that
// reaches the part target after the part's start (and at every segment
// start), and never runs longer than the target: a gap in the timestamps
// that would stretch it shortens its last sample instead (counted); a part
// that starts with a sync sample is independent. A sample's duration is the
// distance to the next sample's decode time, so a part is handed out when
// the sample after it arrives (or at flush), and the cutter knows by then
// whether that sample starts a new segment: the part says so
// (last_in_segment), which makes the preload hint exact.
#pragma once

#include <cstdint>
#include <optional>

#include "cmaf/fragment.h"
#include "cmaf/wallclock_map.h"

namespace mirror::cmaf {

struct TimedSample {
  int64_t dts_ns = 0;       // decode time (the DTS, else the PTS), may wrap or jump
  int64_t pts_ns = 0;       // presentation time; equal to dts_ns when unknown
  int64_t duration_ns = -1; // -1 when unknown
  uint32_t size = 0;
  bool sync = false;
  uint64_t wallclock_ns = 0; // unix time of the sample's arrival or capture
};

struct Part {
  uint64_t media_sequence = 0; // segment index, from 0
  uint32_t part_index = 0;     // within its segment
  bool segment_start = false;
  bool last_in_segment = false; // the next part starts a new segment
  bool shortened = false;       // its last sample was cut to keep it within the target
  bool independent = false;
  // The decode timeline was re-anchored inside this part (a gap, a wrap or
  // timestamps going backwards).
  bool timeline_break = false;
  uint64_t duration_ticks = 0;
  uint64_t duration_ns = 0;
  // Of the first sample: its arrival mapped onto the track's timeline
  // (WallclockMap), so parts' clocks advance as their durations do.
  uint64_t wallclock_ns = 0;
  Fragment fragment;
};

struct PushResult {
  bool accepted = false;      // false: dropped while waiting for a sync sample
  std::optional<Part> closed; // the part this sample closed
};

class PartCutter {
 public:
  // Forward decode-time steps longer than this are treated as a break, not
  // as one very long sample.
  static constexpr int64_t kMaxStepNs = 5'000'000'000;

  // @sample_duration_ns: the nominal duration of a sample (a frame at the
  // caps' frame rate; an AAC frame), 0 when unknown.
  PartCutter (uint32_t timescale, uint64_t part_duration_ns, uint64_t segment_duration_ns,
              uint32_t track_id = 1, double sample_duration_ns = 0);

  PushResult push (const TimedSample &sample);
  // Closes the open part (EOS, caps change); the next sample must be a sync
  // sample and starts a new segment, continuing the decode timeline.
  std::optional<Part> flush ();

  // PART-TARGET: the part duration on the sample grid; the part duration
  // itself until the grid is known (after the first two samples at most).
  uint64_t part_target_ns () const { return ticks_to_ns (part_ticks_); }
  bool grid_known () const { return grid_known_; }
  // Parts whose last sample was shortened to keep them within the target.
  uint64_t shortened_parts () const { return shortened_; }
  // Segments started without a sync sample to stay within TARGETDURATION.
  uint64_t keyless_segments () const { return keyless_segments_; }
  uint64_t dropped () const { return dropped_; }
  uint64_t next_media_sequence () const { return next_msn_; }
  uint32_t timescale () const { return timescale_; }
  uint64_t ticks_to_ns (uint64_t ticks) const;
  int64_t ns_to_ticks (int64_t ns) const;

 private:
  uint64_t decode_ticks_for (const TimedSample &s, bool *brk);
  // Opens a part at @ticks: the next part of @previous's segment, or a new
  // segment when @previous is null.
  void start_part (uint64_t ticks, const TimedSample &s, const Part *previous);
  void add_sample (uint64_t ticks, const TimedSample &s);
  uint64_t wallclock_of (uint64_t ticks, const TimedSample &s);
  Part close_part (uint64_t end_ticks);
  // The part target as whole samples of @sample_ns.
  void set_grid (double sample_ns);

  uint32_t timescale_;
  uint64_t part_duration_ns_;
  uint64_t part_ticks_;
  uint64_t segment_ticks_;
  uint64_t max_segment_ticks_; // the longest segment TARGETDURATION allows
  uint32_t track_id_;
  bool grid_known_ = false;
  // Timestamp jitter a boundary takes in its favour, once the grid is known:
  // half a sample for parts; three quarters for segments, so that a GOP half
  // a frame short of the segment duration (12 frames at 25 fps for 500 ms)
  // still ends its segment when its keyframe comes a little early.
  uint64_t jitter_ticks_ = 0;
  uint64_t segment_jitter_ticks_ = 0;
  uint64_t shortened_ = 0;
  uint64_t keyless_segments_ = 0;
  WallclockMap wallclock_;

  bool waiting_sync_ = true;
  bool have_timeline_ = false;
  int64_t anchor_dts_ns_ = 0;
  uint64_t anchor_ticks_ = 0;
  int64_t last_dts_ns_ = 0;
  uint64_t last_ticks_ = 0;
  int64_t last_duration_ns_ = -1;        // of the last sample, as given by upstream
  uint32_t last_step_ticks_ = 0;         // the last measured sample duration
  std::optional<uint64_t> resume_ticks_; // where the track stopped at the last flush

  std::optional<Part> open_;
  uint64_t segment_start_ticks_ = 0;
  std::optional<uint64_t> last_sync_ticks_; // the last sync sample's decode time
  uint64_t gop_ticks_ = 0;                    // from the one before it; 0: unknown
  uint64_t part_start_ticks_ = 0;
  uint64_t next_msn_ = 0;
  uint32_t next_sequence_number_ = 1;
  uint64_t dropped_ = 0;
};

} // namespace mirror::cmaf
