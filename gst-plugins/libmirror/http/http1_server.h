// SPDX-License-Identifier: LGPL-2.1-or-later
// An event-driven HTTP/1.1 server for the viewer path, off libsoup (issue
// 17): one GMainContext's thread accepts and serves its connections from
// start to end, parsing with Debian's http-parser (no hand-written parser)
// and handing every request to an OriginHandler, as the HTTP/3 front end
// does. Responses go out in request order (pipelining), their bodies
// written with writev straight from the store's refcounted buffers: no
// per-viewer copy of a part.
//
// Limits: request heads over max_header_bytes get 431 and the connection
// closes; a head not complete within header_timeout_ms (slowloris) closes
// it; at most max_pipelined requests wait for their turn before reading
// stops; a request held (a blocking reload, a hinted part) beyond
// max_held per connection gets 503; a connection with nothing in flight
// closes after idle_timeout_ms; beyond max_connections, new ones are
// closed at once. A client that goes away cancels what it had held.
//
// Plain TCP only so far: the Origin serves its plain HTTP port with it
// (HTTPS stays on libsoup until TLS and HTTP/2 come here, issue 17).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include <glib.h>

#include <http_parser.h>

#include "origin/origin_handler.h"

namespace mirror {

class Http1Server {
 public:
  struct Limits {
    size_t max_header_bytes = 16 * 1024;
    size_t max_pipelined = 16;
    size_t max_held = 8;
    int64_t header_timeout_ms = 10000;
    int64_t idle_timeout_ms = 30000;
    size_t max_connections = 10000;
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
    uint64_t refused = 0;        // over max_connections
    uint64_t closed = 0;         // connections closed, for any reason
    uint64_t held_abandoned = 0; // held requests whose client went away
  };

  // Serves on @context's thread; every call on it.
  Http1Server (OriginHandler &handler, GMainContext *context, Limits limits);
  ~Http1Server ();
  Http1Server (const Http1Server &) = delete;
  Http1Server &operator= (const Http1Server &) = delete;

  // Binds and listens; port 0: any free one. False with *error.
  bool listen (const std::string &address, uint16_t port, std::string *error);
  uint16_t port () const { return port_; }
  Stats stats () const;

 private:
  struct Connection;
  static gboolean on_accept (gint fd, GIOCondition condition, gpointer data);
  void close (Connection *c);

  OriginHandler &handler_;
  GMainContext *context_;
  const Limits limits_;
  int listen_fd_ = -1;
  GSource *accept_source_ = nullptr;
  uint16_t port_ = 0;
  std::set<Connection *> connections_;
  Stats stats_;
  struct http_parser_settings settings_;
};

} // namespace mirror
