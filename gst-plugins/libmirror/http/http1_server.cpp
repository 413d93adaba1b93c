// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http/http1_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>

#include <glib-unix.h>
#include <http_parser.h>

namespace mirror {

namespace {

constexpr size_t kReadSize = 16 * 1024;
constexpr size_t kMaxBody = 64 * 1024; // viewers send GETs

const char *
reason (int status)
{
  switch (status) {
  case 200:
    return "OK";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 413:
    return "Content Too Large";
  case 416:
    return "Range Not Satisfiable";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return "Status";
  }
}

// A GSource watching one descriptor, whose conditions change as the
// connection needs (reading, writing, neither).
struct FdSource {
  GSource source;
  gpointer tag;
  std::function<void (GIOCondition)> *on_ready;
};

gboolean
fd_dispatch (GSource *source, GSourceFunc, gpointer)
{
  auto *s = reinterpret_cast<FdSource *> (source);
  (*s->on_ready) (g_source_query_unix_fd (source, s->tag));
  return G_SOURCE_CONTINUE;
}

void
fd_finalize (GSource *source)
{
  delete reinterpret_cast<FdSource *> (source)->on_ready;
}

GSourceFuncs fd_funcs = { nullptr, nullptr, fd_dispatch, fd_finalize, nullptr, nullptr };

} // namespace

struct Http1Server::Connection {
  struct Slot {
    bool ready = false;
    bool head = false;  // HEAD: no body
    bool close = false; // the client asked for it, or HTTP/1.0
    bool held = false;
    OriginResponse response;
    std::function<void ()> cancel;
  };

  Http1Server *server = nullptr;
  int fd = -1;
  GSource *io = nullptr;
  GSource *timer = nullptr;
  bool timer_is_head = false;
  http_parser parser;
  std::shared_ptr<bool> alive = std::make_shared<bool> (true);

  // The request being parsed.
  std::string url, field, value, range, connection_header;
  bool in_value = false;
  size_t head_bytes = 0;
  size_t body_bytes = 0;
  bool in_message = false;
  bool headers_done = false;

  std::deque<std::shared_ptr<Slot>> slots; // in request order
  std::deque<Bytes> out;                   // bytes to send, in order
  size_t out_offset = 0;                   // into out.front ()
  bool closing = false;                    // close once out is sent
  bool broken = false;                     // a write failed: close
  bool parsing = false;                    // in http_parser_execute: close later
  bool reading = true;

  static Connection *of (http_parser *p) { return static_cast<Connection *> (p->data); }
  bool over_head_limit (size_t more)
  {
    head_bytes += more;
    return head_bytes > server->limits_.max_header_bytes;
  }
  // Closes now if it is time to and safe to; true when it did.
  bool maybe_close ()
  {
    if (parsing || !(broken || (closing && out.empty ())))
      return false;
    server->close (this);
    return true;
  }

  void watch ()
  {
    int cond = G_IO_ERR | G_IO_HUP;
    if (reading && !closing)
      cond |= G_IO_IN;
    if (!out.empty ())
      cond |= G_IO_OUT;
    g_source_modify_unix_fd (io, reinterpret_cast<FdSource *> (io)->tag, GIOCondition (cond));
  }

  size_t held () const
  {
    size_t n = 0;
    for (const auto &s : slots)
      n += s->held && !s->ready ? 1 : 0;
    return n;
  }

