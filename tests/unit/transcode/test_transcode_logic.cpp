// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin's GStreamer-free arithmetic: the default rung, frame
// latency and drops, keyframe slots, the GPU decode session pool.
#include <gtest/gtest.h>

#include "transcode/frame_latency.h"
#include "transcode/gpu_sessions.h"
#include "transcode/keyframe_slots.h"
#include "transcode/ladder.h"

namespace mirror {
namespace {

constexpr uint64_t kMs = 1000000;

TEST (LadderOrDefault, BlankSpecIsOneRungFromTheProperties)
{
  std::string error;
  auto ladder = ladder_or_default ("  ", 640, 360, 400000, &error);
  ASSERT_TRUE (ladder) << error;
  ASSERT_EQ (ladder->size (), 1u);
  EXPECT_EQ ((*ladder)[0].name, "360p");
  EXPECT_EQ ((*ladder)[0].bitrate, 400000);
  EXPECT_FALSE ((*ladder)[0].source);
  EXPECT_FALSE (ladder_or_default ("", 641, 360, 400000, &error));
  EXPECT_NE (error.find ("641x360"), std::string::npos) << error;
  ladder = ladder_or_default ("720p:1280x720@2.5M,source", 640, 360, 400000, &error);
  ASSERT_TRUE (ladder) << error;
  EXPECT_EQ ((*ladder)[0].bitrate, 2500000);
  EXPECT_TRUE ((*ladder)[1].source);
}

TEST (FrameLatency, TransitTimesAndDroppedFrames)
{
  FrameLatency f;
  for (uint64_t i = 0; i < 10; i++)
    f.input (i * 40 * kMs, (int64_t)i * 40000);
  // Frame 3 comes out 100 ms after it went in; 0..2 never will.
  EXPECT_TRUE (f.output (3 * 40 * kMs, 3 * 40000 + 100000));
  for (uint64_t i = 4; i < 10; i++)
    EXPECT_TRUE (f.output (i * 40 * kMs, (int64_t)i * 40000 + 20000));
  EXPECT_FALSE (f.output (12345, 0)); // never entered
  FrameLatencyStats s = f.stats ();
  EXPECT_EQ (s.frames_in, 10u);
  EXPECT_EQ (s.frames_out, 8u);
  EXPECT_EQ (s.frames_dropped, 3u);
  EXPECT_DOUBLE_EQ (s.p50_ms, 20.0);
  EXPECT_DOUBLE_EQ (s.p99_ms, 100.0);
  f.reset ();
  EXPECT_EQ (f.stats ().frames_in, 0u);
}

TEST (FrameLatency, AStalledOutputDoesNotGrowWithoutBound)
{
  FrameLatency f;
  for (uint64_t i = 0; i < FrameLatency::kMaxPending + 10; i++)
    f.input (i, 0);
  EXPECT_EQ (f.stats ().frames_dropped, 10u);
}

TEST (FrameLatency, PercentilesByNearestRank)
{
  EXPECT_EQ (nearest_rank_percentile ({}, 0.5), 0);
  EXPECT_EQ (nearest_rank_percentile ({ 5 }, 0.99), 5);
  EXPECT_EQ (nearest_rank_percentile ({ 4, 1, 3, 2 }, 0.5), 2);
  EXPECT_EQ (nearest_rank_percentile ({ 4, 1, 3, 2 }, 0.99), 4);
}

TEST (KeyframeSlots, FloorDivisionAroundTheEpoch)
{
  EXPECT_EQ (keyframe_slot (1000 * kMs, 1000 * kMs, 500 * kMs), 0);
  EXPECT_EQ (keyframe_slot (1499 * kMs, 1000 * kMs, 500 * kMs), 0);
  EXPECT_EQ (keyframe_slot (1500 * kMs, 1000 * kMs, 500 * kMs), 1);
  EXPECT_EQ (keyframe_slot (999 * kMs, 1000 * kMs, 500 * kMs), -1);
  EXPECT_EQ (keyframe_slot (500 * kMs, 1000 * kMs, 500 * kMs), -1);
  EXPECT_EQ (keyframe_slot (499 * kMs, 1000 * kMs, 500 * kMs), -2);
}

TEST (KeyframeSlots, OneKeyframePerSlotAfterTheFirstFrame)
{
  KeyframeEpoch epoch;
  KeyframeSlots slots;
  int64_t slot = 0;
  int forced = 0;
  // 30 fps for 2 s from PTS 10 s: slots of 500 ms open at 0.5, 1.0, 1.5 s.
  for (int i = 0; i < 60; i++) {
    uint64_t pts = 10000 * kMs + (uint64_t)i * 33333333;
    uint64_t e = epoch.fix (pts);
    EXPECT_EQ (e, 10000 * kMs);
    if (slots.due (pts, e, 500 * kMs, &slot)) {
      forced++;
      EXPECT_EQ (slot, forced);
    }
  }
  EXPECT_EQ (forced, 3);
  // A second rendition joining late cuts at the same instants.
  KeyframeSlots late;
  EXPECT_FALSE (late.due (10700 * kMs, epoch.fix (0), 500 * kMs, &slot)); // its first frame
  EXPECT_TRUE (late.due (11000 * kMs, epoch.fix (0), 500 * kMs, &slot));
  EXPECT_EQ (slot, 2);
  EXPECT_FALSE (slots.due (0, 0, 0, &slot)); // no interval: never
}

TEST (GpuSessions, TheLimitHoldsAndSessionsComeBack)
{
  GpuSessionPool pool;
  {
    GpuSession a (pool), b (pool), c (pool);
    EXPECT_TRUE (a.take (2));
    EXPECT_TRUE (a.take (2)); // already held: still one
    EXPECT_TRUE (b.take (2));
    EXPECT_FALSE (c.take (2));
    EXPECT_EQ (pool.in_use (), 2u);
    b.release ();
    EXPECT_TRUE (c.take (2));
    EXPECT_TRUE (GpuSession (pool).take (0)); // 0: no limit
  }
  EXPECT_EQ (pool.in_use (), 0u);
}

} // namespace
} // namespace mirror
