// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcode/shed_policy.h"

namespace mirror {

const char *
shed_step_name (ShedStep step)
{
  switch (step) {
  case ShedStep::kNone:
    return "none";
  case ShedStep::kSkipBFrames:
    return "skip-b-frames";
  case ShedStep::kKeyframesOnly:
    return "keyframes-only";
  }
  return "none";
}

ShedStep
ShedPolicy::on_decoded (int64_t now_ns, int64_t lag_ns)
{
  const bool settled
      = last_change_ns_ == INT64_MIN || now_ns - last_change_ns_ >= options_.settle_ns;
  if (lag_ns > options_.budget_ns / 2) {
    calm_since_ns_ = INT64_MIN;
    if (settled && step_ != ShedStep::kKeyframesOnly) {
      step_ = ShedStep (int (step_) + 1);
      last_change_ns_ = now_ns;
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
    calm_since_ns_ = now_ns;
  }
  return step_;
}

bool
ShedPolicy::admit (int64_t lag_ns, bool keyframe)
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
  return keyframe || step_ != ShedStep::kKeyframesOnly;
}

void
ShedPolicy::reset ()
{
  step_ = ShedStep::kNone;
  catching_up_ = false;
  last_change_ns_ = INT64_MIN;
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
  last_ = totals;
  const char *what = nullptr;
  if (catch_up)
    what = "frames reached the decoder too late and were dropped up to a keyframe";
  else if (step == ShedStep::kKeyframesOnly || keyframes)
    what = "only keyframes are decoded";
  else if (step == ShedStep::kSkipBFrames)
    what = "the decoder skips B-frames";
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
