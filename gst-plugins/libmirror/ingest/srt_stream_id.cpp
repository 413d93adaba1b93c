// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_stream_id.h"

#include <set>
#include <string_view>

#include "ingest/srt_hub.h"

namespace mirror {

namespace {

// libsrt carries at most 512 bytes of streamid.
constexpr size_t kMaxRawBytes = 512;
constexpr size_t kMaxNameBytes = 256;
constexpr std::string_view kAccessControlPrefix = "#!::";

bool
is_name_char (unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
         || c == '_' || c == '~' || c == '-';
}

// "#!::k=v,k=v" (SRT access control, docs/features/access-control.md): r=
// names the resource; m= is the mode, and an ingest only serves publishers.
bool
parse_access_control (std::string_view body, std::string *id, std::string *why)
{
  std::set<std::string_view> seen;
  std::string_view resource;
  while (true) {
    size_t comma = body.find (',');
    std::string_view pair = body.substr (0, comma);
    size_t eq = pair.find ('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == pair.size ()) {
      *why = "'" + std::string (pair) + "' is not key=value";
      return false;
    }
    std::string_view key = pair.substr (0, eq);
    std::string_view value = pair.substr (eq + 1);
    if (!seen.insert (key).second) {
      *why = "key '" + std::string (key) + "' appears twice";
      return false;
    }
    if (key == "r")
      resource = value;
    else if (key == "m" && value != "publish") {
      *why = "mode m=" + std::string (value) + " is not publish";
      return false;
    }
    if (comma == std::string_view::npos)
      break;
    body.remove_prefix (comma + 1);
  }
  if (resource.empty ()) {
    *why = "no r= (resource name) key";
    return false;
  }
  std::string name (resource);
  if (!is_valid_srt_resource_name (name, why))
    return false;
  *id = std::move (name);
  return true;
}

} // namespace

bool
is_valid_srt_resource_name (const std::string &name, std::string *why)
{
  if (name.empty ()) {
    *why = "empty";
    return false;
  }
  if (name.size () > kMaxNameBytes) {
    *why = std::to_string (name.size ()) + " bytes long, at most " + std::to_string (kMaxNameBytes)
           + " allowed";
    return false;
  }
  if (name == "." || name == "..") {
    *why = "'" + name + "' is not a name";
    return false;
  }
  for (unsigned char c : name) {
    if (!is_name_char (c)) {
      *why = "character "
             + (c >= 0x20 && c < 0x7f ? "'" + std::string (1, char (c)) + "'"
                                      : "0x" + std::to_string (unsigned (c)))
             + " is not one of [A-Za-z0-9._~-]";
      return false;
    }
  }
  return true;
}

bool
parse_srt_stream_id_checked (const std::string &raw, std::string *id, std::string *why)
{
  if (raw.empty ()) {
    *why = "no streamid";
    return false;
  }
  if (raw.size () > kMaxRawBytes) {
    *why = "streamid is " + std::to_string (raw.size ()) + " bytes long";
    return false;
  }
  std::string_view view (raw);
  if (view.starts_with (kAccessControlPrefix))
    return parse_access_control (view.substr (kAccessControlPrefix.size ()), id, why);
  if (view.starts_with ("#!")) {
    *why = "unknown '#!' syntax (only '#!::' is understood)";
    return false;
  }
  if (!is_valid_srt_resource_name (raw, why))
    return false;
  *id = raw;
  return true;
}

std::optional<std::string>
parse_srt_stream_id (const std::string &raw)
{
  std::string id, why;
  if (!parse_srt_stream_id_checked (raw, &id, &why))
    return std::nullopt;
  return id;
}

} // namespace mirror
