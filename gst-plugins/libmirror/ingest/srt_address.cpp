// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace mirror {

std::string
format_srt_peer (const sockaddr *address)
{
  char text[INET6_ADDRSTRLEN] = "";
  if (address && address->sa_family == AF_INET) {
    const auto *in = reinterpret_cast<const sockaddr_in *> (address);
    inet_ntop (AF_INET, &in->sin_addr, text, sizeof text);
    return std::string (text) + ":" + std::to_string (ntohs (in->sin_port));
  }
  if (address && address->sa_family == AF_INET6) {
    const auto *in6 = reinterpret_cast<const sockaddr_in6 *> (address);
    inet_ntop (AF_INET6, &in6->sin6_addr, text, sizeof text);
    return "[" + std::string (text) + "]:" + std::to_string (ntohs (in6->sin6_port));
  }
  return "?";
}

bool
make_srt_bind_address (const std::string &address, uint16_t port, sockaddr_storage *out,
                       int *length)
{
  std::memset (out, 0, sizeof *out);
  auto *in = reinterpret_cast<sockaddr_in *> (out);
  if (inet_pton (AF_INET, address.c_str (), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons (port);
    *length = sizeof (sockaddr_in);
    return true;
  }
  auto *in6 = reinterpret_cast<sockaddr_in6 *> (out);
  if (inet_pton (AF_INET6, address.c_str (), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons (port);
    *length = sizeof (sockaddr_in6);
    return true;
  }
  return false;
}

} // namespace mirror
