// SPDX-License-Identifier: LGPL-2.1-or-later
#include "log.h"

#include <cstdio>

namespace mirror::daemon {

namespace {

LogLevel threshold = LogLevel::kInfo;

LogLevel
level_of (GLogLevelFlags flags)
{
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return LogLevel::kError;
  if (flags & G_LOG_LEVEL_WARNING)
    return LogLevel::kWarn;
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return LogLevel::kInfo;
  return LogLevel::kDebug;
}

const char *
level_name (LogLevel level)
{
  switch (level) {
  case LogLevel::kDebug:
    return "DEBUG";
  case LogLevel::kInfo:
    return "INFO";
  case LogLevel::kWarn:
    return "WARN";
  case LogLevel::kError:
    return "ERROR";
  }
  return "?";
}

GLogWriterOutput
write_line (GLogLevelFlags flags, const GLogField *fields, gsize n_fields, gpointer)
{
  LogLevel level = level_of (flags);
  if (level < threshold)
    return G_LOG_WRITER_HANDLED;
  const char *domain = "mirrord";
  const char *message = "";
  for (gsize i = 0; i < n_fields; i++) {
    if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
      domain = static_cast<const char *> (fields[i].value);
    else if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      message = static_cast<const char *> (fields[i].value);
  }
  GDateTime *now = g_date_time_new_now_utc ();
  char *stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S.%fZ");
  // %f gives microseconds; milliseconds are enough for a log.
  std::string ts = stamp;
  if (ts.size () > 24)
    ts = ts.substr (0, 23) + "Z";
  fprintf (stderr, "%s %-5s %s: %s\n", ts.c_str (), level_name (level), domain, message);
  fflush (stderr);
  g_free (stamp);
  g_date_time_unref (now);
  return G_LOG_WRITER_HANDLED;
}

} // namespace

std::optional<LogLevel>
log_level_from_string (const std::string &text)
{
  if (text == "debug")
    return LogLevel::kDebug;
  if (text == "info")
    return LogLevel::kInfo;
  if (text == "warn" || text == "warning")
    return LogLevel::kWarn;
  if (text == "error")
    return LogLevel::kError;
  return std::nullopt;
}

void
install_log_writer (LogLevel level)
{
  threshold = level;
  g_log_set_writer_func (write_line, nullptr, nullptr);
}

} // namespace mirror::daemon
