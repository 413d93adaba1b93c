// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http/soup_acceptor.h"

#include <algorithm>
#include <map>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "util/main_context.h"

// ------------------------------------------------------------ guarded input
//
// What libsoup reads: the connection's input, except that its end (EOF, or
// a read error such as a reset) becomes one stray byte, then EOF. libsoup
// 3.2 leaks a kept-alive connection whose client leaves before sending a
// byte of its next request (and one that fails with an error instead of EOF
// at any point while it waits for headers), but it closes one whose request
// ends half-way: the stray byte makes every end look like that.

struct MirrorGuardedInput {
  GInputStream parent;
  GInputStream *base;
  gboolean injected; // the stray byte went out: only EOF from now on
};

struct MirrorGuardedInputClass {
  GInputStreamClass parent_class;
};

static void mirror_guarded_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE (MirrorGuardedInput, mirror_guarded_input, G_TYPE_INPUT_STREAM,
                         G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                mirror_guarded_input_pollable_init))

#define MIRROR_GUARDED_INPUT(o) ((MirrorGuardedInput *)(o))

static void
mirror_guarded_input_finalize (GObject *object)
{
  g_clear_object (&MIRROR_GUARDED_INPUT (object)->base);
  G_OBJECT_CLASS (mirror_guarded_input_parent_class)->finalize (object);
}

// What a read of the base stream returned (n bytes, or -1 and base_error)
// becomes.
static gssize
mirror_guarded_input_filter (MirrorGuardedInput *self, gssize n, void *buffer, gsize count,
                             GError *base_error, GError **error)
{
  if (n > 0)
    return n;
  if (n < 0 && g_error_matches (base_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
    g_propagate_error (error, base_error);
    return -1;
  }
  g_clear_error (&base_error);
  if (self->injected || count == 0)
    return 0;
  self->injected = TRUE;
  static_cast<char *> (buffer)[0] = 'X';
  return 1;
}

static gssize
mirror_guarded_input_read (GInputStream *stream, void *buffer, gsize count,
                           GCancellable *cancellable, GError **error)
{
  auto *self = MIRROR_GUARDED_INPUT (stream);
  if (self->injected)
    return 0;
  GError *base_error = nullptr;
  gssize n = g_input_stream_read (self->base, buffer, count, cancellable, &base_error);
  return mirror_guarded_input_filter (self, n, buffer, count, base_error, error);
}

static gssize
mirror_guarded_input_read_nonblocking (GPollableInputStream *stream, void *buffer, gsize count,
                                       GError **error)
{
  auto *self = MIRROR_GUARDED_INPUT (stream);
  if (self->injected)
    return 0;
  GError *base_error = nullptr;
  gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (self->base), buffer,
                                                       count, nullptr, &base_error);
  return mirror_guarded_input_filter (self, n, buffer, count, base_error, error);
}

static gboolean
mirror_guarded_input_can_poll (GPollableInputStream *)
{
  return TRUE;
}

static gboolean
mirror_guarded_input_is_readable (GPollableInputStream *stream)
{
  auto *self = MIRROR_GUARDED_INPUT (stream);
  return self->injected
         || g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (self->base));
}

static GSource *
mirror_guarded_input_create_source (GPollableInputStream *stream, GCancellable *cancellable)
{
  auto *self = MIRROR_GUARDED_INPUT (stream);
  if (self->injected) {
    GSource *source = g_pollable_source_new (G_OBJECT (stream));
    g_source_set_ready_time (source, 0);
    return source;
  }
  GSource *base
      = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (self->base), cancellable);
  GSource *source = g_pollable_source_new_full (stream, base, cancellable);
  g_source_unref (base);
  return source;
}

static void
mirror_guarded_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = mirror_guarded_input_can_poll;
  iface->is_readable = mirror_guarded_input_is_readable;
  iface->create_source = mirror_guarded_input_create_source;
  iface->read_nonblocking = mirror_guarded_input_read_nonblocking;
}

