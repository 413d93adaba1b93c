// SPDX-License-Identifier: LGPL-2.1-or-later
// The viewers' HTTP/1.1 path end to end: bytes a client sends over loopback
// to a TcpFrontend (http-parser, pipelining, held requests, limits) with an
// OriginHandler and a MediaStore of one live stream behind it. The input is
// what the client writes, cut into separate writes at each "\n\n\n" (so that
// heads and bodies arrive in pieces); the server's answer is read until it
// closes or goes quiet, and must be HTTP/1.1 responses. One server serves
// every input, as mirrord's serves every viewer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <glib.h>

#include "fuzz_check.h"
#include "fuzz_origin.h"
#include "http/tcp_frontend.h"

namespace {

mirror::fuzz::Origin *server;

int
connect_to (uint16_t port)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons (port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  FUZZ_CHECK (connect (fd, reinterpret_cast<sockaddr *> (&addr), sizeof addr) == 0,
              std::string ("connect: ") + std::strerror (errno));
  return fd;
}

// Reads what is there until the server closes or is quiet for quiet_ms.
void
drain (int fd, std::string *out, int quiet_ms)
{
  char buf[65536];
  while (true) {
    pollfd p{ fd, POLLIN, 0 };
    if (poll (&p, 1, quiet_ms) <= 0)
      return;
    ssize_t n = recv (fd, buf, sizeof buf, 0);
    if (n <= 0)
      return;
    if (out->size () < (1u << 20))
      out->append (buf, size_t (n));
  }
}

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  g_log_set_always_fatal (GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  server = new mirror::fuzz::Origin ([] (mirror::OriginHandler &handler,
                                         GMainContext *context) -> uint16_t {
    // Never destroyed (see fuzz_origin.h's quic_origin): its thread serves
    // until the process is gone.
    static mirror::TcpFrontend *frontend = nullptr;
    mirror::TcpFrontend::Limits limits;
    limits.max_header_bytes = 4096;
    limits.header_timeout_ms = 2000;
    limits.idle_timeout_ms = 2000;
    frontend = new mirror::TcpFrontend (handler, context, limits);
    std::string error;
    return frontend->listen ("127.0.0.1", 0, false, &error) ? frontend->port () : 0;
  });
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const std::string input (reinterpret_cast<const char *> (data), size);
  int fd = connect_to (server->port ());
  std::string answer;
  size_t at = 0;
  bool sent_all = true;
  while (at < input.size ()) {
    size_t cut = input.find ("\n\n\n", at);
    const size_t end = cut == std::string::npos ? input.size () : cut;
    if (end > at && send (fd, input.data () + at, end - at, MSG_NOSIGNAL) < 0) {
      sent_all = false; // the server closed on what it had: fine
      break;
    }
    at = cut == std::string::npos ? input.size () : cut + 3;
    if (at < input.size ())
      drain (fd, &answer, 1);
  }
  (void)sent_all;
  // Half-close: the server answers what it has (held requests give up when
  // their client leaves, so waiting longer would learn nothing).
  shutdown (fd, SHUT_WR);
  drain (fd, &answer, 50);
  close (fd);
  if (!answer.empty ())
    FUZZ_CHECK (answer.compare (0, 9, "HTTP/1.1 ") == 0 || answer.compare (0, 9, "HTTP/1.0 ") == 0,
                "the server's bytes are not an HTTP response: " + answer.substr (0, 80));
  return 0;
}
