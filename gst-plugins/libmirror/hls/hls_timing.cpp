// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/hls_timing.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace mirror {

std::string
format_hls_units (int64_t units)
{
  char buf[48];
  std::snprintf (buf, sizeof buf, "%" PRId64 ".%05" PRId64, units / 100000, units % 100000);
  return buf;
}

std::string
format_program_date_time (int64_t unix_ns)
{
  time_t secs = time_t (unix_ns / kNsPerSecond);
  int ms = int ((unix_ns % kNsPerSecond) / 1000000);
  struct tm tm;
  gmtime_r (&secs, &tm);
  char buf[64];
  std::snprintf (buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

} // namespace mirror