static gboolean
mirror_guarded_input_close (GInputStream *, GCancellable *, GError **)
{
  return TRUE; // the connection's stream closes the base
}

static void
mirror_guarded_input_class_init (MirrorGuardedInputClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mirror_guarded_input_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = mirror_guarded_input_read;
  G_INPUT_STREAM_CLASS (klass)->close_fn = mirror_guarded_input_close;
}

static void
mirror_guarded_input_init (MirrorGuardedInput *)
{}

// ----------------------------------------------------------- guarded stream
//
// The connection as libsoup sees it: the guarded input, the base's output,
// and a close that closes the base (and the socket) and tells the acceptor.

struct MirrorGuardedStream {
  GIOStream parent;
  GIOStream *base;
  GInputStream *input;
  std::function<void ()> *on_closed;
};

struct MirrorGuardedStreamClass {
  GIOStreamClass parent_class;
};

G_DEFINE_TYPE (MirrorGuardedStream, mirror_guarded_stream, G_TYPE_IO_STREAM)

#define MIRROR_GUARDED_STREAM(o) ((MirrorGuardedStream *)(o))

static GInputStream *
mirror_guarded_stream_get_input (GIOStream *stream)
{
  return MIRROR_GUARDED_STREAM (stream)->input;
}

static GOutputStream *
mirror_guarded_stream_get_output (GIOStream *stream)
{
  return g_io_stream_get_output_stream (MIRROR_GUARDED_STREAM (stream)->base);
}

static gboolean
mirror_guarded_stream_close (GIOStream *stream, GCancellable *cancellable, GError **error)
{
  auto *self = MIRROR_GUARDED_STREAM (stream);
  // The base may refuse (an operation of libsoup's still pending on it);
  // the acceptor then closes the socket itself (forget ()).
  gboolean ok = g_io_stream_close (self->base, cancellable, error);
  if (self->on_closed) {
    auto fn = std::move (*self->on_closed);
    delete self->on_closed;
    self->on_closed = nullptr;
    if (fn)
      fn ();
  }
  return ok;
}

static void
mirror_guarded_stream_finalize (GObject *object)
{
  auto *self = MIRROR_GUARDED_STREAM (object);
  if (!g_io_stream_is_closed (G_IO_STREAM (self)))
    g_io_stream_close (G_IO_STREAM (self), nullptr, nullptr);
  delete self->on_closed;
  g_clear_object (&self->input);
  g_clear_object (&self->base);
  G_OBJECT_CLASS (mirror_guarded_stream_parent_class)->finalize (object);
}

static void
mirror_guarded_stream_class_init (MirrorGuardedStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mirror_guarded_stream_finalize;
  G_IO_STREAM_CLASS (klass)->get_input_stream = mirror_guarded_stream_get_input;
  G_IO_STREAM_CLASS (klass)->get_output_stream = mirror_guarded_stream_get_output;
  G_IO_STREAM_CLASS (klass)->close_fn = mirror_guarded_stream_close;
}

static void
mirror_guarded_stream_init (MirrorGuardedStream *)
{}

static GIOStream *
mirror_guarded_stream_new (GIOStream *base, std::function<void ()> on_closed)
{
  auto *self = MIRROR_GUARDED_STREAM (g_object_new (mirror_guarded_stream_get_type (), nullptr));
  self->base = G_IO_STREAM (g_object_ref (base));
  auto *input = MIRROR_GUARDED_INPUT (g_object_new (mirror_guarded_input_get_type (), nullptr));
  input->base = G_INPUT_STREAM (g_object_ref (g_io_stream_get_input_stream (base)));
  self->input = G_INPUT_STREAM (input);
  self->on_closed = new std::function<void ()> (std::move (on_closed));
  return G_IO_STREAM (self);
}

// ------------------------------------------------------------------ acceptor

