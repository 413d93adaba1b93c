// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcode/shed_policy.h"

namespace mirror {

const char *
shed_step_name (ShedStep step)
{
  switch (step) {
  case ShedStep::kNone:
    return "none";
  case ShedStep::kSkipNonReference:
    return "skip-non-reference";
  case ShedStep::kKeyframesOnly:
    return "keyframes-only";
  }
  return "none";
}

ShedStep
shed_step_from_name (const std::string &name)
{
  for (ShedStep step : { ShedStep::kSkipNonReference, ShedStep::kKeyframesOnly })
    if (name == shed_step_name (step))
      return step;
  return ShedStep::kNone;
}

ShedStep
ShedPolicy::on_decoded (int64_t now_ns, int64_t lag_ns)
{
  const bool settled
      = last_change_ns_ == INT64_MIN || now_ns - last_change_ns_ >= options_.settle_ns;
  if (lag_ns > options_.budget_ns / 2) {
    calm_since_ns_ = INT64_MIN;
    // A step that is draining the backlog (the lag is lower than when it
    // was taken) is given more time rather than followed by the next.
    const bool draining = step_ != ShedStep::kNone && lag_ns < lag_at_change_ns_;
    if (settled && !draining && step_ != ShedStep::kKeyframesOnly) {
      step_ = ShedStep (int (step_) + 1);
      last_change_ns_ = now_ns;
      lag_at_change_ns_ = lag_ns;
    }
    return step_;
  }
  if (lag_ns >= options_.budget_ns / 4) {
    calm_since_ns_ = INT64_MIN;
    return step_;
  }
  if (calm_since_ns_ == INT64_MIN)
    calm_since_ns_ = now_ns;
  if (step_ != ShedStep::kNone && now_ns - calm_since_ns_ >= options_.calm_ns
      && now_ns - last_change_ns_ >= options_.calm_ns) {
    step_ = ShedStep (int (step_) - 1);
    last_change_ns_ = now_ns;
    lag_at_change_ns_ = lag_ns;
    calm_since_ns_ = now_ns;
  }
  return step_;
}

bool
ShedPolicy::admit (int64_t lag_ns, bool keyframe, bool droppable)
{
  if (catching_up_) {
    // Back on time from a keyframe that is well within the budget, so the
    // decoder starts on a clean reference.
    if (!keyframe || lag_ns > options_.budget_ns / 2)
      return false;
    catching_up_ = false;
    return true;
  }
  if (lag_ns > options_.budget_ns) {
    catching_up_ = true;
    return false;
  }
  if (step_ == ShedStep::kKeyframesOnly)
    return keyframe;
  return !(droppable && step_ == ShedStep::kSkipNonReference);
}

void
ShedPolicy::reset ()
{
  step_ = ShedStep::kNone;
  catching_up_ = false;
  last_change_ns_ = INT64_MIN;
  lag_at_change_ns_ = 0;
  calm_since_ns_ = INT64_MIN;
}

bool
ShedHealth::update (const Counts &totals, ShedStep step)
{
  // Totals restart with a pipeline: growth is what is above the last ones.
  auto grew = [] (uint64_t now, uint64_t before) { return now > before; };
  const bool catch_up = grew (totals.catch_up, last_.catch_up);
  const bool keyframes = grew (totals.keyframes, last_.keyframes);
  const bool encoder = grew (totals.encoder, last_.encoder);
  const bool nonref = grew (totals.nonref, last_.nonref);
  last_ = totals;
  const char *what = nullptr;
  if (catch_up)
    what = "frames reached the decoder too late and were dropped up to a keyframe";
  else if (step == ShedStep::kKeyframesOnly || keyframes)
    what = "only keyframes are decoded";
  else if (step == ShedStep::kSkipNonReference || nonref)
    what = "non-reference frames are not decoded";
  else if (encoder)
    what = "frames are dropped before the encoder";
  if (!what) {
    if (degraded_ && ++calm_ >= kCalmReports) {
      degraded_ = false;
      message_.clear ();
    }
    return degraded_;
  }
  calm_ = 0;
  degraded_ = true;
  message_ = std::string ("the transcode cannot keep up with live: ") + what;
  return true;
}

} // namespace mirror
