// SPDX-License-Identifier: LGPL-2.1-or-later
// Part and segment boundaries, independence, composition offsets and the
// monotonic decode timeline, from samples with known timestamps.
#include <algorithm>
#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "cmaf/part_cutter.h"

namespace mirror::cmaf::test {
namespace {

constexpr int64_t kMs = 1000000;

TimedSample
frame (int64_t dts_ms, bool sync, int64_t pts_ms = -1)
{
  TimedSample s;
  s.dts_ns = dts_ms * kMs;
  s.pts_ns = (pts_ms < 0 ? dts_ms : pts_ms) * kMs;
  s.duration_ns = 40 * kMs;
  s.size = 100;
  s.sync = sync;
  s.wallclock_ns = (uint64_t)(1'700'000'000'000 + dts_ms) * kMs;
  return s;
}

// 25 fps, a keyframe every @gop frames, @n frames from @start_ms.
std::vector<Part>
cut (PartCutter &c, int n, int gop, int64_t start_ms = 0, bool flush = true)
{
  std::vector<Part> parts;
  for (int i = 0; i < n; i++) {
    auto r = c.push (frame (start_ms + 40 * i, i % gop == 0));
    if (r.closed)
      parts.push_back (*r.closed);
  }
  if (flush)
    if (auto p = c.flush ())
      parts.push_back (*p);
  return parts;
}

TEST (PartCutter, PartsCloseAtFirstFrameAtOrAfterTarget)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  auto parts = cut (c, 30, 10); // keyframes at 0, 400, 800 ms
  // Parts of 120 ms (3 frames): [0,120) ... [600,720), then [720,800) closed
  // by the segment starting on the keyframe at 800 ms (400 ms was too early).
  ASSERT_GE (parts.size (), 8u);
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ (parts[i].media_sequence, 0u) << i;
    EXPECT_EQ (parts[i].part_index, (uint32_t)i);
    EXPECT_EQ (parts[i].fragment.samples.size (), 3u) << i;
    EXPECT_EQ (parts[i].duration_ns, (uint64_t)(120 * kMs)) << i;
    EXPECT_EQ (parts[i].fragment.base_media_decode_time, (uint64_t)(i * 3 * 3600)) << i;
  }
  EXPECT_EQ (parts[6].media_sequence, 0u);
  EXPECT_EQ (parts[6].part_index, 6u);
  EXPECT_EQ (parts[6].fragment.samples.size (), 2u);
  EXPECT_EQ (parts[7].media_sequence, 1u);
  EXPECT_EQ (parts[7].part_index, 0u);
  EXPECT_TRUE (parts[7].segment_start);
  EXPECT_EQ (parts[7].fragment.base_media_decode_time, 800u * 90);
  // mfhd sequence numbers count every part from 1.
  for (size_t i = 0; i < parts.size (); i++)
    EXPECT_EQ (parts[i].fragment.sequence_number, i + 1);
}

TEST (PartCutter, IndependentOnlyWhenStartingWithKeyframe)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  auto parts = cut (c, 30, 10);
  EXPECT_TRUE (parts[0].independent);
  EXPECT_TRUE (parts[0].segment_start);
  EXPECT_TRUE (parts[0].fragment.samples[0].sync);
  EXPECT_FALSE (parts[0].fragment.samples[1].sync);
  // The keyframe at 400 ms lies inside [360,480): not independent.
  EXPECT_FALSE (parts[3].independent);
  EXPECT_FALSE (parts[3].segment_start);
  EXPECT_TRUE (parts[3].fragment.samples[1].sync);
  EXPECT_TRUE (parts[7].independent);
}

TEST (PartCutter, SampleDurationsAreDecodeTimeSteps)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  auto parts = cut (c, 15, 15);
  uint64_t total = 0;
  for (auto &p : parts)
    for (auto &s : p.fragment.samples) {
      EXPECT_EQ (s.duration, 3600u);
      total += s.duration;
    }
  EXPECT_EQ (total, 15u * 3600);
}

