// SPDX-License-Identifier: LGPL-2.1-or-later
#include "http/tcp_frontend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <vector>

#include <glib-unix.h>
#include <http_parser.h>

namespace mirror {

namespace {

constexpr size_t kReadSize = 16 * 1024;
constexpr size_t kRecordSize = 16 * 1024; // a full TLS record's plaintext
constexpr guint kTickMs = 100;            // how often deadlines are checked
constexpr size_t kMaxBody = 64 * 1024;    // viewers send GETs

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

} // namespace

struct TcpFrontend::Connection final : H2Session::Output {
  struct Slot {
    bool ready = false;
    bool head = false;  // HEAD: no body
    bool close = false; // the client asked for it, or HTTP/1.0
    bool held = false;
    OriginResponse response;
    std::function<void ()> cancel;
  };

  TcpFrontend *server = nullptr;
  int fd = -1;
  std::string address; // the peer's IP: its share of the ConnectionBudget
  uint32_t mask = 0;       // the epoll events asked for
  int64_t deadline_us = 0; // monotonic; 0: none
  bool deadline_is_head = false;
  bool dead = false;           // closed; deleted once no event can name it
  bool pending_queued = false; // in the server's pending_ list
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

  // TLS: the session, and the plaintext to send. Encryption copies every
  // byte anyway, so over TLS answers are appended to one buffer that keeps
  // its capacity (no allocation per piece) and leave it in whole records.
  gnutls_session_t tls = nullptr;
  bool handshaking = false;
  // TLS read-ahead. GnuTLS asks its transport for a record's 5-byte header,
  // then for the rest: two recv calls a record, the second of them for
  // bytes the first could have taken. tls_pull reads what the socket has
  // (up to kReadSize) and keeps what GnuTLS did not ask for yet here: the
  // poll does not report it, so tls_pending () counts it.
  std::vector<uint8_t> rx;
  size_t rx_pos = 0;
  bool read_ahead () const { return rx_pos < rx.size (); }
  bool tls_pending () const
  {
    return tls && (read_ahead () || gnutls_record_check_pending (tls) > 0);
  }
  static ssize_t tls_pull (gnutls_transport_ptr_t self, void *data, size_t len);
  static int tls_pull_timeout (gnutls_transport_ptr_t self, unsigned ms);
  std::vector<uint8_t> tbuf;
  size_t tpos = 0;        // sent up to here
  size_t record_size = 0; // a record GnuTLS took but could not send yet
  // HTTP/2, when ALPN chose it; else HTTP/1.1.
  std::unique_ptr<H2Session> h2;
  size_t out_bytes = 0; // bytes in out, for HTTP/2's back-pressure
  std::vector<uint8_t> small;
  bool flush_queued = false; // in the server's dirty_ list

  static Connection *of (http_parser *p) { return static_cast<Connection *> (p->data); }
  bool over_head_limit (size_t more)
  {
    head_bytes += more;
    return head_bytes > server->limits_.max_header_bytes;
  }
  // Closes now if it is time to and safe to; true when it did.
  bool maybe_close ()
  {
    if (h2 && !broken && !parsing && !has_output () && !h2->want_read () && !h2->want_write ())
      closing = true;
    if (parsing || !(broken || (closing && !has_output ())))
      return false;
    server->close (this);
    return true;
  }

