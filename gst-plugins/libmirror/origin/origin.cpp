// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/origin.h"

#include <gio/gio.h>

#include "origin/soup_frontend.h"
#include "util/main_context.h"

namespace mirror {

namespace {

// The player page and hls.js, compiled into libmirror (origin/player/).
void
add_player_assets (OriginHandler &handler)
{
  struct Entry {
    const char *path;
    const char *resource;
    const char *type;
    const char *cache;
  } entries[] = {
    { "/", "/io/mirror/origin/player/index.html", "text/html; charset=utf-8", "no-cache" },
    { "/player/hls.min.js", "/io/mirror/origin/player/hls.min.js", "text/javascript; charset=utf-8",
      "public, max-age=3600" },
  };
  for (const Entry &e : entries) {
    GBytes *data = g_resources_lookup_data (e.resource, G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
    if (!data)
      continue; // hls.js is absent when npm was not run: the page says so
    gsize size = 0;
    auto *p = static_cast<const uint8_t *> (g_bytes_get_data (data, &size));
    handler.set_asset (
        e.path, { Bytes::wrap (p, size, [data] () { g_bytes_unref (data); }), e.type, e.cache });
  }
}

} // namespace

namespace {

// Where streams' discontinuity sequences are kept across restarts: under the
// state directory, when numbering comes from the clock.
OriginConfig
with_numbering_dir (OriginConfig config)
{
  StreamConfig &d = config.stream_defaults;
  if (d.numbering_dir.empty () && d.numbering_clock_ns != 0)
    d.numbering_dir
        = (config.state_dir.empty () ? default_state_dir () : config.state_dir) + "/hls-numbering";
  return config;
}

} // namespace

Origin::Origin (const OriginConfig &config)
    : config_ (with_numbering_dir (config)), store_ (config_.stream_defaults)
{}

std::shared_ptr<Origin>
Origin::start (const OriginConfig &config, std::string *error)
{
  std::shared_ptr<Origin> origin (new Origin (config));
  if (!origin->run (error))
    return nullptr;
  return origin;
}

std::shared_ptr<Origin>
Origin::shared_for_port (const OriginConfig &config, std::string *error)
{
  static std::mutex lock;
  static std::map<uint16_t, std::weak_ptr<Origin>> by_port;
  std::lock_guard<std::mutex> guard (lock);
  uint16_t port = config.tls_port.value_or (0);
  if (port != 0) {
    if (auto origin = by_port[port].lock ())
      return origin;
  }
  auto origin = start (config, error);
  if (origin && port != 0)
    by_port[port] = origin;
  return origin;
}

bool
Origin::run (std::string *error)
{
  GTlsCertificate *certificate = nullptr;
  if (config_.tls_port) {
    std::string state_dir = config_.state_dir.empty () ? default_state_dir () : config_.state_dir;
    auto identity
        = load_or_create_tls_identity (config_.cert_file, config_.key_file, state_dir, error);
    if (!identity)
      return false;
    identity_ = *identity;
    std::string pem = identity_.cert_pem + "\n" + identity_.key_pem;
    GError *err = nullptr;
    certificate = g_tls_certificate_new_from_pem (pem.c_str (), -1, &err);
    if (!certificate) {
      *error = "TLS certificate " + identity_.cert_file + ": " + err->message
               + (g_tls_backend_supports_tls (g_tls_backend_get_default ())
                      ? ""
                      : " (GIO has no TLS backend: install glib-networking)");
      g_error_free (err);
      return false;
    }
  }

  context_ = g_main_context_new ();
  loop_ = g_main_loop_new (context_, FALSE);
  std::promise<std::string> started;
  auto result = started.get_future ();
  thread_ = std::thread ([this, &started, certificate] () {
    g_main_context_push_thread_default (context_);
    handler_ = std::make_unique<OriginHandler> (store_, context_, config_.stream_defaults.recorder,
                                                config_.archive ? config_.archive->s3 () : nullptr);
    add_player_assets (*handler_);
    SoupAcceptor::Limits limits;
    limits.idle_timeout_ms = config_.http_idle_timeout_ms;
    auto frontend = std::make_unique<SoupFrontend> (*handler_, limits);
    http_ = frontend.get ();
    std::string err;
    bool ok = frontend->listen (config_.bind_address, config_.tls_port, certificate, std::nullopt,
                                &err);
    if (certificate)
      g_object_unref (certificate);
    if (ok)
      tls_port_ = frontend->tls_port ();
    // Plain HTTP/1.1 on the event-driven server, off libsoup.
    std::unique_ptr<Http1Server> http1;
    if (ok && config_.http_port) {
      Http1Server::Limits http1_limits;
      http1_limits.idle_timeout_ms = config_.http_idle_timeout_ms;
      http1 = std::make_unique<Http1Server> (*handler_, context_, http1_limits);
      ok = http1->listen (config_.bind_address, *config_.http_port, &err);
      if (ok) {
        http_port_ = http1->port ();
        http1_ = http1.get ();
      }
    }
    // HTTP/3 on the HTTPS port's number, over UDP.
    std::unique_ptr<QuicFrontend> quic;
    if (ok && config_.tls_port && config_.http3) {
      quic = std::make_unique<QuicFrontend> (*handler_, identity_, config_.quic_limits);
      ok = quic->listen (config_.bind_address, tls_port_, &err);
      if (ok) {
        http3_port_ = quic->port ();
        quic_ = quic.get ();
        handler_->add_common_header ("Alt-Svc",
                                     "h3=\":" + std::to_string (http3_port_) + "\"; ma=86400");
      }
    }
    started.set_value (ok ? std::string () : err);
    if (ok)
      g_main_loop_run (loop_);
    quic_ = nullptr;
    quic.reset ();
    http1_ = nullptr;
    http1.reset ();
    http_ = nullptr;
    frontend.reset ();
    handler_.reset ();
    g_main_context_pop_thread_default (context_);
  });
  *error = result.get ();
  if (!error->empty ()) {
    thread_.join ();
    return false;
  }
  return true;
}

Origin::~Origin ()
{
  if (thread_.joinable ()) {
    invoke_on (context_, [this] () { g_main_loop_quit (loop_); });
    thread_.join ();
  }
  // Wake-ups that arrive now find the handler gone; close the streams first
  // so nothing is left waiting on them.
  for (const std::string &id : store_.stream_ids ())
    store_.remove_stream (id);
  if (loop_)
    g_main_loop_unref (loop_);
  if (context_)
    g_main_context_unref (context_);
}

std::shared_ptr<StreamStore>
Origin::attach (const std::string &id, const StreamConfig &config)
{
  std::lock_guard<std::mutex> lock (publishers_lock_);
  count_publisher_locked (id);
  return store_.open_stream (id, config);
}

void
Origin::count_publisher_locked (const std::string &id)
{
  Publishers &p = publishers_[id];
  if (p.count == 0) {
    // Either new, or lingering after its end: a new feed gets a new stream.
    store_.remove_stream (id);
  }
  ++p.count;
  ++p.generation;
}

void
Origin::hold (const std::string &id)
{
  std::lock_guard<std::mutex> lock (publishers_lock_);
  count_publisher_locked (id);
}

void
Origin::detach (const std::string &id)
{
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock (publishers_lock_);
    auto it = publishers_.find (id);
    if (it == publishers_.end () || it->second.count == 0)
      return;
    if (--it->second.count > 0)
      return;
    generation = it->second.generation;
  }
  if (auto stream = store_.find_stream (id))
    for (const std::string &r : stream->rendition_names ())
      stream->finish (r);

