// SPDX-License-Identifier: LGPL-2.1-or-later
// One rendition's media in memory: the init segment(s) and a sliding window of
// segments made of parts. Not locked: its StreamStore guards it, because a
// playlist also reports on sibling renditions and must see them consistently.
//
// Segments are cut by what the muxer says (a new media sequence number or a
// part index of 0 opens a new segment, which completes the previous one), but
// numbered here, so a muxer that restarts its count does not send players
// backwards: it becomes a discontinuity instead.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "hls/hls_timing.h"
#include "hls/part_position.h"
#include "util/bytes.h"

namespace mirror {

// What a publisher (mirrorh3sink, from mirrorcmafmux's meta) hands over.
struct PartInput {
  uint64_t msn = 0;           // the muxer's media sequence number
  uint32_t part_index = 0;    // the muxer's part index within that segment
  bool segment_start = false; // a styp leads it; part_index 0 says the same
  int64_t duration_ns = 0;
  bool independent = false;
  // The muxer knows the next part starts a new segment: this one completes
  // its segment now (EXTINF listed, the preload hint on the next segment).
  bool last_in_segment = false;
  // The muxer cut its last frame short to keep it within PART-TARGET.
  bool shortened = false;
  // Unix time of the first frame; when the muxer has none, the segment
  // continues the previous one's clock (or takes the time of publishing), so
  // every segment has an EXT-X-PROGRAM-DATE-TIME.
  std::optional<int64_t> wallclock_ns;
  Bytes bytes;
};

struct PartRecord {
  Bytes bytes;
  int64_t duration_ns = 0;
  bool independent = false;
};

struct SegmentRecord {
  uint64_t msn = 0;
  std::vector<PartRecord> parts;
  int64_t start_ns = 0; // media time since the rendition began, for the windows
  int64_t duration_ns = 0;
  bool complete = false;
  bool discontinuity = false;
  uint32_t init_generation = 0;
  std::optional<int64_t> wallclock_ns;

  int64_t end_ns () const { return start_ns + duration_ns; }
};

struct RenditionCounters {
  uint64_t parts = 0;
  uint64_t parts_without_init = 0; // dropped: a playlist cannot name them
  uint64_t empty_parts = 0;        // dropped: zero duration or no bytes
  uint64_t short_parts = 0;        // under 85% of PART-TARGET, neither independent nor last
  uint64_t long_parts = 0;         // over the rendition's PART-TARGET, which had to grow
  uint64_t shortened_parts = 0;    // cut short by the muxer to stay within PART-TARGET
  uint64_t discontinuities = 0;
  // Segments that start without a keyframe: the muxer cut them short of one
  // to stay within TARGETDURATION (a source with keyframes further apart).
  uint64_t keyless_segments = 0;
  // Segments longer than TARGETDURATION allows, which had to grow.
  uint64_t long_segments = 0;
  // Audio from before the stream's video started, never published (the
  // store's start alignment).
  uint64_t parts_before_start = 0;
};

class RenditionWindow {
 public:
  // Its first segment takes @first_msn plus the muxer's number; discontinuity
  // sequence numbers count from @first_discontinuity_sequence. Init
  // generations count from @first_msn too (below 2^31 until 2043 with clock
  // numbering): a window opened again later, here or on another node, never
  // names different bytes init{gen}.mp4 that a cache may hold for a day.
  explicit RenditionWindow (int64_t playlist_length_ns, uint64_t first_msn = 0,
                            uint64_t first_discontinuity_sequence = 0,
                            bool starts_with_discontinuity = false)
      : playlist_length_ns_ (playlist_length_ns), first_msn_ (first_msn),
        dropped_discontinuities_ (first_discontinuity_sequence),
        starts_with_discontinuity_ (starts_with_discontinuity),
        init_generation_ (static_cast<uint32_t> (first_msn))
  {}

  // A different init segment from the current one starts a new generation and
  // makes the next segment a discontinuity. Returns the current generation.
  uint32_t set_init (Bytes init);
  // The next segment follows a gap (timestamps jumped, the feed reconnected).
  void mark_discontinuity () { pending_discontinuity_ = true; }

  // Adds a part; returns where it was stored, or nothing when it was dropped.
  std::optional<PartPosition> add_part (const PartInput &in, const StreamTiming &timing);
  // EXT-X-ENDLIST: the last segment is complete and nothing more comes.
  void finish (const StreamTiming &timing);

  bool ended () const { return ended_; }
  bool has_parts () const { return !segments_.empty (); }
  // The newest published part; only meaningful when has_parts ().
  PartPosition last_position () const;
  // How far publication has come, for blocking requests: the newest part,
  // or {its msn, kSegmentComplete} once its segment is complete.
  PartPosition reached () const;
  // Unix time of the newest part's first frame: its segment's program
  // date-time plus the parts before it. Nothing without parts.
  std::optional<int64_t> newest_part_wallclock_ns () const;
  // The part EXT-X-PRELOAD-HINT names, while the rendition is live.
  std::optional<PartPosition> preload_hint () const;

  const std::deque<SegmentRecord> &segments () const { return segments_; }
  // Index in segments () of the first segment the playlist lists; those before
  // it are no longer listed but still fetchable.
  size_t first_listed_index () const;
  // EXT-X-DISCONTINUITY-SEQUENCE for a playlist starting at first_listed_index ().
  uint64_t discontinuity_sequence () const;
  // Media time of the live edge (end of the newest part).
  int64_t edge_ns () const { return segments_.empty () ? 0 : segments_.back ().end_ns (); }

  // Longest part and segment seen, in printed units, for StreamTiming.
  int64_t max_part_units () const { return max_part_units_; }
  int64_t max_segment_units () const { return max_segment_units_; }

  // Lookups for serving. Parts stay fetchable for six target durations behind
  // the edge (listed for three), segments while they are in segments ().
  std::optional<Bytes> init (std::optional<uint32_t> generation) const;
  uint32_t init_generation () const { return init_generation_; }
  bool has_init () const { return has_init_; }
  std::optional<std::vector<Bytes>> segment (uint64_t msn) const;
  std::optional<Bytes> part (PartPosition pos, const StreamTiming &timing) const;

  const RenditionCounters &counters () const { return counters_; }
  void count_long_part () { counters_.long_parts++; }

 private:
  void complete_back (const StreamTiming &timing);
  void trim ();
  const SegmentRecord *find_segment (uint64_t msn) const;

  int64_t playlist_length_ns_;
  uint64_t first_msn_;
  uint64_t dropped_discontinuities_; // discontinuities no longer listed, plus the base
  bool starts_with_discontinuity_;
  std::deque<SegmentRecord> segments_;
  // Init segments by generation, kept while a segment refers to them.
  std::deque<std::pair<uint32_t, Bytes>> inits_;
  uint32_t init_generation_ = 0;
  bool has_init_ = false;
  bool pending_discontinuity_ = false;
  bool ended_ = false;
  uint64_t last_input_msn_ = 0;
  int64_t max_part_units_ = 0;
  int64_t max_segment_units_ = 0;
  RenditionCounters counters_;
};

} // namespace mirror
