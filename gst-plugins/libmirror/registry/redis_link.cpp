// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/redis_link.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

#include <hiredis/adapters/glib.h>

namespace mirror {

namespace {

constexpr unsigned kFirstBackoffMs = 100;
constexpr unsigned kMaxBackoffMs = 1000;
constexpr unsigned kHealthIntervalMs = 250;
// Resolve + connect + AUTH + SELECT; a server that accepts but never answers
// (stopped, overloaded) must not leave the link hanging in between.
constexpr int64_t kHandshakeTimeoutMs = 3000;
// A half-open TCP connection only shows as a PING that is never answered.
constexpr int64_t kPingIntervalMs = 1000;
constexpr int64_t kPingTimeoutMs = 3000;

int64_t
now_ms ()
{
  return g_get_monotonic_time () / 1000;
}

std::string
reply_text (const redisReply *reply)
{
  return reply->str ? std::string (reply->str, reply->len) : std::string ();
}

struct ResolveRequest {
  RedisLink *link;
  GCancellable *cancellable; // owned; cancelled when the link stops waiting
};

gboolean
destroy_and_call (GSource **source, void (*fn) (RedisLink *), RedisLink *link)
{
  g_source_destroy (*source);
  g_source_unref (*source);
  *source = nullptr;
  fn (link);
  return G_SOURCE_REMOVE;
}

} // namespace

RedisLink::RedisLink (WorkerThread &worker, RegistryUri endpoint)
    : worker_ (worker), endpoint_ (std::move (endpoint)),
      describe_ (describe_registry_uri (endpoint_))
{}

RedisLink::~RedisLink ()
{
  // shutdown () ran on the worker; nothing may still point here.
  g_warn_if_fail (ac_ == nullptr && retry_timer_ == nullptr && health_timer_ == nullptr);
}

void
RedisLink::start (std::function<void ()> on_ready)
{
  on_ready_ = std::move (on_ready);
  health_timer_ = g_timeout_source_new (kHealthIntervalMs);
  g_source_set_callback (health_timer_, on_health, this, nullptr);
  g_source_attach (health_timer_, worker_.context ());
  connect ();
}

void
RedisLink::shutdown ()
{
  phase_ = Phase::kShutdown;
  if (resolving_) {
    g_cancellable_cancel (resolving_);
    g_clear_object (&resolving_);
  }
  for (GSource **timer : { &retry_timer_, &health_timer_ }) {
    if (*timer) {
      g_source_destroy (*timer);
      g_source_unref (*timer);
      *timer = nullptr;
    }
  }
  if (redisAsyncContext *ac = std::exchange (ac_, nullptr))
    redisAsyncFree (ac); // pending callbacks run now, with a nullptr reply
  std::lock_guard<std::mutex> lock (connected_mutex_);
  stopped_ = true;
  connected_ = false;
  connected_cond_.notify_all ();
}

bool
RedisLink::wait_connected (int64_t timeout_ms)
{
  // The worker thread itself would wait for its own progress.
  if (worker_.is_current ())
    return connected ();
  std::unique_lock<std::mutex> lock (connected_mutex_);
  connected_cond_.wait_for (lock, std::chrono::milliseconds (std::max<int64_t> (timeout_ms, 0)),
                            [this] { return connected_.load () || stopped_; });
  return connected_.load ();
}

void
RedisLink::set_connected (bool connected)
{
  std::lock_guard<std::mutex> lock (connected_mutex_);
  connected_ = connected;
  connected_cond_.notify_all ();
}

void
RedisLink::connect ()
{
  phase_ = Phase::kResolving;
  phase_since_ms_ = now_ms ();
  ++attempt_;
  if (g_hostname_is_ip_address (endpoint_.host.c_str ())) {
    open (endpoint_.host);
    return;
  }
  // hiredis would resolve with a blocking getaddrinfo (); GResolver does it
  // off this thread.
  resolving_ = g_cancellable_new ();
  GResolver *resolver = g_resolver_get_default ();
  g_resolver_lookup_by_name_async (
      resolver, endpoint_.host.c_str (), resolving_, on_resolved,
      new ResolveRequest{ this, G_CANCELLABLE (g_object_ref (resolving_)) });
  g_object_unref (resolver);
}

void
RedisLink::on_resolved (GObject *resolver, GAsyncResult *result, gpointer data)
{
  std::unique_ptr<ResolveRequest> request (static_cast<ResolveRequest *> (data));
  GError *error = nullptr;
  GList *addresses = g_resolver_lookup_by_name_finish (G_RESOLVER (resolver), result, &error);
  bool cancelled = g_cancellable_is_cancelled (request->cancellable);
  g_object_unref (request->cancellable);
  if (cancelled) {
    // The link stopped waiting (and may be gone): touch nothing of it.
    g_clear_error (&error);
    g_resolver_free_addresses (addresses);
    return;
  }
  RedisLink *self = request->link;
  g_clear_object (&self->resolving_);
  if (!addresses) {
    std::string why = "cannot resolve host '" + self->endpoint_.host
                      + "': " + (error ? error->message : "no address");
    g_clear_error (&error);
    self->lost (why);
    return;
  }
  // IPv4 first (Redis is often bound to 127.0.0.1 only); successive attempts
  // walk through the list, so one dead address does not block the others.
  std::vector<std::string> candidates;
  for (int family : { G_SOCKET_FAMILY_IPV4, G_SOCKET_FAMILY_IPV6 }) {
    for (GList *l = addresses; l; l = l->next) {
      GInetAddress *address = G_INET_ADDRESS (l->data);
      if (g_inet_address_get_family (address) != family)
        continue;
      g_autofree gchar *text = g_inet_address_to_string (address);
      candidates.emplace_back (text);
    }
  }
  g_resolver_free_addresses (addresses);
  if (candidates.empty ()) {
    self->lost ("host '" + self->endpoint_.host + "' has no IPv4 or IPv6 address");
    return;
  }
  self->open (candidates[(self->attempt_ - 1) % candidates.size ()]);
}

void
RedisLink::open (const std::string &address)
{
  phase_ = Phase::kConnecting;
  redisAsyncContext *ac = redisAsyncConnect (address.c_str (), endpoint_.port);
  if (!ac) {
    lost ("cannot allocate a hiredis context");
    return;
  }
  if (ac->err) {
    std::string why = ac->errstr;
    redisAsyncFree (ac);
    lost (why);
    return;
  }
  ac->data = this;
  GSource *source = redis_source_new (ac);
  ac->ev.cleanup = on_source_cleanup;
  g_source_attach (source, worker_.context ());
  ac_ = ac;
  redisEnableKeepAlive (&ac->c);
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
  // hiredis holds these until the socket is connected, then sends them first.
  handshake ();
}

void
RedisLink::handshake ()
{
  if (!endpoint_.password.empty ()) {
    std::vector<std::string> auth{ "AUTH" };
    if (!endpoint_.username.empty ())
      auth.push_back (endpoint_.username);
    auth.push_back (endpoint_.password);
    ReplyFn on_auth = [this] (redisReply *reply) {
      if (!reply || reply->type != REDIS_REPLY_ERROR)
        return;
      std::string text = reply_text (reply);
      // A server without requirepass is not a reason to stay away from it.
      if (text.find ("without any password configured") != std::string::npos) {
        log_failure ("a password is configured but the server asks for none");
        return;
      }
      drop ("AUTH refused: " + text);
    };
    command (auth, on_auth);
  }
  ReplyFn on_select = [this] (redisReply *reply) {
    if (!reply || phase_ != Phase::kConnecting)
      return;
    if (reply->type == REDIS_REPLY_ERROR) {
      drop ("SELECT " + std::to_string (endpoint_.db) + " failed: " + reply_text (reply));
      return;
    }
    phase_ = Phase::kReady;
    backoff_ms_ = 0;
    ping_sent_ms_ = 0;
    last_ping_ms_ = now_ms ();
    last_failure_.clear ();
    g_message ("registry: connected to Redis at %s", describe_.c_str ());
    set_connected (true);
    if (on_ready_)
      on_ready_ ();
  };
  command ({ "SELECT", std::to_string (endpoint_.db) }, on_select);
}

bool
RedisLink::command (const std::vector<std::string> &argv, ReplyFn &fn)
{
  if (!ac_ || (ac_->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
    return false;
  std::vector<const char *> args;
  std::vector<size_t> lengths;
  for (const auto &arg : argv) {
    args.push_back (arg.data ());
    lengths.push_back (arg.size ());
  }
  auto *pending = new ReplyFn (std::move (fn));
  if (redisAsyncCommandArgv (ac_, on_reply, pending, static_cast<int> (argv.size ()), args.data (),
                             lengths.data ())
      != REDIS_OK) {
    fn = std::move (*pending);
    delete pending;
    return false;
  }
  return true;
}

void
RedisLink::send (const std::vector<std::string> &argv, ReplyFn fn)
{
  if (phase_ == Phase::kReady && command (argv, fn))
    return;
  // Still never inside the caller: the failure is reported as a later task.
  worker_.post ([fn = std::move (fn)] { fn (nullptr); });
}

void
RedisLink::on_reply (redisAsyncContext *, void *reply, void *privdata)
{
  std::unique_ptr<ReplyFn> fn (static_cast<ReplyFn *> (privdata));
  try {
    (*fn) (static_cast<redisReply *> (reply));
  } catch (...) {
    g_critical ("registry: a Redis reply handler threw an exception");
  }
}

void
RedisLink::on_connect (const redisAsyncContext *ac, int status)
{
  auto *self = static_cast<RedisLink *> (ac->data);
  if (status == REDIS_OK || self->ac_ != ac)
    return;
  // hiredis frees the context once this returns.
  self->ac_ = nullptr;
  self->lost (ac->errstr);
}

void
RedisLink::on_disconnect (const redisAsyncContext *ac, int status)
{
  auto *self = static_cast<RedisLink *> (ac->data);
  // drop () and shutdown () free the context themselves and have already
  // dealt with the loss.
  if (self->ac_ != ac)
    return;
  self->ac_ = nullptr;
  self->lost (status == REDIS_OK ? std::string ("the server closed the connection") : ac->errstr);
}

void
RedisLink::on_source_cleanup (void *data)
{
  auto *source = static_cast<RedisSource *> (data);
  redis_source_cleanup (data);
  // hiredis calls this just before freeing the context. The adapter's
  // dispatch, if it is the caller, goes on to test revents and would hand the
  // freed context to redisAsyncHandleRead (): nothing is pending any more.
  source->poll_fd.revents = 0;
  // The source is ours (from redis_source_new); GLib keeps its own reference
  // while dispatching it, so this is safe from inside the dispatch too.
  g_source_destroy (&source->source);
  g_source_unref (&source->source);
}

void
RedisLink::drop (const std::string &why)
{
  redisAsyncContext *ac = std::exchange (ac_, nullptr);
  if (!ac)
    return;
  lost (why);
  // Pending callbacks see a nullptr reply (now, or when the current callback
  // returns if called from one) and a link that is already down.
  redisAsyncFree (ac);
}

void
RedisLink::lost (const std::string &why)
{
  if (phase_ == Phase::kShutdown)
    return;
  bool was_ready = phase_ == Phase::kReady;
  phase_ = Phase::kIdle;
  phase_since_ms_ = now_ms ();
  ping_sent_ms_ = 0;
  set_connected (false);
  if (was_ready) {
    g_warning ("registry: lost Redis at %s: %s; reconnecting", describe_.c_str (), why.c_str ());
    last_failure_ = why;
  } else {
    log_failure (why);
  }
  unsigned delay = backoff_ms_ ? backoff_ms_ : kFirstBackoffMs;
  backoff_ms_ = std::min (delay * 2, kMaxBackoffMs);
  if (retry_timer_) {
    g_source_destroy (retry_timer_);
    g_source_unref (retry_timer_);
  }
  retry_timer_ = g_timeout_source_new (delay);
  g_source_set_callback (retry_timer_, on_retry, this, nullptr);
  g_source_attach (retry_timer_, worker_.context ());
}

void
RedisLink::log_failure (const std::string &why)
{
  if (why == last_failure_) {
    g_debug ("registry: Redis at %s still unreachable: %s", describe_.c_str (), why.c_str ());
    return;
  }
  last_failure_ = why;
  g_warning ("registry: cannot use Redis at %s: %s; retrying", describe_.c_str (), why.c_str ());
}

gboolean
RedisLink::on_retry (gpointer data)
{
  auto *self = static_cast<RedisLink *> (data);
  return destroy_and_call (
      &self->retry_timer_, [] (RedisLink *link) { link->connect (); }, self);
}

gboolean
RedisLink::on_health (gpointer data)
{
  static_cast<RedisLink *> (data)->check_health ();
  return G_SOURCE_CONTINUE;
}

void
RedisLink::check_health ()
{
  int64_t now = now_ms ();
  if (phase_ == Phase::kResolving || phase_ == Phase::kConnecting) {
    if (now - phase_since_ms_ <= kHandshakeTimeoutMs)
      return;
    std::string why = "no answer within " + std::to_string (kHandshakeTimeoutMs) + " ms";
    if (resolving_) {
      g_cancellable_cancel (resolving_);
      g_clear_object (&resolving_);
    }
    if (ac_)
      drop (why);
    else
      lost (why);
    return;
  }
  if (phase_ != Phase::kReady)
    return;
  if (ping_sent_ms_ && now - ping_sent_ms_ > kPingTimeoutMs) {
    drop ("PING unanswered for " + std::to_string (now - ping_sent_ms_) + " ms");
    return;
  }
  if (!ping_sent_ms_ && now - last_ping_ms_ >= kPingIntervalMs) {
    ReplyFn on_pong = [this] (redisReply *reply) {
      if (reply)
        ping_sent_ms_ = 0;
    };
    if (command ({ "PING" }, on_pong))
      ping_sent_ms_ = last_ping_ms_ = now;
  }
}

} // namespace mirror
