// SPDX-License-Identifier: LGPL-2.1-or-later
// The admin HTTP server (libsoup 3): REST API v1, /health, /metrics, the
// OpenAPI document and the operator's web page, on server.admin_port. Its
// connections come through a SoupAcceptor, which closes what clients leave
// and idle ones after server.http_idle_timeout.
#pragma once

#include <memory>
#include <string>

#include "api/admin_context.h"
#include "api/events.h"
#include "api/router.h"
#include "http/soup_acceptor.h"

typedef struct _SoupServer SoupServer;

namespace mirror::daemon {

class RestServer {
 public:
  explicit RestServer (AdminContext context);
  ~RestServer ();
  RestServer (const RestServer &) = delete;
  RestServer &operator= (const RestServer &) = delete;

  bool listen (const std::string &address, uint16_t port, std::string *error);
  void close ();
  SoupAcceptor::Stats connection_stats () const;

 private:
  void handle (SoupServerMessage *msg, const char *path);
  bool authorized (SoupServerMessage *msg) const;

  AdminContext context_;
  Router router_;
  SoupServer *server_ = nullptr;
  std::unique_ptr<SoupAcceptor> acceptor_;
  std::unique_ptr<EventStream> events_;
};

// Route tables, one per URL subtree (api/v1/*.cpp, api/health.cpp).
void add_stream_routes (Router &router, AdminContext &context);
void add_stats_routes (Router &router, AdminContext &context);
void add_health_routes (Router &router, AdminContext &context);

} // namespace mirror::daemon
