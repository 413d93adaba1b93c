// SPDX-License-Identifier: LGPL-2.1-or-later
// UDP sockets as the hubs open them: receive buffers raised past
// net.core.rmem_max where the process may, and one port shared by several
// sockets (SO_REUSEPORT) so that several threads receive it.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

namespace mirror {

// Raises fd's receive buffer towards wanted bytes: SO_RCVBUFFORCE (past
// net.core.rmem_max) with CAP_NET_ADMIN, else SO_RCVBUF (clamped to it).
// Returns what the kernel granted, as it reports it (twice the payload room
// it books), 0 when it cannot say.
int raise_udp_receive_buffer (int fd, int wanted);

// count blocking UDP sockets bound to the same address (sockaddr_in or
// sockaddr_in6; port 0 picks a free one), which the kernel spreads datagrams
// over by source and destination, so one peer always lands on the same
// socket. With count > 1 they share the port through SO_REUSEPORT, after a
// plain bind proved it free: a second process on the port still fails as it
// would without. IPv6 wildcards also take IPv4. Empty and *error naming the
// address on failure (and *error_number the errno, EADDRINUSE for a port
// taken); nothing stays open then.
std::vector<int> open_shared_udp_sockets (const sockaddr *address, socklen_t length, int count,
                                          std::string *error, int *error_number = nullptr);

} // namespace mirror
