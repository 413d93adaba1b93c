// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/registry_uri.h"

#include <charconv>

#include <glib.h>

namespace mirror {

namespace {

constexpr std::string_view kMemoryScheme = "memory://";
constexpr std::string_view kRedisScheme = "redis://";

bool
parse_number (std::string_view text, int min, int max, int *out)
{
  if (text.empty ())
    return false;
  int value = 0;
  auto [end, ec] = std::from_chars (text.data (), text.data () + text.size (), value);
  if (ec != std::errc () || end != text.data () + text.size () || value < min || value > max)
    return false;
  *out = value;
  return true;
}

// Passwords may be percent-encoded (a password holding '@' or '/' must be).
bool
unescape (std::string_view text, std::string *out)
{
  g_autofree char *raw
      = g_uri_unescape_segment (text.data (), text.data () + text.size (), nullptr);
  if (!raw)
    return false;
  *out = raw;
  return true;
}

bool
parse_redis (std::string_view rest, RegistryUri *uri, std::string *why)
{
  // rest = [[user]:password@]host[:port][/db]
  std::string_view authority = rest;
  std::string_view path;
  if (auto slash = rest.find ('/'); slash != std::string_view::npos) {
    authority = rest.substr (0, slash);
    path = rest.substr (slash + 1);
  }

  if (auto at = authority.rfind ('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr (0, at);
    authority = authority.substr (at + 1);
    std::string_view user;
    std::string_view password = userinfo;
    if (auto colon = userinfo.find (':'); colon != std::string_view::npos) {
      user = userinfo.substr (0, colon);
      password = userinfo.substr (colon + 1);
    }
    if (!unescape (user, &uri->username) || !unescape (password, &uri->password)) {
      *why = "the user or password is not valid percent-encoding";
      return false;
    }
  }

  std::string_view port;
  if (!authority.empty () && authority.front () == '[') {
    auto close = authority.find (']');
    if (close == std::string_view::npos) {
      *why = "the IPv6 host '" + std::string (authority) + "' lacks its closing ']'";
      return false;
    }
    uri->host = std::string (authority.substr (1, close - 1));
    std::string_view after = authority.substr (close + 1);
    if (!after.empty ()) {
      if (after.front () != ':') {
        *why = "unexpected '" + std::string (after) + "' after the host";
        return false;
      }
      port = after.substr (1);
      if (port.empty ()) {
        *why = "the port after ':' is empty";
        return false;
      }
    }
  } else {
    auto colon = authority.find (':');
    uri->host = std::string (authority.substr (0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr (colon + 1);
      if (port.empty ()) {
        *why = "the port after ':' is empty";
        return false;
      }
    }
  }
  if (uri->host.empty ()) {
    *why = "the host is missing";
    return false;
  }
  for (char c : uri->host) {
    if (g_ascii_isspace (c) || g_ascii_iscntrl (c)) {
      *why = "the host '" + uri->host + "' contains whitespace";
      return false;
    }
  }
  if (!port.empty () && !parse_number (port, 1, 65535, &uri->port)) {
    *why = "the port '" + std::string (port) + "' is not a number from 1 to 65535";
    return false;
  }
  if (!path.empty () && !parse_number (path, 0, 1 << 20, &uri->db)) {
    *why = "the database '" + std::string (path) + "' is not a non-negative number";
    return false;
  }
  return true;
}

} // namespace

std::optional<RegistryUri>
parse_registry_uri (std::string_view text, std::string *why)
{
  std::string scratch;
  if (!why)
    why = &scratch;
  RegistryUri uri;
  if (text.starts_with (kMemoryScheme)) {
    if (text.size () != kMemoryScheme.size ()) {
      *why = "memory:// takes nothing after the scheme, got '"
             + std::string (text.substr (kMemoryScheme.size ())) + "'";
      return std::nullopt;
    }
    uri.backend = RegistryUri::Backend::kMemory;
    return uri;
  }
  if (text.starts_with (kRedisScheme)) {
    uri.backend = RegistryUri::Backend::kRedis;
    if (!parse_redis (text.substr (kRedisScheme.size ()), &uri, why))
      return std::nullopt;
    return uri;
  }
  *why = "the scheme must be memory:// or redis://";
  return std::nullopt;
}

std::string
describe_registry_uri (const RegistryUri &uri)
{
  if (uri.backend == RegistryUri::Backend::kMemory)
    return std::string (kMemoryScheme);
  bool ipv6 = uri.host.find (':') != std::string::npos;
  std::string host = ipv6 ? "[" + uri.host + "]" : uri.host;
  return std::string (kRedisScheme) + host + ":" + std::to_string (uri.port) + "/"
         + std::to_string (uri.db);
}

std::string
redact_registry_uri (std::string_view text)
{
  auto scheme_end = text.find ("://");
  if (scheme_end == std::string_view::npos)
    return std::string (text);
  size_t authority_start = scheme_end + 3;
  size_t authority_end = text.find ('/', authority_start);
  std::string_view authority = text.substr (authority_start, authority_end == std::string_view::npos
                                                                 ? std::string_view::npos
                                                                 : authority_end - authority_start);
  auto at = authority.rfind ('@');
  if (at == std::string_view::npos)
    return std::string (text);
  std::string_view userinfo = authority.substr (0, at);
  auto colon = userinfo.find (':');
  std::string user
      = colon == std::string_view::npos ? "" : std::string (userinfo.substr (0, colon));
  return std::string (text.substr (0, authority_start)) + user + ":***"
         + std::string (text.substr (authority_start + at));
}

} // namespace mirror
