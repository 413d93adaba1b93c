// SPDX-License-Identifier: LGPL-2.1-or-later
// Just enough of an LL-HLS media playlist for a client that follows the live
// edge: segments with their PROGRAM-DATE-TIME, parts with their place in the
// segment, the preload hint, the init section. The full rule checker is
// tests/integration/llhls.py; this one only has to find its way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mirror::tools {

struct PlaylistPart {
  int64_t msn = 0;
  int index = 0;
  double duration = 0;
  double start_offset = 0; // seconds from its segment's start
  std::string uri;
  bool independent = false;
};

struct PlaylistSegment {
  int64_t msn = 0;
  bool complete = false; // has its EXTINF and URI
  double duration = 0;
  std::string uri;
  double pdt = -1; // POSIX seconds of its first sample; < 0: unknown
  std::vector<PlaylistPart> parts;
};

using PartPosition = std::pair<int64_t, int>; // (msn, part index)

struct MediaPlaylist {
  int64_t media_sequence = 0;
  double target_duration = 0;
  double part_target = 0;
  bool can_block_reload = false;
  bool ended = false;
  std::string map_uri;
  std::string preload_hint_uri; // TYPE=PART; empty when none
  std::vector<PlaylistSegment> segments;

  // nullopt and *error for text that is not a media playlist.
  static std::optional<MediaPlaylist> parse (const std::string &text, std::string *error);

  const PlaylistSegment *segment (int64_t msn) const;
  const PlaylistPart *find_part (PartPosition pos) const;
  // Wall clock (POSIX s) at which the part's last sample ends: its segment's
  // PROGRAM-DATE-TIME, plus the parts before it, plus its own duration.
  // This is when the part can exist at the earliest; < 0 when unknown.
  double part_end_time (const PlaylistPart &part) const;
  // Where the next part goes, by the playlist's own structure (the part the
  // preload hint names).
  PartPosition next_part_position () const;
  std::optional<PartPosition> last_part_position () const;
  // Parts listed after pos, in order.
  std::vector<const PlaylistPart *> parts_after (PartPosition pos) const;
};

// "2024-11-21T13:12:00.123Z" or with a +hh:mm offset -> POSIX seconds; < 0
// when it does not parse.
double parse_program_date_time (const std::string &text);

// Mirror's part names: part{msn}.{part}.m4s -> (msn, part).
std::optional<PartPosition> mirror_part_position (const std::string &uri);

} // namespace mirror::tools
