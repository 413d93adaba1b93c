// SPDX-License-Identifier: LGPL-2.1-or-later
// What this process holds right now, from /proc/self: the figures an operator
// alerts on when something accumulates (descriptors, threads, memory).
#pragma once

#include <cstdint>
#include <optional>

namespace mirror {

struct ProcessStats {
  uint64_t open_fds = 0;
  uint64_t max_fds = 0; // RLIMIT_NOFILE (soft)
  uint64_t threads = 0;
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  double cpu_seconds = 0;     // user + system
  double start_time_unix = 0; // seconds since the epoch
};

// nullopt where /proc cannot be read.
std::optional<ProcessStats> read_process_stats ();

} // namespace mirror
