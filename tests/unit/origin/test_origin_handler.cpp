// SPDX-License-Identifier: LGPL-2.1-or-later
// The Origin's request handling without a transport: OriginHandler on a
// GMainContext of the test's own, a MediaStore fed by hand (tests/unit/hls's
// Feed), answers collected as they are delivered.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../hls/hls_test_feed.h"
#include "origin/dvr_playback.h"
#include "origin/origin_handler.h"

namespace mirror {
namespace {

using test::Feed;
using test::kMs;

struct Answer {
  std::optional<OriginResponse> response;
  std::function<void ()> cancel;

  int status () const { return response ? response->status : 0; }
  std::string body () const
  {
    std::string s;
    for (const Bytes &b : response->body)
      s += b.view ();
    return s;
  }
  std::string header (const std::string &name) const
  {
    return std::string (response->header (name));
  }
};

class OriginHandlerTest : public ::testing::Test {
 protected:
  void SetUp () override
  {
    context_ = g_main_context_new ();
    g_main_context_push_thread_default (context_);
    handler_ = std::make_unique<OriginHandler> (media_, context_);
    stream_ = media_.open_stream ("cam1", test::default_config ());
    stream_->add_rendition (test::video_info ("video"));
    stream_->set_init ("video", test::fake_init ());
    feed_ = std::make_unique<Feed> (*stream_, "video");
  }
  void TearDown () override
  {
    feed_.reset ();
    handler_.reset ();
    stream_.reset ();
    media_.remove_stream ("cam1");
    iterate ();
    g_main_context_pop_thread_default (context_);
    g_main_context_unref (context_);
  }

  std::shared_ptr<Answer> get (const std::string &path, const std::string &query = "",
                               const std::string &method = "GET")
  {
    auto a = std::make_shared<Answer> ();
    std::weak_ptr<Answer> weak = a;
    a->cancel = handler_->handle ({ method, path, query }, [weak] (OriginResponse r) {
      auto a = weak.lock ();
      ASSERT_TRUE (a);
      ASSERT_FALSE (a->response) << "answered twice";
      a->response = std::move (r);
    });
    iterate ();
    return a;
  }
  // Runs what is pending on the context (wake-ups posted by publishers).
  void iterate ()
  {
    while (g_main_context_iteration (context_, FALSE))
      ;
  }
  // Iterates until done () or the deadline.
  bool iterate_until (const std::function<bool ()> &done, int64_t timeout_ms)
  {
    int64_t deadline = g_get_monotonic_time () + timeout_ms * 1000;
    while (!done () && g_get_monotonic_time () < deadline)
      g_main_context_iteration (context_, FALSE) || (g_usleep (1000), true);
    return done ();
  }
  PartPosition hint ()
  {
    // The Feed keeps a segment open until next_segment_part ().
    auto p = stream_->progress ("video");
    return PartPosition{ p->last.msn, p->last.part + 1 };
  }
  std::string playlist_query (PartPosition p)
  {
    return "_HLS_msn=" + std::to_string (p.msn) + "&_HLS_part=" + std::to_string (p.part);
  }

