// SPDX-License-Identifier: LGPL-2.1-or-later
// Time-shifted playlists over the DVR recording: a VOD playlist for a range
// that has ended, a growing EVENT playlist (blocking reload, delta updates)
// for one that has not. Their segments are pieces of the recorder's period
// files (URLs that name the bytes: url_layout.h), each spanning several
// recorded segments (up to the group
// target, six seconds), so a 24-hour playlist stays a few MB: a group never
// crosses a period file, an init change, a discontinuity or a hole, and
// starts on an independent segment wherever the recording allows. Pure: the
// caller reads the index and decides VOD or EVENT.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mirror {

// The recorded segments' target length in a time-shifted playlist.
inline constexpr int64_t kDvrGroupTargetNs = 6LL * 1000000000;

// One recorded segment, from the index.
struct DvrSegmentInput {
  int64_t period_s = 0; // its period file
  uint64_t msn = 0;
  uint32_t merged = 1; // packaged segments in it: the next follows at msn + merged
  int64_t wallclock_ns = 0;
  int64_t duration_ns = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t init_offset = 0; // the init segment it plays with, same file
  uint64_t init_length = 0;
  bool independent = false;
  bool discontinuity = false;
  bool gap = false;
};

// One segment of the playlist.
struct DvrGroup {
  int64_t period_s = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t init_offset = 0;
  uint64_t init_length = 0;
  int64_t wallclock_ns = 0;
  int64_t duration_ns = 0;
  bool independent = false;
  bool discontinuity = false; // EXT-X-DISCONTINUITY before it
  size_t segments = 0;        // recorded segments in it
};

// Groups @segments (in time order). A group is closed when the next
// segment does not fit in it; the last one only when @tail_complete (no
// more segments will come after it), so a growing playlist never changes a
// segment it has listed.
std::vector<DvrGroup> group_dvr_segments (const std::vector<DvrSegmentInput> &segments,
                                          int64_t target_ns, bool tail_complete);

struct DvrPlaylistInput {
  std::string_view rendition;
  const std::vector<DvrGroup> *groups = nullptr;
  bool event = false; // EXT-X-PLAYLIST-TYPE:EVENT (else VOD, ended)
  bool ended = false; // EVENT: EXT-X-ENDLIST
  bool delta = false; // EVENT: the client asked _HLS_skip=YES
  int64_t target_ns = kDvrGroupTargetNs;
};

// The TARGETDURATION a playlist of @groups states.
int64_t dvr_target_duration_s (const std::vector<DvrGroup> &groups, int64_t target_ns);

std::string render_dvr_playlist (const DvrPlaylistInput &in);

} // namespace mirror