TEST (PartCutter, DropsUntilFirstKeyframe)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  EXPECT_FALSE (c.push (frame (0, false)).accepted);
  EXPECT_FALSE (c.push (frame (40, false)).accepted);
  EXPECT_TRUE (c.push (frame (80, true)).accepted);
  EXPECT_EQ (c.dropped (), 2u);
  auto p = c.flush ();
  ASSERT_TRUE (p.has_value ());
  EXPECT_EQ (p->fragment.base_media_decode_time, 80u * 90);
  EXPECT_EQ (p->media_sequence, 0u);
}

TEST (PartCutter, BFrameCompositionOffsets)
{
  // I P B B: decode order with DTS 80 ms behind; PTS 80, 200, 120, 160.
  PartCutter c (90000, 1000 * kMs, 5000 * kMs);
  c.push (frame (0, true, 80));
  c.push (frame (40, false, 200));
  c.push (frame (80, false, 120));
  c.push (frame (120, false, 160));
  auto p = c.flush ();
  ASSERT_TRUE (p.has_value ());
  const int32_t expected[] = { 80 * 90, 160 * 90, 40 * 90, 40 * 90 };
  ASSERT_EQ (p->fragment.samples.size (), 4u);
  for (int i = 0; i < 4; i++)
    EXPECT_EQ (p->fragment.samples[i].composition_offset, expected[i]) << i;
}

TEST (PartCutter, NegativeCompositionOffset)
{
  PartCutter c (90000, 1000 * kMs, 5000 * kMs);
  c.push (frame (100, true, 60));
  auto p = c.flush ();
  EXPECT_EQ (p->fragment.samples[0].composition_offset, -40 * 90);
}

TEST (PartCutter, WrapKeepsDecodeTimeMonotonic)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  // MPEG-TS 33-bit PTS wraps at 2^33 / 90 kHz = 95443.717 s.
  const int64_t wrap_ms = 95443717;
  std::vector<Part> parts;
  int64_t dts[] = { wrap_ms - 120, wrap_ms - 80, wrap_ms - 40, 0, 40, 80, 120 };
  for (int i = 0; i < 7; i++)
    if (auto r = c.push (frame (dts[i], i == 0)); r.closed)
      parts.push_back (*r.closed);
  if (auto p = c.flush ())
    parts.push_back (*p);
  uint64_t expect = parts[0].fragment.base_media_decode_time;
  bool saw_break = false;
  for (auto &p : parts) {
    EXPECT_EQ (p.fragment.base_media_decode_time, expect);
    for (auto &s : p.fragment.samples) {
      EXPECT_EQ (s.duration, 3600u);
      expect += s.duration;
    }
    saw_break |= p.timeline_break;
  }
  EXPECT_TRUE (saw_break);
}

TEST (PartCutter, LongGapIsABreakNotALongSample)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  c.push (frame (0, true));
  c.push (frame (40, false));
  auto r = c.push (frame (60000, false));
  EXPECT_FALSE (r.closed.has_value () && r.closed->fragment.samples.back ().duration > 3600);
  auto p = c.flush ();
  ASSERT_TRUE (p.has_value ());
  EXPECT_TRUE (p->timeline_break);
  uint64_t total = 0;
  for (auto &s : p->fragment.samples)
    total += s.duration;
  EXPECT_EQ (total, 3u * 3600);
}

TEST (PartCutter, ShortGapStretchesTheSample)
{
  PartCutter c (90000, 1000 * kMs, 5000 * kMs);
  c.push (frame (0, true));
  c.push (frame (200, false)); // four frames lost
  auto p = c.flush ();
  EXPECT_EQ (p->fragment.samples[0].duration, 200u * 90);
  EXPECT_FALSE (p->timeline_break);
}

