// SPDX-License-Identifier: LGPL-2.1-or-later
// The sliding window: what is listed, what is still fetchable, what is gone.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include <glib/gstdio.h>

#include "hls/media_store.h"
#include "hls_test_feed.h"
#include "playlist_rules.h"

namespace mirror::test {
namespace {

TEST (Window, SlidesAndKeepsRecentMediaFetchable)
{
  StreamStore store ("cam-1", default_config ());
  ASSERT_TRUE (add_video (store));
  Feed video (store, "video");
  video.segments (60);
  video.next_segment_part ();
  std::string text = *store.media_playlist ("video", false);

  // At least playlist-length (10 s) of complete segments: 21 of ~0.4998 s.
  EXPECT_TRUE (has_line (text, "#EXT-X-MEDIA-SEQUENCE:39"));
  EXPECT_EQ (count_prefix (text, "#EXTINF:"), 21);
  EXPECT_FALSE (has_line (text, "video/seg38.m4s"));

  // Unlisted segments stay fetchable for one more playlist-length.
  EXPECT_TRUE (store.segment ("video", 38));
  EXPECT_TRUE (store.segment ("video", 18));
  EXPECT_FALSE (store.segment ("video", 17));
  EXPECT_FALSE (store.segment ("video", 0));
  // The open segment is not a segment yet, only parts.
  EXPECT_FALSE (store.segment ("video", 60));
  Bytes b;
  EXPECT_EQ (store.fetch_part ("video", { 60, 0 }, &b), PartAvailability::kReady);
  EXPECT_EQ (b.view (), "part 60.0");

  // Parts: listed for 3 target durations, fetchable for 3 more.
  EXPECT_EQ (store.fetch_part ("video", { 48, 0 }, &b), PartAvailability::kReady);
  EXPECT_EQ (store.fetch_part ("video", { 47, 4 }, &b), PartAvailability::kMissing);
  EXPECT_EQ (store.fetch_part ("video", { 61, 0 }, &b), PartAvailability::kMissing);
}

TEST (Window, SegmentIsItsPartsBackToBack)
{
  StreamStore store ("cam-1", default_config ());
  ASSERT_TRUE (add_video (store));
  Feed video (store, "video", 5);
  video.segment (3);
  video.next_segment_part ();
  auto chunks = store.segment ("video", 5);
  ASSERT_TRUE (chunks);
  ASSERT_EQ (chunks->size (), 3u);
  EXPECT_EQ ((*chunks)[0].view (), "part 5.0");
  EXPECT_EQ ((*chunks)[2].view (), "part 5.2");
}

TEST (Window, ShorterPlaylistLength)
{
  StreamConfig config = default_config ();
  config.playlist_length_ns = 2 * kNsPerSecond;
  StreamStore store ("cam-1", config);
  ASSERT_TRUE (add_video (store));
  Feed video (store, "video");
  video.segments (20);
  video.next_segment_part ();
  std::string text = *store.media_playlist ("video", false);
  EXPECT_EQ (count_prefix (text, "#EXTINF:"), 5);
  EXPECT_TRUE (has_line (text, "#EXT-X-MEDIA-SEQUENCE:15"));
}

// The live edge: the newest part's first frame, in the rendition furthest
// behind; an ended rendition no longer counts.
TEST (Window, LiveEdgeIsTheNewestPartOfTheRenditionFurthestBehind)
{
  StreamStore store ("cam-1", default_config ());
  EXPECT_FALSE (store.live_edge_wallclock_ns ());
  ASSERT_TRUE (add_video (store));
  ASSERT_TRUE (store.add_rendition (video_info ("low")));
  ASSERT_TRUE (store.set_init ("low", fake_init (1)));
  Feed video (store, "video"), low (store, "low");
  video.segment (5); // 499.8 ms
  video.next_segment_part ();
  video.part (100 * kMs, false);
  // The newest part starts 100 ms into the segment that started at 499.8 ms.
  const int64_t video_edge = kStartWallclock + 499800000 + 100 * kMs;
  EXPECT_EQ (store.live_edge_wallclock_ns (), video_edge);
  low.segment (2);
  EXPECT_EQ (store.live_edge_wallclock_ns (), kStartWallclock + 100 * kMs);
  store.finish ("low");
  EXPECT_EQ (store.live_edge_wallclock_ns (), video_edge);
}

// mirrord restarted (or the stream moved to another node): the stream's
// new store numbers its segments from the clock, so they come after
// everything the old one published, however short its segments ran, and
// its first segment tells players that knew the old one to reset their
// timeline.
TEST (Window, AStoreOpenedLaterNeverNumbersBackwards)
{
  const int64_t t0 = kStartWallclock;
  StreamConfig config = default_config ();
  config.numbering_clock_ns = t0;
  StreamStore before ("cam-1", config);
  ASSERT_TRUE (add_video (before));
  Feed old_feed (before, "video");
  // 100 segments of 480 ms (25 fps, 12-frame GOPs): 48 s, faster than the
  // clock's segment duration.
  for (int seg = 0; seg < 100; ++seg) {
    old_feed.next_segment_part (120 * kMs);
    for (int p = 1; p < 4; ++p)
      old_feed.part (120 * kMs, false);
  }
  before.mark_discontinuity ("video");
  old_feed.next_segment_part (120 * kMs);
  const std::string old_text = *before.media_playlist ("video", false);
  auto old_last = before.progress ("video")->last;

  config.numbering_clock_ns = t0 + 48 * kNsPerSecond;
  StreamStore after ("cam-1", config);
  ASSERT_TRUE (add_video (after));
  Feed new_feed (after, "video");
  new_feed.segment ();
  new_feed.next_segment_part ();
  const std::string text = *after.media_playlist ("video", false);
  EXPECT_GT (after.progress ("video")->last.msn, old_last.msn + 1);
  const char *msn = "#EXT-X-MEDIA-SEQUENCE:";
  EXPECT_GT (tag_number (text, msn), tag_number (old_text, msn));
  // Below 2^31 for players that do 32-bit arithmetic on it.
  EXPECT_LT (tag_number (text, msn), 1ull << 31);
  // The first segment is a discontinuity, listed before its map.
  EXPECT_LT (text.find ("#EXT-X-DISCONTINUITY\n"), text.find ("#EXT-X-MAP:"));
  EXPECT_TRUE (ll_hls_violations (text).empty ()) << ll_hls_violations (text)[0];
}

// The discontinuity sequence is kept in numbering_dir: a stream opened again
// (mirrord restarted) starts past every discontinuity the old one
// announced, so a player never takes the new timeline for an old one.
TEST (Window, AStoreOpenedAgainStartsPastEveryOldDiscontinuity)
{
  gchar *dir = g_dir_make_tmp ("mirror-numbering-XXXXXX", nullptr);
  StreamConfig config = default_config ();
  config.numbering_clock_ns = kStartWallclock;
  config.numbering_dir = dir;
  // The discontinuity sequence number of the first listed segment, and of
  // the last.
  auto discontinuity = [] (const std::string &text) {
    const uint64_t first = tag_number (text, "#EXT-X-DISCONTINUITY-SEQUENCE:");
    return std::pair{ first, first + count_line (text, "#EXT-X-DISCONTINUITY") };
  };
  uint64_t old_last = 0;
  {
    StreamStore before ("cam 1", config); // not a file name as it is
    ASSERT_TRUE (add_video (before));
    Feed feed (before, "video");
    feed.segments (3);
    before.mark_discontinuity ("video"); // the caller came back
    feed.segments (3);
    feed.next_segment_part ();
    old_last = discontinuity (*before.media_playlist ("video", false)).second;
    EXPECT_EQ (old_last, 2u);
  }
  StreamStore after ("cam 1", config);
  ASSERT_TRUE (add_video (after));
  Feed feed (after, "video");
  feed.segment ();
  feed.next_segment_part ();
  auto [first, last] = discontinuity (*after.media_playlist ("video", false));
  EXPECT_GT (first + 1, old_last) << "the new stream's first timeline reuses an old one";
  g_autofree gchar *ledger = g_build_filename (dir, "cam_1", nullptr);
  EXPECT_TRUE (g_file_test (ledger, G_FILE_TEST_EXISTS));
  g_remove (ledger);
  g_rmdir (dir);
  g_free (dir);
}

// A ledger shared by the cluster (mirrord: the registry's timeline) that
// one process holds for the test.
class TestLedger final : public TimelineLedger {
 public:
  uint64_t next_discontinuity_sequence (const std::string &id) override
  {
    std::lock_guard<std::mutex> lock (mutex);
    return next[id];
  }
  void record (const std::string &id, uint64_t n) override
  {
    std::lock_guard<std::mutex> lock (mutex);
    EXPECT_GT (n, next[id]) << "told only when it grows";
    next[id] = n;
    ++records;
  }
  std::mutex mutex;
  std::map<std::string, uint64_t> next;
  int records = 0;
};

// The stream moves to another node, which has no numbering_dir of the old
// one's: the cluster's ledger still starts it past every discontinuity the
// old owner announced, and hears of each new one.
TEST (Window, AStoreOnTheNextNodeStartsPastTheClustersTimeline)
{
  auto ledger = std::make_shared<TestLedger> ();
  StreamConfig config = default_config ();
  config.numbering_clock_ns = kStartWallclock;
  config.shared_timeline = ledger;
  auto timeline = [] (const std::string &text) {
    return tag_number (text, "#EXT-X-DISCONTINUITY-SEQUENCE:")
           + count_line (text, "#EXT-X-DISCONTINUITY");
  };
  uint64_t old_last = 0;
  {
    StreamStore owner ("cam", config);
    ASSERT_TRUE (add_video (owner));
    Feed feed (owner, "video");
    feed.segments (2);
    owner.mark_discontinuity ("video");
    feed.segments (2);
    feed.next_segment_part ();
    old_last = timeline (*owner.media_playlist ("video", false));
    EXPECT_EQ (old_last, 2u);
    EXPECT_EQ (ledger->next["cam"], 2u);
    EXPECT_EQ (ledger->records, 2);
  }
  StreamStore next_owner ("cam", config);
  ASSERT_TRUE (add_video (next_owner));
  Feed feed (next_owner, "video");
  feed.segment ();
  feed.next_segment_part ();
  const std::string text = *next_owner.media_playlist ("video", false);
  EXPECT_EQ (tag_number (text, "#EXT-X-DISCONTINUITY-SEQUENCE:"), old_last);
  EXPECT_EQ (timeline (text), old_last + 1) << text;
  EXPECT_EQ (ledger->next["cam"], old_last + 1);
  EXPECT_TRUE (ll_hls_violations (text).empty ()) << ll_hls_violations (text)[0];
}

TEST (MediaStore, StreamsByIdAndRemoval)
{
  MediaStore media;
  auto a = media.open_stream ("a");
  EXPECT_EQ (media.open_stream ("a"), a);
  EXPECT_EQ (media.find_stream ("b"), nullptr);
  media.open_stream ("b");
  EXPECT_EQ (media.stream_ids (), (std::vector<std::string>{ "a", "b" }));

  ASSERT_TRUE (a->add_rendition (video_info ()));
  ASSERT_TRUE (a->set_init ("video", fake_init ()));
  int woken = 0;
  auto hold = a->hold_playlist ("video", ReloadDirectives{ 0, 0, false }, [&] () { ++woken; });
  ASSERT_TRUE (hold);
  EXPECT_EQ (hold->decision.verdict, ReloadVerdict::kHold);
  media.remove_stream ("a");
  EXPECT_EQ (woken, 1); // answered, not left hanging
  EXPECT_EQ (media.find_stream ("a"), nullptr);
  // A request in flight still holds the stream; it now reads as ended.
  EXPECT_TRUE (a->progress ("video")->ended);
}

} // namespace
} // namespace mirror::test
