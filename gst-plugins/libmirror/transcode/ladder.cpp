// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcode/ladder.h"

#include <charconv>
#include <set>

#include "hls/url_layout.h"

namespace mirror {

namespace {

bool
parse_int (std::string_view s, int64_t *out)
{
  auto [end, ec] = std::from_chars (s.data (), s.data () + s.size (), *out);
  return ec == std::errc () && end == s.data () + s.size ();
}

// "400k", "2.5M", "800000": bit/s.
bool
parse_bitrate (std::string_view s, int64_t *out)
{
  if (s.empty ())
    return false;
  int64_t scale = 1;
  char last = s.back ();
  if (last == 'k' || last == 'K')
    scale = 1000;
  else if (last == 'M' || last == 'm')
    scale = 1000000;
  if (scale != 1)
    s.remove_suffix (1);
  auto dot = s.find ('.');
  int64_t whole = 0, frac = 0, frac_scale = 1;
  if (!parse_int (s.substr (0, dot), &whole))
    return false;
  if (dot != std::string_view::npos) {
    std::string_view f = s.substr (dot + 1);
    if (f.empty () || f.size () > 6 || !parse_int (f, &frac))
      return false;
    for (size_t i = 0; i < f.size (); ++i)
      frac_scale *= 10;
  }
  *out = whole * scale + frac * scale / frac_scale;
  return true;
}

std::string_view
trim (std::string_view s)
{
  while (!s.empty () && s.front () == ' ')
    s.remove_prefix (1);
  while (!s.empty () && s.back () == ' ')
    s.remove_suffix (1);
  return s;
}

} // namespace

std::optional<std::vector<LadderRung>>
parse_ladder (std::string_view spec, std::string *error)
{
  std::vector<LadderRung> rungs;
  std::set<std::string> names;
  size_t index = 0;
  while (true) {
    auto comma = spec.find (',');
    std::string_view item = trim (spec.substr (0, comma));
    ++index;
    auto fail = [&] (const std::string &why) {
      *error = "rendition " + std::to_string (index) + " \"" + std::string (item) + "\": " + why;
      return std::nullopt;
    };
    LadderRung r;
    if (item == "source") {
      r.name = "source";
      r.source = true;
    } else {
      auto colon = item.find (':');
      auto x = item.find ('x', colon == std::string_view::npos ? 0 : colon);
      auto at = item.find ('@');
      if (colon == std::string_view::npos || x == std::string_view::npos
          || at == std::string_view::npos || !(colon < x && x < at))
        return fail ("expected NAME:WIDTHxHEIGHT@BITRATE (e.g. 360p:640x360@400k) or source");
      r.name = std::string (item.substr (0, colon));
      int64_t w = 0, h = 0;
      if (!parse_int (item.substr (colon + 1, x - colon - 1), &w)
          || !parse_int (item.substr (x + 1, at - x - 1), &h) || w < 16 || w > 7680 || h < 16
          || h > 4320 || w % 2 || h % 2)
        return fail ("the size must be even numbers, width 16..7680, height 16..4320");
      r.width = (int)w;
      r.height = (int)h;
      if (!parse_bitrate (item.substr (at + 1), &r.bitrate) || r.bitrate < 100000
          || r.bitrate > 1000000000)
        return fail ("the bitrate must be 100k..1000M (bit/s, k and M are SI)");
    }
    if (!is_valid_rendition_name (r.name) || r.name == "index" || r.name == "audio")
      return fail ("the name must be letters, digits, '-' or '_', and not index or audio");
    if (!names.insert (r.name).second)
      return fail ("the name " + r.name + " is used twice");
    rungs.push_back (std::move (r));
    if (comma == std::string_view::npos)
      break;
    spec.remove_prefix (comma + 1);
  }
  return rungs;
}

std::optional<std::vector<LadderRung>>
ladder_or_default (std::string_view spec, int width, int height, int64_t bitrate,
                   std::string *error)
{
  if (!trim (spec).empty ())
    return parse_ladder (spec, error);
  if (width % 2 || height % 2) {
    *error = "width and height must be even, not " + std::to_string (width) + "x"
             + std::to_string (height);
    return std::nullopt;
  }
  LadderRung rung;
  rung.name = std::to_string (height) + "p";
  rung.width = width;
  rung.height = height;
  rung.bitrate = bitrate;
  return std::vector<LadderRung>{ rung };
}

std::string
format_ladder (const std::vector<LadderRung> &rungs)
{
  std::string out;
  for (const LadderRung &r : rungs) {
    if (!out.empty ())
      out += ',';
    if (r.source)
      out += "source";
    else
      out += r.name + ":" + std::to_string (r.width) + "x" + std::to_string (r.height) + "@"
             + std::to_string (r.bitrate);
  }
  return out;
}

bool
ladder_transcodes (const std::vector<LadderRung> &rungs)
{
  for (const LadderRung &r : rungs)
    if (!r.source)
      return true;
  return false;
}

} // namespace mirror
