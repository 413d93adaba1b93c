// SPDX-License-Identifier: LGPL-2.1-or-later
// Socket addresses as the hub prints and binds them.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace mirror {

// "192.0.2.7:40000" or "[2001:db8::7]:40000"; "?" for anything else.
std::string format_srt_peer (const sockaddr *address);

// address (IPv4 or IPv6 literal) and port into *out; false when address is
// neither.
bool make_srt_bind_address (const std::string &address, uint16_t port, sockaddr_storage *out,
                            int *length);

} // namespace mirror
