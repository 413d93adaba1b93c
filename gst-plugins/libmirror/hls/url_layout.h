// SPDX-License-Identifier: LGPL-2.1-or-later
// The URL layout of one stream's LL-HLS, under /live/{stream}/:
//
//   index.m3u8                         multivariant playlist
//   {rendition}.m3u8                   media playlist
//   {rendition}/init{gen}.mp4          init segment; gen counts caps changes, so a
//                                      new init never hides behind a cached URI
//   {rendition}/init.mp4               alias of the newest init segment
//   {rendition}/seg{msn}.m4s           media segment
//   {rendition}/part{msn}.{part}.m4s   partial segment
//   {rendition}/dvr{period}.mp4        a recorded period (unix s of its start), whole
//                                      or in Range requests
//   {rendition}/dvr{period}-{offset}-{length}.m4s (.mp4: an init segment)
//                                      those bytes of it: what time-shifted
//                                      playlists name (URLs of their own, not
//                                      EXT-X-BYTERANGE: FFmpeg 5.1 cannot seek in
//                                      byte-range fMP4 playlists, and caches key
//                                      on URLs; media extensions, since FFmpeg's
//                                      HLS demuxer loads no others)
//   clip.mp4                           an MP4 of a recorded range
//   dvr.json                           what is recorded: {"start", "end"} (unix s)
//
// Playlists name everything relative to the stream folder, so the same text is
// right behind any prefix or host.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mirror {

enum class HlsObjectKind {
  kMultivariant,
  kMediaPlaylist,
  kInit,
  kSegment,
  kPart,
  kDvrData,
  kClip,
  kDvrWindow,
};

struct HlsObjectRef {
  HlsObjectKind kind = HlsObjectKind::kMultivariant;
  std::string rendition;
  // kInit: the generation, or none for the init.mp4 alias.
  std::optional<uint32_t> init_generation;
  uint64_t msn = 0;
  uint32_t part = 0;
  int64_t period_s = 0; // kDvrData
  // kDvrData: a piece of the period file (length 0: all of it).
  uint64_t offset = 0;
  uint64_t length = 0;
  bool init_piece = false; // .mp4: an init segment
};

std::string hls_media_playlist_uri (std::string_view rendition);
std::string hls_init_uri (std::string_view rendition, uint32_t generation);
std::string hls_segment_uri (std::string_view rendition, uint64_t msn);
std::string hls_part_uri (std::string_view rendition, uint64_t msn, uint32_t part);
std::string hls_dvr_data_uri (std::string_view rendition, int64_t period_s);
std::string hls_dvr_piece_uri (std::string_view rendition, int64_t period_s, uint64_t offset,
                               uint64_t length, bool init);

// Parses a path relative to /live/{stream}/ ("video.m3u8", "video/seg3.m4s").
// Rendition names are [A-Za-z0-9_-]+, so nothing else can escape the folder.
std::optional<HlsObjectRef> parse_hls_object_path (std::string_view path);

bool is_valid_rendition_name (std::string_view name);

// Calls fn (key, value) for each "key=value" of a query string, in order,
// values as sent (not percent-decoded); "key" alone has an empty value.
void
for_each_query_param (std::string_view query,
                      const std::function<void (std::string_view key, std::string_view value)> &fn);

const char *hls_content_type (HlsObjectKind kind);

} // namespace mirror