  guint linger_ms = (guint)(config_.linger_ns / 1000000);
  invoke_on (context_, [this, id, generation, linger_ms] () {
    struct Linger {
      Origin *self;
      std::string id;
      uint64_t generation;
    };
    GSource *timer = g_timeout_source_new (linger_ms);
    g_source_set_callback (
        timer,
        [] (gpointer data) -> gboolean {
          auto *l = static_cast<Linger *> (data);
          std::lock_guard<std::mutex> lock (l->self->publishers_lock_);
          auto it = l->self->publishers_.find (l->id);
          if (it != l->self->publishers_.end () && it->second.count == 0
              && it->second.generation == l->generation) {
            l->self->store_.remove_stream (l->id);
            l->self->publishers_.erase (it);
          }
          return G_SOURCE_REMOVE;
        },
        new Linger{ this, id, generation }, [] (gpointer d) { delete static_cast<Linger *> (d); });
    g_source_attach (timer, context_);
    g_source_unref (timer);
  });
}

void
Origin::shutdown ()
{
  invoke_on (context_, [this] () {
    if (quic_)
      quic_->shutdown ();
  });
}

OriginStats
Origin::stats ()
{
  std::promise<OriginStats> result;
  auto f = result.get_future ();
  invoke_on (context_, [this, &result] () {
    OriginStats s;
    if (handler_)
      s.requests = handler_->stats ();
    s.streams = store_.stream_ids ().size ();
    if (http_)
      s.http = http_->connection_stats ();
    // One figure for the Origin's HTTPS and plain HTTP connections.
    if (http1_) {
      const Http1Server::Stats h = http1_->stats ();
      s.http.accepted += h.connections_total;
      s.http.closed += h.closed;
      s.http.idle_closed += h.idle_closed;
      s.http.held_abandoned += h.held_abandoned;
      s.http.open += h.connections_now;
    }
    if (quic_) {
      s.http3 = true;
      s.quic = quic_->stats ();
    }
    result.set_value (s);
  });
  return f.get ();
}

} // namespace mirror
