// SPDX-License-Identifier: LGPL-2.1-or-later
#include "log.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>

namespace mirror::daemon {

namespace {

LogLevel threshold = LogLevel::kInfo;

// Per stream, its last lines; bounded in lines per stream and in streams.
constexpr size_t kLinesPerStream = 30;
constexpr size_t kStreamsKept = 512;
std::mutex recent_lock;
std::map<std::string, std::deque<StreamLogLine>> recent;
std::deque<std::string> recent_order; // ids by first line, for eviction

// The stream a line is about, if it names one.
std::string
stream_named (const char *message)
{
  std::string_view m (message);
  if (m.rfind ("stream ", 0) == 0) {
    auto colon = m.find (':', 7);
    auto space = m.find (' ', 7);
    if (colon != std::string_view::npos && (space == std::string_view::npos || colon < space))
      return std::string (m.substr (7, colon - 7));
  }
  auto at = m.find ("stream '");
  if (at != std::string_view::npos) {
    auto end = m.find ('\'', at + 8);
    if (end != std::string_view::npos)
      return std::string (m.substr (at + 8, end - at - 8));
  }
  return {};
}

void
remember (const std::string &ts, LogLevel level, const char *message);

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
  remember (ts, level, message);
  g_free (stamp);
  g_date_time_unref (now);
  return G_LOG_WRITER_HANDLED;
}

void
remember (const std::string &ts, LogLevel level, const char *message)
{
  const std::string id = stream_named (message);
  if (id.empty () || id.size () > 256)
    return;
  std::lock_guard<std::mutex> lock (recent_lock);
  auto [it, added] = recent.try_emplace (id);
  if (added) {
    recent_order.push_back (id);
    if (recent_order.size () > kStreamsKept) {
      recent.erase (recent_order.front ());
      recent_order.pop_front ();
    }
  }
  it->second.push_back ({ ts, level_name (level), message });
  if (it->second.size () > kLinesPerStream)
    it->second.pop_front ();
}

} // namespace

std::vector<StreamLogLine>
stream_log_lines (const std::string &id)
{
  std::lock_guard<std::mutex> lock (recent_lock);
  auto it = recent.find (id);
  if (it == recent.end ())
    return {};
  return { it->second.begin (), it->second.end () };
}

void
forget_stream_log (const std::string &id)
{
  std::lock_guard<std::mutex> lock (recent_lock);
  if (recent.erase (id))
    recent_order.erase (std::find (recent_order.begin (), recent_order.end (), id));
}

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