namespace mirror {

namespace {

// One connection's identity as libsoup reports it for its messages.
std::string
connection_key (GSocketAddress *local, GSocketAddress *remote)
{
  std::string key;
  for (GSocketAddress *address : { local, remote }) {
    if (!G_IS_INET_SOCKET_ADDRESS (address))
      return {};
    auto *inet = G_INET_SOCKET_ADDRESS (address);
    gchar *ip = g_inet_address_to_string (g_inet_socket_address_get_address (inet));
    key += std::string (ip) + ":" + std::to_string (g_inet_socket_address_get_port (inet)) + "|";
    g_free (ip);
  }
  return key;
}

} // namespace

struct SoupAcceptor::Impl : std::enable_shared_from_this<Impl> {
  struct Connection {
    uint64_t id = 0;
    GSocketConnection *tcp = nullptr;
    GIOStream *tls = nullptr;
    GCancellable *handshake_cancel = nullptr;
    guint handshake_timer = 0;
    GSource *hangup_watch = nullptr;
    std::string key;
    bool handed_over = false;
    bool peer_closed = false; // POLLRDHUP seen
    int64_t shut_at_us = 0;   // when the idle timeout shut it down
    // When its last held request was released: until the connection has
    // sent something since, the answer is on its way (libsoup writes it on a
    // later iteration) and the connection is not idle, however long the
    // hold kept the wire quiet.
    int64_t released_at_us = 0;
    std::map<uint64_t, std::function<void ()>> held;
    // Requests libsoup has read and not finished answering: a handler at
    // work (or its answer queued) is not idle, however slow the main loop.
    int in_progress = 0;

    GSocket *socket () const { return g_socket_connection_get_socket (tcp); }
  };

  struct Listener {
    GSocket *socket = nullptr;
    GSource *source = nullptr;
    GTlsCertificate *certificate = nullptr;
  };

  SoupServer *server;
  Limits limits;
  GMainContext *context;
  std::vector<Listener> listeners;
  std::map<uint64_t, std::unique_ptr<Connection>> connections;
  std::map<std::string, uint64_t> by_key;
  std::vector<gulong> server_signals;
  std::map<uint64_t, uint64_t> held_tokens; // token -> connection id
  uint64_t next_id = 1;
  guint sweep_timer = 0;
  Stats stats;
  // libsoup 3.2 keeps connections alive only while it has a listener of
  // its own: one on a Unix socket whose path is gone, which nobody can reach.
  GSocket *placeholder = nullptr;

  Impl (SoupServer *s, Limits l)
      : server (SOUP_SERVER (g_object_ref (s))), limits (l),
        context (g_main_context_ref_thread_default ())
  {}

  ~Impl ()
  {
    for (gulong id : server_signals)
      g_signal_handler_disconnect (server, id);
    g_object_unref (server);
    g_main_context_unref (context);
  }

  // The connection @msg came on, if it is one of ours.
  Connection *connection_of (SoupServerMessage *msg)
  {
    auto it = by_key.find (connection_key (soup_server_message_get_local_address (msg),
                                           soup_server_message_get_remote_address (msg)));
    if (it == by_key.end ())
      return nullptr;
    auto c = connections.find (it->second);
    return c == connections.end () ? nullptr : c->second.get ();
  }

  void watch_requests ()
  {
    auto read = +[] (SoupServer *, SoupServerMessage *msg, gpointer self) {
      if (Connection *c = static_cast<Impl *> (self)->connection_of (msg))
        c->in_progress++;
    };
    auto done = +[] (SoupServer *, SoupServerMessage *msg, gpointer self) {
      if (Connection *c = static_cast<Impl *> (self)->connection_of (msg)) {
        c->in_progress = std::max (0, c->in_progress - 1);
        c->released_at_us = g_get_monotonic_time ();
      }
    };
    server_signals.push_back (g_signal_connect (server, "request-read", G_CALLBACK (read), this));
    server_signals.push_back (
        g_signal_connect (server, "request-finished", G_CALLBACK (done), this));
    server_signals.push_back (
        g_signal_connect (server, "request-aborted", G_CALLBACK (done), this));
  }

