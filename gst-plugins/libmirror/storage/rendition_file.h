// SPDX-License-Identifier: LGPL-2.1-or-later
// What the multivariant playlist says about a recorded rendition (codecs,
// size, bandwidth...), kept beside its period files as rendition.json, so
// that a time-shifted multivariant playlist can be written after the stream
// has ended or mirrord has restarted.
#pragma once

#include <optional>
#include <string>

#include "hls/multivariant.h"

namespace mirror {

inline constexpr const char *kRenditionFileName = "rendition.json";

// Written to a temporary file and renamed over @path; false with *error.
bool write_rendition_info (const std::string &path, const RenditionInfo &info, std::string *error);
std::optional<RenditionInfo> read_rendition_info (const std::string &path);

} // namespace mirror
