// SPDX-License-Identifier: LGPL-2.1-or-later
// The parts of the client API that belong to no one protocol: URLs, error
// names, name resolution, the protocol switch.
#include "h3_client.h"

#include <cstring>

#include <netdb.h>
#include <sys/resource.h>

namespace mirror::tools {

const char *
error_kind_name (ErrorKind kind)
{
  switch (kind) {
  case ErrorKind::none:
    return "none";
  case ErrorKind::resolve:
    return "resolve";
  case ErrorKind::connect:
    return "connect";
  case ErrorKind::tls:
    return "tls";
  case ErrorKind::handshake:
    return "handshake";
  case ErrorKind::timeout:
    return "timeout";
  case ErrorKind::reset:
    return "reset";
  case ErrorKind::closed:
    return "closed";
  case ErrorKind::protocol:
    return "protocol";
  case ErrorKind::cancelled:
    return "cancelled";
  }
  return "?";
}

const std::string *
Response::header (const std::string &lower_name) const
{
  for (auto &[name, value] : headers)
    if (name == lower_name)
      return &value;
  return nullptr;
}

std::optional<Url>
Url::parse (const std::string &text)
{
  Url u;
  size_t p = text.find ("://");
  if (p == std::string::npos)
    return std::nullopt;
  u.scheme = text.substr (0, p);
  for (auto &c : u.scheme)
    c = (char)tolower ((unsigned char)c);
  if (u.scheme != "https" && u.scheme != "http")
    return std::nullopt;
  size_t host_start = p + 3;
  size_t path_start = text.find_first_of ("/?#", host_start);
  std::string hostport = text.substr (
      host_start, path_start == std::string::npos ? std::string::npos : path_start - host_start);
  if (hostport.empty ())
    return std::nullopt;
  std::string port;
  if (hostport[0] == '[') {
    size_t close = hostport.find (']');
    if (close == std::string::npos)
      return std::nullopt;
    u.host = hostport.substr (1, close - 1);
    if (close + 1 < hostport.size ()) {
      if (hostport[close + 1] != ':')
        return std::nullopt;
      port = hostport.substr (close + 2);
    }
  } else {
    size_t colon = hostport.rfind (':');
    u.host = hostport.substr (0, colon);
    if (colon != std::string::npos)
      port = hostport.substr (colon + 1);
  }
  if (u.host.empty ())
    return std::nullopt;
  if (port.empty ()) {
    u.port = u.scheme == "https" ? 443 : 80;
  } else {
    char *end = nullptr;
    long v = strtol (port.c_str (), &end, 10);
    if (*end != '\0' || v <= 0 || v > 65535)
      return std::nullopt;
    u.port = (uint16_t)v;
  }
  u.path_and_query = path_start == std::string::npos ? "/" : text.substr (path_start);
  size_t hash = u.path_and_query.find ('#');
  if (hash != std::string::npos)
    u.path_and_query.erase (hash);
  if (u.path_and_query.empty () || u.path_and_query[0] != '/')
    u.path_and_query.insert (0, "/");
  return u;
}

std::string
Url::authority () const
{
  std::string h = host.find (':') != std::string::npos ? "[" + host + "]" : host;
  bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? h : h + ":" + std::to_string (port);
}

std::string
Url::to_string () const
{
  return scheme + "://" + authority () + path_and_query;
}

Url
Url::resolve (const std::string &ref) const
{
  if (ref.find ("://") != std::string::npos) {
    if (auto u = Url::parse (ref))
      return *u;
  }
  Url u = *this;
  if (!ref.empty () && ref[0] == '/') {
    u.path_and_query = ref;
    return u;
  }
  // Relative: against the directory of our path (query dropped).
  std::string base = path_and_query.substr (0, path_and_query.find ('?'));
  base.erase (base.rfind ('/') + 1);
  u.path_and_query = base + ref;
  return u;
}

bool
resolve (const Url &url, sockaddr_storage *addr, socklen_t *len, std::string *error)
{
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo *res = nullptr;
  std::string port = std::to_string (url.port);
  int rv = getaddrinfo (url.host.c_str (), port.c_str (), &hints, &res);
  if (rv != 0 || res == nullptr) {
    *error = "cannot resolve " + url.host + ": " + gai_strerror (rv);
    return false;
  }
  memcpy (addr, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo (res);
  return true;
}

std::unique_ptr<HttpConnection>
connect_http (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
              Protocol protocol, const ClientConfig &config)
{
  switch (protocol) {
  case Protocol::h3:
    return connect_h3 (loop, url, addr, addrlen, config);
  case Protocol::h2:
    return connect_h2 (loop, url, addr, addrlen, config);
  case Protocol::http1:
    break;
  }
  return connect_http1 (loop, url, addr, addrlen, config);
}

uint64_t
raise_fd_limit ()
{
  rlimit rl{};
  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return 0;
  rl.rlim_cur = rl.rlim_max;
  setrlimit (RLIMIT_NOFILE, &rl);
  getrlimit (RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

} // namespace mirror::tools