TEST (PartCutter, FlushStartsANewSegmentAndContinuesTime)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  auto first = cut (c, 5, 15);
  ASSERT_FALSE (first.empty ());
  uint64_t end = first.back ().fragment.base_media_decode_time + first.back ().duration_ticks;
  // Waits for a keyframe again, and restarts timestamps from 0 (a new
  // encoder) without going backwards.
  EXPECT_FALSE (c.push (frame (0, false)).accepted);
  EXPECT_TRUE (c.push (frame (0, true)).accepted);
  auto p = c.flush ();
  ASSERT_TRUE (p.has_value ());
  EXPECT_EQ (p->media_sequence, first.back ().media_sequence + 1);
  EXPECT_TRUE (p->segment_start);
  EXPECT_EQ (p->fragment.base_media_decode_time, end);
}

TEST (PartCutter, AudioTimescale)
{
  PartCutter c (48000, 100 * kMs, 500 * kMs);
  TimedSample s;
  s.sync = true;
  s.size = 10;
  for (int i = 0; i < 10; i++) {
    s.dts_ns = s.pts_ns = (int64_t)i * 1024 * 1000000000 / 48000;
    c.push (s);
  }
  auto p = c.flush ();
  ASSERT_TRUE (p.has_value ());
  for (auto &x : p->fragment.samples)
    EXPECT_NEAR (x.duration, 1024u, 1u);
}

// Frames at @fps as MPEG-TS carries them (90 kHz, rounded), a keyframe
// every @gop; @skip: frame numbers that never come.
std::vector<Part>
cut_at (PartCutter &c, double fps, int n, int gop, const std::vector<int> &skip = {})
{
  std::vector<Part> parts;
  for (int i = 0; i < n; i++) {
    if (std::find (skip.begin (), skip.end (), i) != skip.end ())
      continue;
    TimedSample s;
    const int64_t ticks = (int64_t)std::llround (i * 90000.0 / fps);
    s.dts_ns = s.pts_ns = ticks * 1000000000 / 90000;
    s.size = 100;
    s.sync = i % gop == 0;
    auto r = c.push (s);
    if (r.closed)
      parts.push_back (*r.closed);
  }
  if (auto p = c.flush ())
    parts.push_back (*p);
  return parts;
}

// The frame rates real feeds have: the part target is a whole number of
// frames, no part is longer, every part but a segment's last fills it, and
// each segment is one GOP of half a second.
TEST (PartCutter, PartsSitOnTheFrameGridAtEveryCommonRate)
{
  struct Case {
    double fps;
    int gop;             // frames per 500 ms segment
    int frames_per_part; // the grid
  };
  for (Case k : { Case{ 23.976, 12, 3 }, Case{ 24, 12, 3 }, Case{ 25, 12, 3 }, Case{ 29.97, 15, 3 },
                  Case{ 30, 15, 3 }, Case{ 50, 25, 5 }, Case{ 59.94, 30, 6 }, Case{ 60, 30, 6 } }) {
    SCOPED_TRACE (k.fps);
    PartCutter c (90000, 100 * kMs, 500 * kMs, 1, 1e9 / k.fps);
    ASSERT_TRUE (c.grid_known ());
    const double frame_ticks = 90000.0 / k.fps;
    EXPECT_NEAR ((double)c.ns_to_ticks ((int64_t)c.part_target_ns ()),
                 k.frames_per_part * frame_ticks, 1.0);
    auto parts = cut_at (c, k.fps, k.gop * 8, k.gop);
    ASSERT_FALSE (parts.empty ());
    uint64_t segments = 0;
    for (size_t i = 0; i < parts.size (); i++) {
      const Part &p = parts[i];
      EXPECT_LE (p.duration_ns, c.part_target_ns ()) << i;
      if (!p.last_in_segment) {
        EXPECT_EQ (p.fragment.samples.size (), (size_t)k.frames_per_part) << i;
      }
      // The muxer knows the last part of each segment when it hands it out.
      const bool next_starts = i + 1 < parts.size () && parts[i + 1].segment_start;
      EXPECT_EQ (p.last_in_segment, next_starts || i + 1 == parts.size ()) << i;
      segments += p.segment_start;
    }
    EXPECT_EQ (segments, 8u);
    EXPECT_EQ (c.shortened_parts (), 0u);
  }
}

