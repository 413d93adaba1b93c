// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP/3 front end's UDP side: datagrams from one client port to a
// QuicFrontend on loopback (ngtcp2's packet decoding, the connection-ID
// routing, version negotiation, Retry and stateless resets, the refusal
// counters). Input: datagrams, each a 2-byte big-endian length and its
// bytes; a length with the top bit set makes that datagram a QUIC v1
// Initial header (its DCID length from the next byte) padded to 1200 bytes
// before the bytes, so that the server gets past the first checks. One
// front end serves every input, as in mirrord.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <glib.h>

#include "fuzz_check.h"
#include "fuzz_origin.h"
#include "origin/quic_frontend.h"
#include "origin/tls_identity.h"
#include "util/main_context.h"

namespace {

mirror::fuzz::Origin *server;

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  g_log_set_always_fatal (GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  server = mirror::fuzz::quic_origin ("mirror-fuzz-quic-XXXXXX");
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  // A new client port each time: a new 4-tuple, as a new client.
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons (server->port ());
  to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  FUZZ_CHECK (connect (fd, reinterpret_cast<sockaddr *> (&to), sizeof to) == 0, "connect");
  size_t at = 0;
  int sent = 0;
  while (at + 2 <= size && sent < 16) {
    const unsigned word = (unsigned (data[at]) << 8) | data[at + 1];
    at += 2;
    const size_t len = std::min<size_t> (word & 0x7fff, size - at);
    std::vector<uint8_t> datagram;
    if (word & 0x8000) {
      const uint8_t dcid_len = len > 0 ? 8 + data[at] % 13 : 8;
      datagram = { 0xc3, 0x00, 0x00, 0x00, 0x01, dcid_len };
      for (uint8_t i = 0; i < dcid_len; ++i)
        datagram.push_back (uint8_t (sent * 31 + i));
      datagram.push_back (0); // no SCID
    }
    datagram.insert (datagram.end (), data + at, data + at + len);
    if (word & 0x8000 && datagram.size () < 1200)
      datagram.resize (1200, 0);
    at += len;
    send (fd, datagram.data (), datagram.size (), 0);
    ++sent;
    // Whatever comes back (Retry, version negotiation, a reset): read it.
    pollfd p{ fd, POLLIN, 0 };
    uint8_t buf[2048];
    while (poll (&p, 1, 0) > 0 && recv (fd, buf, sizeof buf, 0) > 0) {
    }
  }
  // The front end has read everything once a call on its thread returns.
  std::promise<void> done;
  mirror::invoke_on (server->context (), [&done] { done.set_value (); });
  done.get_future ().wait ();
  close (fd);
  return 0;
}