  void close_all ()
  {
    if (sweep_timer) {
      GSource *source = g_main_context_find_source_by_id (context, sweep_timer);
      if (source)
        g_source_destroy (source);
      sweep_timer = 0;
    }
    for (auto &l : listeners) {
      g_source_destroy (l.source);
      g_source_unref (l.source);
      g_socket_close (l.socket, nullptr);
      g_object_unref (l.socket);
      g_clear_object (&l.certificate);
    }
    listeners.clear ();
    // Connections libsoup holds close with soup_server_disconnect (their
    // close reaches forget () while this is still alive); the rest here.
    soup_server_disconnect (server);
    while (!connections.empty ())
      forget (connections.begin ()->first, true);
    if (placeholder) {
      g_socket_close (placeholder, nullptr);
      g_clear_object (&placeholder);
    }
  }

  bool ensure_placeholder (std::string *error)
  {
    if (placeholder)
      return true;
    gchar *dir = g_dir_make_tmp ("mirror-http-XXXXXX", nullptr);
    if (!dir) {
      *error = "cannot create a temporary directory for the HTTP server";
      return false;
    }
    gchar *path = g_build_filename (dir, "unreachable", nullptr);
    GError *err = nullptr;
    GSocket *socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                    G_SOCKET_PROTOCOL_DEFAULT, &err);
    GSocketAddress *address = g_unix_socket_address_new (path);
    bool ok = socket && g_socket_bind (socket, address, FALSE, &err)
              && g_socket_listen (socket, &err)
              && soup_server_listen_socket (server, socket, (SoupServerListenOptions)0, &err);
    g_unlink (path);
    g_rmdir (dir);
    g_free (path);
    g_free (dir);
    g_object_unref (address);
    if (!ok) {
      *error = std::string ("HTTP server set-up: ") + (err ? err->message : "unknown error");
      g_clear_error (&err);
      g_clear_object (&socket);
      return false;
    }
    placeholder = socket;
    return true;
  }

  GSource *attach (GSource *source) const
  {
    g_source_attach (source, context);
    return source;
  }

  void on_acceptable (size_t listener_index)
  {
    Listener &l = listeners.at (listener_index);
    for (;;) {
      GError *err = nullptr;
      GSocket *socket = g_socket_accept (l.socket, nullptr, &err);
      if (!socket) {
        if (!g_error_matches (err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
          g_warning ("HTTP: accept failed: %s", err->message);
        g_clear_error (&err);
        return;
      }
      g_socket_set_blocking (socket, FALSE);
      g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, TRUE, nullptr);
      auto conn = std::make_unique<Connection> ();
      conn->id = next_id++;
      conn->tcp = g_socket_connection_factory_create_connection (socket);
      g_object_unref (socket);
      stats.accepted++;
      uint64_t id = conn->id;
      connections[id] = std::move (conn);
      if (l.certificate)
        start_handshake (id, l.certificate);
      else
        hand_over (id, G_IO_STREAM (connections[id]->tcp));
    }
  }

  void start_handshake (uint64_t id, GTlsCertificate *certificate)
  {
    Connection &conn = *connections.at (id);
    GError *err = nullptr;
    conn.tls = g_tls_server_connection_new (G_IO_STREAM (conn.tcp), certificate, &err);
    if (!conn.tls) {
      g_warning ("HTTPS: cannot start TLS: %s", err->message);
      g_clear_error (&err);
      stats.handshake_failures++;
      forget (id, true);
      return;
    }
    const gchar *protocols[] = { "http/1.1", nullptr };
    g_object_set (conn.tls, "require-close-notify", FALSE, "advertised-protocols", protocols,
                  nullptr);
    conn.handshake_cancel = g_cancellable_new ();
    conn.handshake_timer = timer (limits.tls_handshake_timeout_ms, [this, id] () {
      auto it = connections.find (id);
      if (it != connections.end ()) {
        it->second->handshake_timer = 0;
        g_cancellable_cancel (it->second->handshake_cancel);
      }
    });
    auto *ctx = new std::pair<std::weak_ptr<Impl>, uint64_t> (weak_from_this (), id);
    g_tls_connection_handshake_async (
        G_TLS_CONNECTION (conn.tls), G_PRIORITY_DEFAULT, conn.handshake_cancel,
        [] (GObject *source, GAsyncResult *result, gpointer data) {
          auto *ctx = static_cast<std::pair<std::weak_ptr<Impl>, uint64_t> *> (data);
          GError *err = nullptr;
          bool ok = g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &err);
          auto self = ctx->first.lock ();
          if (self)
            self->on_handshake (ctx->second, ok, err);
          g_clear_error (&err);
          delete ctx;
        },
        ctx);
  }

