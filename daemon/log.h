// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrord's log: one line per event on stderr, "TIME LEVEL domain: message",
// filtered by monitoring.log_level / --log-level for every GLib log domain.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <glib.h>

namespace mirror::daemon {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

std::optional<LogLevel> log_level_from_string (const std::string &text);
void install_log_writer (LogLevel threshold);

// The last lines written about one stream (those that name it: "stream ID:
// ..." from mirrord, "... stream 'ID' ..." from the ingest hubs), oldest
// first, for the console and GET /api/v1/streams/{id}.
struct StreamLogLine {
  std::string time; // as written: 2026-12-06T23:10:00.123Z
  std::string level;
  std::string message;
};
std::vector<StreamLogLine> stream_log_lines (const std::string &id);
// A stream gone: its lines go too.
void forget_stream_log (const std::string &id);

#define log_debug(...) g_log ("mirrord", G_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) g_log ("mirrord", G_LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) g_log ("mirrord", G_LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) g_log ("mirrord", G_LOG_LEVEL_CRITICAL, __VA_ARGS__)

} // namespace mirror::daemon
