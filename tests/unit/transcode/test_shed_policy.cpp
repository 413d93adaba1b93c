// SPDX-License-Identifier: LGPL-2.1-or-later
// The overload shedding policy of mirrortranscodebin, without GStreamer.
#include <gtest/gtest.h>

#include "transcode/shed_policy.h"

namespace mirror {
namespace {

constexpr int64_t kMs = 1'000'000;

ShedPolicyOptions
options ()
{
  ShedPolicyOptions o;
  o.budget_ns = 1000 * kMs;
  o.settle_ns = 1000 * kMs;
  o.calm_ns = 10000 * kMs;
  return o;
}

TEST (ShedPolicy, OnTimeFramesShedNothing)
{
  ShedPolicy policy (options ());
  for (int64_t t = 0; t < 30000; t += 40) {
    EXPECT_EQ (policy.on_decoded (t * kMs, 100 * kMs), ShedStep::kNone);
    EXPECT_TRUE (policy.admit (100 * kMs, false));
  }
}

TEST (ShedPolicy, StepsUpOneStepPerSettleTimeWhileLate)
{
  ShedPolicy policy (options ());
  EXPECT_EQ (policy.on_decoded (0, 600 * kMs), ShedStep::kSkipNonReference);
  // The step gets its time to work.
  EXPECT_EQ (policy.on_decoded (500 * kMs, 700 * kMs), ShedStep::kSkipNonReference);
  EXPECT_EQ (policy.on_decoded (1000 * kMs, 700 * kMs), ShedStep::kKeyframesOnly);
  EXPECT_EQ (policy.on_decoded (5000 * kMs, 900 * kMs), ShedStep::kKeyframesOnly);
  EXPECT_STREQ (shed_step_name (policy.step ()), "keyframes-only");
  EXPECT_EQ (shed_step_from_name ("keyframes-only"), ShedStep::kKeyframesOnly);
  EXPECT_EQ (shed_step_from_name ("skip-non-reference"), ShedStep::kSkipNonReference);
  EXPECT_EQ (shed_step_from_name ("none"), ShedStep::kNone);
  EXPECT_EQ (shed_step_from_name ("bogus"), ShedStep::kNone);
}

TEST (ShedPolicy, AStepThatDrainsTheBacklogIsGivenTime)
{
  ShedPolicy policy (options ());
  EXPECT_EQ (policy.on_decoded (0, 900 * kMs), ShedStep::kSkipNonReference);
  // Still over half the budget, but coming down: no further step.
  EXPECT_EQ (policy.on_decoded (1500 * kMs, 800 * kMs), ShedStep::kSkipNonReference);
  EXPECT_EQ (policy.on_decoded (2500 * kMs, 600 * kMs), ShedStep::kSkipNonReference);
  // Going up again: the next step.
  EXPECT_EQ (policy.on_decoded (3000 * kMs, 950 * kMs), ShedStep::kKeyframesOnly);
}

TEST (ShedPolicy, KeyframesOnlyLetsOnlyKeyframesThrough)
{
  ShedPolicy policy (options ());
  policy.on_decoded (0, 600 * kMs);
  policy.on_decoded (1000 * kMs, 600 * kMs);
  ASSERT_EQ (policy.step (), ShedStep::kKeyframesOnly);
  EXPECT_FALSE (policy.admit (100 * kMs, false));
  EXPECT_FALSE (policy.admit (100 * kMs, false, true));
  EXPECT_TRUE (policy.admit (100 * kMs, true));
}

TEST (ShedPolicy, SkipNonReferenceKeepsOnlyDroppableFramesFromTheDecoder)
{
  ShedPolicy policy (options ());
  EXPECT_TRUE (policy.admit (100 * kMs, false, true)); // nothing shed yet
  policy.on_decoded (0, 600 * kMs);
  ASSERT_EQ (policy.step (), ShedStep::kSkipNonReference);
  EXPECT_FALSE (policy.admit (100 * kMs, false, true));
  EXPECT_TRUE (policy.admit (100 * kMs, false, false));
  EXPECT_TRUE (policy.admit (100 * kMs, true, false));
}

TEST (ShedPolicy, StepsDownOnlyAfterALongCalm)
{
  ShedPolicy policy (options ());
  policy.on_decoded (0, 600 * kMs);
  policy.on_decoded (1000 * kMs, 600 * kMs);
  ASSERT_EQ (policy.step (), ShedStep::kKeyframesOnly);
  // Lag between a quarter and a half of the budget holds the step.
  EXPECT_EQ (policy.on_decoded (20000 * kMs, 300 * kMs), ShedStep::kKeyframesOnly);
  // Low lag for less than calm_ns holds it too.
  EXPECT_EQ (policy.on_decoded (21000 * kMs, 50 * kMs), ShedStep::kKeyframesOnly);
  EXPECT_EQ (policy.on_decoded (30000 * kMs, 50 * kMs), ShedStep::kKeyframesOnly);
  EXPECT_EQ (policy.on_decoded (31000 * kMs, 50 * kMs), ShedStep::kSkipNonReference);
  // One step per calm period.
  EXPECT_EQ (policy.on_decoded (35000 * kMs, 50 * kMs), ShedStep::kSkipNonReference);
  EXPECT_EQ (policy.on_decoded (41000 * kMs, 50 * kMs), ShedStep::kNone);
}

TEST (ShedPolicy, ALateFrameStartsACatchUpToAnOnTimeKeyframe)
{
  ShedPolicy policy (options ());
  EXPECT_TRUE (policy.admit (900 * kMs, false));
  EXPECT_FALSE (policy.admit (1100 * kMs, false));
  EXPECT_TRUE (policy.catching_up ());
  // Delta frames and late keyframes stay out.
  EXPECT_FALSE (policy.admit (100 * kMs, false));
  EXPECT_FALSE (policy.admit (800 * kMs, true));
  EXPECT_TRUE (policy.admit (200 * kMs, true));
  EXPECT_FALSE (policy.catching_up ());
  EXPECT_TRUE (policy.admit (200 * kMs, false));
}

TEST (ShedPolicy, ResetForgetsEverything)
{
  ShedPolicy policy (options ());
  policy.on_decoded (0, 600 * kMs);
  policy.admit (2000 * kMs, false);
  policy.reset ();
  EXPECT_EQ (policy.step (), ShedStep::kNone);
  EXPECT_FALSE (policy.catching_up ());
  EXPECT_TRUE (policy.admit (100 * kMs, false));
}

TEST (ShedHealth, DegradedWhileSheddingAndCalmAfterThreeCleanReports)
{
  ShedHealth health;
  EXPECT_FALSE (health.update ({}, ShedStep::kNone));
  EXPECT_TRUE (health.update ({ .encoder = 12 }, ShedStep::kNone));
  EXPECT_EQ (health.message (),
             "the transcode cannot keep up with live: frames are dropped before the encoder");
  // The most severe shedding names it.
  EXPECT_TRUE (health.update ({ .encoder = 30 }, ShedStep::kSkipNonReference));
  EXPECT_EQ (health.message (),
             "the transcode cannot keep up with live: non-reference frames are not decoded");
  EXPECT_TRUE (health.update ({ .encoder = 30, .catch_up = 5 }, ShedStep::kKeyframesOnly));
  EXPECT_NE (health.message ().find ("dropped up to a keyframe"), std::string::npos);
  EXPECT_TRUE (health.update ({ .encoder = 30, .catch_up = 5 }, ShedStep::kKeyframesOnly));
  EXPECT_EQ (health.message (),
             "the transcode cannot keep up with live: only keyframes are decoded");
  // Clean reports: still degraded for two, healthy at the third.
  EXPECT_TRUE (health.update ({ .encoder = 30, .catch_up = 5 }, ShedStep::kNone));
  EXPECT_TRUE (health.update ({ .encoder = 30, .catch_up = 5 }, ShedStep::kNone));
  EXPECT_FALSE (health.update ({ .encoder = 30, .catch_up = 5 }, ShedStep::kNone));
  EXPECT_EQ (health.message (), "");
  // A restarted pipeline counts from zero again: no growth, no shedding.
  EXPECT_FALSE (health.update ({}, ShedStep::kNone));
}

} // namespace
} // namespace mirror
