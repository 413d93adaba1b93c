// SPDX-License-Identifier: LGPL-2.1-or-later
// The names of the element messages Mirror's elements post and mirrord reads:
// one spelling for both sides, so a rename cannot silently break stream
// states. Fields are documented where each element posts them
// (gst-inspect-1.0 shows the element's documentation).
#pragma once

namespace mirror::msg {

// mirrorheartbeat
inline constexpr char kHeartbeat[] = "mirror-heartbeat";
inline constexpr char kFlowing[] = "mirror-flowing"; // first buffer after start or resume
inline constexpr char kStalled[] = "mirror-stalled";
inline constexpr char kRecovered[] = "mirror-recovered";

// mirroringestbin
inline constexpr char kIngestStats[] = "mirror-ingest-stats";
inline constexpr char kIngestConnected[] = "mirror-ingest-connected";
inline constexpr char kIngestDisconnected[] = "mirror-ingest-disconnected";
inline constexpr char kIngestReconnected[] = "mirror-ingest-reconnected";
inline constexpr char kIngestRetrying[] = "mirror-ingest-retrying"; // a pull's next attempt
inline constexpr char kIngestEnded[] = "mirror-ingest-ended";

// mirrortranscodebin
inline constexpr char kTranscodeStats[] = "mirror-transcode-stats";
// The transcode's overload shedding step changed (step, lag-ms).
inline constexpr char kTranscodeShed[] = "mirror-transcode-shed";

} // namespace mirror::msg
