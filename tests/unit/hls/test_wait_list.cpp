// SPDX-License-Identifier: LGPL-2.1-or-later
// Held requests: shared wake-ups, one render per update, hinted parts, and
// publishers and readers on different threads.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "../../common/wait_until.h"
#include "hls/stream_store.h"
#include "hls_test_feed.h"

namespace mirror::test {
namespace {

class Held : public ::testing::Test {
 protected:
  void SetUp () override
  {
    ASSERT_TRUE (add_video (store));
    video.segments (2); // last part: 1.4
  }
  StreamStore store{ "cam-1", default_config () };
  Feed video{ store, "video" };
};

TEST (PartWaitList, WakesEverythingUpToAPosition)
{
  PartWaitList list;
  std::vector<int> woken;
  list.add ({ 3, 1 }, [&] () { woken.push_back (31); });
  list.add ({ 3, 1 }, [&] () { woken.push_back (310); });
  list.add ({ 3, 2 }, [&] () { woken.push_back (32); });
  uint64_t later = list.add ({ 4, 0 }, [&] () { woken.push_back (40); });
  EXPECT_EQ (list.positions (), 3u);
  EXPECT_EQ (list.wake ({ 3, 0 }), 0u);
  EXPECT_EQ (list.wake ({ 3, 2 }), 2u); // one wake-up per position
  EXPECT_EQ (woken, (std::vector<int>{ 31, 310, 32 }));
  EXPECT_TRUE (list.cancel (later));
  EXPECT_FALSE (list.cancel (later));
  EXPECT_EQ (list.wake_all (), 0u);
  EXPECT_EQ (woken.size (), 3u);
}

TEST (WakeBatch, DefersToTheOutermostCloseOncePerKey)
{
  std::vector<std::string> ran;
  int a, b;
  WakeBatch::at_close (&a, [&] () { ran.push_back ("now"); });
  EXPECT_EQ (ran, (std::vector<std::string>{ "now" })) << "no batch open: at once";
  ran.clear ();
  {
    WakeBatch outer;
    WakeBatch::at_close (&a, [&] () { ran.push_back ("a"); });
    {
      WakeBatch inner;
      WakeBatch::at_close (&b, [&] () { ran.push_back ("b"); });
      WakeBatch::at_close (&a, [&] () { ran.push_back ("a again"); });
    }
    EXPECT_TRUE (ran.empty ()) << "an inner batch delivered";
  }
  EXPECT_EQ (ran, (std::vector<std::string>{ "a", "b" }));
}

// What waiters defer runs after every waiter of the wake-up was called.
TEST (WakeBatch, AWakeUpIsOneBatch)
{
  PartWaitList list;
  std::vector<std::string> order;
  int key;
  for (int i = 0; i < 3; ++i)
    list.add ({ 3, uint32_t (i) }, [&, i] () {
      order.push_back ("waiter " + std::to_string (i));
      WakeBatch::at_close (&key, [&] () { order.push_back ("post"); });
    });
  list.wake ({ 3, 2 });
  EXPECT_EQ (order, (std::vector<std::string>{ "waiter 0", "waiter 1", "waiter 2", "post" }));
}

TEST_F (Held, IdenticalRequestsShareOneWakeUpAndOneRender)
{
  std::vector<std::shared_ptr<const std::string>> answers;
  auto d = ReloadDirectives{ 2, 0, false };
  for (int i = 0; i < 100; ++i) {
    auto hold = store.hold_playlist (
        "video", d, [&] () { answers.push_back (store.media_playlist ("video", false)); });
    ASSERT_EQ (hold->decision.verdict, ReloadVerdict::kHold);
  }
  uint64_t other
      = store.hold_playlist ("video", ReloadDirectives{ 2, 1, false }, [] () {})->wait_id;
  uint64_t renders = store.render_count ();
  video.next_segment_part ();
  ASSERT_EQ (answers.size (), 100u);
  EXPECT_EQ (store.render_count (), renders + 1);
  for (auto &a : answers)
    EXPECT_EQ (a, answers[0]); // the same text, not a copy per viewer
  EXPECT_NE (answers[0]->find ("part2.0.m4s"), std::string::npos);
  EXPECT_TRUE (store.cancel_wait ("video", other)); // still held: its 503 timer may fire
}

TEST_F (Held, ExistingPartIsAnsweredWithoutHolding)
{
  bool called = false;
  auto hold
      = store.hold_playlist ("video", ReloadDirectives{ 1, 4, false }, [&] () { called = true; });
  EXPECT_EQ (hold->decision.verdict, ReloadVerdict::kAnswerNow);
  EXPECT_EQ (hold->wait_id, 0u);
  EXPECT_FALSE (called);
  EXPECT_FALSE (store.hold_playlist ("nope", ReloadDirectives{}, [] () {}));
}

TEST_F (Held, PartPastTheSegmentEndWakesOnTheNextSegment)
{
  bool woken = false;
  auto hold
      = store.hold_playlist ("video", ReloadDirectives{ 1, 7, false }, [&] () { woken = true; });
  ASSERT_EQ (hold->decision.verdict, ReloadVerdict::kHold);
  video.next_segment_part ();
  EXPECT_TRUE (woken);
}

TEST_F (Held, EndListAnswersHeldRequests)
{
  int woken = 0;
  store.hold_playlist ("video", ReloadDirectives{ 2, 0, false }, [&] () { ++woken; });
  store.finish ("video");
  EXPECT_EQ (woken, 1);
  EXPECT_EQ (
      store.hold_playlist ("video", ReloadDirectives{ 3, 0, false }, [] () {})->decision.verdict,
      ReloadVerdict::kAnswerNow);
}

TEST_F (Held, HintedPartIsHeldUntilItExists)
{
  Bytes bytes;
  EXPECT_TRUE (store.media_playlist ("video", false)->find ("part1.5.m4s") != std::string::npos);
  int woken = 0;
  uint64_t id = 0;
  EXPECT_EQ (store.fetch_part (
                 "video", { 1, 5 }, &bytes, [&] () { ++woken; }, &id),
             PartAvailability::kHeld);
  EXPECT_NE (id, 0u);
  // Not hinted: 404 at once.
  EXPECT_EQ (store.fetch_part ("video", { 1, 6 }, &bytes, [&] () { ++woken; }),
             PartAvailability::kMissing);
  video.part (100 * kMs, false);
  EXPECT_EQ (woken, 1);
  EXPECT_EQ (store.fetch_part ("video", { 1, 5 }, &bytes), PartAvailability::kReady);
  EXPECT_EQ (bytes.view (), "part 1.5");
}

TEST_F (Held, AbandonedHintIsMissingOnceTheSegmentEnds)
{
  Bytes bytes;
  int woken = 0;
  ASSERT_EQ (store.fetch_part ("video", { 1, 5 }, &bytes, [&] () { ++woken; }),
             PartAvailability::kHeld);
  video.next_segment_part (); // segment 1 ended at 1.4
  EXPECT_EQ (woken, 1);
  EXPECT_EQ (store.fetch_part ("video", { 1, 5 }, &bytes), PartAvailability::kMissing);
}

TEST_F (Held, PublisherAndReadersOnDifferentThreads)
{
  std::atomic<bool> done{ false };
  std::atomic<int> answered{ 0 };
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back ([&, r] () {
      while (!done) {
        auto p = *store.progress ("video");
        auto promise = std::make_shared<std::promise<void>> ();
        auto future = promise->get_future ();
        ReloadDirectives d{ p.last.msn, p.last.part + 1, false };
        auto hold = store.hold_playlist ("video", d, [promise] () { promise->set_value (); });
        // 2 s, stretched by MIRROR_TEST_SLOWDOWN: the publisher's thread
        // may be kept off the CPU a while on a busy box.
        if (hold->decision.verdict == ReloadVerdict::kHold
            && future.wait_for (scaled (std::chrono::seconds (2))) != std::future_status::ready) {
          store.cancel_wait ("video", hold->wait_id);
          if (!done)
            ADD_FAILURE () << "held request never woken";
          return;
        }
        auto text = store.media_playlist ("video", r % 2);
        EXPECT_FALSE (text->empty ());
        Bytes b;
        store.fetch_part ("video", p.last, &b);
        ++answered;
      }
    });
  }
  for (int i = 0; i < 300; ++i) {
    if (i % 5 == 0)
      video.next_segment_part ();
    else
      video.part (100 * kMs, false);
    std::this_thread::sleep_for (std::chrono::microseconds (200));
  }
  done = true;
  store.finish ("video"); // releases anyone still held
  for (auto &t : readers)
    t.join ();
  EXPECT_GT (answered.load (), 0);
}

} // namespace
} // namespace mirror::test
