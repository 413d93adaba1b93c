// SPDX-License-Identifier: LGPL-2.1-or-later
// The ingest buffer latency buckets: bounds inclusive, +Inf last, sums in
// seconds.
#include <gtest/gtest.h>

#include "ingest/buffer_latency.h"

namespace mirror {
namespace {

TEST (BufferLatency, AWaitFallsInTheFirstBucketWhoseBoundHoldsIt)
{
  EXPECT_EQ (buffer_latency_bucket (0), 0u);
  EXPECT_EQ (buffer_latency_bucket (-5), 0u);  // a clock that stepped back
  EXPECT_EQ (buffer_latency_bucket (500), 0u); // 0.5 ms: on the bound
  EXPECT_EQ (buffer_latency_bucket (501), 1u);
  EXPECT_EQ (buffer_latency_bucket (10'000), 4u); // 10 ms
  EXPECT_EQ (buffer_latency_bucket (2'000'000), kBufferLatencyBounds.size () - 1);
  EXPECT_EQ (buffer_latency_bucket (2'000'001), kBufferLatencyBounds.size ()); // +Inf
}

TEST (BufferLatency, CountsAndSum)
{
  BufferLatencyCounts c;
  c.observe_us (300);
  c.observe_us (7'000);
  c.observe_us (30'000'000);
  EXPECT_EQ (c.count (), 3u);
  EXPECT_EQ (c.buckets[0], 1u);
  EXPECT_EQ (c.buckets[4], 1u);
  EXPECT_EQ (c.buckets.back (), 1u);
  EXPECT_DOUBLE_EQ (c.sum_seconds, 0.0003 + 0.007 + 30);
}

} // namespace
} // namespace mirror
