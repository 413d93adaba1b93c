// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/dvr_range.h"

#include <charconv>
#include <cinttypes>
#include <cstdio>

#include <glib.h>

#include "hls/url_layout.h"

namespace mirror {

namespace {

constexpr int64_t kNsPerS = 1000000000;
// The latest whole second an int64 of nanoseconds holds (2262-04-11): later
// times are malformed, as are times before 1970 (Unix seconds have no sign).
constexpr int64_t kMaxSeconds = INT64_MAX / kNsPerS - 1;

// Percent-decoding of a query value ("2026-12-06T15%3A00%3A00%2B01%3A00"),
// '+' kept as '+': a time zone, which browsers send encoded anyway.
std::optional<std::string>
unescape (std::string_view value)
{
  std::string out;
  for (size_t i = 0; i < value.size (); i++) {
    if (value[i] != '%') {
      out += value[i];
      continue;
    }
    if (i + 2 >= value.size () || !g_ascii_isxdigit (value[i + 1])
        || !g_ascii_isxdigit (value[i + 2]))
      return std::nullopt;
    out += char (g_ascii_xdigit_value (value[i + 1]) * 16 + g_ascii_xdigit_value (value[i + 2]));
    i += 2;
  }
  return out;
}

// "1765029600" or "1765029600.25": Unix seconds, at most 9 decimals.
std::optional<int64_t>
parse_unix_seconds (std::string_view s)
{
  auto dot = s.find ('.');
  std::string_view whole = s.substr (0, dot);
  int64_t seconds = 0;
  if (whole.empty () || whole.size () > 11)
    return std::nullopt;
  auto [end, ec] = std::from_chars (whole.data (), whole.data () + whole.size (), seconds);
  if (ec != std::errc () || end != whole.data () + whole.size () || seconds < 0
      || seconds > kMaxSeconds)
    return std::nullopt;
  int64_t ns = 0;
  if (dot != std::string_view::npos) {
    std::string_view frac = s.substr (dot + 1);
    if (frac.empty () || frac.size () > 9)
      return std::nullopt;
    for (size_t i = 0; i < 9; i++) {
      char c = i < frac.size () ? frac[i] : '0';
      if (c < '0' || c > '9')
        return std::nullopt;
      ns = ns * 10 + (c - '0');
    }
  }
  return seconds * kNsPerS + ns;
}

std::optional<int64_t>
parse_iso8601 (const std::string &s)
{
  // A date alone is midnight UTC.
  std::string text = s;
  if (text.size () == 10 && text[4] == '-' && text[7] == '-')
    text += "T00:00:00Z";
  if (text.size () < 19 || (text[10] != 'T' && text[10] != 't' && text[10] != ' '))
    return std::nullopt;
  GTimeZone *utc = g_time_zone_new_utc ();
  GDateTime *dt = g_date_time_new_from_iso8601 (text.c_str (), utc);
  g_time_zone_unref (utc);
  if (!dt)
    return std::nullopt;
  const int64_t seconds = g_date_time_to_unix (dt);
  const int64_t us = g_date_time_get_microsecond (dt);
  g_date_time_unref (dt);
  if (seconds < 0 || seconds > kMaxSeconds)
    return std::nullopt;
  return seconds * kNsPerS + us * 1000;
}

std::string
format_time (int64_t ns)
{
  char out[48];
  if (ns % kNsPerS == 0) {
    std::snprintf (out, sizeof out, "%" PRId64, ns / kNsPerS);
  } else {
    std::snprintf (out, sizeof out, "%" PRId64 ".%09" PRId64, ns / kNsPerS, ns % kNsPerS);
    // No trailing zeros in the fraction.
    size_t n = std::char_traits<char>::length (out);
    while (out[n - 1] == '0')
      out[--n] = '\0';
  }
  return out;
}

} // namespace

std::optional<int64_t>
parse_dvr_time (std::string_view value)
{
  auto text = unescape (value);
  if (!text || text->empty () || text->size () > 64)
    return std::nullopt;
  if (text->find_first_not_of ("0123456789.") == std::string::npos)
    return parse_unix_seconds (*text);
  return parse_iso8601 (*text);
}

std::optional<DvrRange>
parse_dvr_range (std::string_view query, int64_t now_ns, DvrRangeError *error)
{
  DvrRange range;
  std::optional<std::string_view> start_text, end_text;
  std::optional<std::string> twice;
  for_each_query_param (query, [&] (std::string_view key, std::string_view value) {
    if (key != "start" && key != "end")
      return;
    auto &slot = key == "start" ? start_text : end_text;
    if (slot && !twice)
      twice = std::string (key);
    slot = value;
  });
  if (twice) {
    *error = { *twice, *twice + " is given twice" };
    return std::nullopt;
  }
  if (!start_text && !end_text)
    return range;
  range.requested = true;
  auto bad_value = [&] (const char *name, std::string_view value) {
    *error = { name, std::string (name) + "=" + std::string (value.substr (0, 80))
                         + " is neither an ISO 8601 date-time (2026-12-06T14:00:00Z) nor Unix "
                           "seconds" };
    return std::nullopt;
  };
  if (!start_text) {
    *error = { "start", "end= needs a start= (time-shifted playback starts somewhere)" };
    return std::nullopt;
  }
  auto start = parse_dvr_time (*start_text);
  if (!start)
    return bad_value ("start", *start_text);
  range.start_ns = *start;
  if (end_text) {
    auto end = parse_dvr_time (*end_text);
    if (!end)
      return bad_value ("end", *end_text);
    range.end_ns = *end;
  }
  if (range.start_ns > now_ns) {
    *error = { "start", "start=" + std::string (*start_text) + " is in the future" };
    return std::nullopt;
  }
  if (range.end_ns && *range.end_ns <= range.start_ns) {
    *error = { "end", "end=" + std::string (*end_text)
                          + " is not after start=" + std::string (*start_text) };
    return std::nullopt;
  }
  const int64_t until = range.end_ns ? *range.end_ns : now_ns;
  if (until - range.start_ns > kDvrMaxRangeNs) {
    *error = { range.end_ns ? "end" : "start",
               "the range from start=" + std::string (*start_text)
                   + (range.end_ns ? " to end=" + std::string (*end_text) : " to now")
                   + " is longer than 24 hours" };
    return std::nullopt;
  }
  return range;
}

std::string
format_dvr_range_query (const DvrRange &range)
{
  std::string out = "start=" + format_time (range.start_ns);
  if (range.end_ns)
    out += "&end=" + format_time (*range.end_ns);
  return out;
}

} // namespace mirror
