// SPDX-License-Identifier: LGPL-2.1-or-later
// Blocking playlist reload (RFC 8216bis 6.2.5.2) as decisions, without HTTP:
// given the delivery directives of a request and where the rendition is,
// answer now, hold until a part exists, or refuse. The front end owns the
// timer: a request still held after blocking_reload_timeout_ns () gets 503.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "hls/part_position.h"

namespace mirror {

constexpr int kHlsStatusBadRequest = 400;
constexpr int kHlsStatusUnavailable = 503;

struct ReloadDirectives {
  std::optional<uint64_t> msn;  // _HLS_msn
  std::optional<uint64_t> part; // _HLS_part
  bool skip = false;            // _HLS_skip=YES (v2, date ranges, is answered as YES)
};

// Parses a query string ("_HLS_msn=10&_HLS_part=2&_HLS_skip=YES"); other
// parameters are left alone (cache busters). False, with why, on a malformed
// directive, which is a 400.
bool parse_reload_directives (std::string_view query, ReloadDirectives *out, std::string *why);

// Where the rendition is, from RenditionWindow.
struct RenditionProgress {
  bool has_parts = false;
  PartPosition last; // newest part; its msn is the last Media Segment's
  // last, or {its msn, kSegmentComplete} once that segment is complete.
  PartPosition reached;
  bool ended = false; // EXT-X-ENDLIST
  int64_t part_target_ns = 100000000;
};

enum class ReloadVerdict { kAnswerNow, kHold, kBadRequest };

struct ReloadDecision {
  ReloadVerdict verdict = ReloadVerdict::kAnswerNow;
  PartPosition hold_until; // kHold: answer once the rendition reaches this part
  std::string why;         // kBadRequest: a sentence for the response body
};

// The Advance Part Limit: three seconds' worth of parts.
uint64_t advance_part_limit (int64_t part_target_ns);

ReloadDecision decide_reload (const ReloadDirectives &d, const RenditionProgress &p);

// Three target durations: how long a request may be held before 503.
constexpr int64_t
blocking_reload_timeout_ns (int64_t target_duration_s)
{
  return 3 * target_duration_s * 1000000000;
}

} // namespace mirror
