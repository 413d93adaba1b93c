// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrorheartbeat's arithmetic: bitrate and frame rate over one second of
// media, GOP length, keyframe interval, timestamp gaps.
#include <gtest/gtest.h>

#include "health/stream_meter.h"

namespace mirror {
namespace {

constexpr uint64_t kMs = 1000000;

// 25 fps, 4000-byte access units, a keyframe every 10, on media time.
StreamMeter
fed (int frames)
{
  StreamMeter m;
  m.set_frame_duration (40 * kMs);
  for (int i = 0; i < frames; i++)
    m.add (i * 40 * kMs, 40 * kMs, 4000, i % 10 == 0, i * 40 * kMs);
  return m;
}

TEST (StreamMeter, RatesOverOneSecondOfMedia)
{
  StreamMeter m = fed (100);
  StreamReading r = m.read (99 * 40 * kMs);
  EXPECT_EQ (r.buffers, 100u);
  EXPECT_EQ (r.bytes, 400000u);
  EXPECT_NEAR (r.frame_rate, 25.0, 1.0);
  EXPECT_NEAR (r.bitrate_bps, 25 * 4000 * 8, 25 * 4000 * 8 * 0.05);
  EXPECT_EQ (r.gop_length, 10u);
  EXPECT_EQ (r.keyframe_interval, 400 * kMs);
  EXPECT_EQ (r.gaps, 0u);
}

TEST (StreamMeter, NothingForAWholeWindowReadsZero)
{
  StreamMeter m = fed (50);
  StreamReading r = m.read (49 * 40 * kMs + 2 * StreamMeter::kWindow);
  EXPECT_EQ (r.bitrate_bps, 0);
  EXPECT_EQ (r.frame_rate, 0);
  EXPECT_EQ (r.buffers, 50u); // totals stay
}

TEST (StreamMeter, JumpsForwardOrBackIsAGapButANewTimelineIsNot)
{
  StreamMeter m = fed (10);
  EXPECT_TRUE (m.add (2000 * kMs, 40 * kMs, 4000, false, 400 * kMs));  // forward
  EXPECT_TRUE (m.add (100 * kMs, 40 * kMs, 4000, false, 440 * kMs));   // backwards
  m.restart_timeline ();
  EXPECT_FALSE (m.add (9000 * kMs, 40 * kMs, 4000, true, 480 * kMs)); // after a flush
  EXPECT_EQ (m.read (480 * kMs).gaps, 2u);
}

TEST (StreamMeter, NoGopBeforeTwoKeyframes)
{
  StreamMeter m = fed (5);
  StreamReading r = m.read (4 * 40 * kMs);
  EXPECT_EQ (r.gop_length, 0u);
  EXPECT_EQ (r.keyframe_interval, StreamMeter::kNoTime);
}

} // namespace
} // namespace mirror