  void on_handshake (uint64_t id, bool ok, GError *err)
  {
    auto it = connections.find (id);
    if (it == connections.end ())
      return;
    Connection &conn = *it->second;
    if (conn.handshake_timer)
      remove_source (conn.handshake_timer);
    conn.handshake_timer = 0;
    g_clear_object (&conn.handshake_cancel);
    if (!ok) {
      g_debug ("HTTPS: TLS handshake failed: %s", err ? err->message : "timed out");
      stats.handshake_failures++;
      forget (id, true);
      return;
    }
    hand_over (id, conn.tls);
  }

  void hand_over (uint64_t id, GIOStream *base)
  {
    Connection &conn = *connections.at (id);
    GSocket *socket = conn.socket ();
    GSocketAddress *local = g_socket_get_local_address (socket, nullptr);
    GSocketAddress *remote = g_socket_get_remote_address (socket, nullptr);
    if (!local || !remote) {
      // Gone already (reset during the handshake).
      g_clear_object (&local);
      g_clear_object (&remote);
      forget (id, true);
      return;
    }
    conn.key = connection_key (local, remote);
    by_key[conn.key] = id;
    conn.handed_over = true;
    // POLLRDHUP: the client has closed (or half-closed) its side.
    conn.hangup_watch
        = attach (g_unix_fd_source_new (g_socket_get_fd (socket), (GIOCondition)(POLLRDHUP)));
    auto *ctx = new std::pair<std::weak_ptr<Impl>, uint64_t> (weak_from_this (), id);
    g_source_set_callback (
        conn.hangup_watch,
        (GSourceFunc)(void (*) ()) +
            [] (gint, GIOCondition, gpointer data) {
              auto *ctx = static_cast<std::pair<std::weak_ptr<Impl>, uint64_t> *> (data);
              if (auto self = ctx->first.lock ())
                self->on_hangup (ctx->second);
              return (gboolean)G_SOURCE_REMOVE;
            },
        ctx,
        [] (gpointer data) {
          delete static_cast<std::pair<std::weak_ptr<Impl>, uint64_t> *> (data);
        });
    std::weak_ptr<Impl> weak = weak_from_this ();
    GIOStream *guarded = mirror_guarded_stream_new (base, [weak, id] () {
      if (auto self = weak.lock ())
        self->forget (id, false);
    });
    GError *err = nullptr;
    if (!soup_server_accept_iostream (server, guarded, local, remote, &err)) {
      g_warning ("HTTP: libsoup refused a connection: %s", err ? err->message : "?");
      g_clear_error (&err);
      g_io_stream_close (guarded, nullptr, nullptr);
    }
    g_object_unref (guarded);
    g_object_unref (local);
    g_object_unref (remote);
  }

  void on_hangup (uint64_t id)
  {
    auto it = connections.find (id);
    if (it == connections.end ())
      return;
    Connection &conn = *it->second;
    g_source_unref (conn.hangup_watch);
    conn.hangup_watch = nullptr;
    conn.peer_closed = true;
    abandon_held (conn);
  }

  void abandon_held (Connection &conn)
  {
    auto held = std::move (conn.held);
    conn.held.clear ();
    for (auto &[token, gone] : held) {
      held_tokens.erase (token);
      stats.held_abandoned++;
      if (gone)
        gone ();
    }
  }

