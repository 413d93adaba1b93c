// SPDX-License-Identifier: LGPL-2.1-or-later
// Publishes constructed media into a StreamStore: parts of chosen durations,
// segments of chosen part counts, a wall clock that advances with the media.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hls/stream_store.h"

namespace mirror::test {

constexpr int64_t kMs = 1000000;
constexpr int64_t kStartWallclock = 1795780800LL * 1000000000LL; // 2026-11-27T12:00:00Z

class Feed {
 public:
  Feed (StreamStore &store, std::string rendition, uint64_t first_msn = 0);

  // One part; the first of a segment is independent unless told otherwise.
  // last_in_segment: the muxer says the next part starts a new segment.
  PartPosition part (int64_t duration_ns, bool independent, bool last_in_segment = false);
  // A segment of parts, from the 30 fps clock: 100.0 and 99.9 ms alternately.
  void segment (int parts = 5);
  void segments (int n, int parts = 5);
  // Starts the next segment (the muxer's next msn) with its first part.
  PartPosition next_segment_part (int64_t duration_ns = 100 * kMs);

  uint64_t input_msn () const { return msn_; }
  // Unix ns of the next part's first frame.
  void set_wallclock (int64_t wallclock_ns) { wallclock_ = wallclock_ns; }
  void restart_numbering (uint64_t msn)
  {
    msn_ = msn;
    part_ = 0;
  }

 private:
  StreamStore &store_;
  std::string rendition_;
  uint64_t msn_;
  uint32_t part_ = 0;
  int64_t wallclock_ = kStartWallclock;
  int counter_ = 0;
};

// 30 fps on a 90 kHz clock, seen through millisecond timestamps: 3-frame
// parts come out as 100.0 or 99.9 ms.
inline int64_t
clock_part_ns (int i)
{
  return i % 2 ? 99900000 : 100000000;
}

StreamConfig default_config ();
RenditionInfo video_info (const std::string &name = "video");
RenditionInfo audio_info (const std::string &name = "audio");
Bytes fake_init (int n = 0);
// Adds the rendition video_info (name) and its init segment: false if
// either fails.
bool add_video (StreamStore &store, const std::string &name = "video");
// The same with audio_info (name).
bool add_audio (StreamStore &store, const std::string &name = "audio");

std::vector<std::string> lines_of (const std::string &text);
bool has_line (const std::string &text, const std::string &line);
int count_prefix (const std::string &text, const std::string &prefix);
int count_line (const std::string &text, const std::string &line);
// The number after @tag ("#EXT-X-MEDIA-SEQUENCE:") on its line; 0 without one.
uint64_t tag_number (const std::string &text, const std::string &tag);

} // namespace mirror::test
