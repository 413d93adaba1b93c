// SPDX-License-Identifier: LGPL-2.1-or-later
// How a transcode that falls behind live sheds work rather than time. A
// frame's lag is how long ago it entered the transcode (wall clock); the
// policy keeps it under a budget in steps, each cheaper than the last:
//
//   frames dropped before the encoders  always on: an encoder that cannot
//                                       keep up gets the frames it can take
//                                       (ShedPolicy is not asked)
//   kSkipNonReference                   frames no other frame refers to
//                                       (most B-frames) are kept from the
//                                       decoder
//   kKeyframesOnly                      only keyframes reach the decoder
//   catch-up                            a frame that reaches the decoder
//                                       later than the budget: compressed
//                                       frames are dropped up to the next
//                                       keyframe that is on time
//
// and steps back down one at a time once the lag has stayed low for a
// while. The source rendition is never touched: it does not wait for the
// decoder. Times in nanoseconds; not thread-safe (one streaming thread
// drives it).
#pragma once

#include <cstdint>
#include <string>

namespace mirror {

enum class ShedStep : int { kNone = 0, kSkipNonReference = 1, kKeyframesOnly = 2 };

// "none", "skip-non-reference", "keyframes-only".
const char *shed_step_name (ShedStep step);
// The step a name stands for; kNone for any other text.
ShedStep shed_step_from_name (const std::string &name);

struct ShedPolicyOptions {
  // The lag a frame may have when it reaches the decoder; later ones are
  // dropped up to an on-time keyframe (catch-up).
  int64_t budget_ns = 1'000'000'000;
  // How long a step is given to work before the next one is taken.
  int64_t settle_ns = 1'000'000'000;
  // How long the lag must stay under a quarter of the budget before the
  // policy steps back down one step.
  int64_t calm_ns = 10'000'000'000;
};

class ShedPolicy {
 public:
  explicit ShedPolicy (const ShedPolicyOptions &options = {}) : options_ (options) {}

  // A decoded frame's lag at @now; returns the step to use from now on.
  // Steps up when the lag passes half the budget and the last change has
  // had settle_ns to work without bringing the lag down.
  ShedStep on_decoded (int64_t now_ns, int64_t lag_ns);

  // Whether a compressed frame with @lag reaches the decoder: false while
  // catching up, at kKeyframesOnly for a delta frame, and from
  // kSkipNonReference for a frame no other refers to (@droppable).
  bool admit (int64_t lag_ns, bool keyframe, bool droppable = false);

  ShedStep step () const { return step_; }
  bool catching_up () const { return catching_up_; }
  const ShedPolicyOptions &options () const { return options_; }
  void reset ();

 private:
  ShedPolicyOptions options_;
  ShedStep step_ = ShedStep::kNone;
  bool catching_up_ = false;
  int64_t last_change_ns_ = INT64_MIN;
  int64_t lag_at_change_ns_ = 0;      // the lag that made the last change
  int64_t calm_since_ns_ = INT64_MIN; // INT64_MIN: the lag is not low now
};

// What the transcode's periodic figures say about a stream's health: it is
// degraded while it sheds work (any step, any frame dropped since the last
// figures) and healthy again after kCalmReports clean reports in a row. The
// message names the most severe shedding of the report and changes only
// with it, so a stream that sheds steadily is not re-announced every second.
class ShedHealth {
 public:
  static constexpr int kCalmReports = 3;

  struct Counts {
    uint64_t encoder = 0;   // frames dropped before an encoder
    uint64_t nonref = 0;    // non-reference frames kept from the decoder
    uint64_t keyframes = 0; // delta frames kept from the decoder
    uint64_t catch_up = 0;  // late frames dropped to catch up
  };

  // Returns whether the stream is degraded after this report.
  bool update (const Counts &totals, ShedStep step);
  bool degraded () const { return degraded_; }
  // Why, while degraded ("the transcode cannot keep up: ...").
  const std::string &message () const { return message_; }

 private:
  Counts last_;
  int calm_ = 0;
  bool degraded_ = false;
  std::string message_;
};

} // namespace mirror
