// SPDX-License-Identifier: LGPL-2.1-or-later
// Stream states as the lowercase words used in JSON, the REST API and logs.
#include "registry/stream_registry.h"

namespace mirror {

namespace {

struct StateName {
  StreamState state;
  std::string_view name;
};

constexpr StateName kStateNames[] = {
  { StreamState::kStarting, "starting" }, { StreamState::kLive, "live" },
  { StreamState::kPaused, "paused" },     { StreamState::kStalled, "stalled" },
  { StreamState::kError, "error" },       { StreamState::kStopping, "stopping" },
  { StreamState::kReconnecting, "reconnecting" }, { StreamState::kEnded, "ended" },
  { StreamState::kDegraded, "degraded" },
};

} // namespace

const char *
to_string (StreamState state)
{
  for (const auto &entry : kStateNames)
    if (entry.state == state)
      return entry.name.data ();
  return "unknown";
}

std::optional<StreamState>
stream_state_from_string (std::string_view text)
{
  for (const auto &entry : kStateNames)
    if (entry.name == text)
      return entry.state;
  return std::nullopt;
}

void
merge_stats (StreamStats &stats, const StreamStats &update, unsigned mask)
{
  if (mask & kStatsBytes)
    stats.bytes = update.bytes;
  if (mask & kStatsPackets)
    stats.packets = update.packets;
  if (mask & kStatsPacketsLost) {
    stats.packets_lost = update.packets_lost;
    stats.packets_retransmitted = update.packets_retransmitted;
  }
  if (mask & kStatsBitrate)
    stats.bitrate_bps = update.bitrate_bps;
  if (mask & kStatsCodec)
    stats.codec = update.codec;
  if (mask & kStatsResolution) {
    stats.width = update.width;
    stats.height = update.height;
  }
  if (mask & kStatsFrameRate)
    stats.frame_rate = update.frame_rate;
}

}  // namespace mirror
