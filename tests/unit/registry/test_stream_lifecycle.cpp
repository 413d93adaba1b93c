// SPDX-License-Identifier: LGPL-2.1-or-later
// The stream state machine: every documented transition, and what is
// ignored where.
#include <gtest/gtest.h>

#include "registry/stream_lifecycle.h"

namespace mirror {
namespace {

using S = StreamState;
using E = StreamEvent;

StreamLifecycle
reach (std::initializer_list<E> events)
{
  StreamLifecycle l;
  for (E e : events)
    l.apply (e, "x");
  return l;
}

TEST (StreamLifecycle, StartsStartingAndOnlyMediaMakesItLive)
{
  StreamLifecycle l;
  EXPECT_EQ (l.state (), S::kStarting);
  EXPECT_FALSE (l.apply (E::kMediaStalled, "no media"));
  EXPECT_FALSE (l.apply (E::kFeedBack));
  EXPECT_EQ (l.state (), S::kStarting);
  EXPECT_TRUE (l.apply (E::kMediaFlowing));
  EXPECT_EQ (l.state (), S::kLive);
  EXPECT_EQ (l.message (), "");
}

TEST (StreamLifecycle, StallAndRecovery)
{
  auto l = reach ({ E::kMediaFlowing });
  EXPECT_TRUE (l.apply (E::kMediaStalled, "no media for 3.0 s"));
  EXPECT_EQ (l.state (), S::kStalled);
  EXPECT_EQ (l.message (), "no media for 3.0 s");
  EXPECT_TRUE (l.apply (E::kMediaFlowing));
  EXPECT_EQ (l.state (), S::kLive);
  EXPECT_EQ (l.message (), "");
}

TEST (StreamLifecycle, ATranscodeThatShedsWorkDegradesALiveStream)
{
  StreamLifecycle starting;
  EXPECT_FALSE (starting.apply (E::kBehind, "cannot keep up"));
  auto l = reach ({ E::kMediaFlowing });
  EXPECT_TRUE (l.apply (E::kBehind, "non-reference frames are not decoded"));
  EXPECT_EQ (l.state (), S::kDegraded);
  EXPECT_EQ (l.message (), "non-reference frames are not decoded");
  // The same shedding again is no change; a new step is.
  EXPECT_FALSE (l.apply (E::kBehind, "non-reference frames are not decoded"));
  EXPECT_TRUE (l.apply (E::kBehind, "only keyframes are decoded"));
  EXPECT_TRUE (l.apply (E::kCaughtUp));
  EXPECT_EQ (l.state (), S::kLive);
  EXPECT_EQ (l.message (), "");
  EXPECT_FALSE (l.apply (E::kCaughtUp));
  // Degraded is live for everything else.
  l.apply (E::kBehind, "x");
  EXPECT_TRUE (l.apply (E::kMediaStalled, "no media for 3.0 s"));
  EXPECT_EQ (l.state (), S::kStalled);
  EXPECT_FALSE (l.apply (E::kBehind, "x"));
  EXPECT_FALSE (l.apply (E::kCaughtUp));
}

// The watchdog's restart: stalled with its reason from wherever the
// pipeline runs, live again once the new pipeline's media flows.
TEST (StreamLifecycle, AWedgedPipelineIsStalledUntilItsRestartFlows)
{
  for (auto before :
       { reach ({}), reach ({ E::kMediaFlowing }), reach ({ E::kMediaFlowing, E::kBehind }),
         reach ({ E::kMediaFlowing, E::kMediaStalled }) }) {
    auto l = before;
    EXPECT_TRUE (l.apply (E::kNoProgress, "no output for 12 s; pipeline restarted"))
        << to_string (before.state ());
    EXPECT_EQ (l.state (), S::kStalled);
    EXPECT_EQ (l.message (), "no output for 12 s; pipeline restarted");
    EXPECT_TRUE (l.apply (E::kMediaFlowing));
    EXPECT_EQ (l.state (), S::kLive);
  }
  for (auto after : { reach ({ E::kFeedLost }), reach ({ E::kPaused }), reach ({ E::kFeedEnded }),
                      reach ({ E::kStopping }) }) {
    EXPECT_FALSE (after.apply (E::kNoProgress, "no output")) << to_string (after.state ());
  }
}

TEST (StreamLifecycle, LostFeedWaitsForItsReturnNotForFlushedMedia)
{
  for (auto from :
       { std::vector<E>{}, { E::kMediaFlowing }, { E::kMediaFlowing, E::kMediaStalled } }) {
    StreamLifecycle l;
    for (E e : from)
      l.apply (e);
    EXPECT_TRUE (l.apply (E::kFeedLost, "caller left"));
    EXPECT_EQ (l.state (), S::kReconnecting);
    // What the demuxer flushes, and the heartbeat's stall, change nothing.
    EXPECT_FALSE (l.apply (E::kMediaFlowing));
    EXPECT_FALSE (l.apply (E::kMediaStalled, "no media"));
    EXPECT_EQ (l.state (), S::kReconnecting);
    // A pull's next failed attempt updates the message only.
    EXPECT_TRUE (l.apply (E::kFeedLost, "attempt 2 failed"));
    EXPECT_EQ (l.state (), S::kReconnecting);
    EXPECT_EQ (l.message (), "attempt 2 failed");
    EXPECT_TRUE (l.apply (E::kFeedBack));
    EXPECT_EQ (l.state (), S::kLive);
  }
}

TEST (StreamLifecycle, FeedOverEndsItForGood)
{
  for (auto from : { std::vector<E>{ E::kMediaFlowing },
                     { E::kMediaFlowing, E::kMediaStalled },
                     { E::kMediaFlowing, E::kFeedLost } }) {
    StreamLifecycle l;
    for (E e : from)
      l.apply (e);
    EXPECT_TRUE (l.running ());
    EXPECT_TRUE (l.apply (E::kFeedEnded, "window passed"));
    EXPECT_EQ (l.state (), S::kEnded);
    EXPECT_TRUE (l.finished ());
    EXPECT_FALSE (l.running ());
    for (E e : { E::kMediaFlowing, E::kFeedBack, E::kFeedLost, E::kFailed, E::kPaused, E::kResumed,
                 E::kMediaStalled })
      EXPECT_FALSE (l.apply (e, "late")) << to_string (e);
    EXPECT_EQ (l.state (), S::kEnded);
    EXPECT_EQ (l.message (), "window passed");
    // A DELETE still takes it away.
    EXPECT_TRUE (l.apply (E::kStopping));
    EXPECT_EQ (l.state (), S::kStopping);
  }
}

TEST (StreamLifecycle, FailureFromAnywhereButTheEnd)
{
  for (auto from : { std::vector<E>{},
                     { E::kMediaFlowing },
                     { E::kMediaFlowing, E::kFeedLost },
                     { E::kMediaFlowing, E::kPaused } }) {
    StreamLifecycle l;
    for (E e : from)
      l.apply (e);
    EXPECT_TRUE (l.apply (E::kFailed, "tsdemux: no MPEG-TS"));
    EXPECT_EQ (l.state (), S::kError);
    EXPECT_TRUE (l.finished ());
    EXPECT_FALSE (l.apply (E::kMediaFlowing));
    EXPECT_FALSE (l.apply (E::kFeedEnded));
    EXPECT_EQ (l.state (), S::kError);
  }
  auto stopping = reach ({ E::kMediaFlowing, E::kStopping });
  EXPECT_FALSE (stopping.apply (E::kFailed, "late error"));
  EXPECT_EQ (stopping.state (), S::kStopping);
}

TEST (StreamLifecycle, PauseHoldsEverythingButResumeWhichStartsAgain)
{
  auto l = reach ({ E::kMediaFlowing });
  EXPECT_TRUE (l.apply (E::kPaused));
  EXPECT_EQ (l.state (), S::kPaused);
  for (E e : { E::kMediaFlowing, E::kMediaStalled, E::kFeedLost, E::kFeedBack, E::kFeedEnded })
    EXPECT_FALSE (l.apply (e)) << to_string (e);
  EXPECT_TRUE (l.apply (E::kResumed));
  EXPECT_EQ (l.state (), S::kStarting);
  EXPECT_TRUE (l.apply (E::kMediaFlowing));
  EXPECT_EQ (l.state (), S::kLive);
}

TEST (StreamLifecycle, StoppingIsFinal)
{
  auto l = reach ({ E::kMediaFlowing, E::kStopping });
  EXPECT_FALSE (l.running ());
  EXPECT_FALSE (l.finished ());
  for (E e : { E::kMediaFlowing, E::kFeedEnded, E::kFeedLost, E::kResumed, E::kStopping })
    EXPECT_FALSE (l.apply (e)) << to_string (e);
  EXPECT_EQ (l.state (), S::kStopping);
}

TEST (StreamLifecycle, SameStateAndMessageIsNoChange)
{
  auto l = reach ({ E::kMediaFlowing });
  EXPECT_FALSE (l.apply (E::kMediaFlowing));
  EXPECT_TRUE (l.apply (E::kFeedLost, "a"));
  EXPECT_FALSE (l.apply (E::kFeedLost, "a"));
}

} // namespace
} // namespace mirror
