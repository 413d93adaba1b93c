// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <json-glib/json-glib.h>

#include "streams/stream_manager.h"

namespace mirror::daemon {

// Adds the stream's fields to an open JSON object (builder inside begin_object).
void add_stream_members (JsonBuilder *b, const StreamView &view);
void add_stats_members (JsonBuilder *b, const StreamStats &stats);
// "dvr": what this node has recorded of stream @id (storage.dvr.*; nothing
// when it does not record). Reads the recording's directory: not cheap.
void add_dvr_members (JsonBuilder *b, const struct AdminContext &ctx, const std::string &id);
// RFC 3339 UTC with milliseconds, "" for 0.
std::string rfc3339_ms (int64_t unix_ms);

} // namespace mirror::daemon
