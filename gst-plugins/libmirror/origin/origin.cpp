// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/origin.h"

#include <algorithm>

#include <gio/gio.h>

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
    : config_ (with_numbering_dir (config)), store_ (config_.stream_defaults),
      tcp_budget_ (std::make_shared<ConnectionBudget> (config_.http_max_connections,
                                                       config_.max_connections_per_address)),
      quic_budget_ (std::make_shared<ConnectionBudget> (config_.quic_limits.max_connections,
                                                        config_.max_connections_per_address))
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
  if (config_.tls_port) {
    std::string state_dir = config_.state_dir.empty () ? default_state_dir () : config_.state_dir;
    auto identity
        = load_or_create_tls_identity (config_.cert_file, config_.key_file, state_dir, error);
    if (!identity)
      return false;
    identity_ = *identity;
    tls_ = TcpFrontend::Tls::create (identity_, error);
    if (!tls_)
      return false;
  }
  unsigned n = config_.workers;
  if (n == 0)
    n = std::max (1u, std::thread::hardware_concurrency ());
  if (config_.tls_port && config_.http3 && n > 1)
    quic_group_ = std::make_shared<QuicWorkerGroup> (n);
  // One at a time: worker 0 picks the ports, the others join them.
  for (unsigned i = 0; i < n; i++) {
    auto w = std::make_unique<Worker> ();
    w->index = i;
    w->context = g_main_context_new ();
    w->loop = g_main_loop_new (w->context, FALSE);
    std::promise<std::string> started;
    auto result = started.get_future ();
    Worker *wp = w.get ();
    w->thread = std::thread ([this, wp, &started] () {
      g_main_context_push_thread_default (wp->context);
      std::string err = start_worker (*wp);
      const bool ok = err.empty ();
      started.set_value (std::move (err));
      if (ok)
        g_main_loop_run (wp->loop);
      wp->quic.reset ();
      wp->http.reset ();
      wp->https.reset ();
      wp->handler.reset ();
      g_main_context_pop_thread_default (wp->context);
    });
    *error = result.get ();
    workers_.push_back (std::move (w));
    if (!error->empty ())
      return false; // the destructor stops the ones started
  }
  context_ = workers_[0]->context;
  return true;
}

std::string
Origin::start_worker (Worker &w)
{
  const bool first = w.index == 0;
  const bool shared = config_.workers != 1;
  w.handler = std::make_unique<OriginHandler> (store_, w.context, config_.stream_defaults.recorder,
                                               config_.archive ? config_.archive->s3 () : nullptr);
  add_player_assets (*w.handler);
  if (!config_.playback_token_key.empty ())
    w.handler->set_playback_tokens (
        std::make_shared<const PlaybackTokens> (config_.playback_token_key));
  if (config_.directory) {
    w.handler->set_directory (config_.directory, config_.public_url);
    if (config_.relay) {
      if (!relay_)
        relay_ = std::make_shared<OriginRelay> ();
      w.handler->set_relay (relay_);
    }
  }
  TcpFrontend::Limits limits;
  limits.idle_timeout_ms = config_.http_idle_timeout_ms;
  std::string err;
  if (config_.tls_port) {
    w.https = std::make_unique<TcpFrontend> (*w.handler, w.context, limits, tls_, tcp_budget_);
    if (!w.https->listen (config_.bind_address, first ? *config_.tls_port : tls_port_, shared,
                          &err))
      return err;
    if (first)
      tls_port_ = w.https->port ();
  }
  if (config_.http_port) {
    w.http = std::make_unique<TcpFrontend> (*w.handler, w.context, limits, nullptr, tcp_budget_);
    if (!w.http->listen (config_.bind_address, first ? *config_.http_port : http_port_, shared,
                         &err))
      return err;
    if (first)
      http_port_ = w.http->port ();
  }
  // HTTP/3 on the HTTPS port's number, over UDP; with several workers, a
  // datagram the kernel hands to the wrong one goes to the owner its
  // connection ID names.
  if (config_.tls_port && config_.http3) {
    w.quic = std::make_unique<QuicFrontend> (*w.handler, identity_, config_.quic_limits,
                                             quic_group_, w.index, quic_budget_);
    if (!w.quic->listen (config_.bind_address, tls_port_, &err))
      return err;
    if (first)
      http3_port_ = w.quic->port ();
  }
  if (config_.tls_port && config_.http3)
    w.handler->add_common_header ("Alt-Svc",
                                  "h3=\":" + std::to_string (http3_port_) + "\"; ma=86400", false);
  return {};
}

