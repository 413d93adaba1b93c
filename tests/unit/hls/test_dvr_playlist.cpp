// SPDX-License-Identifier: LGPL-2.1-or-later
// Time-shifted playback without a recording: the range query, the grouping
// of recorded segments into byte-range segments, and the VOD and EVENT
// playlists (checked by the same rules the integration tests apply).
#include <gtest/gtest.h>

#include <chrono>

#include "hls/dvr_playlist.h"
#include "hls/dvr_range.h"
#include "hls/multivariant.h"
#include "hls_test_feed.h"
#include "playlist_rules.h"

namespace mirror::test {
namespace {

constexpr int64_t kS = 1000000000;
// 2026-12-06T14:00:00Z
constexpr int64_t kT0 = 1796565600LL * kS;
constexpr int64_t kNow = kT0 + 3600 * kS;

std::optional<DvrRange>
range (const std::string &query, DvrRangeError *error = nullptr)
{
  DvrRangeError ignored;
  return parse_dvr_range (query, kNow, error ? error : &ignored);
}

TEST (DvrRange, UnixSecondsAndIso8601AreTheSameInstant)
{
  auto a = range ("start=1796565600&end=1796565610.25");
  ASSERT_TRUE (a);
  EXPECT_TRUE (a->requested);
  EXPECT_EQ (a->start_ns, kT0);
  EXPECT_EQ (*a->end_ns, kT0 + 10 * kS + kS / 4);
  auto b = range ("start=2026-12-06T14:00:00Z&end=2026-12-06T15:00:10.25%2B01:00");
  ASSERT_TRUE (b);
  EXPECT_EQ (b->start_ns, kT0);
  EXPECT_EQ (*b->end_ns, kT0 + 10 * kS + kS / 4);
  // No zone: UTC. A date: its midnight.
  EXPECT_EQ (range ("start=2026-12-06T14:00:00")->start_ns, kT0);
  EXPECT_EQ (range ("start=2026-12-06")->start_ns, kT0 - 14 * 3600 * kS);
  // Percent-encoded colons, as browsers send them.
  EXPECT_EQ (range ("start=2026-12-06T14%3A00%3A00Z")->start_ns, kT0);
  // Other parameters are not ours.
  auto c = range ("_HLS_msn=3&start=1796565600&_HLS_skip=YES");
  ASSERT_TRUE (c);
  EXPECT_FALSE (c->end_ns);
  EXPECT_FALSE (range ("_HLS_msn=3")->requested);
  EXPECT_EQ (format_dvr_range_query (*a), "start=1796565600&end=1796565610.25");
  EXPECT_EQ (format_dvr_range_query (*c), "start=1796565600");
}

TEST (DvrRange, BadRangesNameTheirParameter)
{
  struct Case {
    const char *query;
    const char *parameter;
    const char *says;
  } cases[] = {
    { "start=yesterday", "start", "start=yesterday is neither" },
    { "start=1796565600&end=2026-13-01T00:00:00Z", "end", "is neither" },
    { "start=-5", "start", "is neither" },
    { "start=1796565600.1234567891", "start", "is neither" },
    { "end=1796565600", "start", "needs a start" },
    { "start=1796565600&start=1796565601", "start", "twice" },
    { "start=1796565610&end=1796565600", "end", "is not after" },
    { "start=1796565600&end=1796565600", "end", "is not after" },
    { "start=1796575600", "start", "in the future" },
    { "start=1796465600&end=1796565600", "end", "longer than 24 hours" },
    { "start=1796465600", "start", "longer than 24 hours" },
    { "start=2026-12-06T14:00:00Q", "start", "is neither" },
  };
  for (const Case &c : cases) {
    DvrRangeError error;
    EXPECT_FALSE (range (c.query, &error)) << c.query;
    EXPECT_EQ (error.parameter, c.parameter) << c.query;
    EXPECT_NE (error.message.find (c.says), std::string::npos) << c.query << ": " << error.message;
  }
}

// @n recorded 500 ms segments from @at, one period file, one init.
std::vector<DvrSegmentInput>
recorded (size_t n, int64_t at = kT0, uint64_t msn = 100, int64_t period_s = 1796565600)
{
  std::vector<DvrSegmentInput> out;
  uint64_t offset = 700;
  for (size_t i = 0; i < n; i++) {
    DvrSegmentInput s;
    s.period_s = period_s;
    s.msn = msn + i;
    s.wallclock_ns = at + int64_t (i) * kS / 2;
    s.duration_ns = kS / 2;
    s.offset = offset;
    s.length = 1000 + i;
    s.init_offset = 0;
    s.init_length = 700;
    s.independent = true;
    offset += s.length;
    out.push_back (s);
  }
  return out;
}

TEST (DvrPlaylist, GroupsUpToTheTargetInOneFile)
{
  auto segs = recorded (30); // 15 s
  auto groups = group_dvr_segments (segs, kDvrGroupTargetNs, true);
  ASSERT_EQ (groups.size (), 3u);
  EXPECT_EQ (groups[0].segments, 12u);
  EXPECT_EQ (groups[1].segments, 12u);
  EXPECT_EQ (groups[2].segments, 6u);
  for (const DvrGroup &g : groups)
    EXPECT_FALSE (g.discontinuity);
  EXPECT_EQ (groups[1].offset, groups[0].offset + groups[0].length);
  EXPECT_EQ (groups[1].wallclock_ns, kT0 + 6 * kS);
  // Still growing: the last group may take more, so it is not listed yet.
  EXPECT_EQ (group_dvr_segments (segs, kDvrGroupTargetNs, false).size (), 2u);
}

TEST (DvrPlaylist, BreaksAtHolesDiscontinuitiesAndFiles)
{
  auto segs = recorded (8);
  segs[2].discontinuity = true;  // the live playlist said so
  segs[4].gap = true;            // ingest was out
  for (size_t i = 6; i < 8; i++) // one segment dropped before these
    segs[i].msn += 1;
  auto groups = group_dvr_segments (segs, kDvrGroupTargetNs, true);
  ASSERT_EQ (groups.size (), 4u);
  EXPECT_FALSE (groups[0].discontinuity);
  EXPECT_TRUE (groups[1].discontinuity && groups[2].discontinuity && groups[3].discontinuity);

  // A new period file (the same timeline) starts a group, not a discontinuity.
  auto a = recorded (4), b = recorded (4, kT0 + 2 * kS, 104, 1796566200);
  a.insert (a.end (), b.begin (), b.end ());
  groups = group_dvr_segments (a, kDvrGroupTargetNs, true);
  ASSERT_EQ (groups.size (), 2u);
  EXPECT_FALSE (groups[1].discontinuity);
  EXPECT_EQ (groups[1].period_s, 1796566200);

  // A segment without a sync sample cannot start a group: it joins.
  auto c = recorded (14);
  c[12].independent = false;
  groups = group_dvr_segments (c, kDvrGroupTargetNs, true);
  ASSERT_EQ (groups.size (), 2u);
  EXPECT_EQ (groups[0].segments, 13u);
}

TEST (DvrPlaylist, VodPlaylistFollowsTheRules)
{
  auto segs = recorded (40);
  segs[20].gap = true;
  segs[20].wallclock_ns += 3 * kS;
  for (size_t i = 21; i < segs.size (); i++)
    segs[i].wallclock_ns += 3 * kS;
  auto groups = group_dvr_segments (segs, kDvrGroupTargetNs, true);
  DvrPlaylistInput in;
  in.rendition = "360p";
  in.groups = &groups;
  std::string text = render_dvr_playlist (in);
  EXPECT_EQ (ll_hls_violations (text), std::vector<std::string> ()) << text;
  EXPECT_NE (text.find ("#EXT-X-PLAYLIST-TYPE:VOD\n"), std::string::npos);
  EXPECT_NE (text.find ("#EXT-X-TARGETDURATION:6\n"), std::string::npos);
  EXPECT_NE (text.find ("#EXT-X-MAP:URI=\"360p/dvr1796565600-0-700.mp4\"\n"
                        "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T14:00:00.000Z\n"
                        "#EXTINF:6.00000,\n"
                        "360p/dvr1796565600-700-12066.m4s\n"),
             std::string::npos)
      << text;
  EXPECT_NE (text.find ("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-12-06T14:00:13.000Z"),
             std::string::npos)
      << text;
  EXPECT_EQ (text.find ("SERVER-CONTROL"), std::string::npos);
  EXPECT_TRUE (text.ends_with ("#EXT-X-ENDLIST\n"));
}

TEST (DvrPlaylist, EventPlaylistGrowsAndSkipsInDeltaUpdates)
{
  auto segs = recorded (120); // 60 s
  auto groups = group_dvr_segments (segs, kDvrGroupTargetNs, false);
  ASSERT_EQ (groups.size (), 9u);
  DvrPlaylistInput in;
  in.rendition = "audio";
  in.groups = &groups;
  in.event = true;
  std::string full = render_dvr_playlist (in);
  in.delta = true;
  std::string delta = render_dvr_playlist (in);
  auto bad = ll_hls_violations_each ({ full, delta });
  EXPECT_EQ (bad[0], std::vector<std::string> ()) << full;
  EXPECT_EQ (bad[1], std::vector<std::string> ()) << delta;
  EXPECT_NE (full.find ("#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,"
                        "CAN-SKIP-UNTIL=36.0\n"),
             std::string::npos)
      << full;
  EXPECT_EQ (full.find ("ENDLIST"), std::string::npos);
  // 54 s listed: what ends 36 s or more before the end is skipped.
  EXPECT_NE (delta.find ("#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n#EXT-X-MAP:"), std::string::npos)
      << delta;
  // A growing playlist only appends: the first render is a prefix of a later one.
  auto more = recorded (150);
  auto later = group_dvr_segments (more, kDvrGroupTargetNs, false);
  in.groups = &later;
  in.delta = false;
  std::string grown = render_dvr_playlist (in);
  EXPECT_TRUE (grown.starts_with (full)) << grown;
  in.ended = true;
  EXPECT_TRUE (render_dvr_playlist (in).ends_with ("#EXT-X-ENDLIST\n"));
}

TEST (DvrPlaylist, TimeShiftedMultivariantCarriesTheRange)
{
  std::string text = render_multivariant_playlist ({ video_info (), audio_info () },
                                                   "start=1796565600&end=1796565700");
  EXPECT_NE (text.find ("URI=\"audio.m3u8?start=1796565600&end=1796565700\""), std::string::npos)
      << text;
  EXPECT_NE (text.find ("\nvideo.m3u8?start=1796565600&end=1796565700\n"), std::string::npos)
      << text;
  EXPECT_EQ (ll_hls_violations (text), std::vector<std::string> ()) << text;
}

TEST (DvrPlaylist, ADayIsAFewMegabytesAndQuickToRender)
{
  std::vector<DvrSegmentInput> day;
  for (int p = 0; p < 144; p++) {
    auto period = recorded (1200, kT0 + int64_t (p) * 600 * kS, 100 + uint64_t (p) * 1200,
                            1796565600 + p * 600);
    day.insert (day.end (), period.begin (), period.end ());
  }
  auto start = std::chrono::steady_clock::now ();
  auto groups = group_dvr_segments (day, kDvrGroupTargetNs, true);
  DvrPlaylistInput in;
  in.rendition = "360p";
  in.groups = &groups;
  std::string text = render_dvr_playlist (in);
  double ms = std::chrono::duration<double, std::milli> (std::chrono::steady_clock::now () - start)
                  .count ();
  EXPECT_EQ (groups.size (), 14400u);
  // Not a timing assertion (tools/bench measures that): the size.
  EXPECT_LT (text.size (), 3u * 1024 * 1024);
  RecordProperty ("render_ms", std::to_string (ms));
  RecordProperty ("bytes", std::to_string (text.size ()));
  std::printf ("a 24 h VOD playlist: %zu segments, %zu bytes, grouped and rendered in %.1f ms\n",
               groups.size (), text.size (), ms);
}

} // namespace
} // namespace mirror::test
