// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/blocking_reload.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "hls/url_layout.h"

namespace mirror {

namespace {

bool
parse_u64 (std::string_view s, uint64_t *out)
{
  if (s.empty ())
    return false;
  auto [end, ec] = std::from_chars (s.data (), s.data () + s.size (), *out);
  return ec == std::errc () && end == s.data () + s.size ();
}

} // namespace

bool
parse_reload_directives (std::string_view query, ReloadDirectives *out, std::string *why)
{
  *out = ReloadDirectives ();
  bool ok = true; // the first malformed directive is the one named
  for_each_query_param (query, [&] (std::string_view key, std::string_view value) {
    if (!ok)
      return;
    if (key == "_HLS_msn" || key == "_HLS_part") {
      uint64_t n;
      if (!parse_u64 (value, &n)) {
        *why = std::string (key) + "=" + std::string (value) + " is not a non-negative integer";
        ok = false;
        return;
      }
      (key == "_HLS_msn" ? out->msn : out->part) = n;
    } else if (key == "_HLS_skip") {
      if (value != "YES" && value != "v2") {
        *why = "_HLS_skip=" + std::string (value) + " is neither YES nor v2";
        ok = false;
        return;
      }
      out->skip = true;
    }
  });
  return ok;
}

uint64_t
advance_part_limit (int64_t part_target_ns)
{
  if (part_target_ns <= 0)
    return 0;
  return uint64_t (3000000000LL / part_target_ns);
}

ReloadDecision
decide_reload (const ReloadDirectives &d, const RenditionProgress &p)
{
  ReloadDecision out;
  // A finished playlist will not change: there is nothing to wait for.
  if (p.ended)
    return out;
  if (d.part && !d.msn) {
    out.verdict = ReloadVerdict::kBadRequest;
    out.why = "_HLS_part=" + std::to_string (*d.part) + " without _HLS_msn";
    return out;
  }
  if (!d.msn)
    return out;

  uint64_t msn = *d.msn;
  if (p.has_parts) {
    // The segment in progress counts as the last Media Segment: its parts
    // are in the playlist.
    if (msn > p.last.msn + 2) {
      out.verdict = ReloadVerdict::kBadRequest;
      out.why = "_HLS_msn=" + std::to_string (msn) + " is more than two segments past "
                + std::to_string (p.last.msn);
      return out;
    }
    if (d.part) {
      uint64_t limit = advance_part_limit (p.part_target_ns);
      uint64_t ahead = msn == p.last.msn  ? (*d.part > p.last.part ? *d.part - p.last.part : 0)
                       : msn > p.last.msn ? *d.part + 1
                                          : 0;
      if (ahead > limit) {
        out.verdict = ReloadVerdict::kBadRequest;
        out.why = "_HLS_part=" + std::to_string (*d.part) + " is more than "
                  + std::to_string (limit) + " parts ahead";
        return out;
      }
    }
  }

  // _HLS_msn alone waits for the whole segment: its last part (the muxer
  // says which) or the next segment's first completes it. A part index past
  // the end of a complete segment is part 0 of the next one; past the end
  // of the segment in progress it is satisfied by that part 0 too, since
  // published positions are ordered.
  PartPosition until
      = d.part ? PartPosition{ msn, uint32_t (std::min<uint64_t> (*d.part, kSegmentComplete - 1)) }
               : PartPosition{ msn, kSegmentComplete };
  if (d.part && p.has_parts && p.reached.part == kSegmentComplete && msn == p.reached.msn
      && *d.part > p.last.part)
    until = PartPosition{ msn + 1, 0 };
  if (p.has_parts && p.reached >= until)
    return out;
  out.verdict = ReloadVerdict::kHold;
  out.hold_until = until;
  return out;
}

} // namespace mirror