// Without a frame rate in the caps the first decode step gives the grid.
TEST (PartCutter, TheGridComesFromTheFirstStepWhenTheRateIsUnknown)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs);
  EXPECT_FALSE (c.grid_known ());
  EXPECT_EQ (c.part_target_ns (), (uint64_t)(100 * kMs));
  auto parts = cut_at (c, 29.97, 45, 15);
  EXPECT_TRUE (c.grid_known ());
  EXPECT_EQ (c.part_target_ns (), 100100000u);
  for (const Part &p : parts)
    EXPECT_LE (p.duration_ns, c.part_target_ns ());
}

// A keyframe a little early (timestamp rounding, tsdemux's jitter) still
// starts its segment, where it used to double the segment.
TEST (PartCutter, ASegmentStartsOnAKeyframeWithinHalfAFrameOfItsTime)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs, 1, 1e9 / 30);
  std::vector<Part> parts;
  for (int i = 0; i < 45; i++) {
    TimedSample s;
    int64_t ticks = i * 3000 - (i % 15 == 0 && i > 0 ? 1 : 0);
    s.dts_ns = s.pts_ns = ticks * 1000000000 / 90000;
    s.size = 10;
    s.sync = i % 15 == 0;
    if (auto r = c.push (s); r.closed)
      parts.push_back (*r.closed);
  }
  ASSERT_GE (parts.size (), 10u);
  EXPECT_TRUE (parts[5].segment_start);
  EXPECT_TRUE (parts[10].segment_start);
  EXPECT_TRUE (parts[4].last_in_segment);

  // 25 fps with 12-frame GOPs (480 ms for a 500 ms target), timestamps a
  // little early as tsdemux delivers them: still one GOP per segment.
  PartCutter c25 (90000, 100 * kMs, 500 * kMs, 1, 1e9 / 25);
  int segments = 0;
  for (int i = 0; i < 48; i++) {
    TimedSample s;
    int64_t ticks = i * 3600 - (i % 12 == 0 && i > 0 ? 18 : 0); // 0.2 ms early
    s.dts_ns = s.pts_ns = ticks * 1000000000 / 90000;
    s.size = 10;
    s.sync = i % 12 == 0;
    if (auto r = c25.push (s); r.closed)
      segments += r.closed->last_in_segment;
  }
  EXPECT_EQ (segments, 3);
}

// Lost frames would stretch a part past PART-TARGET: its last sample is
// shortened instead, and counted, and the next part starts where it ended:
// no hole in the timeline.
TEST (PartCutter, AGapNeverStretchesAPartPastTheTarget)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs, 1, 1e9 / 30);
  auto parts = cut_at (c, 30, 30, 15, { 4, 5, 6 }); // frames 4 to 6 lost
  for (const Part &p : parts)
    EXPECT_LE (p.duration_ns, c.part_target_ns ());
  EXPECT_EQ (c.shortened_parts (), 1u);
  // Frame 3 alone fills the target; frame 7, the first after the gap,
  // starts where it ends (a frame early) and lasts until frame 8.
  EXPECT_EQ (parts[1].fragment.samples.size (), 1u);
  EXPECT_EQ (parts[1].fragment.base_media_decode_time + parts[1].duration_ticks, 6u * 3000);
  EXPECT_EQ (parts[2].fragment.base_media_decode_time, 6u * 3000);
  EXPECT_EQ (parts[2].fragment.samples[0].duration, 2u * 3000);
  EXPECT_EQ (parts[2].fragment.samples[0].composition_offset, 0);
  uint64_t end = 0;
  for (const Part &p : parts) {
    if (end) {
      EXPECT_EQ (p.fragment.base_media_decode_time, end);
    }
    end = p.fragment.base_media_decode_time + p.duration_ticks;
  }
}