  void arm_timer (int64_t ms, bool head);
  void settle_timer ();
  void on_io (GIOCondition cond);
  void on_timer ();
  void read_some ();
  bool write_some ();
  void dispatch ();
  void flush_ready ();
  void answer_now (int status, const std::string &text, bool close);
  void finish_header ();
};

void
Http1Server::Connection::finish_header ()
{
  if (!in_value)
    return;
  if (g_ascii_strcasecmp (field.c_str (), "range") == 0)
    range = value;
  else if (g_ascii_strcasecmp (field.c_str (), "connection") == 0)
    connection_header = value;
  field.clear ();
  value.clear ();
  in_value = false;
}

void
Http1Server::Connection::arm_timer (int64_t ms, bool head)
{
  if (timer) {
    g_source_destroy (timer);
    g_source_unref (timer);
  }
  timer_is_head = head;
  timer = g_timeout_source_new (guint (ms));
  g_source_set_callback (
      timer,
      [] (gpointer data) -> gboolean {
        static_cast<Connection *> (data)->on_timer ();
        return G_SOURCE_REMOVE;
      },
      this, nullptr);
  g_source_attach (timer, server->context_);
}

// The head timer while a head is coming in, the idle timer while nothing
// is in flight, none otherwise.
void
Http1Server::Connection::settle_timer ()
{
  if (in_message && !headers_done) {
    if (!timer || !timer_is_head)
      arm_timer (server->limits_.header_timeout_ms, true);
    return;
  }
  if (slots.empty () && out.empty () && !in_message) {
    arm_timer (server->limits_.idle_timeout_ms, false);
    return;
  }
  if (timer) {
    g_source_destroy (timer);
    g_source_unref (timer);
    timer = nullptr;
  }
}

void
Http1Server::Connection::on_timer ()
{
  g_source_unref (timer);
  timer = nullptr;
  if (timer_is_head)
    server->stats_.header_timeouts++;
  else
    server->stats_.idle_closed++;
  server->close (this);
}

void
Http1Server::Connection::on_io (GIOCondition cond)
{
  if (cond & G_IO_OUT) {
    if (!write_some ())
      return; // closed
  }
  if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
    if (reading && !closing) {
      read_some ();
      return;
    }
    if (cond & (G_IO_HUP | G_IO_ERR)) {
      server->close (this);
      return;
    }
  }
}

void
Http1Server::Connection::read_some ()
{
  char buf[kReadSize];
  ssize_t n = recv (fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    server->close (this); // the client went away: what it held is cancelled
    return;
  }
  parsing = true;
  const size_t parsed = http_parser_execute (&parser, &server->settings_, buf, size_t (n));
  parsing = false;
  if (maybe_close ())
    return;
  const http_errno err = HTTP_PARSER_ERRNO (&parser);
  if ((err != HPE_OK || parsed != size_t (n)) && !closing) {
    if (err == HPE_CB_header_field || err == HPE_CB_header_value || err == HPE_CB_url
        || err == HPE_HEADER_OVERFLOW) {
      server->stats_.too_large++;
      answer_now (431,
                  "the request head is larger than "
                      + std::to_string (server->limits_.max_header_bytes) + " bytes",
                  true);
    } else if (err == HPE_CB_body) {
      answer_now (413, "a request body of more than " + std::to_string (kMaxBody) + " bytes", true);
    } else if (err != HPE_PAUSED && !closing) {
      server->stats_.bad_requests++;
      answer_now (400, std::string ("malformed request: ") + http_errno_description (err), true);
    }
    return;
  }
  // Back-pressure: no more reading while the pipeline is full.
  reading = slots.size () < server->limits_.max_pipelined;
  settle_timer ();
  watch ();
}

