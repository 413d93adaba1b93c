// SPDX-License-Identifier: LGPL-2.1-or-later
// Blocking playlist reload decisions (RFC 8216bis 6.2.5.2), without HTTP.
#include <gtest/gtest.h>

#include "hls/blocking_reload.h"

namespace mirror {
namespace {

RenditionProgress
live_at (uint64_t msn, uint32_t part)
{
  RenditionProgress p;
  p.has_parts = true;
  p.last = { msn, part };
  p.reached = p.last;
  p.part_target_ns = 100000000;
  return p;
}

// The same, its last part the final one of segment msn.
RenditionProgress
complete_at (uint64_t msn, uint32_t part)
{
  RenditionProgress p = live_at (msn, part);
  p.reached = { msn, kSegmentComplete };
  return p;
}

ReloadDirectives
ask (std::optional<uint64_t> msn, std::optional<uint64_t> part = std::nullopt)
{
  ReloadDirectives d;
  d.msn = msn;
  d.part = part;
  return d;
}

ReloadVerdict
verdict (const ReloadDirectives &d, const RenditionProgress &p)
{
  return decide_reload (d, p).verdict;
}

TEST (BlockingReload, AnswersAtOnceWhatExists)
{
  auto p = live_at (10, 2);
  EXPECT_EQ (verdict (ask (std::nullopt), p), ReloadVerdict::kAnswerNow);
  EXPECT_EQ (verdict (ask (10, 2), p), ReloadVerdict::kAnswerNow);
  EXPECT_EQ (verdict (ask (10, 0), p), ReloadVerdict::kAnswerNow);
  EXPECT_EQ (verdict (ask (9), p), ReloadVerdict::kAnswerNow); // complete
  EXPECT_EQ (verdict (ask (3, 1), p), ReloadVerdict::kAnswerNow);
}

TEST (BlockingReload, PartPastTheEndOfASegmentIsPartZeroOfTheNext)
{
  // Segment 9 had five parts: 9.7 is 10.0, which exists.
  EXPECT_EQ (verdict (ask (9, 7), live_at (10, 2)), ReloadVerdict::kAnswerNow);
  // Segment 10 is open: 10.5 waits, and is satisfied by 11.0 if 10 ends at 10.4.
  auto d = decide_reload (ask (10, 5), live_at (10, 2));
  EXPECT_EQ (d.verdict, ReloadVerdict::kHold);
  EXPECT_EQ (d.hold_until, (PartPosition{ 10, 5 }));
  EXPECT_LT (d.hold_until, (PartPosition{ 11, 0 }));
}

TEST (BlockingReload, HoldsForTheNextPartOrSegment)
{
  auto p = live_at (10, 2);
  auto d = decide_reload (ask (10, 3), p);
  EXPECT_EQ (d.verdict, ReloadVerdict::kHold);
  EXPECT_EQ (d.hold_until, (PartPosition{ 10, 3 }));
  // _HLS_msn alone: until segment 10 is complete, after its last part and
  // before 11.0.
  d = decide_reload (ask (10), p);
  EXPECT_EQ (d.verdict, ReloadVerdict::kHold);
  EXPECT_EQ (d.hold_until, (PartPosition{ 10, kSegmentComplete }));
  EXPECT_GT (d.hold_until, (PartPosition{ 10, 4 }));
  EXPECT_LT (d.hold_until, (PartPosition{ 11, 0 }));
}

// The muxer said 10.4 was the last part of segment 10: the segment is
// complete at once, and what lies past its end is 11.0.
TEST (BlockingReload, ASegmentCompleteAtItsLastPartAnswersAtOnce)
{
  auto p = complete_at (10, 4);
  EXPECT_EQ (verdict (ask (10), p), ReloadVerdict::kAnswerNow);
  EXPECT_EQ (verdict (ask (10, 4), p), ReloadVerdict::kAnswerNow);
  auto d = decide_reload (ask (10, 5), p);
  EXPECT_EQ (d.verdict, ReloadVerdict::kHold);
  EXPECT_EQ (d.hold_until, (PartPosition{ 11, 0 }));
  d = decide_reload (ask (11), p);
  EXPECT_EQ (d.verdict, ReloadVerdict::kHold);
  EXPECT_EQ (d.hold_until, (PartPosition{ 11, kSegmentComplete }));
}

TEST (BlockingReload, TwoSegmentsAheadIsTheLimit)
{
  auto p = live_at (10, 2);
  EXPECT_EQ (verdict (ask (11), p), ReloadVerdict::kHold);
  EXPECT_EQ (verdict (ask (12), p), ReloadVerdict::kHold);
  EXPECT_EQ (verdict (ask (12, 0), p), ReloadVerdict::kHold);
  auto d = decide_reload (ask (13), p);
  EXPECT_EQ (d.verdict, ReloadVerdict::kBadRequest);
  EXPECT_NE (d.why.find ("13"), std::string::npos);
  EXPECT_EQ (verdict (ask (13, 0), p), ReloadVerdict::kBadRequest);
}

TEST (BlockingReload, PartBeyondTheAdvancePartLimit)
{
  auto p = live_at (10, 2);
  EXPECT_EQ (advance_part_limit (100000000), 30u);
  EXPECT_EQ (verdict (ask (10, 32), p), ReloadVerdict::kHold);
  EXPECT_EQ (verdict (ask (10, 33), p), ReloadVerdict::kBadRequest);
  EXPECT_EQ (verdict (ask (11, 29), p), ReloadVerdict::kHold);
  EXPECT_EQ (verdict (ask (11, 30), p), ReloadVerdict::kBadRequest);
}

TEST (BlockingReload, PartWithoutMsnIsABadRequest)
{
  auto d = decide_reload (ask (std::nullopt, 1), live_at (10, 2));
  EXPECT_EQ (d.verdict, ReloadVerdict::kBadRequest);
  EXPECT_NE (d.why.find ("_HLS_msn"), std::string::npos);
}

TEST (BlockingReload, DirectivesIgnoredAfterEndList)
{
  auto p = live_at (10, 2);
  p.ended = true;
  EXPECT_EQ (verdict (ask (13), p), ReloadVerdict::kAnswerNow);
  EXPECT_EQ (verdict (ask (11, 0), p), ReloadVerdict::kAnswerNow);
  EXPECT_EQ (verdict (ask (std::nullopt, 1), p), ReloadVerdict::kAnswerNow);
}

TEST (BlockingReload, NothingPublishedYetHolds)
{
  RenditionProgress empty;
  EXPECT_EQ (verdict (ask (0, 0), empty), ReloadVerdict::kHold);
  EXPECT_EQ (verdict (ask (std::nullopt), empty), ReloadVerdict::kAnswerNow);
}

TEST (BlockingReload, UnavailableAfterThreeTargetDurations)
{
  EXPECT_EQ (blocking_reload_timeout_ns (1), 3000000000);
  EXPECT_EQ (blocking_reload_timeout_ns (2), 6000000000);
  EXPECT_EQ (kHlsStatusUnavailable, 503);
}

TEST (ReloadDirectivesParse, ReadsTheThreeDirectives)
{
  ReloadDirectives d;
  std::string why;
  ASSERT_TRUE (parse_reload_directives ("_HLS_msn=10&_HLS_part=2&_HLS_skip=YES", &d, &why));
  EXPECT_EQ (d.msn, 10u);
  EXPECT_EQ (d.part, 2u);
  EXPECT_TRUE (d.skip);
  ASSERT_TRUE (parse_reload_directives ("t=123&_HLS_msn=3", &d, &why));
  EXPECT_EQ (d.msn, 3u);
  EXPECT_FALSE (d.part);
  EXPECT_FALSE (d.skip);
  ASSERT_TRUE (parse_reload_directives ("", &d, &why));
  EXPECT_FALSE (d.msn);
  ASSERT_TRUE (parse_reload_directives ("_HLS_skip=v2", &d, &why));
  EXPECT_TRUE (d.skip);
}

TEST (ReloadDirectivesParse, MalformedIsABadRequest)
{
  ReloadDirectives d;
  std::string why;
  for (const char *q : { "_HLS_msn=", "_HLS_msn=abc", "_HLS_msn=-1", "_HLS_part=1x", "_HLS_skip=NO",
                         "_HLS_msn=99999999999999999999999" }) {
    EXPECT_FALSE (parse_reload_directives (q, &d, &why)) << q;
    EXPECT_FALSE (why.empty ());
  }
}

} // namespace
} // namespace mirror
