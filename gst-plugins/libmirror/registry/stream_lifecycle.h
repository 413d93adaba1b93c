// SPDX-License-Identifier: LGPL-2.1-or-later
// One stream's state machine: the single place that decides what state a
// stream is in. The stream manager turns what its pipeline reports (bus
// messages) and what the operator asks into events; only the transitions
// below change the state, so the API, D-Bus, /metrics and the registry all
// follow one truth.
//
//   starting ──media──► live ──no media──► stalled ──media──► live
//   starting, live, degraded ──no output (watchdog restart)──► stalled
//      │                 │ ▲                  │
//      │            feed lost│ feed back      │ feed lost
//      └──feed lost──►  reconnecting ◄────────┘
//                        │  (callers: until ingestion.reconnect_window
//                        │   lapses; pulls: retried with backoff)
//   live, stalled,       ▼
//   reconnecting ──feed over──► ended ──(ingestion.ended_retention)──► removed
//   any but ended ──pipeline error──► error ──(same retention)──► removed
//   starting, live, stalled, reconnecting ──pause──► paused ──resume──► starting
//   any ──DELETE / shutdown──► stopping ──drained──► removed
//
// Only media makes a stream live: the first buffer the heartbeat sees, data
// again after a stall, or a returning feed whose data flows. A stall never
// overrides a lost feed, and media seen while the feed is lost (what the
// demuxer flushes) does not make it live again.
//
// Not thread-safe: owned by the stream manager, on its main context.
#pragma once

#include <string>

#include "registry/stream_registry.h"

namespace mirror {

enum class StreamEvent {
  kMediaFlowing, // media reached the heartbeat: the first buffer, or data after a stall
  kMediaStalled, // no media for the heartbeat's timeout
  kFeedLost,     // the caller (or, for a pull, the remote listener) went away
  kFeedBack,     // the feed is back and its data flows
  kFeedEnded,    // no feed within the reconnect window, or the input ended (EOS)
  kFailed,       // the pipeline failed
  kPaused,       // the operator paused it
  kResumed,      // the operator resumed it
  kStopping,     // the operator deleted it, or mirrord is shutting down
  kBehind,       // the transcode sheds work to stay live (detail: how much)
  kCaughtUp,     // it does all the work again
  kNoProgress,   // input arrives but nothing comes out: the watchdog restarts the pipeline
};

const char *to_string (StreamEvent event);

class StreamLifecycle {
 public:
  StreamState state () const { return state_; }
  const std::string &message () const { return message_; }

  // Applies event (detail: the reason, shown as the state's message).
  // Returns true when the state or its message changed.
  bool apply (StreamEvent event, const std::string &detail = {});

  // Whether the stream still runs a pipeline (not ended, failed or stopping).
  bool running () const;
  // Whether it is over for good: ended or failed, waiting to be removed.
  bool finished () const { return state_ == StreamState::kEnded || state_ == StreamState::kError; }

 private:
  StreamState state_ = StreamState::kStarting;
  std::string message_;
};

} // namespace mirror
