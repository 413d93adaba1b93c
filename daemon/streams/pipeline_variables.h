// SPDX-License-Identifier: LGPL-2.1-or-later
// The ${variables} every pipeline description can use, from the config and
// the stream: the same set for mirrord and for `mirrord render-pipeline`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "transcode/ladder.h"

namespace mirror::daemon {

struct Config;

// The renditions every stream gets: transcoding.renditions, else one rung
// from transcoding.output_*, or just `source` when transcoding is off.
std::vector<LadderRung> configured_ladder (const Config &config);

// stream_id, uri (default: this node's SRT listener for the id), ring_size,
// reconnect_window, segment_duration, part_duration (times in ns);
// renditions (the ladder for mirrortranscodebin), rendition_branches (one
// "transcode.src_N ! mirrorcmafmux ! mirrorh3sink" branch per rung, for a
// mirrortranscodebin named transcode), x264_preset, x264_tune,
// audio_bitrate (bit/s), gpu_max_sessions, decoder, encoder (auto, or cpu when
// transcoding.hardware is cpu); plus extra, which wins.
std::map<std::string, std::string>
pipeline_variables (const Config &config, const std::string &stream_id, const std::string &uri,
                    const std::map<std::string, std::string> &extra);

} // namespace mirror::daemon