  void watch ()
  {
    uint32_t want = 0;
    if (reading && !closing)
      want |= EPOLLIN | EPOLLRDHUP;
    if (has_output () || (handshaking && gnutls_record_get_direction (tls) == 1))
      want |= EPOLLOUT;
    if (want != mask) {
      struct epoll_event ev = {};
      ev.events = want;
      ev.data.ptr = this;
      epoll_ctl (server->epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
      mask = want;
    }
    // Bytes read ahead or decrypted but not yet taken wake no poll: come back.
    if (tls && reading && !closing && !handshaking && !pending_queued && tls_pending ()) {
      pending_queued = true;
      server->pending_.push_back (this);
      g_source_set_ready_time (server->events_source_, 0);
    }
  }

  bool has_output () const
  {
    return !out.empty () || !small.empty () || tpos < tbuf.size () || record_size > 0;
  }
  void append_tls (const uint8_t *p, size_t n)
  {
    if (tpos > 0 && tpos >= tbuf.size () / 2) { // what was sent goes
      tbuf.erase (tbuf.begin (), tbuf.begin () + ptrdiff_t (tpos));
      tpos = 0;
    }
    tbuf.insert (tbuf.end (), p, p + n);
  }
  void push (Bytes b)
  {
    if (tls) {
      append_tls (b.data (), b.size ());
      return;
    }
    seal ();
    out_bytes += b.size ();
    out.push_back (std::move (b));
  }
  // Small writes (frame headers, HTTP/2 control frames, small bodies) gather
  // in one buffer, queued as one piece before the next large one or a send.
  void seal ()
  {
    if (small.empty ())
      return;
    out_bytes += small.size ();
    out.push_back (Bytes::take (std::move (small)));
    small = {};
  }

  // H2Session::Output
  void emit (Bytes b) override { push (std::move (b)); }
  void emit_copy (const uint8_t *p, size_t n) override
  {
    if (tls) {
      append_tls (p, n);
      return;
    }
    if (small.empty ())
      small.reserve (4096);
    small.insert (small.end (), p, p + n);
  }
  size_t queued () const override { return tls ? tbuf.size () - tpos : out_bytes + small.size (); }
  void wake () override { server->schedule_flush (this); }
  void pop_front ()
  {
    out_bytes -= out.front ().size ();
    out.pop_front ();
    out_offset = 0;
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
  void on_deadline ();
  void read_some ();
  void received (const char *data, size_t n);
  bool handshake ();
  void start_h2 ();
  bool write_some ();
  bool write_plain ();
  bool send_now (const std::string &head, std::vector<Bytes> *body);
  bool write_tls ();
  // After an HTTP/2 answer or read: frames out, then the socket.
  void flush_h2 ();
  void dispatch ();
  void flush_ready ();
  void answer_now (int status, const std::string &text, bool close);
  void finish_header ();
};

void
TcpFrontend::Connection::finish_header ()
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
TcpFrontend::Connection::arm_timer (int64_t ms, bool head)
{
  deadline_is_head = head;
  // The main loop's time of this iteration: no clock read per request (the
  // tick that checks deadlines is coarser than the difference).
  deadline_us = g_source_get_time (server->tick_source_) + ms * 1000;
}

// The head timer while a TLS handshake or a head is coming in, the idle
// timer while nothing is in flight, none otherwise.
void
TcpFrontend::Connection::settle_timer ()
{
  if (handshaking || (!h2 && in_message && !headers_done)) {
    if (!deadline_us || !deadline_is_head)
      arm_timer (server->limits_.header_timeout_ms, true);
    return;
  }
  const bool idle
      = h2 ? h2->idle () && !has_output () : slots.empty () && !has_output () && !in_message;
  if (idle) {
    if (!deadline_us || deadline_is_head)
      arm_timer (server->limits_.idle_timeout_ms, false);
    return;
  }
  deadline_us = 0;
}

void
TcpFrontend::Connection::on_deadline ()
{
  deadline_us = 0;
  if (deadline_is_head)
    server->stats_.header_timeouts++;
  else
    server->stats_.idle_closed++;
  server->close (this);
}

void
TcpFrontend::Connection::on_io (GIOCondition cond)
{
  if (handshaking) {
    handshake ();
    return;
  }
  if (cond & G_IO_OUT) {
    if (!write_some ())
      return; // closed
  }
  const bool pending = tls_pending ();
  if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) || pending) {
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

// False when the connection was closed.
bool
TcpFrontend::Connection::handshake ()
{
  const int rv = gnutls_handshake (tls);
  if (rv < 0
      && (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal (rv))) {
    watch ();
    return true;
  }
  if (rv < 0) {
    server->stats_.tls_failures++;
    server->close (this);
    return false;
  }
  handshaking = false;
  server->stats_.tls_connections++;
  gnutls_datum_t proto;
  if (gnutls_alpn_get_selected_protocol (tls, &proto) == 0 && proto.size == 2
      && std::memcmp (proto.data, "h2", 2) == 0)
    start_h2 ();
  settle_timer ();
  if (h2) {
    flush_h2 (); // the server's SETTINGS
    return true;
  }
  watch ();
  return true;
}

void
TcpFrontend::Connection::start_h2 ()
{
  server->stats_.h2_connections++;
  H2Session::Limits l;
  l.max_concurrent_streams = server->limits_.max_streams;
  l.max_header_bytes = server->limits_.max_header_bytes;
  l.max_held = server->limits_.max_held;
  h2 = std::make_unique<H2Session> (server->handler_, l, server->h2_counters_, *this);
  if (server->shutting_down_)
    h2->go_away ();
}

void
TcpFrontend::Connection::flush_h2 ()
{
  h2->pump ();
  if (write_some () && !maybe_close ()) {
    settle_timer ();
    watch ();
  }
}

void
TcpFrontend::Connection::read_some ()
{
  char buf[kReadSize];
  auto alive_now = alive;
  for (;;) {
    ssize_t n;
    if (tls) {
      n = gnutls_record_recv (tls, buf, sizeof buf);
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
        break;
      if (n < 0 && !gnutls_error_is_fatal (int (n)))
        continue;
    } else {
      n = recv (fd, buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        break;
    }
    if (n <= 0) {
      server->close (this); // the client went away: what it held is cancelled
      return;
    }
    received (buf, size_t (n));
    if (!*alive_now)
      return;
    // Only TLS can hold more than one read's worth the poll will not report.
    if (!tls || !tls_pending () || !reading || closing)
      break;
  }
  settle_timer ();
  watch ();
}

ssize_t
TcpFrontend::Connection::tls_pull (gnutls_transport_ptr_t self, void *data, size_t len)
{
  auto *c = static_cast<Connection *> (self);
  if (c->read_ahead ()) {
    const size_t take = std::min (len, c->rx.size () - c->rx_pos);
    std::memcpy (data, c->rx.data () + c->rx_pos, take);
    c->rx_pos += take;
    if (c->rx_pos == c->rx.size ()) {
      c->rx.clear (); // keeps its capacity: a request or two's records
      c->rx_pos = 0;
    }
    return ssize_t (take);
  }
  static thread_local uint8_t ahead[kReadSize];
  const ssize_t n = recv (c->fd, ahead, sizeof ahead, 0);
  if (n < 0) {
    gnutls_transport_set_errno (c->tls, errno);
    return -1;
  }
  const size_t give = std::min (len, size_t (n));
  std::memcpy (data, ahead, give);
  c->rx.assign (ahead + give, ahead + n);
  return ssize_t (give);
}

int
TcpFrontend::Connection::tls_pull_timeout (gnutls_transport_ptr_t self, unsigned ms)
{
  auto *c = static_cast<Connection *> (self);
  if (c->read_ahead ())
    return 1;
  struct pollfd p = { c->fd, POLLIN, 0 };
  return poll (&p, 1,
               ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : int (std::min (ms, unsigned (INT_MAX))));
}

void
TcpFrontend::Connection::received (const char *buf, size_t n)
{
  if (h2) {
    if (!h2->receive (reinterpret_cast<const uint8_t *> (buf), n))
      server->stats_.bad_requests++;
    flush_h2 ();
    return;
  }
  parsing = true;
  const size_t parsed = http_parser_execute (&parser, &server->settings_, buf, n);
  parsing = false;
  if (maybe_close ())
    return;
  const http_errno err = HTTP_PARSER_ERRNO (&parser);
  if ((err != HPE_OK || parsed != n) && !closing) {
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
}

void
TcpFrontend::Connection::dispatch ()
{
  TcpFrontend &s = *server;
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
  request.protocol = OriginProtocol::kHttp1;
  request.client = reinterpret_cast<uintptr_t> (this);

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
TcpFrontend::Connection::flush_ready ()
{
  while (!slots.empty () && slots.front ()->ready && !closing) {
    std::shared_ptr<Slot> sl = slots.front ();
    slots.pop_front ();
    OriginResponse &r = sl->response;
    const bool close_after = sl->close;
    const bool bodyless = sl->head || r.status == 204 || r.status == 304;
    std::string &head = server->head_;
    head.clear ();
    head.append ("HTTP/1.1 ").append (std::to_string (r.status)).append (" ");
    head.append (reason (r.status)).append ("\r\n");
    if (!r.content_type.empty ())
      head.append ("Content-Type: ").append (r.content_type).append ("\r\n");
    if (!r.cache_control.empty ())
      head.append ("Cache-Control: ").append (r.cache_control).append ("\r\n");
    for (const auto &[name, value] : r.headers)
      head.append (name).append (": ").append (value).append ("\r\n");
    if (r.common)
      for (const CommonField &f : *r.common)
        head.append (f.name).append (": ").append (f.value).append ("\r\n");
    if (r.status != 204 && r.status != 304)
      head.append ("Content-Length: ").append (std::to_string (r.body_size ())).append ("\r\n");
    if (close_after)
      head.append ("Connection: close\r\n");
    head.append ("\r\n");
    if (tls) {
      append_tls (reinterpret_cast<const uint8_t *> (head.data ()), head.size ());
      if (!bodyless)
        for (const Bytes &b : r.body)
          append_tls (b.data (), b.size ());
    } else if (!send_now (head, bodyless ? nullptr : &r.body)) {
      return; // the write failed: closed
    }
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

// False when the connection was closed. HTTP/2 frames are taken from the
// session as the queue drains.
bool
TcpFrontend::Connection::write_some ()
{
  for (;;) {
    seal ();
    if (!(tls ? write_tls () : write_plain ()))
      return false;
    if (has_output ())
      return true; // the socket is full: G_IO_OUT brings us back
    if (!h2 || !h2->want_write ())
      break;
    h2->pump ();
    seal ();
    if (!has_output ())
      break;
  }
  return !maybe_close ();
}

// False when the connection was closed (a write failed).
bool
TcpFrontend::Connection::write_plain ()
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
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = size_t (n);
    ssize_t sent = sendmsg (fd, &msg, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR)
      continue;
    if (sent < 0 && errno == EAGAIN)
      break;
    if (sent < 0) {
      broken = true;
      out.clear ();
      out_bytes = 0;
      return !maybe_close ();
    }
    size_t done = size_t (sent);
    while (done > 0 && !out.empty ()) {
      const size_t left = out.front ().size () - out_offset;
      if (done >= left) {
        done -= left;
        pop_front ();
      } else {
        out_offset += done;
        done = 0;
      }
    }
  }
  return true;
}

// Whole TLS records from the plaintext buffer. A record GnuTLS could not
// send is finished by calling it again with no data (the buffer may have
// moved since).
bool
TcpFrontend::Connection::write_tls ()
{
  for (;;) {
    ssize_t n;
    if (record_size > 0) {
      n = gnutls_record_send (tls, nullptr, 0);
    } else {
      if (tpos == tbuf.size ()) {
        tbuf.clear ();
        tpos = 0;
        if (tbuf.capacity () > 4 * H2Session::kHighWater)
          tbuf.shrink_to_fit ();
        return true;
      }
      record_size = std::min (kRecordSize, tbuf.size () - tpos);
      n = gnutls_record_send (tls, tbuf.data () + tpos, record_size);
    }
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
      return true; // G_IO_OUT brings us back
    if (n < 0) {
      broken = true;
      tbuf.clear ();
      tpos = 0;
      record_size = 0;
      return !maybe_close ();
    }
    // All of it, or what a peer's record size limit let one record take.
    tpos += size_t (n);
    record_size = 0;
  }
}

// In the clear with nothing queued: the head and the body in one writev,
// queuing only what the socket did not take (most answers leave at once,
// with no copy of the head). False when the connection was closed.
bool
TcpFrontend::Connection::send_now (const std::string &head, std::vector<Bytes> *body)
{
  struct iovec iov[16];
  int n = 0;
  const size_t nbody = body ? body->size () : 0;
  if (!out.empty () || !small.empty () || nbody >= G_N_ELEMENTS (iov)) {
    push (Bytes::copy (head));
    for (size_t i = 0; i < nbody; i++)
      if (!(*body)[i].empty ())
        push (std::move ((*body)[i]));
    return true;
  }
  iov[n++] = { const_cast<char *> (head.data ()), head.size () };
  size_t total = head.size ();
  for (size_t i = 0; i < nbody; i++) {
    const Bytes &b = (*body)[i];
    iov[n++] = { const_cast<uint8_t *> (b.data ()), b.size () };
    total += b.size ();
  }
  struct msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = size_t (n);
  ssize_t sent;
  do
    sent = sendmsg (fd, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  if (sent < 0 && errno != EAGAIN) {
    broken = true;
    return !maybe_close ();
  }
  size_t done = sent < 0 ? 0 : size_t (sent);
  if (done == total)
    return true;
  // The rest waits for G_IO_OUT.
  if (done < head.size ()) {
    push (Bytes::copy (head.data () + done, head.size () - done));
    done = 0;
  } else {
    done -= head.size ();
  }
  for (size_t i = 0; i < nbody; i++) {
    Bytes &b = (*body)[i];
    if (done >= b.size ()) {
      done -= b.size ();
      continue;
    }
    push (b.slice (done, b.size () - done));
    done = 0;
  }
  return true;
}

void
TcpFrontend::Connection::answer_now (int status, const std::string &text, bool close)
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

std::shared_ptr<TcpFrontend::Tls>
TcpFrontend::Tls::create (const TlsIdentity &identity, std::string *error)
{
  std::shared_ptr<Tls> t (new Tls);
  int rv = gnutls_certificate_allocate_credentials (&t->credentials_);
  gnutls_datum_t cert
      = { (unsigned char *)identity.cert_pem.data (), unsigned (identity.cert_pem.size ()) };
  gnutls_datum_t key
      = { (unsigned char *)identity.key_pem.data (), unsigned (identity.key_pem.size ()) };
  if (rv == 0)
    rv = gnutls_certificate_set_x509_key_mem2 (t->credentials_, &cert, &key, GNUTLS_X509_FMT_PEM,
                                               nullptr, 0);
  if (rv < 0) {
    *error = "TLS certificate " + identity.cert_file + " with key " + identity.key_file + ": "
             + gnutls_strerror (rv);
    return nullptr;
  }
  // TLS 1.2 and 1.3; the client's key share taken when acceptable (no
  // HelloRetryRequest round trip for X25519).
  if ((rv = gnutls_priority_init (&t->priority_, "NORMAL", nullptr)) < 0
      || (rv = gnutls_session_ticket_key_generate (&t->ticket_key_)) < 0) {
    *error = std::string ("GnuTLS: ") + gnutls_strerror (rv);
    return nullptr;
  }
  return t;
}

TcpFrontend::Tls::~Tls ()
{
  if (ticket_key_.data) {
    gnutls_memset (ticket_key_.data, 0, ticket_key_.size);
    gnutls_free (ticket_key_.data);
  }
  if (priority_)
    gnutls_priority_deinit (priority_);
  if (credentials_)
    gnutls_certificate_free_credentials (credentials_);
}

TcpFrontend::TcpFrontend (OriginHandler &handler, GMainContext *context, Limits limits,
                          std::shared_ptr<Tls> tls, std::shared_ptr<ConnectionBudget> budget)
    : handler_ (handler), context_ (g_main_context_ref (context)), limits_ (limits),
      tls_ (std::move (tls)),
      budget_ (budget ? std::move (budget)
                      : std::make_shared<ConnectionBudget> (limits.max_connections,
                                                            limits.max_per_address))
{
  // One epoll set for every connection, one GSource for it in the context:
  // GLib's own loop would poll and check a source per connection on every
  // iteration. Deadlines (head, idle) are checked by one tick.
  epoll_fd_ = epoll_create1 (EPOLL_CLOEXEC);
  if (epoll_fd_ < 0)
    g_error ("epoll_create1: %s", g_strerror (errno));
  events_source_ = g_unix_fd_source_new (epoll_fd_, G_IO_IN);
  g_source_set_callback (events_source_, G_SOURCE_FUNC (on_events), this, nullptr);
  // GLib blocks a source while it dispatches it: it takes its fd out of the
  // context's poll set and puts it back, each change waking the context
  // through its eventfd (two writes, a read and one more poll per dispatch,
  // half the syscalls a request cost). Nothing here iterates the context
  // from inside a dispatch, so there is no recursion to guard against.
  g_source_set_can_recurse (events_source_, TRUE);
  g_source_attach (events_source_, context_);
  tick_source_ = g_timeout_source_new (kTickMs);
  g_source_set_callback (tick_source_, on_tick, this, nullptr);
  g_source_attach (tick_source_, context_);
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

TcpFrontend::~TcpFrontend ()
{
  while (!connections_.empty ())
    close (*connections_.begin ());
  if (accept_source_) {
    g_source_destroy (accept_source_);
    g_source_unref (accept_source_);
  }
  if (listen_fd_ >= 0)
    ::close (listen_fd_);
  reap ();
  for (GSource *src : { events_source_, tick_source_ }) {
    g_source_destroy (src);
    g_source_unref (src);
  }
  ::close (epoll_fd_);
  g_main_context_unref (context_);
}

bool
TcpFrontend::listen (const std::string &address, uint16_t port, bool reuse_port, std::string *error)
{
  struct sockaddr_in6 sa6 = {};
  struct sockaddr_in sa4 = {};
  const bool v6 = address.find (':') != std::string::npos;
  int fd = socket (v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port)
    setsockopt (fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
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
    *error = std::string (tls_ ? "HTTPS" : "HTTP") + " on " + address + ":" + std::to_string (port)
             + ": " + (rc == -2 ? "not an IP address" : std::strerror (errno));
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
  g_source_set_can_recurse (accept_source_, TRUE); // as events_source_
  g_source_attach (accept_source_, context_);
  return true;
}

gboolean
TcpFrontend::on_accept (gint, GIOCondition, gpointer data)
{
  auto *self = static_cast<TcpFrontend *> (data);
  for (;;) {
    struct sockaddr_storage peer = {};
    socklen_t peer_len = sizeof peer;
    int fd = accept4 (self->listen_fd_, reinterpret_cast<sockaddr *> (&peer), &peer_len,
                      SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
      break;
    std::string address = peer_ip (reinterpret_cast<sockaddr *> (&peer));
    const ConnectionBudget::Verdict verdict = self->budget_->take (address);
    if (verdict != ConnectionBudget::Verdict::kOk) {
      // Closed at once: a refusal costs the process nothing more.
      if (verdict == ConnectionBudget::Verdict::kAddress) {
        // The 1st, 2nd, 4th, 8th... refusal is logged: an attack does not
        // flood the log, and it still says it goes on.
        const uint64_t n = ++self->stats_.refused_per_address;
        if ((n & (n - 1)) == 0)
          g_warning ("HTTP: %s has %zu connections open, its limit (server."
                     "max_connections_per_address): further ones are closed at once "
                     "(%" G_GUINT64_FORMAT " refused so far)",
                     address.c_str (), self->budget_->from (address), n);
      } else {
        self->stats_.refused++;
      }
      ::close (fd);
      continue;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto *c = new Connection;
    c->server = self;
    c->fd = fd;
    c->address = std::move (address);
    http_parser_init (&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->mask = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {};
    ev.events = c->mask;
    ev.data.ptr = c;
    epoll_ctl (self->epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    self->connections_.insert (c);
    if (self->tls_) {
      static const gnutls_datum_t alpn[]
          = { { (unsigned char *)"h2", 2 }, { (unsigned char *)"http/1.1", 8 } };
      gnutls_init (&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
      gnutls_priority_set (c->tls, self->tls_->priority_);
      gnutls_credentials_set (c->tls, GNUTLS_CRD_CERTIFICATE, self->tls_->credentials_);
      gnutls_session_ticket_enable_server (c->tls, &self->tls_->ticket_key_);
      gnutls_alpn_set_protocols (c->tls, alpn, 2, GNUTLS_ALPN_SERVER_PRECEDENCE);
      // Reads through tls_pull (read-ahead); GnuTLS's own writes to fd.
      gnutls_transport_set_ptr2 (c->tls, c,
                                 reinterpret_cast<gnutls_transport_ptr_t> (intptr_t (fd)));
      gnutls_transport_set_pull_function (c->tls, Connection::tls_pull);
      gnutls_transport_set_pull_timeout_function (c->tls, Connection::tls_pull_timeout);
      c->handshaking = true;
    }
    self->stats_.connections_total++;
    c->settle_timer ();
  }
  return G_SOURCE_CONTINUE;
}

void
TcpFrontend::close (Connection *c)
{
  if (!connections_.erase (c))
    return;
  *c->alive = false;
  stats_.closed++;
  budget_->give_back (c->address);
  for (auto &sl : c->slots)
    if (sl->cancel) {
      stats_.held_abandoned++;
      sl->cancel ();
    }
  c->slots.clear ();
  c->h2.reset (); // cancels what its streams held
  if (c->tls) {
    if (!c->broken && !c->handshaking)
      gnutls_bye (c->tls, GNUTLS_SHUT_WR); // close_notify, if the socket takes it now
    gnutls_deinit (c->tls);
    c->tls = nullptr;
  }
  epoll_ctl (epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  ::close (c->fd);
  c->fd = -1;
  c->dead = true;
  graveyard_.push_back (c); // events already read may still name it
}

void
TcpFrontend::schedule_flush (Connection *c)
{
  if (c->flush_queued || c->dead)
    return;
  c->flush_queued = true;
  dirty_.push_back (c);
  g_source_set_ready_time (events_source_, 0);
}

void
TcpFrontend::reap ()
{
  for (Connection *c : graveyard_)
    delete c;
  graveyard_.clear ();
}

gboolean
TcpFrontend::on_events (gint, GIOCondition, gpointer data)
{
  auto *self = static_cast<TcpFrontend *> (data);
  g_source_set_ready_time (self->events_source_, -1);
  struct epoll_event ev[256];
  const int n = epoll_wait (self->epoll_fd_, ev, 256, 0);
  for (int i = 0; i < n; i++) {
    auto *c = static_cast<Connection *> (ev[i].data.ptr);
    if (c->dead)
      continue;
    int cond = 0;
    if (ev[i].events & (EPOLLIN | EPOLLRDHUP))
      cond |= G_IO_IN;
    if (ev[i].events & EPOLLOUT)
      cond |= G_IO_OUT;
    if (ev[i].events & EPOLLHUP)
      cond |= G_IO_HUP;
    if (ev[i].events & EPOLLERR)
      cond |= G_IO_ERR;
    c->on_io (GIOCondition (cond));
  }
  // HTTP/2 connections with answers: one flush each, whatever number of
  // their streams one publication answered (one record, one send).
  std::vector<Connection *> dirty;
  dirty.swap (self->dirty_);
  for (Connection *c : dirty) {
    c->flush_queued = false;
    if (!c->dead)
      c->flush_h2 ();
  }
  // Connections whose TLS layer holds bytes no poll reports.
  std::vector<Connection *> pending;
  pending.swap (self->pending_);
  for (Connection *c : pending) {
    c->pending_queued = false;
    if (!c->dead)
      c->on_io (GIOCondition (0));
  }
  self->reap ();
  return G_SOURCE_CONTINUE;
}

gboolean
TcpFrontend::on_tick (gpointer data)
{
  auto *self = static_cast<TcpFrontend *> (data);
  const int64_t now = g_get_monotonic_time ();
  std::vector<Connection *> due;
  for (Connection *c : self->connections_)
    if (c->deadline_us && c->deadline_us <= now)
      due.push_back (c);
  for (Connection *c : due)
    if (!c->dead)
      c->on_deadline ();
  self->reap ();
  return G_SOURCE_CONTINUE;
}

void
TcpFrontend::shutdown ()
{
  if (shutting_down_)
    return;
  shutting_down_ = true;
  if (accept_source_) {
    g_source_destroy (accept_source_);
    g_source_unref (accept_source_);
    accept_source_ = nullptr;
  }
  if (listen_fd_ >= 0) {
    ::close (listen_fd_);
    listen_fd_ = -1;
  }
  std::vector<Connection *> all (connections_.begin (), connections_.end ());
  for (Connection *c : all) {
    if (c->h2) {
      c->h2->go_away ();
      c->flush_h2 ();
    } else if (c->slots.empty () && !c->has_output ()) {
      close (c);
    } else {
      // The last answer asked for closes it; nothing more is read.
      if (!c->slots.empty ())
        c->slots.back ()->close = true;
      c->reading = false;
      c->watch ();
    }
  }
}

TcpFrontend::Stats
TcpFrontend::stats () const
{
  Stats s = stats_;
  s.connections_now = connections_.size ();
  s.requests += h2_counters_.requests;
  s.h2_requests = h2_counters_.requests;
  s.held_refused += h2_counters_.held_refused;
  s.held_abandoned += h2_counters_.held_abandoned;
  s.too_large += h2_counters_.too_large;
  s.h2_protocol_errors = h2_counters_.protocol_errors;
  return s;
}

} // namespace mirror
