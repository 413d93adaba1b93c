// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/url_layout.h"

#include <charconv>

namespace mirror {

std::string
hls_media_playlist_uri (std::string_view rendition)
{
  return std::string (rendition) + ".m3u8";
}

std::string
hls_init_uri (std::string_view rendition, uint32_t generation)
{
  return std::string (rendition) + "/init" + std::to_string (generation) + ".mp4";
}

std::string
hls_segment_uri (std::string_view rendition, uint64_t msn)
{
  return std::string (rendition) + "/seg" + std::to_string (msn) + ".m4s";
}

std::string
hls_part_uri (std::string_view rendition, uint64_t msn, uint32_t part)
{
  return std::string (rendition) + "/part" + std::to_string (msn) + "." + std::to_string (part)
         + ".m4s";
}

std::string
hls_dvr_data_uri (std::string_view rendition, int64_t period_s)
{
  return std::string (rendition) + "/dvr" + std::to_string (period_s) + ".mp4";
}

std::string
hls_dvr_piece_uri (std::string_view rendition, int64_t period_s, uint64_t offset, uint64_t length,
                   bool init)
{
  return std::string (rendition) + "/dvr" + std::to_string (period_s) + "-"
         + std::to_string (offset) + "-" + std::to_string (length) + (init ? ".mp4" : ".m4s");
}

void
for_each_query_param (std::string_view query,
                      const std::function<void (std::string_view, std::string_view)> &fn)
{
  while (!query.empty ()) {
    auto amp = query.find ('&');
    std::string_view pair = query.substr (0, amp);
    query = amp == std::string_view::npos ? std::string_view () : query.substr (amp + 1);
    auto eq = pair.find ('=');
    fn (pair.substr (0, eq),
        eq == std::string_view::npos ? std::string_view () : pair.substr (eq + 1));
  }
}

bool
is_valid_rendition_name (std::string_view name)
{
  if (name.empty () || name.size () > 64)
    return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
              || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

namespace {

// Whole-string decimal number; no sign, no leading '+', no spaces.
template <typename T>
bool
parse_number (std::string_view s, T *out)
{
  if (s.empty () || (s.size () > 1 && s[0] == '0'))
    return false;
  auto [end, ec] = std::from_chars (s.data (), s.data () + s.size (), *out);
  return ec == std::errc () && end == s.data () + s.size ();
}

bool
strip (std::string_view *s, std::string_view prefix, std::string_view suffix)
{
  if (s->size () < prefix.size () + suffix.size () || !s->starts_with (prefix)
      || !s->ends_with (suffix))
    return false;
  s->remove_prefix (prefix.size ());
  s->remove_suffix (suffix.size ());
  return true;
}

} // namespace

std::optional<HlsObjectRef>
parse_hls_object_path (std::string_view path)
{
  HlsObjectRef ref;
  if (path == "index.m3u8")
    return ref;
  if (path == "clip.mp4") {
    ref.kind = HlsObjectKind::kClip;
    return ref;
  }
  if (path == "dvr.json") {
    ref.kind = HlsObjectKind::kDvrWindow;
    return ref;
  }

  auto slash = path.find ('/');
  if (slash == std::string_view::npos) {
    std::string_view name = path;
    if (!strip (&name, "", ".m3u8") || !is_valid_rendition_name (name))
      return std::nullopt;
    ref.kind = HlsObjectKind::kMediaPlaylist;
    ref.rendition = std::string (name);
    return ref;
  }

  std::string_view rendition = path.substr (0, slash);
  std::string_view file = path.substr (slash + 1);
  if (!is_valid_rendition_name (rendition))
    return std::nullopt;
  ref.rendition = std::string (rendition);

  if (file == "init.mp4") {
    ref.kind = HlsObjectKind::kInit;
    return ref;
  }
  std::string_view rest = file;
  if (strip (&rest, "init", ".mp4")) {
    uint32_t gen;
    if (!parse_number (rest, &gen))
      return std::nullopt;
    ref.kind = HlsObjectKind::kInit;
    ref.init_generation = gen;
    return ref;
  }
  rest = file;
  if (strip (&rest, "seg", ".m4s")) {
    if (!parse_number (rest, &ref.msn))
      return std::nullopt;
    ref.kind = HlsObjectKind::kSegment;
    return ref;
  }
  rest = file;
  if (strip (&rest, "part", ".m4s")) {
    auto dot = rest.find ('.');
    if (dot == std::string_view::npos || !parse_number (rest.substr (0, dot), &ref.msn)
        || !parse_number (rest.substr (dot + 1), &ref.part))
      return std::nullopt;
    ref.kind = HlsObjectKind::kPart;
    return ref;
  }
  rest = file;
  if (strip (&rest, "dvr", ".mp4") || strip (&rest, "dvr", ".m4s")) {
    // dvr{period}.mp4, or dvr{period}-{offset}-{length}.mp4|.m4s
    const bool whole = rest.find ('-') == std::string_view::npos;
    if (whole) {
      if (!file.ends_with (".mp4") || !parse_number (rest, &ref.period_s))
        return std::nullopt;
    } else {
      auto a = rest.find ('-'), b = rest.find ('-', a + 1);
      if (b == std::string_view::npos || !parse_number (rest.substr (0, a), &ref.period_s)
          || !parse_number (rest.substr (a + 1, b - a - 1), &ref.offset)
          || !parse_number (rest.substr (b + 1), &ref.length) || ref.length == 0)
        return std::nullopt;
      ref.init_piece = file.ends_with (".mp4");
    }
    ref.kind = HlsObjectKind::kDvrData;
    return ref;
  }
  return std::nullopt;
}

const char *
hls_content_type (HlsObjectKind kind)
{
  switch (kind) {
  case HlsObjectKind::kMultivariant:
  case HlsObjectKind::kMediaPlaylist:
    return "application/vnd.apple.mpegurl";
  case HlsObjectKind::kDvrWindow:
    return "application/json";
  case HlsObjectKind::kInit:
  case HlsObjectKind::kDvrData:
  case HlsObjectKind::kClip:
    return "video/mp4";
  case HlsObjectKind::kSegment:
  case HlsObjectKind::kPart:
    return "video/iso.segment";
  }
  return "application/octet-stream";
}

} // namespace mirror
