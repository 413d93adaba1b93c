// SPDX-License-Identifier: LGPL-2.1-or-later
// LL-HLS media playlist text (RFC 8216bis, protocol version 9 because delta
// updates use EXT-X-SKIP; EXT-X-MAP alone would need 6). Pure: it renders a
// RenditionWindow as it is; the StreamStore decides when and caches the text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hls/hls_timing.h"
#include "hls/part_position.h"
#include "hls/rendition_window.h"

namespace mirror {

constexpr int kHlsPlaylistVersion = 9;

struct RenditionReport {
  std::string rendition;
  PartPosition last;
};

struct MediaPlaylistInput {
  std::string_view rendition;
  const RenditionWindow *window = nullptr;
  StreamTiming timing;
  std::vector<RenditionReport> reports; // siblings with media, not this one
  bool delta = false;                   // the client asked _HLS_skip=YES
};

std::string render_media_playlist (const MediaPlaylistInput &in);

// How many listed segments a delta update skips: those that start more than
// CAN-SKIP-UNTIL before the live edge.
size_t skippable_segments (const RenditionWindow &window, const StreamTiming &timing);

} // namespace mirror