// A gap longer than a part stays a gap.
TEST (PartCutter, AGapLongerThanAPartStaysOne)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs, 1, 1e9 / 30);
  auto parts = cut_at (c, 30, 30, 15, { 4, 5, 6, 7, 8, 9, 10 }); // 7 frames lost
  for (const Part &p : parts)
    EXPECT_LE (p.duration_ns, c.part_target_ns ());
  EXPECT_EQ (parts[1].fragment.base_media_decode_time + parts[1].duration_ticks, 6u * 3000);
  EXPECT_EQ (parts[2].fragment.base_media_decode_time, 11u * 3000);
}

// A source whose keyframes come 2 s apart, for 500 ms segments: no segment
// outgrows TARGETDURATION 1 (EXTINF under 1.5 s), so some start without a
// keyframe, counted; every keyframe still starts one.
TEST (PartCutter, ASegmentNeverOutgrowsTheTargetDuration)
{
  PartCutter c (90000, 100 * kMs, 500 * kMs, 1, 1e9 / 25);
  auto parts = cut_at (c, 25, 250, 50); // 10 s, a keyframe every 2 s
  uint64_t start = 0, longest = 0;
  int keyless = 0, keyed = 0;
  for (const Part &p : parts) {
    if (p.segment_start) {
      start = p.fragment.base_media_decode_time;
      (p.independent ? keyed : keyless)++;
    }
    longest = std::max (longest, p.fragment.base_media_decode_time + p.duration_ticks - start);
  }
  EXPECT_LT (longest, 90000u * 3 / 2);
  EXPECT_GE (longest, 90000u * 14 / 10); // cut at the last frame that fits
  EXPECT_EQ (keyed, 5);
  EXPECT_EQ (keyless, 5);
  EXPECT_EQ (c.keyless_segments (), 5u);

  // Once the GOP is known, it is split evenly: segments of 1 s.
  for (size_t i = 0; i < parts.size (); i++)
    if (parts[i].segment_start && parts[i].fragment.base_media_decode_time >= 2 * 90000u) {
      EXPECT_EQ (parts[i].fragment.base_media_decode_time % 90000u, 0u) << i;
    }

  // 1.5 s GOPs at 30 fps: two segments of 0.75 s each, and every keyframe
  // from the third on starts a segment (the GOP is known at the second,
  // which comes just after the first GOP's cut at the longest length; such
  // cuts alone would drift off the keyframes for good).
  PartCutter c30 (90000, 100 * kMs, 500 * kMs, 1, 1e9 / 30);
  auto parts30 = cut_at (c30, 30, 300, 45);
  int keyframes_starting = 0;
  for (const Part &p : parts30) {
    EXPECT_LE (p.duration_ns, c30.part_target_ns ());
    if (p.segment_start && p.independent)
      keyframes_starting++;
  }
  EXPECT_EQ (keyframes_starting, 6); // 0, 3, 4.5 ... 9 s

  // Keyframes 1 s apart fit: every segment starts on one.
  PartCutter one (90000, 100 * kMs, 500 * kMs, 1, 1e9 / 25);
  cut_at (one, 25, 250, 25);
  EXPECT_EQ (one.keyless_segments (), 0u);
}

TEST (PartCutter, AacPartsAreFiveFrames)
{
  PartCutter c (48000, 100 * kMs, 500 * kMs, 2, 1024e9 / 48000);
  EXPECT_EQ (c.ns_to_ticks ((int64_t)c.part_target_ns ()), 5 * 1024);
  TimedSample s;
  s.sync = true;
  s.size = 10;
  std::vector<Part> parts;
  for (int i = 0; i < 60; i++) {
    s.dts_ns = s.pts_ns = (int64_t)i * 1024 * 1000000000 / 48000;
    if (auto r = c.push (s); r.closed)
      parts.push_back (*r.closed);
  }
  ASSERT_GE (parts.size (), 5u);
  EXPECT_EQ (parts[0].fragment.samples.size (), 5u);
  for (const Part &p : parts)
    EXPECT_LE (p.duration_ns, c.part_target_ns ());
}

} // namespace
} // namespace mirror::cmaf::test