  // The connection is closed (by libsoup, or here when close is set).
  void forget (uint64_t id, bool close)
  {
    auto it = connections.find (id);
    if (it == connections.end ())
      return;
    std::unique_ptr<Connection> conn = std::move (it->second);
    connections.erase (it);
    if (!conn->key.empty ())
      by_key.erase (conn->key);
    for (auto &[token, gone] : conn->held)
      held_tokens.erase (token);
    if (conn->hangup_watch) {
      g_source_destroy (conn->hangup_watch);
      g_source_unref (conn->hangup_watch);
    }
    if (conn->handshake_timer)
      remove_source (conn->handshake_timer);
    if (conn->handshake_cancel) {
      g_cancellable_cancel (conn->handshake_cancel);
      g_object_unref (conn->handshake_cancel);
    }
    if (close)
      g_io_stream_close (conn->tls ? conn->tls : G_IO_STREAM (conn->tcp), nullptr, nullptr);
    // Whatever the streams did, the descriptor goes now.
    if (conn->tcp && !g_socket_is_closed (conn->socket ()))
      g_socket_close (conn->socket (), nullptr);
    g_clear_object (&conn->tls);
    g_clear_object (&conn->tcp);
    stats.closed++;
  }

  // Every so often: connections with nothing moving for the idle timeout,
  // and no request held on them, are shut down; libsoup then sees both
  // directions fail and lets the connection go.
  void sweep ()
  {
    const int64_t now = g_get_monotonic_time ();
    std::vector<uint64_t> stale;
    for (auto &[id, conn] : connections) {
      if (!conn->handed_over || !conn->held.empty () || conn->in_progress > 0)
        continue;
      if (conn->shut_at_us) {
        // libsoup did not notice (it was neither reading nor writing):
        // the descriptor goes anyway.
        if (now - conn->shut_at_us > limits.idle_timeout_ms * 1000)
          stale.push_back (id);
        continue;
      }
      struct tcp_info info = {};
      socklen_t size = sizeof info;
      int fd = g_socket_get_fd (conn->socket ());
      if (getsockopt (fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0)
        continue;
      // Released since it last sent anything: its answer is still to go
      // (for a while: an answer that never goes does not keep it forever).
      if (conn->released_at_us && now - conn->released_at_us < 10 * G_USEC_PER_SEC
          && conn->released_at_us > now - (int64_t)info.tcpi_last_data_sent * 1000)
        continue;
      int64_t idle_ms = std::min (info.tcpi_last_data_recv, info.tcpi_last_data_sent);
      // Bytes the server has not read yet (a busy main loop behind on a
      // request that came in): the client is waiting on us, not idle.
      int unread = 0;
      if (idle_ms >= limits.idle_timeout_ms && ioctl (fd, FIONREAD, &unread) == 0 && unread > 0)
        continue;
      if (idle_ms >= limits.idle_timeout_ms) {
        shutdown (fd, SHUT_RDWR);
        conn->shut_at_us = now;
        stats.idle_closed++;
      }
    }
    for (uint64_t id : stale)
      forget (id, true);
  }

  guint timer (int64_t ms, std::function<void ()> fn)
  {
    return timeout_add ((unsigned)std::max<int64_t> (ms, 0),
                        [fn = std::move (fn)] () {
                          fn ();
                          return false;
                        },
                        context);
  }

  void remove_source (guint id)
  {
    if (GSource *source = g_main_context_find_source_by_id (context, id))
      g_source_destroy (source);
  }
};

SoupAcceptor::SoupAcceptor (SoupServer *server, Limits limits)
    : impl_ (std::make_shared<Impl> (server, limits))
{
  impl_->watch_requests ();
  const int64_t period = std::clamp<int64_t> (limits.idle_timeout_ms / 4, 50, 1000);
  std::weak_ptr<Impl> weak = impl_;
  impl_->sweep_timer = timeout_add ((unsigned)period,
                                    [weak] () {
                                      if (auto self = weak.lock ())
                                        self->sweep ();
                                      return true;
                                    },
                                    impl_->context);
}

SoupAcceptor::~SoupAcceptor ()
{
  impl_->close_all ();
}

uint16_t
SoupAcceptor::listen (const std::string &address, uint16_t port, GTlsCertificate *certificate,
                      std::string *error)
{
  Impl &impl = *impl_;
  const std::string what = std::string (certificate ? "HTTPS" : "HTTP") + " listener on " + address
                           + ":" + std::to_string (port);
  if (!impl.ensure_placeholder (error))
    return 0;
  GInetAddress *inet = g_inet_address_new_from_string (address.c_str ());
  if (!inet) {
    *error = what + ": \"" + address + "\" is not an IP address";
    return 0;
  }
  GSocketAddress *where = g_inet_socket_address_new (inet, port);
  GError *err = nullptr;
  GSocket *socket = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, &err);
  g_object_unref (inet);
  bool ok = socket && g_socket_bind (socket, where, TRUE, &err);
  g_object_unref (where);
  if (ok) {
    g_socket_set_listen_backlog (socket, 1024);
    ok = g_socket_listen (socket, &err);
  }
  if (!ok) {
    *error = what + ": " + (err ? err->message : "unknown error");
    g_clear_error (&err);
    g_clear_object (&socket);
    return 0;
  }
  g_socket_set_blocking (socket, FALSE);
  GSocketAddress *bound = g_socket_get_local_address (socket, nullptr);
  uint16_t bound_port = bound ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)) : 0;
  g_clear_object (&bound);

  Impl::Listener listener;
  listener.socket = socket;
  listener.certificate = certificate ? G_TLS_CERTIFICATE (g_object_ref (certificate)) : nullptr;
  listener.source = g_socket_create_source (socket, G_IO_IN, nullptr);
  auto *ctx = new std::pair<std::weak_ptr<Impl>, size_t> (impl_, impl.listeners.size ());
  g_source_set_callback (
      listener.source,
      (GSourceFunc)(void (*) ()) +
          [] (GSocket *, GIOCondition, gpointer data) {
            auto *ctx = static_cast<std::pair<std::weak_ptr<Impl>, size_t> *> (data);
            if (auto self = ctx->first.lock ())
              self->on_acceptable (ctx->second);
            return (gboolean)G_SOURCE_CONTINUE;
          },
      ctx,
      [] (gpointer data) { delete static_cast<std::pair<std::weak_ptr<Impl>, size_t> *> (data); });
  impl.attach (listener.source);
  impl.listeners.push_back (listener);
  return bound_port;
}

