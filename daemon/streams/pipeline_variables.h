// The ${variables} every pipeline description can use, from the config and
// the stream: the same set for mirrord and for `mirrord render-pipeline`.
#pragma once

#include <map>
#include <string>

namespace mirror::daemon {

struct Config;

// stream_id, uri (default: this node's SRT listener for the id), ring_size,
// reconnect_window, segment_duration, part_duration (times in ns), plus
// extra, which wins.
std::map<std::string, std::string>
pipeline_variables (const Config &config, const std::string &stream_id, const std::string &uri,
                    const std::map<std::string, std::string> &extra);

} // namespace mirror::daemon
