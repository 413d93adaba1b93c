// SPDX-License-Identifier: LGPL-2.1-or-later
// Ingest buffer latency: how long a chunk of a feed waits in mirrord between
// its arrival (the network thread handing it to the ingest ring) and its
// hand-off to the demuxer (the ring's streaming side taking it). Counted in
// fixed buckets, so the element's counts and the daemon's Prometheus
// histogram (mirror_ingest_buffer_latency_seconds) agree on the bounds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mirror {

// Upper bounds in seconds; one more bucket (+Inf) follows the last.
inline constexpr std::array<double, 12> kBufferLatencyBounds
    = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2 };

struct BufferLatencyCounts {
  // Per bucket, not cumulative; the last is +Inf.
  std::array<uint64_t, kBufferLatencyBounds.size () + 1> buckets{};
  double sum_seconds = 0;

  void observe_us (int64_t waited_us);
  uint64_t count () const;
};

// The bucket a wait of @waited_us falls in (the first bound >= it).
size_t buffer_latency_bucket (int64_t waited_us);

} // namespace mirror
