// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/buffer_latency.h"

#include <algorithm>

namespace mirror {

size_t
buffer_latency_bucket (int64_t waited_us)
{
  const double seconds = double (std::max<int64_t> (waited_us, 0)) / 1e6;
  size_t i = 0;
  while (i < kBufferLatencyBounds.size () && seconds > kBufferLatencyBounds[i])
    i++;
  return i;
}

void
BufferLatencyCounts::observe_us (int64_t waited_us)
{
  buckets[buffer_latency_bucket (waited_us)]++;
  sum_seconds += double (std::max<int64_t> (waited_us, 0)) / 1e6;
}

uint64_t
BufferLatencyCounts::count () const
{
  uint64_t n = 0;
  for (uint64_t b : buckets)
    n += b;
  return n;
}

} // namespace mirror
