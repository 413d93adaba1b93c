// SPDX-License-Identifier: LGPL-2.1-or-later
// Time-shifted playback's query, MediaPackage style: ?start=T1&end=T2 on a
// stream's playlists (and clip.mp4), each time either ISO 8601 with a zone
// or a date only ("2026-12-06T14:00:00Z", "2026-12-06T15:00:00.5+01:00";
// without a zone it is UTC) or Unix seconds ("1765029600", "1765029600.25").
// Other parameters (the blocking-reload directives, cache busters) are left
// alone. Parsing decides what is malformed (400, naming the parameter);
// whether the range is recorded (404) is the DVR's business.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mirror {

// The longest range one request may ask for.
inline constexpr int64_t kDvrMaxRangeNs = 24LL * 3600 * 1000000000;

struct DvrRange {
  bool requested = false;        // start= or end= was in the query
  int64_t start_ns = 0;          // unix ns
  std::optional<int64_t> end_ns; // none: open (an EVENT playlist that grows)
};

struct DvrRangeError {
  std::string parameter; // "start", "end"
  std::string message;   // a sentence naming the value
};

// now_ns: the wall clock, to tell a range in the future. nullopt with *error
// on a malformed, reversed, future or over-long range.
std::optional<DvrRange> parse_dvr_range (std::string_view query, int64_t now_ns,
                                         DvrRangeError *error);

// One time value as the query takes it; nullopt when malformed.
std::optional<int64_t> parse_dvr_time (std::string_view value);

// The range as a query string for the URIs a time-shifted multivariant
// playlist names: "start=1765029600&end=1765033200" (Unix seconds, with a
// fraction when needed), so that every rendition's playlist asks the same.
std::string format_dvr_range_query (const DvrRange &range);

} // namespace mirror
