// SPDX-License-Identifier: LGPL-2.1-or-later
// Playlist time arithmetic. Durations live in nanoseconds and are printed in
// units of 10 us (five decimals): limits such as PART-TARGET are computed on
// the printed values, because players check the text, not our clocks.
#pragma once

#include <cstdint>
#include <string>

namespace mirror {

constexpr int64_t kNsPerSecond = 1000000000;
constexpr int64_t kNsPerHlsUnit = 10000; // 10 us

// Nearest 10 us unit.
constexpr int64_t
hls_units (int64_t ns)
{
  return ns <= 0 ? 0 : (ns + kNsPerHlsUnit / 2) / kNsPerHlsUnit;
}

// "0.10000"
std::string format_hls_units (int64_t units);

// EXTINF values rounded to the nearest integer must not exceed this.
constexpr int64_t
hls_rounded_seconds (int64_t units)
{
  return (units + 50000) / 100000;
}

// EXT-X-TARGETDURATION for segments cut at @segment_ns: whole seconds, at
// least 1. It is announced with the first playlist and never changes
// (RFC 8216bis 6.2.1), so the muxer keeps every segment within it.
constexpr int64_t
target_duration_for (int64_t segment_ns)
{
  return segment_ns <= kNsPerSecond ? 1 : (segment_ns + kNsPerSecond - 1) / kNsPerSecond;
}

// The longest segment whose EXTINF, printed and rounded to the nearest
// second, is still within @target_duration_s (4.4.3.1): half a second over
// it, less a millisecond for the printing.
constexpr int64_t
longest_segment_ns (int64_t target_duration_s)
{
  return target_duration_s * kNsPerSecond + kNsPerSecond / 2 - 1000000;
}

// ISO 8601 with milliseconds, UTC: "2026-11-21T11:53:15.123Z".
std::string format_program_date_time (int64_t unix_ns);

// The values every rendition of a stream advertises alike (EXT-X-PART-INF,
// EXT-X-TARGETDURATION, EXT-X-SERVER-CONTROL): stream-wide maxima that only
// grow, so no playlist update shrinks a limit an earlier one announced.
struct StreamTiming {
  int64_t target_duration_s = 1;
  int64_t part_target_units = 10000;

  int64_t hold_back_s () const { return 3 * target_duration_s; }
  int64_t part_hold_back_units () const { return 3 * part_target_units; }
  int64_t can_skip_until_s () const { return 6 * target_duration_s; }
  int64_t part_target_ns () const { return part_target_units * kNsPerHlsUnit; }
};

} // namespace mirror
