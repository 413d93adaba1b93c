// SPDX-License-Identifier: LGPL-2.1-or-later
// What the load generators (mirror-srt-load, mirror-rtp-load) share: the
// stop flag their signal handler sets, the clock, the list of target ports,
// and the one-millisecond tick they pace by.
#pragma once

#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace loadgen {

inline std::atomic<bool> stopping{ false };

// SIGTERM and SIGINT set stopping.
inline void
stop_on_signals ()
{
  signal (SIGTERM, [] (int) { stopping = true; });
  signal (SIGINT, [] (int) { stopping = true; });
}

inline int64_t
now_ns ()
{
  timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return int64_t (ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// "P1,P2,..." as port numbers.
inline std::vector<uint16_t>
parse_ports (const std::string &list)
{
  std::vector<uint16_t> ports;
  size_t pos = 0;
  while (pos < list.size ()) {
    size_t comma = list.find (',', pos);
    ports.push_back (uint16_t (std::atoi (list.substr (pos, comma - pos).c_str ())));
    pos = comma == std::string::npos ? list.size () : comma + 1;
  }
  return ports;
}

// Sleeps until the next millisecond after *next (absolute, monotonic),
// which it moves on: ticks that keep their rhythm however long a tick took.
inline void
wait_next_tick (timespec *next)
{
  next->tv_nsec += 1'000'000;
  if (next->tv_nsec >= 1'000'000'000) {
    next->tv_nsec -= 1'000'000'000;
    next->tv_sec++;
  }
  clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, next, nullptr);
}

} // namespace loadgen
