// SPDX-License-Identifier: LGPL-2.1-or-later
// Cuts a timestamped stream of samples into LL-HLS parts and segments, and
// keeps the track's decode time monotonic whatever the input timestamps do
// (MPEG-TS wrap, jumps, repeats).
//
// Rules: nothing is kept before the first sync sample; a segment starts at
// the first sync sample whose decode time is at least segment-duration after
// the segment's start; a part closes at the first sample boundary at least
// part-duration after the part's start (and at every segment start); a part
// that starts with a sync sample is independent. A sample's duration is the
// distance to the next sample's decode time, so a part is handed out when
// the sample after it arrives (or at flush).
#pragma once

#include <cstdint>
#include <optional>

#include "cmaf/fragment.h"

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
  bool independent = false;
  // The decode timeline was re-anchored inside this part (a gap, a wrap or
  // timestamps going backwards).
  bool timeline_break = false;
  uint64_t duration_ticks = 0;
  uint64_t duration_ns = 0;
  uint64_t wallclock_ns = 0; // of the first sample
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

  PartCutter (uint32_t timescale, uint64_t part_duration_ns, uint64_t segment_duration_ns,
              uint32_t track_id = 1);

  PushResult push (const TimedSample &sample);
  // Closes the open part (EOS, caps change); the next sample must be a sync
  // sample and starts a new segment, continuing the decode timeline.
  std::optional<Part> flush ();

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
  Part close_part (uint64_t end_ticks);

  uint32_t timescale_;
  uint64_t part_ticks_;
  uint64_t segment_ticks_;
  uint32_t track_id_;

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
  uint64_t part_start_ticks_ = 0;
  uint64_t next_msn_ = 0;
  uint32_t next_sequence_number_ = 1;
  uint64_t dropped_ = 0;
};

} // namespace mirror::cmaf
