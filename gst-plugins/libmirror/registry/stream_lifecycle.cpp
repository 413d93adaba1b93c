// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/stream_lifecycle.h"

#include <optional>

namespace mirror {

namespace {

// The state an event leads to from @from, or nullopt when the event does not
// apply there (it is then ignored, message included).
std::optional<StreamState>
next_state (StreamState from, StreamEvent event)
{
  using S = StreamState;
  using E = StreamEvent;
  // Leaving for good, from wherever the stream runs.
  if (event == E::kStopping)
    return from == S::kStopping ? std::nullopt : std::optional (S::kStopping);
  if (from == S::kStopping || from == S::kEnded || from == S::kError)
    return std::nullopt;
  if (event == E::kFailed)
    return S::kError;
  if (from == S::kPaused)
    return event == E::kResumed ? std::optional (S::kStarting) : std::nullopt;

  switch (event) {
  case E::kMediaFlowing:
    // After a lost feed only its return counts: what the demuxer flushes
    // when the caller leaves is not the feed coming back.
    if (from == S::kStarting || from == S::kStalled)
      return S::kLive;
    return std::nullopt;
  case E::kMediaStalled:
    // Before the first media there is nothing to stall; a lost feed is the
    // better explanation of silence.
    return from == S::kLive || from == S::kDegraded ? std::optional (S::kStalled) : std::nullopt;
  case E::kBehind:
    // Only while media flows; the message follows the shedding.
    return from == S::kLive || from == S::kDegraded ? std::optional (S::kDegraded) : std::nullopt;
  case E::kCaughtUp:
    return from == S::kDegraded ? std::optional (S::kLive) : std::nullopt;
  case E::kNoProgress:
    // A wedged pipeline, whatever it said before; a lost feed explains
    // itself, and the watchdog does not act on one.
    return from == S::kReconnecting ? std::nullopt : std::optional (S::kStalled);
  case E::kFeedLost:
    return S::kReconnecting;
  case E::kFeedBack:
    return from == S::kReconnecting || from == S::kStalled ? std::optional (S::kLive)
                                                           : std::nullopt;
  case E::kFeedEnded:
    return S::kEnded;
  case E::kPaused:
    return S::kPaused;
  case E::kResumed:
  case E::kFailed:
  case E::kStopping:
    break;
  }
  return std::nullopt;
}

} // namespace

const char *
to_string (StreamEvent event)
{
  switch (event) {
  case StreamEvent::kMediaFlowing:
    return "media-flowing";
  case StreamEvent::kMediaStalled:
    return "media-stalled";
  case StreamEvent::kFeedLost:
    return "feed-lost";
  case StreamEvent::kFeedBack:
    return "feed-back";
  case StreamEvent::kFeedEnded:
    return "feed-ended";
  case StreamEvent::kFailed:
    return "failed";
  case StreamEvent::kPaused:
    return "paused";
  case StreamEvent::kResumed:
    return "resumed";
  case StreamEvent::kStopping:
    return "stopping";
  case StreamEvent::kBehind:
    return "behind";
  case StreamEvent::kCaughtUp:
    return "caught-up";
  case StreamEvent::kNoProgress:
    return "no-progress";
  }
  return "unknown";
}

bool
StreamLifecycle::apply (StreamEvent event, const std::string &detail)
{
  auto next = next_state (state_, event);
  if (!next)
    return false;
  if (*next == state_ && detail == message_)
    return false;
  state_ = *next;
  message_ = detail;
  return true;
}

bool
StreamLifecycle::running () const
{
  return state_ != StreamState::kEnded && state_ != StreamState::kError
         && state_ != StreamState::kStopping;
}

} // namespace mirror
