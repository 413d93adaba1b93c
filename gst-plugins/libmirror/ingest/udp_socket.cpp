// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/udp_socket.h"

#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ingest/srt_address.h"

namespace mirror {

namespace {

int
open_bound (const sockaddr *address, socklen_t length, bool reuse_port, std::string *error,
            int *error_number)
{
  const std::string where = format_srt_peer (address);
  int fd = socket (address->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error_number = errno;
    *error = "cannot create a UDP socket for " + where + ": " + std::strerror (errno);
    return -1;
  }
  int on = 1, off = 0;
  if (address->sa_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  if (reuse_port && setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    *error_number = errno;
    *error = "cannot share UDP " + where + " (SO_REUSEPORT): " + std::strerror (errno);
    close (fd);
    return -1;
  }
  if (bind (fd, address, length) != 0) {
    *error_number = errno;
    *error = "cannot bind UDP " + where + ": " + std::strerror (errno);
    close (fd);
    return -1;
  }
  return fd;
}

} // namespace

int
raise_udp_receive_buffer (int fd, int wanted)
{
  // Either way the kernel reports double what it books for payload.
  if (setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &wanted, sizeof wanted) != 0)
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &wanted, sizeof wanted);
  int value = 0;
  socklen_t size = sizeof value;
  if (getsockopt (fd, SOL_SOCKET, SO_RCVBUF, &value, &size) != 0)
    return 0;
  return value;
}

std::vector<int>
open_shared_udp_sockets (const sockaddr *address, socklen_t length, int count, std::string *error,
                         int *error_number)
{
  int ignored = 0;
  if (!error_number)
    error_number = &ignored;
  std::vector<int> fds;
  if (count <= 1) {
    int fd = open_bound (address, length, false, error, error_number);
    if (fd >= 0)
      fds.push_back (fd);
    return fds;
  }
  // SO_REUSEPORT would let this process join a group another one holds on
  // the port: a plain bind first proves nobody does (and picks the port
  // when asked for 0).
  sockaddr_storage bound;
  socklen_t bound_length = sizeof bound;
  int probe = open_bound (address, length, false, error, error_number);
  if (probe < 0)
    return fds;
  int rc = getsockname (probe, reinterpret_cast<sockaddr *> (&bound), &bound_length);
  int saved = errno;
  close (probe);
  if (rc != 0) {
    *error_number = saved;
    *error = "cannot read the bound address of " + format_srt_peer (address) + ": "
             + std::strerror (saved);
    return fds;
  }
  for (int i = 0; i < count; ++i) {
    int fd = open_bound (reinterpret_cast<sockaddr *> (&bound), bound_length, true, error,
                         error_number);
    if (fd < 0) {
      for (int open_fd : fds)
        close (open_fd);
      fds.clear ();
      return fds;
    }
    fds.push_back (fd);
  }
  return fds;
}

} // namespace mirror
