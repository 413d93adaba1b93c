// SPDX-License-Identifier: LGPL-2.1-or-later
// The multivariant playlist of one stream: one EXT-X-STREAM-INF per video
// rendition, audio renditions as an EXT-X-MEDIA group that every variant
// references (or as variants of their own when there is no video).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mirror {

enum class RenditionKind { kVideo, kAudio };

struct RenditionInfo {
  std::string name; // also its playlist name: {name}.m3u8
  RenditionKind kind = RenditionKind::kVideo;
  std::string codecs;     // RFC 6381, e.g. "avc1.64001f" or "mp4a.40.2"
  unsigned width = 0;     // video
  unsigned height = 0;    // video
  double frame_rate = 0;  // video, frames per second
  unsigned bandwidth = 0; // peak bits per second of this rendition alone
  // Its parts' target (the muxer's part duration on the frame grid), for
  // its media playlist's PART-TARGET; 0: the stream's.
  int64_t part_target_ns = 0;
  std::string language; // audio, BCP 47; may be empty

  bool operator== (const RenditionInfo &) const = default;
};

constexpr const char *kHlsAudioGroup = "audio";

// @uri_query, when not empty, is appended to every media playlist URI
// ("video.m3u8?start=..."): a time-shifted multivariant playlist.
std::string render_multivariant_playlist (const std::vector<RenditionInfo> &renditions,
                                          std::string_view uri_query = {});

} // namespace mirror