void
Http1Server::Connection::dispatch ()
{
  Http1Server &s = *server;
  s.stats_.requests++;
  auto slot = std::make_shared<Slot> ();
  slot->head = parser.method == HTTP_HEAD;
  slot->close = !http_should_keep_alive (&parser);
  slots.push_back (slot);

  OriginRequest request;
  request.method = http_method_str (http_method (parser.method));
  http_parser_url u;
  http_parser_url_init (&u);
  if (http_parser_parse_url (url.data (), url.size (), 0, &u) == 0) {
    if (u.field_set & (1 << UF_PATH))
      request.path = url.substr (u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    if (u.field_set & (1 << UF_QUERY))
      request.query = url.substr (u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
  }
  if (request.path.empty ())
    request.path = "/";
  request.range = range;

  std::weak_ptr<Slot> weak = slot;
  auto alive_now = alive;
  slot->cancel = s.handler_.handle (request, [this, weak, alive_now] (OriginResponse r) {
    auto sl = weak.lock ();
    if (!*alive_now || !sl || sl->ready)
      return;
    sl->ready = true;
    sl->cancel = nullptr;
    sl->response = std::move (r);
    flush_ready ();
  });
  if (!slot->ready && slot->cancel) {
    slot->held = true;
    if (held () > s.limits_.max_held) {
      s.stats_.held_refused++;
      slot->cancel ();
      slot->cancel = nullptr;
      slot->ready = true;
      slot->response
          = OriginResponse::text (503, "more than " + std::to_string (s.limits_.max_held)
                                           + " requests held on this connection; use another");
      flush_ready ();
    }
  }
}

void
Http1Server::Connection::flush_ready ()
{
  while (!slots.empty () && slots.front ()->ready && !closing) {
    std::shared_ptr<Slot> sl = slots.front ();
    slots.pop_front ();
    OriginResponse &r = sl->response;
    const bool close_after = sl->close;
    const bool bodyless = sl->head || r.status == 204 || r.status == 304;
    std::string head = "HTTP/1.1 " + std::to_string (r.status) + " " + reason (r.status) + "\r\n";
    if (!r.content_type.empty ())
      head += "Content-Type: " + r.content_type + "\r\n";
    if (!r.cache_control.empty ())
      head += "Cache-Control: " + r.cache_control + "\r\n";
    for (const auto &[name, value] : r.headers)
      head += name + ": " + value + "\r\n";
    if (r.status != 204 && r.status != 304)
      head += "Content-Length: " + std::to_string (r.body_size ()) + "\r\n";
    if (close_after)
      head += "Connection: close\r\n";
    head += "\r\n";
    out.push_back (Bytes::copy (head));
    if (!bodyless)
      for (Bytes &b : r.body)
        if (!b.empty ())
          out.push_back (std::move (b));
    if (close_after) {
      closing = true;
      // What was asked after it is not answered.
      for (auto &rest : slots)
        if (rest->cancel)
          rest->cancel ();
      slots.clear ();
    }
  }
  reading = slots.size () < server->limits_.max_pipelined;
  if (write_some () && !maybe_close ()) {
    settle_timer ();
    watch ();
  }
}

// False when the connection was closed.
bool
Http1Server::Connection::write_some ()
{
  while (!out.empty ()) {
    struct iovec iov[64];
    int n = 0;
    size_t skip = out_offset;
    for (auto it = out.begin (); it != out.end () && n < 64; ++it, skip = 0) {
      iov[n].iov_base = const_cast<uint8_t *> (it->data ()) + skip;
      iov[n].iov_len = it->size () - skip;
      n++;
    }
    ssize_t sent = writev (fd, iov, n);
    if (sent < 0 && errno == EINTR)
      continue;
    if (sent < 0 && errno == EAGAIN)
      break;
    if (sent < 0) {
      broken = true;
      out.clear ();
      return !maybe_close ();
    }
    size_t done = size_t (sent);
    while (done > 0 && !out.empty ()) {
      const size_t left = out.front ().size () - out_offset;
      if (done >= left) {
        done -= left;
        out.pop_front ();
        out_offset = 0;
      } else {
        out_offset += done;
        done = 0;
      }
    }
  }
  return !maybe_close ();
}

void
Http1Server::Connection::answer_now (int status, const std::string &text, bool close)
{
  auto sl = std::make_shared<Slot> ();
  sl->ready = true;
  sl->close = close;
  sl->response = OriginResponse::text (status, text);
  // After what is already in flight, in order.
  slots.push_back (sl);
  reading = false;
  flush_ready ();
}

Http1Server::Http1Server (OriginHandler &handler, GMainContext *context, Limits limits)
    : handler_ (handler), context_ (g_main_context_ref (context)), limits_ (limits)
{
  http_parser_settings_init (&settings_);
  settings_.on_message_begin = [] (http_parser *p) {
    auto *c = Connection::of (p);
    c->url.clear ();
    c->range.clear ();
    c->connection_header.clear ();
    c->field.clear ();
    c->value.clear ();
    c->in_value = false;
    c->head_bytes = 0;
    c->body_bytes = 0;
    c->in_message = true;
    c->headers_done = false;
    c->settle_timer ();
    return 0;
  };
  settings_.on_url = [] (http_parser *p, const char *at, size_t n) {
    auto *c = Connection::of (p);
    if (c->over_head_limit (n))
      return 1;
    c->url.append (at, n);
    return 0;
  };
  settings_.on_header_field = [] (http_parser *p, const char *at, size_t n) {
    auto *c = Connection::of (p);
    if (c->over_head_limit (n))
      return 1;
    c->finish_header ();
    c->field.append (at, n);
    return 0;
  };
  settings_.on_header_value = [] (http_parser *p, const char *at, size_t n) {
    auto *c = Connection::of (p);
    if (c->over_head_limit (n))
      return 1;
    c->in_value = true;
    c->value.append (at, n);
    return 0;
  };
  settings_.on_headers_complete = [] (http_parser *p) {
    auto *c = Connection::of (p);
    c->finish_header ();
    c->headers_done = true;
    return 0;
  };
  settings_.on_body = [] (http_parser *p, const char *, size_t n) {
    auto *c = Connection::of (p);
    c->body_bytes += n;
    return c->body_bytes > kMaxBody ? 1 : 0;
  };
  settings_.on_message_complete = [] (http_parser *p) {
    auto *c = Connection::of (p);
    c->in_message = false;
    c->dispatch ();
    // Closing (Connection: close, an error): nothing more of this buffer.
    if (c->closing || c->broken)
      http_parser_pause (p, 1);
    return 0;
  };
}

Http1Server::~Http1Server ()
{
  while (!connections_.empty ())
    close (*connections_.begin ());
  if (accept_source_) {
    g_source_destroy (accept_source_);
    g_source_unref (accept_source_);
  }
  if (listen_fd_ >= 0)
    ::close (listen_fd_);
  g_main_context_unref (context_);
}

bool
Http1Server::listen (const std::string &address, uint16_t port, std::string *error)
{
  struct sockaddr_in6 sa6 = {};
  struct sockaddr_in sa4 = {};
  const bool v6 = address.find (':') != std::string::npos;
  int fd = socket (v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    sa6.sin6_family = AF_INET6;
    sa6.sin6_port = htons (port);
    rc = inet_pton (AF_INET6, address.c_str (), &sa6.sin6_addr) == 1
             ? bind (fd, reinterpret_cast<sockaddr *> (&sa6), sizeof sa6)
             : -2;
  } else {
    sa4.sin_family = AF_INET;
    sa4.sin_port = htons (port);
    rc = inet_pton (AF_INET, address.c_str (), &sa4.sin_addr) == 1
             ? bind (fd, reinterpret_cast<sockaddr *> (&sa4), sizeof sa4)
             : -2;
  }
  if (rc == -2 || rc != 0 || ::listen (fd, 1024) != 0) {
    *error = "HTTP/1.1 on " + address + ":" + std::to_string (port) + ": "
             + (rc == -2 ? "not an IP address" : std::strerror (errno));
    ::close (fd);
    return false;
  }
  struct sockaddr_storage bound;
  socklen_t len = sizeof bound;
  getsockname (fd, reinterpret_cast<sockaddr *> (&bound), &len);
  port_ = ntohs (bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *> (&bound)->sin6_port
                                             : reinterpret_cast<sockaddr_in *> (&bound)->sin_port);
  listen_fd_ = fd;
  accept_source_ = g_unix_fd_source_new (fd, G_IO_IN);
  g_source_set_callback (accept_source_, G_SOURCE_FUNC (on_accept), this, nullptr);
  g_source_attach (accept_source_, context_);
  return true;
}

gboolean
Http1Server::on_accept (gint, GIOCondition, gpointer data)
{
  auto *self = static_cast<Http1Server *> (data);
  for (;;) {
    int fd = accept4 (self->listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      break;
    if (self->connections_.size () >= self->limits_.max_connections) {
      self->stats_.refused++;
      ::close (fd);
      continue;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto *c = new Connection;
    c->server = self;
    c->fd = fd;
    http_parser_init (&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->io = g_source_new (&fd_funcs, sizeof (FdSource));
    auto *fs = reinterpret_cast<FdSource *> (c->io);
    fs->on_ready
        = new std::function<void (GIOCondition)> ([c] (GIOCondition cond) { c->on_io (cond); });
    fs->tag = g_source_add_unix_fd (c->io, fd, GIOCondition (G_IO_IN | G_IO_ERR | G_IO_HUP));
    g_source_attach (c->io, self->context_);
    self->connections_.insert (c);
    self->stats_.connections_total++;
    c->settle_timer ();
  }
  return G_SOURCE_CONTINUE;
}

void
Http1Server::close (Connection *c)
{
  if (!connections_.erase (c))
    return;
  *c->alive = false;
  stats_.closed++;
  for (auto &sl : c->slots)
    if (sl->cancel) {
      stats_.held_abandoned++;
      sl->cancel ();
    }
  c->slots.clear ();
  if (c->timer) {
    g_source_destroy (c->timer);
    g_source_unref (c->timer);
  }
  g_source_destroy (c->io);
  g_source_unref (c->io);
  ::close (c->fd);
  delete c;
}

Http1Server::Stats
Http1Server::stats () const
{
  Stats s = stats_;
  s.connections_now = connections_.size ();
  return s;
}

} // namespace mirror
