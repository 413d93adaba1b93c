// SPDX-License-Identifier: LGPL-2.1-or-later
#include "llhls_playlist.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

namespace mirror::tools {
namespace {

// The value of key in an attribute list 'A=1,B="x,y",C=YES' (quotes
// stripped); empty when absent. Views into list: a load test parses
// thousands of playlists a second, so no copies and no maps.
std::string_view
attribute (std::string_view list, std::string_view key)
{
  size_t i = 0, n = list.size ();
  while (i < n) {
    while (i < n && list[i] == ' ')
      ++i;
    size_t eq = list.find ('=', i);
    if (eq == std::string_view::npos)
      return {};
    std::string_view name = list.substr (i, eq - i);
    std::string_view value;
    if (eq + 1 < n && list[eq + 1] == '"') {
      size_t close = list.find ('"', eq + 2);
      if (close == std::string_view::npos)
        close = n;
      value = list.substr (eq + 2, close - eq - 2);
      size_t comma = list.find (',', close);
      i = comma == std::string_view::npos ? n : comma + 1;
    } else {
      size_t comma = list.find (',', eq);
      size_t stop = comma == std::string_view::npos ? n : comma;
      value = list.substr (eq + 1, stop - eq - 1);
      i = stop + 1;
    }
    if (name == key)
      return value;
  }
  return {};
}

double
to_double (std::string_view v)
{
  char buf[64];
  size_t n = std::min (v.size (), sizeof buf - 1);
  memcpy (buf, v.data (), n);
  buf[n] = '\0';
  return strtod (buf, nullptr);
}

int64_t
to_int (std::string_view v)
{
  int64_t out = 0;
  for (char c : v) {
    if (c < '0' || c > '9')
      break;
    out = out * 10 + (c - '0');
  }
  return out;
}

// Exactly `digits` decimal digits at text[*pos], advancing; -1 if not.
int
fixed_digits (std::string_view text, size_t *pos, int digits)
{
  int v = 0;
  for (int k = 0; k < digits; ++k, ++*pos) {
    if (*pos >= text.size () || text[*pos] < '0' || text[*pos] > '9')
      return -1;
    v = v * 10 + (text[*pos] - '0');
  }
  return v;
}

bool
expect (std::string_view text, size_t *pos, char c)
{
  if (*pos < text.size () && (text[*pos] == c || (c == 'T' && text[*pos] == 't'))) {
    ++*pos;
    return true;
  }
  return false;
}

} // namespace

double
parse_program_date_time (const std::string &text)
{
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm), as RFC 3339 has it.
  std::string_view t = text;
  size_t p = 0;
  int y = fixed_digits (t, &p, 4);
  bool ok = y >= 0 && expect (t, &p, '-');
  int mo = ok ? fixed_digits (t, &p, 2) : -1;
  ok = mo >= 0 && expect (t, &p, '-');
  int d = ok ? fixed_digits (t, &p, 2) : -1;
  ok = d >= 0 && expect (t, &p, 'T');
  int h = ok ? fixed_digits (t, &p, 2) : -1;
  ok = h >= 0 && expect (t, &p, ':');
  int mi = ok ? fixed_digits (t, &p, 2) : -1;
  ok = mi >= 0 && expect (t, &p, ':');
  int sec = ok ? fixed_digits (t, &p, 2) : -1;
  if (sec < 0)
    return -1;
  double frac = 0, scale = 0.1;
  if (p < t.size () && t[p] == '.') {
    for (++p; p < t.size () && t[p] >= '0' && t[p] <= '9'; ++p, scale /= 10)
      frac += (t[p] - '0') * scale;
  }
  double offset = 0;
  if (p < t.size () && (t[p] == 'Z' || t[p] == 'z') && p + 1 == t.size ()) {
    offset = 0;
  } else if (p < t.size () && (t[p] == '+' || t[p] == '-')) {
    int sign = t[p] == '-' ? -1 : 1;
    ++p;
    int zh = fixed_digits (t, &p, 2);
    int zm = 0;
    if (zh >= 0 && p < t.size () && t[p] == ':')
      ++p;
    if (zh >= 0 && p < t.size ())
      zm = fixed_digits (t, &p, 2);
    if (zh < 0 || zm < 0 || p != t.size ())
      return -1;
    offset = sign * (zh * 3600.0 + zm * 60.0);
  } else {
    return -1; // no zone: not a point in time
  }
  tm tmv{};
  tmv.tm_year = y - 1900;
  tmv.tm_mon = mo - 1;
  tmv.tm_mday = d;
  tmv.tm_hour = h;
  tmv.tm_min = mi;
  tmv.tm_sec = sec;
  return (double)timegm (&tmv) + frac - offset;
}

std::optional<PartPosition>
mirror_part_position (const std::string &uri)
{
  size_t slash = uri.rfind ('/');
  std::string name = uri.substr (slash == std::string::npos ? 0 : slash + 1);
  long long msn = 0;
  int part = 0, consumed = 0;
  if (sscanf (name.c_str (), "part%lld.%d.m4s%n", &msn, &part, &consumed) == 2
      && (size_t)consumed == name.size ())
    return PartPosition{ msn, part };
  return std::nullopt;
}