Origin::~Origin ()
{
  for (auto &w : workers_) {
    if (w->thread.joinable ()) {
      invoke_on (w->context, [w = w.get ()] () { g_main_loop_quit (w->loop); });
      w->thread.join ();
    }
  }
  // Wake-ups that arrive now find the handlers gone; close the streams first
  // so nothing is left waiting on them.
  for (const std::string &id : store_.stream_ids ())
    store_.remove_stream (id);
  for (auto &w : workers_) {
    g_main_loop_unref (w->loop);
    g_main_context_unref (w->context);
  }
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
  for (auto &w : workers_)
    invoke_on (w->context, [w = w.get ()] () {
      if (w->quic)
        w->quic->shutdown ();
      if (w->https)
        w->https->shutdown ();
      if (w->http)
        w->http->shutdown ();
    });
}

namespace {

void
add_tcp (TcpFrontend::Stats &sum, const TcpFrontend::Stats &s)
{
  sum.connections_now += s.connections_now;
  sum.connections_total += s.connections_total;
  sum.requests += s.requests;
  sum.header_timeouts += s.header_timeouts;
  sum.too_large += s.too_large;
  sum.bad_requests += s.bad_requests;
  sum.held_refused += s.held_refused;
  sum.idle_closed += s.idle_closed;
  sum.refused += s.refused;
  sum.refused_per_address += s.refused_per_address;
  sum.closed += s.closed;
  sum.held_abandoned += s.held_abandoned;
  sum.tls_connections += s.tls_connections;
  sum.tls_failures += s.tls_failures;
  sum.h2_connections += s.h2_connections;
  sum.h2_requests += s.h2_requests;
  sum.h2_protocol_errors += s.h2_protocol_errors;
}

void
add_quic (QuicFrontend::Stats &sum, const QuicFrontend::Stats &s)
{
  sum.connections_now += s.connections_now;
  sum.connections_total += s.connections_total;
  sum.handshake_failures += s.handshake_failures;
  sum.streams_total += s.streams_total;
  sum.bytes_sent += s.bytes_sent;
  sum.bytes_received += s.bytes_received;
  sum.held_now += s.held_now;
  sum.retries_sent += s.retries_sent;
  sum.stateless_resets_sent += s.stateless_resets_sent;
  sum.packets_dropped += s.packets_dropped;
  sum.refused += s.refused;
  sum.refused_per_address += s.refused_per_address;
  sum.forwarded_out += s.forwarded_out;
  sum.forwarded_in += s.forwarded_in;
  sum.forward_dropped += s.forward_dropped;
}

void
add_requests (OriginHandlerStats &sum, const OriginHandlerStats &s)
{
  sum.requests += s.requests;
  sum.held += s.held;
  sum.held_now += s.held_now;
  sum.hold_groups += s.hold_groups;
  sum.hold_timeouts += s.hold_timeouts;
  sum.hint_misses += s.hint_misses;
  sum.token_refused += s.token_refused;
  sum.redirected += s.redirected;
  sum.relayed += s.relayed;
  sum.wake_posts += s.wake_posts;
}

} // namespace

ViewerCounts
Origin::viewers ()
{
  constexpr int64_t kWindowUs = 5 * G_USEC_PER_SEC;
  ViewerCounts total;
  for (auto &w : workers_) {
    std::promise<void> done;
    auto f = done.get_future ();
    invoke_on (w->context, [&total, &done, w = w.get ()] () {
      if (w->handler)
        for (const auto &[stream, counts] : w->handler->viewers (kWindowUs))
          for (size_t p = 0; p < kOriginProtocols; p++)
            total[stream][p] += counts[p];
      done.set_value ();
    });
    f.get ();
  }
  return total;
}

OriginStats
Origin::stats ()
{
  OriginStats total;
  total.workers = unsigned (workers_.size ());
  total.streams = store_.stream_ids ().size ();
  if (relay_)
    total.relay = relay_->stats ();
  for (auto &w : workers_) {
    std::promise<void> done;
    auto f = done.get_future ();
    invoke_on (w->context, [&total, &done, w = w.get ()] () {
      if (w->handler)
        add_requests (total.requests, w->handler->stats ());
      if (w->https)
        add_tcp (total.tcp, w->https->stats ());
      if (w->http)
        add_tcp (total.tcp, w->http->stats ());
      if (w->quic) {
        total.http3 = true;
        add_quic (total.quic, w->quic->stats ());
      }
      done.set_value ();
    });
    f.get ();
  }
  // In the admin port's terms, for the shared mirror_http_* figures.
  total.http.accepted = total.tcp.connections_total;
  total.http.closed = total.tcp.closed;
  total.http.idle_closed = total.tcp.idle_closed + total.tcp.header_timeouts;
  total.http.held_abandoned = total.tcp.held_abandoned;
  total.http.handshake_failures = total.tcp.tls_failures;
  total.http.open = total.tcp.connections_now;
  return total;
}

} // namespace mirror
