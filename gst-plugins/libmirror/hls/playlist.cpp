// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/playlist.h"

#include <sstream>

#include "hls/url_layout.h"

namespace mirror {

size_t
skippable_segments (const RenditionWindow &window, const StreamTiming &timing)
{
  const auto &segs = window.segments ();
  int64_t boundary = window.edge_ns () - timing.can_skip_until_s () * kNsPerSecond;
  size_t n = 0;
  for (size_t i = window.first_listed_index (); i < segs.size (); ++i) {
    if (!segs[i].complete || segs[i].start_ns >= boundary)
      break;
    ++n;
  }
  return n;
}

namespace {

void
write_header (std::ostringstream &out, const MediaPlaylistInput &in)
{
  const StreamTiming &t = in.timing;
  out << "#EXTM3U\n"
      << "#EXT-X-VERSION:" << kHlsPlaylistVersion << "\n"
      << "#EXT-X-TARGETDURATION:" << t.target_duration_s << "\n"
      << "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=" << t.can_skip_until_s ()
      << ".0,HOLD-BACK=" << t.hold_back_s ()
      << ".0,PART-HOLD-BACK=" << format_hls_units (t.part_hold_back_units ()) << "\n"
      << "#EXT-X-PART-INF:PART-TARGET=" << format_hls_units (t.part_target_units) << "\n";
}

} // namespace

std::string
render_media_playlist (const MediaPlaylistInput &in)
{
  const RenditionWindow &w = *in.window;
  const auto &segs = w.segments ();
  std::ostringstream out;
  write_header (out, in);

  size_t first = w.first_listed_index ();
  out << "#EXT-X-MEDIA-SEQUENCE:" << (first < segs.size () ? segs[first].msn : 0) << "\n"
      << "#EXT-X-DISCONTINUITY-SEQUENCE:" << w.discontinuity_sequence () << "\n";

  size_t skipped = in.delta ? skippable_segments (w, in.timing) : 0;
  if (skipped > 0)
    out << "#EXT-X-SKIP:SKIPPED-SEGMENTS=" << skipped << "\n";

  // Parts are listed for segments ending within three target durations of
  // the edge; older ones are named by their segment line only.
  int64_t parts_from = w.edge_ns () - 3 * in.timing.target_duration_s * kNsPerSecond;
  bool map_written = false;
  uint32_t map_gen = 0;
  for (size_t i = first + skipped; i < segs.size (); ++i) {
    const SegmentRecord &seg = segs[i];
    // EXT-X-DISCONTINUITY-SEQUENCE counts only the tags of unlisted segments.
    if (seg.discontinuity)
      out << "#EXT-X-DISCONTINUITY\n";
    // After a skip the client has no EXT-X-MAP in scope: always restate it.
    if (!map_written || seg.init_generation != map_gen) {
      out << "#EXT-X-MAP:URI=\"" << hls_init_uri (in.rendition, seg.init_generation) << "\"\n";
      map_written = true;
      map_gen = seg.init_generation;
    }
    if (seg.wallclock_ns)
      out << "#EXT-X-PROGRAM-DATE-TIME:" << format_program_date_time (*seg.wallclock_ns) << "\n";
    if (!seg.complete || seg.end_ns () > parts_from) {
      for (size_t p = 0; p < seg.parts.size (); ++p) {
        const PartRecord &part = seg.parts[p];
        out << "#EXT-X-PART:DURATION=" << format_hls_units (hls_units (part.duration_ns))
            << ",URI=\"" << hls_part_uri (in.rendition, seg.msn, uint32_t (p)) << "\"";
        if (part.independent)
          out << ",INDEPENDENT=YES";
        out << "\n";
      }
    }
    if (seg.complete) {
      out << "#EXTINF:" << format_hls_units (hls_units (seg.duration_ns)) << ",\n"
          << hls_segment_uri (in.rendition, seg.msn) << "\n";
    }
  }

  if (auto hint = w.preload_hint ())
    out << "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""
        << hls_part_uri (in.rendition, hint->msn, hint->part) << "\"\n";
  for (const RenditionReport &r : in.reports)
    out << "#EXT-X-RENDITION-REPORT:URI=\"" << hls_media_playlist_uri (r.rendition)
        << "\",LAST-MSN=" << r.last.msn << ",LAST-PART=" << r.last.part << "\n";
  if (w.ended ())
    out << "#EXT-X-ENDLIST\n";
  return out.str ();
}

} // namespace mirror
