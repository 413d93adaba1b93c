// SPDX-License-Identifier: LGPL-2.1-or-later
#include "checks.h"

#include "transcode/ladder.h"
#include "values.h"

#include <cctype>

namespace mirror::daemon::config_checks {

namespace {

bool
has_space (std::string_view text)
{
  for (char c : text)
    if (std::isspace (static_cast<unsigned char> (c)))
      return true;
  return false;
}

bool
is_alnum (char c)
{
  return std::isalnum (static_cast<unsigned char> (c));
}

} // namespace

std::optional<std::string>
host_port_or_empty (std::string_view text)
{
  if (text.empty ())
    return std::nullopt;
  const std::string bad = "is not host:port";
  std::string_view host, port;
  if (text.front () == '[') {
    // IPv6 literals need brackets, or the port could not be told apart.
    size_t close = text.find ("]:");
    if (close == std::string_view::npos)
      return bad;
    host = text.substr (1, close - 1);
    port = text.substr (close + 2);
  } else {
    size_t colon = text.rfind (':');
    if (colon == std::string_view::npos)
      return bad;
    host = text.substr (0, colon);
    port = text.substr (colon + 1);
    if (host.find (':') != std::string_view::npos)
      return bad;
  }
  if (host.empty () || has_space (host))
    return bad;
  auto n = config_values::parse_integer (port);
  if (!n || port != config_values::trim (port) || port.front () == '+' || port.front () == '-')
    return bad;
  if (*n < 1 || *n > 65535)
    return std::string ("has a port out of range");
  return std::nullopt;
}

std::optional<std::string>
bind_address (std::string_view text)
{
  if (text.empty () || has_space (text))
    return std::string ("is not an address");
  return std::nullopt;
}

std::optional<std::string>
playback_token_key (std::string_view text)
{
  if (!text.empty () && text.size () < 16)
    return "has " + std::to_string (text.size ()) + " characters";
  return std::nullopt;
}

std::optional<std::string>
optional_bind_address (std::string_view text)
{
  return text.empty () ? std::nullopt : bind_address (text);
}

std::optional<std::string>
transcoding_ladder (std::string_view text)
{
  if (text.empty ())
    return std::nullopt;
  std::string error;
  if (mirror::parse_ladder (text, &error))
    return std::nullopt;
  return "is not a ladder: " + error;
}

std::optional<std::string>
srt_passphrase (std::string_view text)
{
  // libsrt refuses other lengths at connection time; catching it here names
  // the key instead of failing every caller's handshake.
  if (text.empty () || (text.size () >= 10 && text.size () <= 79))
    return std::nullopt;
  return "has " + std::to_string (text.size ()) + " characters";
}

std::optional<std::string>
not_empty (std::string_view text)
{
  if (config_values::trim (text).empty ())
    return std::string ("is empty");
  return std::nullopt;
}

std::optional<std::string>
pipeline_name (std::string_view text)
{
  // A file name in the pipelines directory: no path separators, no "..".
  bool ok = !text.empty () && text.front () != '.';
  for (char c : text)
    ok = ok && (is_alnum (c) || c == '_' || c == '-' || c == '.');
  if (!ok)
    return std::string ("is not a pipeline name");
  return std::nullopt;
}

std::optional<std::string>
cluster_playback (std::string_view text)
{
  if (text != "redirect" && text != "relay")
    return std::string ("is neither redirect nor relay");
  return std::nullopt;
}

std::optional<std::string>
x264_tune (std::string_view text)
{
  // x264enc's "tune" is a flags property: "zerolatency+fastdecode".
  if (text.empty ())
    return std::nullopt;
  size_t start = 0;
  while (start <= text.size ()) {
    size_t plus = text.find ('+', start);
    std::string_view flag
        = text.substr (start, plus == std::string_view::npos ? plus : plus - start);
    if (flag != "stillimage" && flag != "fastdecode" && flag != "zerolatency")
      return std::string ("is not an x264enc tune");
    if (plus == std::string_view::npos)
      break;
    start = plus + 1;
  }
  return std::nullopt;
}

std::optional<std::string>
dbus_name (std::string_view text)
{
  // Well-known bus name rules from the D-Bus specification.
  const std::string bad = "is not a D-Bus name";
  if (text.empty () || text.size () > 255)
    return bad;
  int elements = 0;
  size_t start = 0;
  while (true) {
    size_t dot = text.find ('.', start);
    std::string_view element
        = text.substr (start, dot == std::string_view::npos ? dot : dot - start);
    if (element.empty () || std::isdigit (static_cast<unsigned char> (element.front ())))
      return bad;
    for (char c : element)
      if (!is_alnum (c) && c != '_' && c != '-')
        return bad;
    elements++;
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  if (elements < 2)
    return bad;
  return std::nullopt;
}

std::optional<std::string>
s3_bucket_or_empty (std::string_view text)
{
  if (text.empty ())
    return std::nullopt;
  bool ok = text.size () >= 3 && text.size () <= 63 && is_alnum (text.front ())
            && is_alnum (text.back ());
  for (char c : text)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
  if (!ok)
    return std::string ("is not an S3 bucket name");
  return std::nullopt;
}

std::optional<std::string>
http_url_or_empty (std::string_view text)
{
  if (text.empty ())
    return std::nullopt;
  const bool scheme = text.starts_with ("http://") || text.starts_with ("https://");
  const size_t host = text.find ("://") + 3;
  if (!scheme || host >= text.size () || text[host] == '/'
      || text.find_first_of (" \t\r\n?#") != std::string_view::npos)
    return std::string ("is not an http:// or https:// URL");
  return std::nullopt;
}

std::optional<std::string>
s3_prefix (std::string_view text)
{
  if (text.starts_with ("/"))
    return std::string ("starts with '/' (S3 keys do not)");
  for (char c : text)
    if (static_cast<unsigned char> (c) < 0x20 || c == 0x7f || c == '\\')
      return std::string ("has a control character or a backslash");
  if (text.size () > 512)
    return std::string ("is longer than 512 bytes");
  return std::nullopt;
}

} // namespace mirror::daemon::config_checks
