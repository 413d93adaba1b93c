// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrord's log: one line per event on stderr, "TIME LEVEL domain: message",
// filtered by monitoring.log_level / --log-level for every GLib log domain.
#pragma once

#include <optional>
#include <string>

#include <glib.h>

namespace mirror::daemon {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

std::optional<LogLevel> log_level_from_string (const std::string &text);
void install_log_writer (LogLevel threshold);

#define log_debug(...) g_log ("mirrord", G_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) g_log ("mirrord", G_LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) g_log ("mirrord", G_LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) g_log ("mirrord", G_LOG_LEVEL_CRITICAL, __VA_ARGS__)

} // namespace mirror::daemon
