// SPDX-License-Identifier: LGPL-2.1-or-later
// The Origin's viewer front end over TCP, off libsoup (issue 17): HTTP/1.1
// in the clear, and over TLS (GnuTLS) HTTP/1.1 or HTTP/2 (libnghttp2) as ALPN
// chooses. One GMainContext's thread accepts and serves its connections from
// start to end; with server.workers each worker runs its own, on its own
// SO_REUSEPORT socket of the same port. HTTP/1.1 is parsed with Debian's
// http-parser (no hand-written parser); every request goes to an
// OriginHandler, as the HTTP/3 front end's do. HTTP/1.1 answers go out in
// request order (pipelining); bodies leave from the store's refcounted
// buffers (writev in the clear, whole TLS records from them over TLS, DATA
// frames as slices over HTTP/2): no per-viewer copy of a part.
//
// Limits: request heads over max_header_bytes get 431 (HTTP/1.1 closes); a
// TLS handshake or a head not complete within header_timeout_ms (slowloris)
// closes it; at most max_pipelined HTTP/1.1 requests wait for their turn
// before reading stops (HTTP/2: max_streams concurrent streams); a request
// held (a blocking reload, a hinted part) beyond max_held per connection gets
// 503; a connection with nothing in flight closes after idle_timeout_ms;
// beyond max_connections (the process's, with a ConnectionBudget shared by
// the workers) or max_per_address from one IP, new ones are closed at once
// (counted in refused, refused_per_address). A client that goes
// away cancels what it had held. shutdown () ends connections gracefully
// (HTTP/2 GOAWAY, HTTP/1.1 Connection: close on the last answer).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <glib.h>

#include <gnutls/gnutls.h>
#include <http_parser.h>

#include "http/connection_budget.h"
#include "http/h2_session.h"
#include "origin/origin_handler.h"
#include "origin/tls_identity.h"

namespace mirror {

class TcpFrontend {
 public:
  struct Limits {
    size_t max_header_bytes = 16 * 1024;
    size_t max_pipelined = 16;
    size_t max_held = 8;
    int64_t header_timeout_ms = 10000;
    int64_t idle_timeout_ms = 30000;
    size_t max_connections = 10000;
    size_t max_per_address = 0; // 0: no cap per client address
    uint32_t max_streams = 100; // HTTP/2 concurrent streams
  };
  // The TLS side shared by every worker of a port: credentials, priorities,
  // the session ticket key (a ticket from one worker resumes on another).
  class Tls {
   public:
    // nullptr, with *error naming the certificate, when GnuTLS refuses it.
    static std::shared_ptr<Tls> create (const TlsIdentity &identity, std::string *error);
    ~Tls ();
    Tls (const Tls &) = delete;
    Tls &operator= (const Tls &) = delete;

   private:
    Tls () = default;
    friend class TcpFrontend;
    gnutls_certificate_credentials_t credentials_ = nullptr;
    gnutls_priority_t priority_ = nullptr;
    gnutls_datum_t ticket_key_ = { nullptr, 0 };
  };
  struct Stats {
    uint64_t connections_now = 0;
    uint64_t connections_total = 0;
    uint64_t requests = 0;
    uint64_t header_timeouts = 0; // slow or incomplete heads closed
    uint64_t too_large = 0;       // 431
    uint64_t bad_requests = 0;    // 400: the parser refused it
    uint64_t held_refused = 0;    // 503 over max_held
    uint64_t idle_closed = 0;
    uint64_t refused = 0;         // over max_connections (the budget's, when shared)
    uint64_t refused_per_address = 0; // over max_per_address
    uint64_t closed = 0;          // connections closed, for any reason
    uint64_t held_abandoned = 0;  // held requests whose client went away
    uint64_t tls_connections = 0; // handshakes completed
    uint64_t tls_failures = 0;    // handshakes refused or broken
    uint64_t h2_connections = 0;  // of tls_connections, ALPN h2
    uint64_t h2_requests = 0;     // of requests, over HTTP/2
    uint64_t h2_protocol_errors = 0;
  };

  // Serves on @context's thread; every call on it. With @tls, every
  // connection is TLS (ALPN h2, http/1.1); without, plain HTTP/1.1.
  // @budget: the connection limits shared with other front ends (the
  // workers'); none: one of its own from @limits.
  TcpFrontend (OriginHandler &handler, GMainContext *context, Limits limits,
               std::shared_ptr<Tls> tls = nullptr,
               std::shared_ptr<ConnectionBudget> budget = nullptr);
  ~TcpFrontend ();
  TcpFrontend (const TcpFrontend &) = delete;
  TcpFrontend &operator= (const TcpFrontend &) = delete;

  // Binds and listens; port 0: any free one. @reuse_port: SO_REUSEPORT, so
  // that every worker listens on the port. False with *error.
  bool listen (const std::string &address, uint16_t port, bool reuse_port, std::string *error);
  uint16_t port () const { return port_; }
  Stats stats () const;
  // No new connections; idle ones close, busy ones close after their
  // current answers (HTTP/1.1 Connection: close, HTTP/2 GOAWAY).
  void shutdown ();

 private:
  struct Connection;
  static gboolean on_accept (gint fd, GIOCondition condition, gpointer data);
  static gboolean on_events (gint fd, GIOCondition condition, gpointer data);
  static gboolean on_tick (gpointer data);
  void close (Connection *c);
  void reap (); // deletes closed connections
  // Flushes c's HTTP/2 answers after this round of events and wake-ups.
  void schedule_flush (Connection *c);

  OriginHandler &handler_;
  GMainContext *context_;
  const Limits limits_;
  std::shared_ptr<Tls> tls_;
  std::shared_ptr<ConnectionBudget> budget_;
  bool shutting_down_ = false;
  H2Session::Counters h2_counters_;
  int listen_fd_ = -1;
  GSource *accept_source_ = nullptr;
  uint16_t port_ = 0;
  std::set<Connection *> connections_;
  int epoll_fd_ = -1;
  GSource *events_source_ = nullptr;
  GSource *tick_source_ = nullptr;
  std::vector<Connection *> pending_;   // TLS bytes decrypted, not yet read
  std::vector<Connection *> graveyard_; // closed, deleted after the events
  std::vector<Connection *> dirty_;     // HTTP/2 answers to send
  std::string head_;                    // an HTTP/1.1 head being written

  Stats stats_;
  struct http_parser_settings settings_;
};

} // namespace mirror
