// SPDX-License-Identifier: LGPL-2.1-or-later
// Signed playback URLs (server.playback_token_key): a token grants one
// stream's playlists, init sections, parts and segments until it expires.
//
//   token = <expiry, Unix seconds> "." <hex HMAC-SHA256 (key, "<stream>:<expiry>")>
//
// A viewer opens /live/cam1/index.m3u8?token=...; every URI of the playlists
// it is given carries the same token (add_token_to_playlist), so hls.js,
// Safari, ffplay and any other player follow it without custom code. The
// Origin checks it before anything is held or read: a missing, malformed,
// expired or wrong token is a 403 that costs nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mirror {

class PlaybackTokens {
 public:
  enum class Verdict { kOk, kMissing, kMalformed, kExpired, kWrong };

  explicit PlaybackTokens (std::string key) : key_ (std::move (key)) {}

  std::string sign (std::string_view stream, int64_t expires_unix_s) const;
  Verdict check (std::string_view stream, std::string_view token, int64_t now_unix_s) const;
  // What a viewer is told for a verdict other than kOk.
  static const char *why (Verdict verdict);

 private:
  std::string mac (std::string_view stream, std::string_view expiry) const;

  std::string key_;
};

// The token= value of an URL query, as sent; empty if absent.
std::string_view playback_token_in (std::string_view query);

// @playlist with "token=<token>" added to every URI in it: URI lines and
// every URI="..." attribute (EXT-X-MAP, EXT-X-PART, EXT-X-PRELOAD-HINT,
// EXT-X-RENDITION-REPORT, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF...).
// @token must need no escaping (the Origin only echoes tokens it verified).
std::string add_token_to_playlist (std::string_view playlist, std::string_view token);

} // namespace mirror
