// SPDX-License-Identifier: LGPL-2.1-or-later
#include "api/rest_server.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "config/config.h"
#include "metrics/metrics.h"
#include "util/main_context.h"

namespace mirror::daemon {

namespace {

// Constant time, so the token cannot be guessed a byte at a time.
bool
same_secret (const std::string &a, const std::string &b)
{
  if (a.size () != b.size ())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size (); i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

const prometheus::Histogram::BucketBoundaries kLatencyBuckets
    = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 };

struct RequestRecord {
  Metrics *metrics;
  std::string method;
  std::string route;
  int64_t start_us;
};

void
count_request (SoupServerMessage *msg, gpointer data)
{
  auto *record = static_cast<RequestRecord *> (data);
  record->metrics->api_requests_total
      .Add ({ { "method", record->method },
              { "route", record->route },
              { "code", std::to_string (soup_server_message_get_status (msg)) } })
      .Increment ();
  record->metrics->api_request_duration_seconds
      .Add ({ { "route", record->route } }, kLatencyBuckets)
      .Observe ((g_get_monotonic_time () - record->start_us) / 1e6);
}

} // namespace

void
HealthBoard::set (const std::string &name, bool healthy, const std::string &detail)
{
  std::lock_guard<std::mutex> guard (lock_);
  components_[name] = { healthy, detail };
}

std::map<std::string, HealthBoard::Component>
HealthBoard::snapshot () const
{
  std::lock_guard<std::mutex> guard (lock_);
  return components_;
}

RestServer::RestServer (AdminContext context) : context_ (context)
{
  context_.admin_connections = [this] () { return connection_stats (); };
  add_stream_routes (router_, context_);
  add_stats_routes (router_, context_);
  add_health_routes (router_, context_);
  events_ = std::make_unique<EventStream> (context_);
  router_.add ("GET", "/api/v1/events",
               [this] (Exchange ex) { events_->subscribe (ex->take_stream ()); });

  server_ = soup_server_new ("server-header", "mirrord", nullptr);
  soup_server_add_handler (
      server_, nullptr,
      [] (SoupServer *, SoupServerMessage *msg, const char *path, GHashTable *, gpointer self) {
        static_cast<RestServer *> (self)->handle (msg, path);
      },
      this, nullptr);
}

RestServer::~RestServer ()
{
  close ();
  g_object_unref (server_);
}

bool
RestServer::listen (const std::string &address, uint16_t port, std::string *error)
{
  SoupAcceptor::Limits limits;
  limits.idle_timeout_ms = context_.config.server.http_idle_timeout_ms;
  acceptor_ = std::make_unique<SoupAcceptor> (server_, limits);
  std::string why;
  if (!acceptor_->listen (address, port, nullptr, &why)) {
    *error = "admin API: cannot listen on " + address + ":" + std::to_string (port) + ": " + why;
    return false;
  }
  return true;
}

void
RestServer::close ()
{
  if (events_)
    events_->close_all ();
  acceptor_.reset (); // closes every connection
  if (server_)
    soup_server_disconnect (server_);
}

SoupAcceptor::Stats
RestServer::connection_stats () const
{
  return acceptor_ ? acceptor_->stats () : SoupAcceptor::Stats ();
}

bool
RestServer::authorized (SoupServerMessage *msg) const
{
  const std::string &token = context_.config.server.admin_token;
  if (token.empty ())
    return true;
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  if (!header || g_ascii_strncasecmp (header, "Bearer ", 7) != 0)
    return false;
  return same_secret (header + 7, token);
}

void
RestServer::handle (SoupServerMessage *msg, const char *path)
{
  const int64_t start = g_get_monotonic_time ();
  const std::string method = soup_server_message_get_method (msg);
  Router::Match match = router_.match (method, path);
  auto exchange = std::make_shared<HttpExchange> (msg, match.params);
  const std::string route = match.handler ? match.pattern : "unmatched";

  // Counted when the answer goes out, which may be after a registry round trip.
  g_signal_connect_data (
      msg, "finished", G_CALLBACK (count_request),
      new RequestRecord{ &context_.metrics, method, route, start },
      [] (gpointer data, GClosure *) { delete static_cast<RequestRecord *> (data); },
      (GConnectFlags)0);

  exchange->set_header ("Access-Control-Allow-Origin", "*");
  if (!match.handler) {
    if (match.path_known)
      exchange->send_error (405, ApiErrc::kInvalidInput,
                            "method " + method + " is not allowed on " + path);
    else
      exchange->send_error (404, ApiErrc::kNotFound, std::string ("no such resource: ") + path);
    return;
  }
  if (match.mutating && !authorized (msg)) {
    exchange->set_header ("WWW-Authenticate", "Bearer realm=\"mirrord\"");
    exchange->send_error (401, ApiErrc::kUnauthorized,
                          "missing or wrong bearer token (server.admin_token)");
    return;
  }
  (*match.handler) (exchange);
  exchange->pause_if_pending ();
}

} // namespace mirror::daemon
