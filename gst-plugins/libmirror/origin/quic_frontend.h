// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP/3 front end of the Origin: QUIC v1 (ngtcp2 with GnuTLS) and
// HTTP/3 (nghttp3) on one UDP socket, run by the Origin's GMainContext like
// the libsoup front end. Every request goes to the same OriginHandler; held
// requests (blocking playlist reloads, hinted parts) simply leave their
// stream without a response until the handler answers. Response bodies are
// the store's refcounted buffers, handed to nghttp3 without copying and kept
// until the peer acknowledges them.
//
// Connection setup is address-validated with Retry (or a NEW_TOKEN token
// from an earlier connection), packets for connections we do not know get a
// rate-limited stateless reset, and everything a peer can make us keep is
// bounded by Limits. All of it runs on the context's thread and never blocks:
// a send that would block is kept and retried when the socket is writable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "origin/origin_handler.h"
#include "origin/tls_identity.h"

namespace mirror {

class QuicFrontend {
 public:
  struct Limits {
    // Connections beyond this are refused (CONNECTION_REFUSED).
    size_t max_connections = 10000;
    // Request streams a client may have open at once.
    uint64_t max_streams_bidi = 100;
    // Requests of one connection that may wait on the handler at once; the
    // next ones are answered 503.
    size_t max_held_per_connection = 32;
    int64_t idle_timeout_ns = 30LL * 1000000000LL;
    // Receive windows we advertise (per stream, per connection).
    uint64_t max_stream_data = 4 * 1024 * 1024;
    uint64_t max_data = 16 * 1024 * 1024;
  };

  struct Stats {
    uint64_t connections_now = 0;
    uint64_t connections_total = 0;  // accepted (after address validation)
    uint64_t handshake_failures = 0; // gone before the handshake completed
    uint64_t streams_total = 0;      // requests handed to the handler
    uint64_t bytes_sent = 0;         // UDP payload bytes
    uint64_t bytes_received = 0;
    uint64_t held_now = 0; // requests waiting on the handler
    uint64_t retries_sent = 0;
    uint64_t stateless_resets_sent = 0;
    uint64_t packets_dropped = 0; // undecodable, unexpected or refused datagrams
  };

  // handler must outlive the front end. Nothing is bound until listen ().
  QuicFrontend (OriginHandler &handler, const TlsIdentity &identity, Limits limits);
  // Closes every connection (CONNECTION_CLOSE, H3_NO_ERROR) and cancels
  // what it still had held. On the context's thread.
  ~QuicFrontend ();
  QuicFrontend (const QuicFrontend &) = delete;
  QuicFrontend &operator= (const QuicFrontend &) = delete;

  // On the Origin's context, which must be the thread-default: binds UDP
  // bind_address:port (0: any free port) and joins that context. false, with
  // *error naming the address, port or certificate at fault.
  bool listen (const std::string &bind_address, uint16_t port, std::string *error);
  uint16_t port () const;

  // Any thread (the counters are atomic).
  Stats stats () const;

  // Graceful stop, on the context's thread: no new connections; each one
  // gets a GOAWAY, finishes the requests it has and is then closed.
  void shutdown ();

  class Endpoint; // the socket, its connections and their requests (.cpp)

 private:
  std::unique_ptr<Endpoint> endpoint_;
};

} // namespace mirror