uint64_t
SoupAcceptor::hold (SoupServerMessage *msg, std::function<void ()> gone)
{
  Impl &impl = *impl_;
  auto it = impl.by_key.find (connection_key (soup_server_message_get_local_address (msg),
                                              soup_server_message_get_remote_address (msg)));
  if (it == impl.by_key.end ())
    return 0;
  Impl::Connection &conn = *impl.connections.at (it->second);
  uint64_t token = impl.next_id++;
  impl.held_tokens[token] = conn.id;
  conn.held[token] = std::move (gone);
  if (conn.peer_closed) {
    // The client closed before its request was held: it is gone already.
    uint64_t id = conn.id;
    impl.timer (0, [weak = std::weak_ptr<Impl> (impl_), id] () {
      auto self = weak.lock ();
      if (!self)
        return;
      auto c = self->connections.find (id);
      if (c != self->connections.end ())
        self->abandon_held (*c->second);
    });
  }
  return token;
}

void
SoupAcceptor::release (uint64_t token)
{
  Impl &impl = *impl_;
  auto it = impl.held_tokens.find (token);
  if (it == impl.held_tokens.end ())
    return;
  auto conn = impl.connections.find (it->second);
  if (conn != impl.connections.end ()) {
    conn->second->held.erase (token);
    conn->second->released_at_us = g_get_monotonic_time ();
  }
  impl.held_tokens.erase (it);
}

SoupAcceptor::Stats
SoupAcceptor::stats () const
{
  Stats s = impl_->stats;
  s.open = impl_->connections.size ();
  return s;
}

} // namespace mirror
