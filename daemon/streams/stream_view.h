// SPDX-License-Identifier: LGPL-2.1-or-later
// What the APIs (REST, D-Bus, the admin page) show of one stream.
#pragma once

#include <cstdint>
#include <string>

#include <gst/gst.h>

#include "registry/stream_registry.h"

namespace mirror::daemon {

// What mirrortranscodebin last said about a stream (mirror-transcode-stats).
struct TranscodeView {
  bool present = false;
  std::string decoder, encoder, hardware; // the element chain in use
  uint64_t frames_in = 0, frames_out = 0, frames_dropped = 0;
  double latency_p50_ms = 0, latency_p99_ms = 0;
  // Overload shedding: the step now, the newest decoded frame's lag, and
  // the frames shed at each step so far.
  std::string shed_step = "none";
  double lag_ms = 0;
  uint64_t shed_encoder = 0, shed_nonref = 0, shed_keyframes = 0, shed_catch_up = 0;
};

struct StreamView {
  StreamEntry entry;              // registry view (cluster-wide fields)
  bool local = false;             // owned by this mirrord
  std::string pipeline;           // description name, local streams only
  std::string description;        // the rendered description it runs, secrets masked. Local only
  std::string pipeline_state;     // "PLAYING", "PAUSED", ...; "NULL" once released. Local only
  int64_t uptime_ms = 0;          // local streams only
  std::string peer;               // ingest caller connected now, local streams only
  double rtt_ms = -1;             // SRT round trip to it; -1: not known. Local only
  uint64_t pipeline_restarts = 0; // by the watchdog, local streams only
  TranscodeView transcode;        // local streams that transcode
};

// @text (a rendered description, a source URI) with the values of its
// secrets (an SRT passphrase in a URI or a property, a password, a token, a
// secret or access key) shown as ***: what the API, D-Bus and the console
// may show of it.
std::string mask_secrets (const std::string &text);

// Reads a mirror-transcode-stats structure into *view.
void read_transcode_stats (const GstStructure *s, TranscodeView *view);

} // namespace mirror::daemon