std::optional<MediaPlaylist>
MediaPlaylist::parse (const std::string &text, std::string *error)
{
  MediaPlaylist pl;
  if (text.compare (0, 7, "#EXTM3U") != 0) {
    *error = "not a playlist (no #EXTM3U)";
    return std::nullopt;
  }
  PlaylistSegment *current = nullptr;
  std::string pending_pdt;
  int64_t next_msn = -1;
  bool expect_uri = false;
  int skipped = 0;

  auto open_segment = [&] {
    if (next_msn < 0)
      next_msn = pl.media_sequence + skipped;
    pl.segments.emplace_back ();
    current = &pl.segments.back ();
    current->msn = next_msn++;
    if (!pending_pdt.empty ())
      current->pdt = parse_program_date_time (pending_pdt);
    pending_pdt.clear ();
  };

  std::string_view all = text;
  size_t pos = 0;
  while (pos < all.size ()) {
    size_t eol = all.find ('\n', pos);
    std::string_view line
        = all.substr (pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? all.size () : eol + 1;
    while (!line.empty () && (line.back () == '\r' || line.back () == ' '))
      line.remove_suffix (1);
    if (line.empty ())
      continue;
    if (expect_uri && line[0] != '#') {
      current->uri = line;
      current->complete = true;
      current = nullptr;
      expect_uri = false;
      continue;
    }
    if (line[0] != '#')
      continue;
    size_t colon = line.find (':');
    std::string_view tag = line.substr (0, colon);
    std::string_view value
        = colon == std::string_view::npos ? std::string_view{} : line.substr (colon + 1);
    if (tag == "#EXT-X-PART") {
      if (current == nullptr)
        open_segment ();
      PlaylistPart p;
      p.msn = current->msn;
      p.index = (int)current->parts.size ();
      p.duration = to_double (attribute (value, "DURATION"));
      p.uri = attribute (value, "URI");
      p.independent = attribute (value, "INDEPENDENT") == "YES";
      p.start_offset = current->parts.empty ()
                           ? 0
                           : current->parts.back ().start_offset + current->parts.back ().duration;
      current->parts.push_back (std::move (p));
    } else if (tag == "#EXT-X-PROGRAM-DATE-TIME") {
      if (current != nullptr && current->parts.empty ())
        current->pdt = parse_program_date_time (std::string (value));
      else
        pending_pdt = value;
    } else if (tag == "#EXTINF") {
      if (current == nullptr)
        open_segment ();
      current->duration = to_double (value);
      expect_uri = true;
    } else if (tag == "#EXT-X-MEDIA-SEQUENCE") {
      pl.media_sequence = to_int (value);
    } else if (tag == "#EXT-X-TARGETDURATION") {
      pl.target_duration = to_double (value);
    } else if (tag == "#EXT-X-PART-INF") {
      pl.part_target = to_double (attribute (value, "PART-TARGET"));
    } else if (tag == "#EXT-X-SERVER-CONTROL") {
      pl.can_block_reload = attribute (value, "CAN-BLOCK-RELOAD") == "YES";
    } else if (tag == "#EXT-X-SKIP") {
      skipped = (int)to_int (attribute (value, "SKIPPED-SEGMENTS"));
    } else if (tag == "#EXT-X-MAP") {
      pl.map_uri = attribute (value, "URI");
    } else if (tag == "#EXT-X-PRELOAD-HINT") {
      if (attribute (value, "TYPE") == "PART")
        pl.preload_hint_uri = attribute (value, "URI");
    } else if (tag == "#EXT-X-ENDLIST") {
      pl.ended = true;
    } else if (tag == "#EXT-X-STREAM-INF") {
      *error = "a multivariant playlist, not a media playlist";
      return std::nullopt;
    }
  }
  // Segments without their own date continue the one before.
  for (size_t i = 1; i < pl.segments.size (); ++i) {
    auto &prev = pl.segments[i - 1];
    if (pl.segments[i].pdt < 0 && prev.pdt >= 0 && prev.complete)
      pl.segments[i].pdt = prev.pdt + prev.duration;
  }
  return pl;
}

const PlaylistSegment *
MediaPlaylist::segment (int64_t msn) const
{
  for (auto &s : segments)
    if (s.msn == msn)
      return &s;
  return nullptr;
}

const PlaylistPart *
MediaPlaylist::find_part (PartPosition pos) const
{
  for (auto &s : segments)
    if (s.msn == pos.first)
      return pos.second >= 0 && (size_t)pos.second < s.parts.size () ? &s.parts[pos.second]
                                                                     : nullptr;
  return nullptr;
}

double
MediaPlaylist::part_end_time (const PlaylistPart &part) const
{
  for (auto &s : segments)
    if (s.msn == part.msn)
      return s.pdt < 0 ? -1 : s.pdt + part.start_offset + part.duration;
  return -1;
}

PartPosition
MediaPlaylist::next_part_position () const
{
  if (segments.empty ())
    return { media_sequence, 0 };
  auto &last = segments.back ();
  if (last.complete)
    return { last.msn + 1, 0 };
  return { last.msn, (int)last.parts.size () };
}

std::optional<PartPosition>
MediaPlaylist::last_part_position () const
{
  for (auto it = segments.rbegin (); it != segments.rend (); ++it)
    if (!it->parts.empty ())
      return PartPosition{ it->msn, (int)it->parts.size () - 1 };
  return std::nullopt;
}

std::vector<const PlaylistPart *>
MediaPlaylist::parts_after (PartPosition pos) const
{
  std::vector<const PlaylistPart *> out;
  for (auto &s : segments)
    for (auto &p : s.parts)
      if (PartPosition{ p.msn, p.index } > pos)
        out.push_back (&p);
  return out;
}

} // namespace mirror::tools
