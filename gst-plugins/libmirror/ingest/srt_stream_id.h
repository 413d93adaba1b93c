// SPDX-License-Identifier: LGPL-2.1-or-later
// How a caller's SRT streamid becomes a Mirror stream id, with the reason
// when it cannot (the hub logs it and sends it nowhere else).
#pragma once

#include <string>

namespace mirror {

// Ids end up in URLs and file names: 1 to 256 bytes of [A-Za-z0-9._~-],
// never "." or "..".
bool is_valid_srt_resource_name (const std::string &name, std::string *why);

// parse_srt_stream_id () with the reason for a nullopt in *why.
bool parse_srt_stream_id_checked (const std::string &raw, std::string *id, std::string *why);

} // namespace mirror
