// SPDX-License-Identifier: LGPL-2.1-or-later
// Accepts HTTP/1.1 connections (plain or TLS) for a SoupServer itself, so
// that nothing is left open that a client has left:
//
//  - libsoup 3.2 (Debian 12) never closes a kept-alive connection that the
//    client closes between requests: the socket stays in CLOSE-WAIT and its
//    SoupServerConnection lives on (fixed upstream in 3.3). Each connection
//    reaches libsoup through a stream that turns the end of input into one
//    stray byte first, so libsoup takes it for a broken request, whose
//    failure path does close the connection.
//  - A connection with nothing moving in either direction for the idle
//    timeout (a kept-alive connection nobody reuses, a request that never
//    completes, a reader that stopped reading) is shut down, unless the
//    front end holds a request on it (a blocking playlist reload).
//  - A held request whose client goes away is reported at once (the socket's
//    POLLRDHUP), so the front end can release it.
//  - A TLS handshake has a deadline.
//
// Threading: create it, call every method and get every callback on one
// thread, the one whose thread-default GMainContext serves the SoupServer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <libsoup/soup.h>

namespace mirror {

class SoupAcceptor {
 public:
  struct Limits {
    int64_t idle_timeout_ms = 30000;
    int64_t tls_handshake_timeout_ms = 10000;
  };

  struct Stats {
    uint64_t accepted = 0;
    uint64_t closed = 0;
    uint64_t idle_closed = 0;        // shut down by the idle timeout
    uint64_t held_abandoned = 0;     // held requests whose client went away
    uint64_t handshake_failures = 0; // TLS handshakes that failed or timed out
    size_t open = 0;
  };

  SoupAcceptor (SoupServer *server, Limits limits);
  ~SoupAcceptor (); // closes its listeners and every connection
  SoupAcceptor (const SoupAcceptor &) = delete;
  SoupAcceptor &operator= (const SoupAcceptor &) = delete;

  // Listens on address:port (0: any free port), over TLS when certificate is
  // set. Returns the bound port, 0 with *error naming the port on failure.
  uint16_t listen (const std::string &address, uint16_t port, GTlsCertificate *certificate,
                   std::string *error);

  // A request the front end holds (paused) until it has an answer: gone runs
  // once if the client leaves first. Returns a token for release ().
  uint64_t hold (SoupServerMessage *msg, std::function<void ()> gone);
  void release (uint64_t token);

  Stats stats () const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

} // namespace mirror
