// SPDX-License-Identifier: LGPL-2.1-or-later
// A transcoding ladder as the config and mirrortranscodebin's `renditions`
// property write it: "360p:640x360@400k,720p:1280x720@2.5M,source". Each
// rung is NAME:WIDTHxHEIGHT@BITRATE (bitrate in bit/s with an optional k/M
// suffix, SI) or the word `source`: the input passed through untouched.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mirror {

struct LadderRung {
  std::string name; // a URL path segment: [A-Za-z0-9_-]+
  bool source = false;
  int width = 0;       // even, 16..7680
  int height = 0;      // even, 16..4320
  int64_t bitrate = 0; // bit/s, 100k..1G
};

// nullopt with *error saying which rung is wrong and why. Names must be
// unique; "index" and "audio" are taken by the playlists.
std::optional<std::vector<LadderRung>> parse_ladder (std::string_view spec, std::string *error);

// A transcode's ladder: spec parsed, or, when spec is blank, one rung of
// width x height at bitrate (bit/s) named "<height>p" (mirrortranscodebin's
// width, height and bitrate properties). nullopt with *error as above, or
// naming an odd size (4:2:0 needs even ones).
std::optional<std::vector<LadderRung>> ladder_or_default (std::string_view spec, int width,
                                                          int height, int64_t bitrate,
                                                          std::string *error);

// The spec again, normalised ("360p:640x360@400000").
std::string format_ladder (const std::vector<LadderRung> &rungs);

// Whether any rung needs a decode (a transcoding session).
bool ladder_transcodes (const std::vector<LadderRung> &rungs);

} // namespace mirror
