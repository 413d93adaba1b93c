// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/dvr_playlist.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "hls/hls_timing.h"
#include "hls/playlist.h"
#include "hls/url_layout.h"

namespace mirror {

namespace {

// How far a segment's clock may sit from where the one before ends before it
// counts as a jump (arrival jitter of the live PDTs is a few ms).
constexpr int64_t kClockJumpNs = 500000000;

// The media timeline goes on from @previous to @s: no discontinuity, no hole.
bool
continuous (const DvrSegmentInput &previous, const DvrSegmentInput &s)
{
  return !s.discontinuity && !s.gap && s.msn == previous.msn + previous.merged
         && std::llabs (s.wallclock_ns - (previous.wallclock_ns + previous.duration_ns))
                <= kClockJumpNs;
}

// And its bytes follow @g's in the same file, after the same init.
bool
extends (const DvrGroup &g, const DvrSegmentInput &s)
{
  return s.period_s == g.period_s && s.offset == g.offset + g.length
         && s.init_offset == g.init_offset;
}

} // namespace

std::vector<DvrGroup>
group_dvr_segments (const std::vector<DvrSegmentInput> &segments, int64_t target_ns,
                    bool tail_complete)
{
  std::vector<DvrGroup> out;
  bool open = false;
  for (size_t i = 0; i < segments.size (); i++) {
    const DvrSegmentInput &s = segments[i];
    const bool continues = open && continuous (segments[i - 1], s);
    // Join the open group when it continues it and either fits or cannot
    // start a group of its own (no sync sample).
    if (continues && extends (out.back (), s)
        && (out.back ().duration_ns + s.duration_ns <= target_ns || !s.independent)) {
      DvrGroup &g = out.back ();
      g.length += s.length;
      g.duration_ns += s.duration_ns;
      g.segments++;
      continue;
    }
    DvrGroup g;
    g.period_s = s.period_s;
    g.offset = s.offset;
    g.length = s.length;
    g.init_offset = s.init_offset;
    g.init_length = s.init_length;
    g.wallclock_ns = s.wallclock_ns;
    g.duration_ns = s.duration_ns;
    g.independent = s.independent;
    // The first listed segment needs no tag; a break anywhere else does.
    g.discontinuity = !out.empty () && !continues;
    g.segments = 1;
    out.push_back (g);
    open = true;
  }
  if (!tail_complete && !out.empty ())
    out.pop_back ();
  return out;
}

int64_t
dvr_target_duration_s (const std::vector<DvrGroup> &groups, int64_t target_ns)
{
  int64_t target = std::max<int64_t> (1, (target_ns + kNsPerSecond - 1) / kNsPerSecond);
  for (const DvrGroup &g : groups)
    target = std::max (target, hls_rounded_seconds (hls_units (g.duration_ns)));
  return target;
}

std::string
render_dvr_playlist (const DvrPlaylistInput &in)
{
  const std::vector<DvrGroup> &groups = *in.groups;
  const int64_t target = dvr_target_duration_s (groups, in.target_ns);
  const bool independent = std::all_of (groups.begin (), groups.end (),
                                        [] (const DvrGroup &g) { return g.independent; });
  std::ostringstream out;
  out << "#EXTM3U\n"
      << "#EXT-X-VERSION:" << kHlsPlaylistVersion << "\n"
      << "#EXT-X-TARGETDURATION:" << target << "\n"
      << "#EXT-X-PLAYLIST-TYPE:" << (in.event ? "EVENT" : "VOD") << "\n";
  if (in.event)
    out << "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=" << 6 * target << ".0\n";
  out << "#EXT-X-MEDIA-SEQUENCE:0\n";
  if (independent)
    out << "#EXT-X-INDEPENDENT-SEGMENTS\n";

  size_t skipped = 0;
  if (in.event && in.delta && !groups.empty ()) {
    const DvrGroup &last = groups.back ();
    const int64_t boundary = last.wallclock_ns + last.duration_ns - 6 * target * kNsPerSecond;
    while (skipped < groups.size ()
           && groups[skipped].wallclock_ns + groups[skipped].duration_ns <= boundary)
      skipped++;
    if (skipped > 0)
      out << "#EXT-X-SKIP:SKIPPED-SEGMENTS=" << skipped << "\n";
  }

  bool map_written = false;
  int64_t map_period = 0;
  uint64_t map_offset = 0;
  for (size_t i = skipped; i < groups.size (); i++) {
    const DvrGroup &g = groups[i];
    if (g.discontinuity)
      out << "#EXT-X-DISCONTINUITY\n";
    if (!map_written || g.period_s != map_period || g.init_offset != map_offset) {
      out << "#EXT-X-MAP:URI=\""
          << hls_dvr_piece_uri (in.rendition, g.period_s, g.init_offset, g.init_length, true)
          << "\"\n";
      map_written = true;
      map_period = g.period_s;
      map_offset = g.init_offset;
    }
    out << "#EXT-X-PROGRAM-DATE-TIME:" << format_program_date_time (g.wallclock_ns) << "\n"
        << "#EXTINF:" << format_hls_units (hls_units (g.duration_ns)) << ",\n"
        << hls_dvr_piece_uri (in.rendition, g.period_s, g.offset, g.length, false) << "\n";
  }
  if (!in.event || in.ended)
    out << "#EXT-X-ENDLIST\n";
  return out.str ();
}

} // namespace mirror
