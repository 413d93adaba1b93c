// SPDX-License-Identifier: LGPL-2.1-or-later
// Media playlist text: every LL-HLS tag, and the rules players enforce,
// checked on constructed part sequences (100 ms parts from a 30 fps clock,
// 500 ms segments).
#include <gtest/gtest.h>

#include "hls/stream_store.h"
#include "hls_test_feed.h"
#include "playlist_rules.h"

namespace mirror::test {
namespace {

class MediaPlaylist : public ::testing::Test {
 protected:
  void SetUp () override
  {
    ASSERT_TRUE (add_video (store));
  }
  std::string playlist (bool delta = false) { return *store.media_playlist ("video", delta); }

  StreamStore store{ "cam-1", default_config () };
  Feed video{ store, "video" };
};

TEST_F (MediaPlaylist, EveryTagOfALiveRendition)
{
  video.segments (2);
  video.next_segment_part (100 * kMs);
  video.part (99900000, false);
  EXPECT_EQ (playlist (), "#EXTM3U\n"
                          "#EXT-X-VERSION:9\n"
                          "#EXT-X-TARGETDURATION:1\n"
                          "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,"
                          "HOLD-BACK=3.0,PART-HOLD-BACK=0.30000\n"
                          "#EXT-X-PART-INF:PART-TARGET=0.10000\n"
                          "#EXT-X-MEDIA-SEQUENCE:0\n"
                          "#EXT-X-DISCONTINUITY-SEQUENCE:0\n"
                          "#EXT-X-MAP:URI=\"video/init0.mp4\"\n"
                          "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.000Z\n"
                          "#EXT-X-PART:DURATION=0.10000,URI=\"video/part0.0.m4s\",INDEPENDENT=YES\n"
                          "#EXT-X-PART:DURATION=0.09990,URI=\"video/part0.1.m4s\"\n"
                          "#EXT-X-PART:DURATION=0.10000,URI=\"video/part0.2.m4s\"\n"
                          "#EXT-X-PART:DURATION=0.09990,URI=\"video/part0.3.m4s\"\n"
                          "#EXT-X-PART:DURATION=0.10000,URI=\"video/part0.4.m4s\"\n"
                          "#EXTINF:0.49980,\n"
                          "video/seg0.m4s\n"
                          "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.499Z\n"
                          "#EXT-X-PART:DURATION=0.09990,URI=\"video/part1.0.m4s\",INDEPENDENT=YES\n"
                          "#EXT-X-PART:DURATION=0.10000,URI=\"video/part1.1.m4s\"\n"
                          "#EXT-X-PART:DURATION=0.09990,URI=\"video/part1.2.m4s\"\n"
                          "#EXT-X-PART:DURATION=0.10000,URI=\"video/part1.3.m4s\"\n"
                          "#EXT-X-PART:DURATION=0.09990,URI=\"video/part1.4.m4s\"\n"
                          "#EXTINF:0.49970,\n"
                          "video/seg1.m4s\n"
                          "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.999Z\n"
                          "#EXT-X-PART:DURATION=0.10000,URI=\"video/part2.0.m4s\",INDEPENDENT=YES\n"
                          "#EXT-X-PART:DURATION=0.09990,URI=\"video/part2.1.m4s\"\n"
                          "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video/part2.2.m4s\"\n");
  EXPECT_TRUE (ll_hls_violations (playlist ()).empty ());
}

TEST_F (MediaPlaylist, RulesHoldAfterEveryPartOfALongRun)
{
  std::vector<std::string> texts;
  for (int seg = 0; seg < 80; ++seg) {
    for (int p = 0; p < 5; ++p) {
      if (p == 0)
        video.next_segment_part (clock_part_ns (seg));
      else
        video.part (clock_part_ns (seg + p), false);
      texts.push_back (playlist ());
    }
  }
  auto each = ll_hls_violations_each (texts);
  for (size_t i = 0; i < texts.size (); i++)
    ASSERT_TRUE (each[i].empty ())
        << "after part " << i / 5 << "." << i % 5 << ": " << each[i][0] << "\n"
        << texts[i];
}

TEST_F (MediaPlaylist, PartsListedForTheLastThreeTargetDurationsOnly)
{
  video.segments (12);
  video.next_segment_part ();
  // Edge at 6.097 s: segment 6 ends 3.498 s in (listed), segment 5 at 2.9985 s.
  std::string text = playlist ();
  EXPECT_EQ (count_prefix (text, "#EXT-X-PART:"), 6 * 5 + 1);
  EXPECT_EQ (text.find ("part5."), std::string::npos);
  EXPECT_NE (text.find ("URI=\"video/part6.0.m4s\""), std::string::npos);
  EXPECT_TRUE (has_line (text, "video/seg0.m4s"));
  // Each part is listed before its own segment's EXTINF.
  EXPECT_LT (text.find ("part6.4.m4s"), text.find ("video/seg6.m4s"));
  EXPECT_GT (text.find ("part7.0.m4s"), text.find ("video/seg6.m4s"));
}

TEST_F (MediaPlaylist, PartTargetIsEachRenditionsOwnFrameGrid)
{
  // What mirrorcmafmux announces: 3 frames at 25 fps, 5 AAC frames at 48 kHz.
  RenditionInfo v = video_info ();
  v.part_target_ns = 120 * kMs;
  ASSERT_TRUE (store.add_rendition (v));
  RenditionInfo a = audio_info ();
  a.part_target_ns = 106666667;
  ASSERT_TRUE (store.add_rendition (a));
  ASSERT_TRUE (store.set_init ("audio", fake_init ()));
  Feed audio (store, "audio");
  for (int seg = 0; seg < 8; ++seg) {
    video.next_segment_part (120 * kMs);
    for (int p = 1; p < 4; ++p)
      video.part (120 * kMs, false);
    audio.next_segment_part (106666667);
    for (int p = 1; p < 5; ++p)
      audio.part (p < 4 ? 106666667 : 85333333, false);
  }
  std::string text = playlist ();
  EXPECT_TRUE (has_line (text, "#EXT-X-PART-INF:PART-TARGET=0.12000"));
  EXPECT_NE (server_control_line (text).find ("PART-HOLD-BACK=0.36000"), std::string::npos);
  EXPECT_TRUE (ll_hls_violations (text).empty ()) << ll_hls_violations (text)[0];
  std::string audio_text = *store.media_playlist ("audio", false);
  EXPECT_TRUE (has_line (audio_text, "#EXT-X-PART-INF:PART-TARGET=0.10667"));
  EXPECT_NE (server_control_line (audio_text).find ("PART-HOLD-BACK=0.32001"), std::string::npos);
  EXPECT_TRUE (ll_hls_violations (audio_text).empty ()) << ll_hls_violations (audio_text)[0];
  // Announced again once parts exist, it stays what it was.
  v.part_target_ns = 100 * kMs;
  ASSERT_TRUE (store.add_rendition (v));
  video.part (120 * kMs, false);
  EXPECT_TRUE (has_line (playlist (), "#EXT-X-PART-INF:PART-TARGET=0.12000"));
  EXPECT_EQ (store.counters ("video")->long_parts, 0u);
}

// The muxer hands out a segment's last part knowing the next one starts a
// new segment: the segment is complete at once and the preload hint names
// the part that really comes next.
TEST_F (MediaPlaylist, ALastPartCompletesItsSegmentAndTheHintComesTrue)
{
  video.next_segment_part (100 * kMs);
  for (int p = 1; p < 4; ++p)
    video.part (100 * kMs, false);
  EXPECT_NE (playlist ().find ("PRELOAD-HINT:TYPE=PART,URI=\"video/part0.4.m4s\""),
             std::string::npos);
  video.part (100 * kMs, false, true);
  std::string text = playlist ();
  EXPECT_TRUE (has_line (text, "video/seg0.m4s")) << text;
  EXPECT_TRUE (has_line (text, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video/part1.0.m4s\"")) << text;
  EXPECT_EQ (store.progress ("video")->reached, (PartPosition{ 0, kSegmentComplete }));
  EXPECT_TRUE (ll_hls_violations (text).empty ()) << ll_hls_violations (text)[0];
  // The next part starts segment 1, where the hint said.
  EXPECT_EQ (video.next_segment_part (100 * kMs), (PartPosition{ 1, 0 }));
  EXPECT_EQ (store.counters ("video")->parts, 6u);
}

TEST_F (MediaPlaylist, OneLongPartRaisesPartTargetForGood)
{
  video.segments (2);
  // A part longer than PART-TARGET breaks a MUST that players rely on for
  // their timing; parts under 85% of the new target are the lesser breach
  // (they cannot be lengthened without re-muxing), so they are counted.
  video.next_segment_part (100 * kMs);
  video.part (130 * kMs, false);
  video.segments (30);
  std::string text = playlist ();
  EXPECT_TRUE (has_line (text, "#EXT-X-PART-INF:PART-TARGET=0.13000"));
  for (const std::string &why : ll_hls_violations (text))
    EXPECT_EQ (why.find ("longer than"), std::string::npos) << why;
  EXPECT_GT (store.counters ("video")->short_parts, 0u);
  EXPECT_EQ (store.counters ("video")->long_parts, 1u);
}

TEST_F (MediaPlaylist, PartsTheMuxerCutShortAreCounted)
{
  video.segments (1);
  PartInput in;
  in.msn = 1;
  in.duration_ns = 100 * kMs;
  in.independent = true;
  in.shortened = true;
  in.bytes = Bytes::copy ("x");
  ASSERT_TRUE (store.add_part ("video", in));
  EXPECT_EQ (store.counters ("video")->shortened_parts, 1u);
}

TEST_F (MediaPlaylist, TargetDurationCoversALongSegment)
{
  video.segments (2);
  video.segment (16); // 1.6 s: no keyframe for a while
  video.next_segment_part ();
  std::string text = playlist ();
  EXPECT_TRUE (has_line (text, "#EXT-X-TARGETDURATION:2"));
  EXPECT_NE (server_control_line (text).find ("CAN-SKIP-UNTIL=12.0,HOLD-BACK=6.0"),
             std::string::npos);
  EXPECT_TRUE (ll_hls_violations (text).empty ()) << ll_hls_violations (text)[0];
}

TEST_F (MediaPlaylist, ShortPartsAreServedAndCounted)
{
  video.next_segment_part (100 * kMs);
  video.part (50 * kMs, false); // too short, mid-segment: counted
  video.part (100 * kMs, false);
  video.part (40 * kMs, false);       // last in its segment: fine
  video.next_segment_part (30 * kMs); // independent: fine
  video.part (100 * kMs, false);
  video.next_segment_part ();
  EXPECT_EQ (store.counters ("video")->short_parts, 1u);
  EXPECT_NE (playlist ().find ("DURATION=0.05000"), std::string::npos);
}

TEST_F (MediaPlaylist, DiscontinuityOnNewInitAndRestartedNumbering)
{
  video.segments (2);
  ASSERT_TRUE (store.set_init ("video", fake_init ())); // same bytes: nothing changes
  video.segments (1);
  EXPECT_EQ (count_line (playlist (), "#EXT-X-DISCONTINUITY"), 0);
  ASSERT_TRUE (store.set_init ("video", fake_init (1))); // caps changed
  video.segments (2);
  video.restart_numbering (0); // the muxer started over
  video.segment ();
  video.next_segment_part ();
  std::string text = playlist ();
  EXPECT_EQ (count_prefix (text, "#EXT-X-DISCONTINUITY"), 3); // 2 tags + the sequence
  EXPECT_TRUE (has_line (text, "#EXT-X-DISCONTINUITY-SEQUENCE:0"));
  EXPECT_TRUE (has_line (text, "#EXT-X-MAP:URI=\"video/init1.mp4\""));
  // The tag comes right before the new segment, numbered on from the last.
  EXPECT_NE (
      text.find ("video/seg2.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"video/init1.mp4\"\n"),
      std::string::npos);
  EXPECT_NE (text.find ("video/seg4.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME"),
             std::string::npos);
  EXPECT_TRUE (has_line (text, "video/seg5.m4s"));
  EXPECT_EQ (store.counters ("video")->discontinuities, 2u);

  // Once both slide out of the playlist, the sequence counts them.
  video.segments (60);
  text = playlist ();
  EXPECT_EQ (count_line (text, "#EXT-X-DISCONTINUITY"), 0);
  EXPECT_TRUE (has_line (text, "#EXT-X-DISCONTINUITY-SEQUENCE:2"));
  EXPECT_FALSE (store.init ("video", 0u));
  EXPECT_TRUE (store.init ("video", 1u));
  EXPECT_TRUE (store.init ("video", std::nullopt)->same_content (fake_init (1)));
}

TEST_F (MediaPlaylist, DeltaUpdateSkipsWhatIsOlderThanCanSkipUntil)
{
  video.segments (40);
  video.next_segment_part ();
  std::string full = playlist ();
  std::string delta = playlist (true);
  EXPECT_TRUE (has_line (delta, "#EXT-X-SKIP:SKIPPED-SEGMENTS=10"));
  EXPECT_TRUE (has_line (full, "#EXT-X-MEDIA-SEQUENCE:19"));
  EXPECT_TRUE (has_line (delta, "#EXT-X-MEDIA-SEQUENCE:19"));
  EXPECT_TRUE (has_line (full, "video/seg19.m4s"));
  for (int msn = 19; msn <= 28; ++msn)
    EXPECT_FALSE (has_line (delta, "video/seg" + std::to_string (msn) + ".m4s")) << msn;
  // After the skip: the init restated, then exactly the full playlist's tail.
  std::string after_skip = "#EXT-X-SKIP:SKIPPED-SEGMENTS=10\n#EXT-X-MAP:URI=\"video/init0.mp4\"\n";
  std::string tail_from = "video/seg28.m4s\n";
  ASSERT_NE (delta.find (after_skip), std::string::npos);
  EXPECT_EQ (delta.substr (delta.find (after_skip) + after_skip.size ()),
             full.substr (full.find (tail_from) + tail_from.size ()));
  EXPECT_TRUE (ll_hls_violations (delta).empty ());
}

TEST_F (MediaPlaylist, DeltaOfAShortPlaylistIsTheFullOne)
{
  video.segments (6);
  video.next_segment_part ();
  EXPECT_EQ (playlist (true), playlist ());
  EXPECT_EQ (playlist (true).find ("EXT-X-SKIP"), std::string::npos);
}

TEST_F (MediaPlaylist, RenditionReportsForSiblings)
{
  ASSERT_TRUE (store.add_rendition (audio_info ()));
  std::string text = playlist ();
  EXPECT_EQ (text.find ("RENDITION-REPORT"), std::string::npos); // audio has nothing yet
  ASSERT_TRUE (store.set_init ("audio", fake_init ()));
  Feed audio (store, "audio", 7);
  video.segments (3);
  audio.segments (2);
  audio.part (100 * kMs, false);
  audio.part (100 * kMs, false);
  text = playlist ();
  EXPECT_TRUE (
      has_line (text, "#EXT-X-RENDITION-REPORT:URI=\"audio.m3u8\",LAST-MSN=8,LAST-PART=6"));
  EXPECT_EQ (text.find ("URI=\"video.m3u8\""), std::string::npos);
  std::string audio_text = *store.media_playlist ("audio", false);
  EXPECT_TRUE (
      has_line (audio_text, "#EXT-X-RENDITION-REPORT:URI=\"video.m3u8\",LAST-MSN=2,LAST-PART=4"));
  EXPECT_EQ (server_control_line (audio_text), server_control_line (text));
}

// Audio comes first (the video waits for a keyframe): the renditions start
// together, at the video's first frame.
TEST_F (MediaPlaylist, AudioBeforeTheVideoStartsIsLeftOut)
{
  ASSERT_TRUE (add_audio (store));
  Feed audio (store, "audio", 3);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ (audio.part (100 * kMs, i % 5 == 0, i % 5 == 4).msn, 0u); // held
  EXPECT_EQ (count_prefix (*store.media_playlist ("audio", false), "#EXT-X-PART:"), 0);

  video.set_wallclock (kStartWallclock + 450 * kMs);
  video.segment ();
  // [0, 400) ms ended before the video's first frame; [400, 500) holds it.
  EXPECT_EQ (store.counters ("audio")->parts_before_start, 4u);
  std::string text = *store.media_playlist ("audio", false);
  EXPECT_EQ (count_prefix (text, "#EXT-X-PART:"), 4);
  EXPECT_TRUE (has_line (text, "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.400Z")) << text;
  EXPECT_TRUE (ll_hls_violations (text).empty ()) << ll_hls_violations (text)[0];
  // From then on audio is published as it comes.
  audio.part (100 * kMs, true);
  EXPECT_EQ (count_prefix (*store.media_playlist ("audio", false), "#EXT-X-PART:"), 5);
}

TEST (MediaPlaylistStart, AudioWithoutAVideoRenditionGoesAloneAfterTwoSeconds)
{
  StreamStore store{ "radio", default_config () };
  ASSERT_TRUE (add_audio (store));
  Feed audio (store, "audio");
  for (int i = 0; i < 19; ++i)
    audio.part (100 * kMs, true, i % 5 == 4);
  EXPECT_EQ (count_prefix (*store.media_playlist ("audio", false), "#EXT-X-PART:"), 0);
  audio.part (100 * kMs, true, true);
  std::string text = *store.media_playlist ("audio", false);
  EXPECT_EQ (count_prefix (text, "#EXT-X-PART:"), 20);
  EXPECT_EQ (store.counters ("audio")->parts_before_start, 0u);
  EXPECT_TRUE (ll_hls_violations (text).empty ()) << ll_hls_violations (text)[0];
}

TEST (MediaPlaylistStart, AudioThatEndsBeforeAnyVideoIsPublished)
{
  StreamStore store{ "short", default_config () };
  ASSERT_TRUE (add_audio (store));
  Feed audio (store, "audio");
  for (int i = 0; i < 3; ++i)
    audio.part (100 * kMs, true);
  store.finish ("audio");
  std::string text = *store.media_playlist ("audio", false);
  EXPECT_EQ (count_prefix (text, "#EXT-X-PART:"), 3);
  EXPECT_TRUE (has_line (text, "#EXT-X-ENDLIST"));
}

TEST_F (MediaPlaylist, EndListCompletesTheLastSegment)
{
  video.segments (3);
  store.finish ("video");
  std::string text = playlist ();
  EXPECT_TRUE (has_line (text, "#EXT-X-ENDLIST"));
  EXPECT_TRUE (has_line (text, "video/seg2.m4s"));
  EXPECT_EQ (text.find ("PRELOAD-HINT"), std::string::npos);
  EXPECT_TRUE (ll_hls_violations (text).empty ());
  EXPECT_TRUE (store.segment ("video", 2));
}

TEST_F (MediaPlaylist, PartsBeforeAnyInitAreDropped)
{
  StreamStore other ("cam-2", default_config ());
  ASSERT_TRUE (other.add_rendition (video_info ()));
  Feed early (other, "video");
  early.segment ();
  EXPECT_EQ (other.counters ("video")->parts_without_init, 5u);
  EXPECT_FALSE (other.progress ("video")->has_parts);
  EXPECT_FALSE (other.add_rendition (video_info ("../x")));
  EXPECT_EQ (other.media_playlist ("nope", false), nullptr);
}

} // namespace
} // namespace mirror::test

namespace mirror::test {
namespace {

TEST (MediaPlaylistClock, SegmentsWithoutAWallClockContinueThePreviousOne)
{
  StreamStore store ("cam-1", default_config ());
  ASSERT_TRUE (add_video (store));
  PartInput in;
  in.duration_ns = 500 * kMs;
  in.independent = true;
  in.bytes = Bytes::copy ("x");
  in.wallclock_ns = kStartWallclock;
  store.add_part ("video", in);
  in.wallclock_ns.reset ();
  for (in.msn = 1; in.msn < 3; ++in.msn)
    store.add_part ("video", in);
  std::string text = *store.media_playlist ("video", false);
  EXPECT_TRUE (has_line (text, "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.000Z"));
  EXPECT_TRUE (has_line (text, "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:00.500Z"));
  EXPECT_TRUE (has_line (text, "#EXT-X-PROGRAM-DATE-TIME:2026-11-27T12:00:01.000Z"));
}

} // namespace
} // namespace mirror::test
