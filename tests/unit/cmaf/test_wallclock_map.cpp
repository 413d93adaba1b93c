// SPDX-License-Identifier: LGPL-2.1-or-later
// WallclockMap: PDTs that advance with the media, not with arrival jitter.
#include <gtest/gtest.h>

#include <limits>

#include "cmaf/wallclock_map.h"

namespace mirror::cmaf::test {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kEpoch = 1'780'000'000'000 * kMs;

TEST (WallclockMap, JitterDoesNotMoveTheMapping)
{
  WallclockMap m;
  // 40 ms frames arriving 0 to 30 ms late, the first one late by 10.
  const int64_t late[] = { 10, 30, 0, 25, 5, 20, 0, 15 };
  int64_t previous = 0;
  for (int i = 0; i < 8; ++i) {
    int64_t media = i * 40 * kMs;
    int64_t wall = m.offset (kEpoch + media + late[i] * kMs, media) + media;
    if (i >= 2) { // the least lateness seen (0 ms) sets the mapping
      EXPECT_NEAR (wall, kEpoch + media, kMs) << i;
    }
    if (i > 2) {
      EXPECT_NEAR (wall - previous, 40 * kMs, kMs / 2) << i;
    }
    previous = wall;
  }
}

TEST (WallclockMap, LumpsAreDatedByTheFrameThatWaitedLeast)
{
  // Audio handed over in lumps: ten 21.3 ms frames arrive at once, then the
  // next ten 213 ms later; the last frame of each lump waited least, and
  // every frame is dated as if it had arrived as little delayed.
  WallclockMap m;
  const int64_t frame = 21'333'333;
  for (int lump = 0; lump < 5; ++lump)
    for (int i = 0; i < 10; ++i) {
      int64_t media = (lump * 10 + i) * frame;
      int64_t wall = m.offset (kEpoch + (lump * 10 + 9) * frame, media) + media;
      if (lump > 0) {
        EXPECT_NEAR (wall, kEpoch + media, kMs) << lump << "/" << i;
      }
    }
}

TEST (WallclockMap, ASlowSenderIsFollowed)
{
  // The sender's clock loses 500 ppm: arrival runs ahead of media time.
  WallclockMap m;
  int64_t wall = 0;
  for (int i = 0; i <= 600 * 25; ++i) { // ten minutes of 40 ms frames
    int64_t media = i * 40 * kMs;
    wall = m.offset (kEpoch + media + media / 2000, media) + media;
  }
  const int64_t media = 600 * 1000 * kMs;
  EXPECT_NEAR (wall, kEpoch + media + media / 2000, 2 * kMs);
}

TEST (WallclockMap, BFramesMapByPresentation)
{
  // Decode order I P B B at 40 ms, presented 40 ms after decoding: the
  // offset is set by decode times, each frame dated by its presentation.
  WallclockMap m;
  const int64_t pts[] = { 40, 160, 80, 120 };
  for (int i = 0; i < 4; ++i) {
    int64_t off = m.offset (kEpoch + i * 40 * kMs, i * 40 * kMs);
    EXPECT_EQ (off + pts[i] * kMs, kEpoch + pts[i] * kMs) << i;
  }
}

TEST (WallclockMap, AJumpStartsAgain)
{
  WallclockMap m;
  m.offset (kEpoch, 2000 * kMs);
  EXPECT_EQ (m.offset (kEpoch + 40 * kMs, 2040 * kMs), kEpoch - 2000 * kMs);
  // A timeline reset: media back to zero 80 ms later (less than kBackNs
  // back is rounding, not a reset).
  EXPECT_EQ (m.offset (kEpoch + 80 * kMs, 0), kEpoch + 80 * kMs);
  // A stall: five seconds with nothing, the media goes on where it was. The
  // mapping moves once it has lasted kSettleNs of media.
  EXPECT_NEAR (m.offset (kEpoch + 5080 * kMs, 40 * kMs), kEpoch + 80 * kMs, kMs);
  int64_t off = 0;
  for (int i = 2; i <= 127; ++i)
    off = m.offset (kEpoch + 5040 * kMs + i * 40 * kMs, i * 40 * kMs);
  EXPECT_NEAR (off, kEpoch + 5040 * kMs, kMs);
}

TEST (WallclockMap, OneSampleHeldUpIsNotAGap)
{
  WallclockMap m;
  for (int i = 0; i < 10; ++i)
    m.offset (kEpoch + i * 40 * kMs, i * 40 * kMs);
  EXPECT_NEAR (m.offset (kEpoch + 1800 * kMs, 400 * kMs), kEpoch, kMs); // 1.4 s late
  for (int i = 11; i < 60; ++i)
    EXPECT_NEAR (m.offset (kEpoch + i * 40 * kMs + 5 * kMs, i * 40 * kMs), kEpoch, 3 * kMs)
        << i; // creeping 1 ms a second
}

// Decode times from a broken or hostile stream, at the ends of int64_t:
// the mapping stays defined (the fuzzer found a jump that overflowed the
// drift), and a sane stream after them is mapped again.
TEST (WallclockMap, TimestampsAtTheEndsOfTheRangeDoNotOverflow)
{
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max ();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min ();
  WallclockMap m;
  m.offset (kEpoch, kMin);
  m.offset (kEpoch, kMax);    // a jump of the whole range
  m.offset (kEpoch, kMin + 1); // and back
  m.offset (0, kMax);
  m.offset (kEpoch, -kMax);
  EXPECT_EQ (m.offset (kEpoch, 0), kEpoch) << "a reset after the garbage";
  EXPECT_EQ (m.offset (kEpoch + 40 * kMs, 40 * kMs), kEpoch);
}

} // namespace
} // namespace mirror::cmaf::test
