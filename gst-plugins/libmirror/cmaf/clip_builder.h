// SPDX-License-Identifier: LGPL-2.1-or-later
// One MP4 file from recorded CMAF: the tracks' init segments merged into one
// moov (a video track and an audio track side by side, with mehd giving the
// whole duration, so that players know the length before reading on), then
// every track's fragments interleaved in time order. Only the moof boxes are
// copied, to give them one rising sequence number, their track's new ID and
// decode times counted from the clip's start (the lead track's first
// fragment: what another track has before it is left out). The media data
// itself is never copied: the body is slices of the segments handed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/bytes.h"

namespace mirror {

struct ClipSegment {
  Bytes bytes; // its parts as recorded: [styp] moof mdat, ...
  int64_t wallclock_ns = 0;
  int64_t duration_ns = 0;
};

struct ClipTrack {
  Bytes init; // ftyp + moov of one track
  std::vector<ClipSegment> segments;
};

struct Clip {
  std::vector<Bytes> body;
  uint64_t size = 0;
  int64_t duration_ns = 0;
};

// The first track leads (its ftyp, its duration). nullopt with *error when
// an init or a segment is not the CMAF it should be.
std::optional<Clip> build_clip (const std::vector<ClipTrack> &tracks, std::string *error);

} // namespace mirror