  GMainContext *context_ = nullptr;
  MediaStore media_;
  std::unique_ptr<OriginHandler> handler_;
  std::shared_ptr<StreamStore> stream_;
  std::unique_ptr<Feed> feed_;
};

// Cluster playback: a stream another node owns is one redirect away, the
// whole request (directives, token) kept; one of ours is never redirected.
TEST_F (OriginHandlerTest, StreamsOfOtherNodesAreRedirectedToTheirOwner)
{
  auto directory = std::make_shared<ClusterDirectory> ();
  directory->replace ({ { "far", { "node-b", "https://b.example:8443/", 7 } },
                        { "urlless", { "node-c", "", 2 } },
                        { "cam1", { "node-a", "https://a.example:8443", 3 } },
                        { "stale", { "node-a", "https://a.example:8443", 1 } } });
  handler_->set_directory (directory, "https://a.example:8443");
  feed_->segments (2);

  auto far = get ("/live/far/index.m3u8", "token=abc");
  EXPECT_EQ (far->status (), 302);
  EXPECT_EQ (far->header ("Location"), "https://b.example:8443/live/far/index.m3u8?token=abc");
  EXPECT_EQ (far->response->cache_control, "no-cache");
  EXPECT_NE (far->body ().find ("node-b"), std::string::npos) << far->body ();
  auto part = get ("/live/far/video/part5.1.m4s");
  EXPECT_EQ (part->header ("Location"), "https://b.example:8443/live/far/video/part5.1.m4s");
  EXPECT_EQ (handler_->stats ().redirected, 2u);

  // An owner that did not say where it serves: a 404 that says so.
  auto urlless = get ("/live/urlless/index.m3u8");
  EXPECT_EQ (urlless->status (), 404);
  EXPECT_NE (urlless->body ().find ("server.public_url"), std::string::npos);
  // Ours: served here, whatever the directory says; a stale entry naming
  // this node for a stream that is not here: 404, not a loop.
  EXPECT_EQ (get ("/live/cam1/index.m3u8")->status (), 200);
  EXPECT_EQ (get ("/live/stale/index.m3u8")->status (), 404);
  EXPECT_EQ (get ("/live/nobody/index.m3u8")->status (), 404);
  EXPECT_EQ (handler_->stats ().redirected, 2u);
}

// What the relay may keep of an owner's answer: a shared cache's lifetime.
TEST (OriginRelay, SharedCacheSecondsReadsSMaxAgeFirst)
{
  EXPECT_EQ (shared_cache_seconds ("public, max-age=86400, immutable"), 86400);
  EXPECT_EQ (shared_cache_seconds ("public, max-age=0, s-maxage=1"), 1);
  EXPECT_EQ (shared_cache_seconds ("Public, Max-Age=6"), 6);
  EXPECT_EQ (shared_cache_seconds ("no-cache"), 0);
  EXPECT_EQ (shared_cache_seconds ("private, max-age=60"), 0);
  EXPECT_EQ (shared_cache_seconds (""), 0);
}

TEST_F (OriginHandlerTest, UnknownThingsAre404)
{
  EXPECT_EQ (get ("/live/nope/index.m3u8")->status (), 404);
  EXPECT_EQ (get ("/live/cam1/")->status (), 404);
  EXPECT_EQ (get ("/live/cam1/../etc/passwd")->status (), 404);
  EXPECT_EQ (get ("/live/cam1/other.m3u8")->status (), 404);
  EXPECT_EQ (get ("/nothing")->status (), 404);
  // No media yet: neither playlist is served.
  EXPECT_EQ (get ("/live/cam1/index.m3u8")->status (), 404);
  EXPECT_EQ (get ("/live/cam1/video.m3u8")->status (), 404);
  feed_->segments (2);
  EXPECT_EQ (get ("/live/cam1/video/seg99.m4s")->status (), 404);
  EXPECT_EQ (get ("/live/cam1/video/part99.0.m4s")->status (), 404);
}

TEST_F (OriginHandlerTest, ServesPlaylistsAndMediaWithHeaders)
{
  feed_->segments (2);
  auto mv = get ("/live/cam1/index.m3u8");
  ASSERT_EQ (mv->status (), 200);
  EXPECT_EQ (mv->response->content_type, "application/vnd.apple.mpegurl");
  EXPECT_NE (mv->body ().find ("video.m3u8"), std::string::npos);
  EXPECT_EQ (mv->header ("Access-Control-Allow-Origin"), "*");

  auto pl = get ("/live/cam1/video.m3u8");
  ASSERT_EQ (pl->status (), 200);
  // The CDN profile: a plain reload is fresh for browsers, a second for
  // shared caches; objects are immutable; the origin's age is zero.
  EXPECT_EQ (pl->response->cache_control, "public, max-age=0, s-maxage=1");
  EXPECT_EQ (pl->header ("CDN-Cache-Control"), "public, max-age=1");
  EXPECT_EQ (pl->header ("Age"), "0");
  EXPECT_NE (pl->body ().find ("#EXT-X-PART:"), std::string::npos);

  auto part = get ("/live/cam1/video/part1.2.m4s");
  ASSERT_EQ (part->status (), 200);
  EXPECT_EQ (part->response->content_type, "video/iso.segment");
  EXPECT_EQ (part->response->cache_control, "public, max-age=86400, immutable");
  // A part far past the hint: 404, which shared caches may keep a second.
  auto ahead = get ("/live/cam1/video/part9.0.m4s");
  EXPECT_EQ (ahead->status (), 404);
  EXPECT_EQ (ahead->response->cache_control, "public, max-age=0, s-maxage=1");
  EXPECT_EQ (ahead->header ("CDN-Cache-Control"), "public, max-age=1");

  // A segment is its parts, in order, as the same buffers.
  auto part0 = get ("/live/cam1/video/part0.2.m4s");
  auto seg = get ("/live/cam1/video/seg0.m4s");
  ASSERT_EQ (seg->status (), 200);
  EXPECT_EQ (seg->response->body.size (), 5u);
  EXPECT_EQ (seg->response->body[2].data (), part0->response->body[0].data ());
  // The segment in progress is not a segment yet.
  EXPECT_EQ (get ("/live/cam1/video/seg1.m4s")->status (), 404);

  auto init = get ("/live/cam1/video/init0.mp4");
  ASSERT_EQ (init->status (), 200);
  EXPECT_EQ (init->response->content_type, "video/mp4");
  EXPECT_EQ (get ("/live/cam1/video/init.mp4")->response->cache_control, "no-cache");

  auto index = get ("/live/index.json");
  ASSERT_EQ (index->status (), 200);
  EXPECT_NE (index->body ().find ("\"id\":\"cam1\""), std::string::npos) << index->body ();
}

TEST_F (OriginHandlerTest, MethodsAndPreflight)
{
  auto pre = get ("/live/cam1/video.m3u8", "", "OPTIONS");
  EXPECT_EQ (pre->status (), 204);
  EXPECT_EQ (pre->header ("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS");
  EXPECT_EQ (pre->header ("Access-Control-Allow-Origin"), "*");
  EXPECT_EQ (get ("/live/cam1/video.m3u8", "", "POST")->status (), 405);
}

TEST_F (OriginHandlerTest, BadDirectivesAre400)
{
  feed_->segments (2);
  EXPECT_EQ (get ("/live/cam1/video.m3u8", "_HLS_part=1")->status (), 400);
  EXPECT_EQ (get ("/live/cam1/video.m3u8", "_HLS_msn=x")->status (), 400);
  EXPECT_EQ (get ("/live/cam1/video.m3u8", "_HLS_msn=40")->status (), 400);
  EXPECT_EQ (get ("/live/cam1/video.m3u8", "_HLS_msn=2&_HLS_part=900")->status (), 400);
}

TEST_F (OriginHandlerTest, BlockingReloadAnsweredWhenThePartArrives)
{
  feed_->segments (2);
  feed_->next_segment_part (); // 2.0
  PartPosition next = hint ();
  ASSERT_EQ (next, (PartPosition{ 2, 1 }));
  // Already there: at once.
  EXPECT_EQ (get ("/live/cam1/video.m3u8", playlist_query ({ 2, 0 }))->status (), 200);

  auto held = get ("/live/cam1/video.m3u8", playlist_query (next));
  EXPECT_EQ (held->status (), 0) << "answered before part 2.1 existed";
  EXPECT_EQ (handler_->stats ().held_now, 1u);
  feed_->part (100 * kMs, false); // 2.1
  ASSERT_TRUE (iterate_until ([&] { return held->status () != 0; }, 5000));
  EXPECT_EQ (held->status (), 200);
  EXPECT_NE (held->body ().find ("part2.1.m4s"), std::string::npos);
  // "At least this part" stays right: caches may keep it longer.
  EXPECT_EQ (held->response->cache_control, "public, max-age=6");
  EXPECT_EQ (handler_->stats ().held_now, 0u);
}

// A viewer's blocking reload, its hinted part and another's delta reload
// wait for the same part: its publication reaches the handler's context in
// one hand-off, so a front end answers all three in one pass (HTTP/2: one
// flush for the playlist and the part).
TEST_F (OriginHandlerTest, OnePublicationWakesEveryGroupInOneHandOff)
{
  feed_->segments (2);
  feed_->next_segment_part ();
  PartPosition next = hint ();
  auto playlist = get ("/live/cam1/video.m3u8", playlist_query (next));
  auto delta = get ("/live/cam1/video.m3u8", playlist_query (next) + "&_HLS_skip=YES");
  auto part = get ("/live/cam1/video/part" + std::to_string (next.msn) + "."
                   + std::to_string (next.part) + ".m4s");
  ASSERT_EQ (handler_->stats ().hold_groups, 3u);
  const uint64_t posts = handler_->stats ().wake_posts;
  // From another thread, as a streaming thread publishes.
  std::thread publisher ([&] () { feed_->part (100 * kMs, false); });
  publisher.join ();
  ASSERT_TRUE (iterate_until (
      [&] { return playlist->status () && delta->status () && part->status (); }, 5000));
  EXPECT_EQ (playlist->status (), 200);
  EXPECT_EQ (delta->status (), 200);
  EXPECT_EQ (part->status (), 200);
  EXPECT_EQ (handler_->stats ().wake_posts, posts + 1);
}

TEST_F (OriginHandlerTest, PartIndexPastTheSegmentMeansTheNextSegment)
{
  feed_->segments (2); // 0, 1 complete, 5 parts each
  auto held = get ("/live/cam1/video.m3u8", "_HLS_msn=1&_HLS_part=5");
  EXPECT_EQ (held->status (), 0);
  feed_->next_segment_part (); // 2.0
  ASSERT_TRUE (iterate_until ([&] { return held->status () != 0; }, 5000));
  EXPECT_NE (held->body ().find ("part2.0.m4s"), std::string::npos);
}

TEST_F (OriginHandlerTest, IdenticalHeldRequestsShareOneRender)
{
  feed_->segments (2);
  feed_->next_segment_part ();
  PartPosition next = hint ();
  std::vector<std::shared_ptr<Answer>> viewers;
  for (int i = 0; i < 200; ++i)
    viewers.push_back (get ("/live/cam1/video.m3u8", playlist_query (next)));
  EXPECT_EQ (handler_->stats ().held_now, 200u);
  EXPECT_EQ (handler_->stats ().hold_groups, 1u);
  uint64_t renders = stream_->render_count ();
  feed_->part (100 * kMs, false);
  ASSERT_TRUE (iterate_until (
      [&] {
        for (auto &v : viewers)
          if (!v->status ())
            return false;
        return true;
      },
      5000));
  EXPECT_EQ (stream_->render_count (), renders + 1);
  // Every viewer got the same text, not a copy each.
  for (auto &v : viewers)
    EXPECT_EQ (v->response->body[0].data (), viewers[0]->response->body[0].data ());
}

TEST_F (OriginHandlerTest, HintedPartIsHeldUntilWhole)
{
  feed_->segments (2);
  feed_->next_segment_part ();
  PartPosition next = hint ();
  std::string uri = "/live/cam1/video/part" + std::to_string (next.msn) + "."
                    + std::to_string (next.part) + ".m4s";
  auto held = get (uri);
  EXPECT_EQ (held->status (), 0);
  // Beyond the hint: not published, not hinted.
  EXPECT_EQ (get ("/live/cam1/video/part2.3.m4s")->status (), 404);
  feed_->part (100 * kMs, false);
  ASSERT_TRUE (iterate_until ([&] { return held->status () != 0; }, 5000));
  EXPECT_EQ (held->status (), 200);
  auto again = get (uri);
  EXPECT_EQ (held->response->body[0].data (), again->response->body[0].data ());
}

TEST_F (OriginHandlerTest, ClientThatLeavesStopsWaiting)
{
  feed_->segments (2);
  feed_->next_segment_part ();
  auto held = get ("/live/cam1/video.m3u8", playlist_query (hint ()));
  ASSERT_TRUE (held->cancel);
  held->cancel ();
  EXPECT_EQ (handler_->stats ().held_now, 0u);
  EXPECT_EQ (handler_->stats ().hold_groups, 0u);
  feed_->part (100 * kMs, false);
  iterate ();
  EXPECT_EQ (held->status (), 0);
}

TEST_F (OriginHandlerTest, HeldTooLongIs503)
{
  feed_->segments (2);
  feed_->next_segment_part ();
  // TARGETDURATION is 1 s here, so three of them.
  int64_t start = g_get_monotonic_time ();
  auto held = get ("/live/cam1/video.m3u8", playlist_query (hint ()));
  ASSERT_TRUE (iterate_until ([&] { return held->status () != 0; }, 10000));
  int64_t waited_ms = (g_get_monotonic_time () - start) / 1000;
  EXPECT_EQ (held->status (), 503);
  EXPECT_GE (waited_ms, 2900);
  EXPECT_EQ (handler_->stats ().hold_timeouts, 1u);
}

TEST_F (OriginHandlerTest, EndOfStreamAnswersHeldRequests)
{
  feed_->segments (2);
  feed_->next_segment_part ();
  auto held = get ("/live/cam1/video.m3u8", playlist_query (hint ()));
  auto part = get ("/live/cam1/video/part2.1.m4s");
  stream_->finish ("video");
  ASSERT_TRUE (iterate_until ([&] { return held->status () && part->status (); }, 5000));
  EXPECT_EQ (held->status (), 200);
  EXPECT_NE (held->body ().find ("#EXT-X-ENDLIST"), std::string::npos);
  EXPECT_EQ (part->status (), 404);
}

} // namespace
} // namespace mirror

namespace mirror::test {
namespace {

TEST (ByteRange, SingleRangesOfEveryForm)
{
  ByteRange r;
  EXPECT_EQ (parse_byte_range ("bytes=0-99", 1000, &r), ByteRangeVerdict::kPartial);
  EXPECT_EQ (r.first, 0u);
  EXPECT_EQ (r.length, 100u);
  EXPECT_EQ (parse_byte_range ("bytes=900-", 1000, &r), ByteRangeVerdict::kPartial);
  EXPECT_EQ (r.first, 900u);
  EXPECT_EQ (r.length, 100u);
  EXPECT_EQ (parse_byte_range ("bytes=-10", 1000, &r), ByteRangeVerdict::kPartial);
  EXPECT_EQ (r.first, 990u);
  EXPECT_EQ (r.length, 10u);
  // Past the end is cut to it; starting past it cannot be served.
  EXPECT_EQ (parse_byte_range ("bytes=990-5000", 1000, &r), ByteRangeVerdict::kPartial);
  EXPECT_EQ (r.length, 10u);
  EXPECT_EQ (parse_byte_range ("bytes=1000-", 1000, &r), ByteRangeVerdict::kUnsatisfiable);
  EXPECT_EQ (parse_byte_range ("bytes=-0", 1000, &r), ByteRangeVerdict::kUnsatisfiable);
  // What we do not serve is answered whole (RFC 9110 14.2 lets us).
  for (const char *ignored :
       { "", "bytes=5-1", "bytes=0-1,5-9", "items=0-1", "bytes=a-b", "bytes=1", "bytes=-" })
    EXPECT_EQ (parse_byte_range (ignored, 1000, &r), ByteRangeVerdict::kWhole) << ignored;
}

// Signed playback URLs: refused before anything is held, and a valid token
// rides on every URI of the playlists it gets.
TEST_F (OriginHandlerTest, SignedPlaybackUrls)
{
  auto tokens = std::make_shared<const PlaybackTokens> ("a-key-of-sixteen-chars");
  handler_->set_playback_tokens (tokens);
  feed_->segments (2);
  const int64_t now = g_get_real_time () / G_USEC_PER_SEC;
  const std::string good = tokens->sign ("cam1", now + 60);

  auto missing = get ("/live/cam1/index.m3u8");
  EXPECT_EQ (missing->status (), 403);
  EXPECT_NE (missing->body ().find ("stream cam1: needs a playback token"), std::string::npos)
      << missing->body ();
  EXPECT_EQ (get ("/live/cam1/index.m3u8", "token=" + tokens->sign ("cam1", now - 1))->status (),
             403);
  EXPECT_EQ (get ("/live/cam1/index.m3u8", "token=" + tokens->sign ("cam2", now + 60))->status (),
             403);
  EXPECT_EQ (get ("/live/index.json")->status (), 403);
  // A blocking reload with a wrong token is refused at once, never held.
  auto held = get ("/live/cam1/video.m3u8",
                   playlist_query (hint ()) + "&token=" + tokens->sign ("cam2", now + 60));
  EXPECT_EQ (held->status (), 403);
  EXPECT_EQ (handler_->stats ().held_now, 0u);
  EXPECT_EQ (handler_->stats ().token_refused, 4u); // the stream's: not the list

  auto mv = get ("/live/cam1/index.m3u8", "token=" + good);
  ASSERT_EQ (mv->status (), 200) << mv->body ();
  EXPECT_NE (mv->body ().find ("video.m3u8?token=" + good), std::string::npos) << mv->body ();
  auto pl = get ("/live/cam1/video.m3u8", "token=" + good);
  ASSERT_EQ (pl->status (), 200);
  EXPECT_NE (pl->body ().find ("#EXT-X-MAP:URI=\"video/init0.mp4?token=" + good + "\""),
             std::string::npos)
      << pl->body ();
  EXPECT_NE (pl->body ().find ("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video/part"),
             std::string::npos);
  // Every URI line and URI attribute carries it; nothing else changed.
  std::string rest = pl->body ();
  size_t uris = 0;
  for (size_t at = 0; (at = rest.find (".m4s", at)) != std::string::npos; at++, uris++)
    EXPECT_EQ (rest.compare (at, 11 + good.size (), ".m4s?token=" + good), 0) << rest;
  EXPECT_GT (uris, 4u);
  EXPECT_EQ (get ("/live/cam1/video/part1.0.m4s", "token=" + good)->status (), 200);
  EXPECT_EQ (get ("/live/cam1/video/part1.0.m4s")->status (), 403);
}

} // namespace
} // namespace mirror::test
