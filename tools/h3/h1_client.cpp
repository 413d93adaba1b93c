// SPDX-License-Identifier: LGPL-2.1-or-later
// HTTP/1.1 client connection over TCP, optionally TLS (GnuTLS), non-blocking
// on the shared EventLoop: keep-alive, one request at a time (no
// pipelining, as browsers do), Content-Length, chunked and read-until-close
// bodies. The load generator's HTTP/1.1 viewers and mirror-h3get --http1
// use it, so both protocols are measured by the same code above this layer.
#include "h3_client.h"

#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

namespace mirror::tools {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;

std::string
lower (std::string s)
{
  for (auto &c : s)
    c = (char)tolower ((unsigned char)c);
  return s;
}

std::string
trim (const std::string &s)
{
  size_t a = s.find_first_not_of (" \t");
  if (a == std::string::npos)
    return {};
  size_t b = s.find_last_not_of (" \t\r");
  return s.substr (a, b - a + 1);
}

struct H1Request {
  Request request;
  ResponseCallback cb;
  Response response;
};

class H1Connection final : public HttpConnection, public IoWatcher {
 public:
  H1Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
                const ClientConfig &config);
  ~H1Connection () override;

  void start ();
  void fetch (Request request, ResponseCallback cb) override;
  void close () override;
  bool ready () const override { return state_ == State::open && !failed_; }
  bool failed () const override { return failed_; }
  size_t in_flight () const override { return queue_.size (); }
  const ConnectionInfo &info () const override { return info_; }
  void on_io (uint32_t events) override;

 private:
  enum class State { connecting, tls_handshake, open, failed };
  enum class Body { none, length, chunked, until_close };
  enum class Parse { head, body, chunk_size, chunk_data, chunk_crlf, trailers };

  void log (const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
  void on_connected ();
  void handshake_step ();
  void became_open ();
  void send_next ();
  void write_out ();
  void read_in ();
  void read_loop ();
  // Feeds received bytes to the response parser; false when the
  // connection was failed.
  bool parse (const char *data, size_t len);
  bool parse_head ();
  void complete_response ();
  void watch (bool want_write);
  ssize_t raw_send (const char *data, size_t len);
  ssize_t raw_recv (char *data, size_t len);
  // recv () that notes when the kernel got the bytes (also GnuTLS's pull
  // function, so TLS responses are stamped the same way).
  ssize_t stamped_recv (void *data, size_t len);
  static ssize_t tls_pull (gnutls_transport_ptr_t self, void *data, size_t len);
  void fail (ErrorKind kind, const std::string &text, bool notify = true);
  void deliver (H1Request &r);

  EventLoop &loop_;
  Url url_;
  ClientConfig config_;
  std::string peer_;
  sockaddr_storage remote_{};
  socklen_t remote_len_ = 0;
  bool use_tls_ = false;
  int fd_ = -1;
  State state_ = State::connecting;
  bool failed_ = false;
  bool watching_write_ = false;

  gnutls_session_t tls_ = nullptr;
  gnutls_certificate_credentials_t cred_ = nullptr;
  TlsSessionContext tls_ctx_;

  std::deque<std::unique_ptr<H1Request>> queue_; // front: the one on the wire
  bool front_sent_ = false;
  std::string out_;
  size_t out_off_ = 0;

  // Response parser state for queue_.front ().
  Parse parse_ = Parse::head;
  std::string head_;
  Body body_ = Body::none;
  uint64_t remaining_ = 0;
  std::string line_; // chunk-size and trailer lines
  bool server_closes_ = false;

  bool in_read_ = false;
  RxStamp rx_stamp_; // kernel arrival of the latest bytes read

  Timer connect_timer_;
  Timer request_timer_;
  ConnectionInfo info_;
};

H1Connection::H1Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr,
                            socklen_t addrlen, const ClientConfig &config)
    : loop_ (loop), url_ (url), config_ (config), remote_ (addr), remote_len_ (addrlen),
      connect_timer_ (
          loop,
          [this] {
            fail (state_ == State::connecting ? ErrorKind::connect : ErrorKind::tls,
                  (state_ == State::connecting ? "TCP connect to " : "TLS handshake with ") + peer_
                      + " took longer than "
                      + std::to_string (config_.connect_timeout_ns / kNsPerMs) + " ms");
          }),
      request_timer_ (loop, [this] {
        std::string text
            = "no complete response to GET " + queue_.front ()->request.path + " within "
              + std::to_string (queue_.front ()->request.timeout_ns / kNsPerMs) + " ms";
        // HTTP/1.1 cannot cancel one request: the connection goes with it.
        queue_.front ()->response.error = ErrorKind::timeout;
        queue_.front ()->response.error_text = text;
        deliver (*queue_.front ());
        fail (ErrorKind::timeout, text);
      })
{
  use_tls_ = url.scheme == "https" && config.tls_for_http1;
  info_.protocol = use_tls_ ? "http/1.1+tls" : "http/1.1";
  peer_ = url.authority ();
  tls_ctx_.policy = &config_.tls;
  tls_ctx_.host = url.host;
}

H1Connection::~H1Connection ()
{
  if (!failed_)
    fail (ErrorKind::cancelled, "connection destroyed", false);
  if (tls_)
    gnutls_deinit (tls_);
  if (cred_)
    gnutls_certificate_free_credentials (cred_);
}

void
H1Connection::log (const char *fmt, ...)
{
  if (config_.verbose < 1)
    return;
  va_list ap;
  va_start (ap, fmt);
  fprintf (stderr, "[%s %s] ", info_.protocol.c_str (), peer_.c_str ());
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
  va_end (ap);
}

void
H1Connection::start ()
{
  info_.started_ns = monotonic_ns ();
  fd_ = socket (remote_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd_ < 0) {
    fail (ErrorKind::connect, std::string ("TCP socket: ") + strerror (errno));
    return;
  }
  // Requests are small and latency is what we measure: no Nagle delay.
  int one = 1;
  setsockopt (fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  enable_rx_timestamps (fd_);
  if (connect (fd_, (const sockaddr *)&remote_, remote_len_) != 0 && errno != EINPROGRESS) {
    fail (ErrorKind::connect, "TCP connect to " + peer_ + ": " + strerror (errno));
    return;
  }
  if (!loop_.add (fd_, EPOLLOUT, this)) {
    fail (ErrorKind::connect, std::string ("epoll: ") + strerror (errno));
    return;
  }
  watching_write_ = true;
  connect_timer_.arm_in (config_.connect_timeout_ns);
}

void
H1Connection::watch (bool want_write)
{
  if (fd_ < 0 || want_write == watching_write_)
    return;
  watching_write_ = want_write;
  loop_.modify (fd_, want_write ? (EPOLLIN | EPOLLOUT) : EPOLLIN, this);
}

void
H1Connection::on_io (uint32_t events)
{
  if (failed_)
    return;
  switch (state_) {
  case State::connecting:
    on_connected ();
    return;
  case State::tls_handshake:
    handshake_step ();
    return;
  case State::open:
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
      read_in ();
    if (!failed_ && (events & EPOLLOUT))
      write_out ();
    return;
  case State::failed:
    return;
  }
}

void
H1Connection::on_connected ()
{
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt (fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    fail (ErrorKind::connect, "TCP connect to " + peer_ + ": " + strerror (err));
    return;
  }
  info_.connected_ns = monotonic_ns ();
  if (!use_tls_) {
    became_open ();
    return;
  }
  std::string error;
  cred_ = make_client_credentials (config_.tls, &error);
  if (cred_ == nullptr) {
    fail (ErrorKind::tls, error);
    return;
  }
  gnutls_datum_t alpn{ (unsigned char *)"http/1.1", 8 };
  int rv;
  if ((rv = gnutls_init (&tls_, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) != 0
      || (rv = gnutls_set_default_priority (tls_)) != 0
      || (rv = gnutls_credentials_set (tls_, GNUTLS_CRD_CERTIFICATE, cred_)) != 0
      || (rv = gnutls_alpn_set_protocols (tls_, &alpn, 1, 0)) != 0) {
    fail (ErrorKind::tls, std::string ("GnuTLS session setup: ") + gnutls_strerror (rv));
    return;
  }
  gnutls_session_set_ptr (tls_, &tls_ctx_);
  if (!is_ip_literal (url_.host))
    gnutls_server_name_set (tls_, GNUTLS_NAME_DNS, url_.host.data (), url_.host.size ());
  // Reads through stamped_recv; writes straight to the socket (GnuTLS's
  // default push on the send side's descriptor). No GnuTLS handshake
  // timeout: ours is connect_timer_, and GnuTLS's would poll the pointer
  // as if it were a descriptor.
  gnutls_transport_set_ptr2 (tls_, this, (gnutls_transport_ptr_t)(intptr_t)fd_);
  gnutls_transport_set_pull_function (tls_, tls_pull);
  gnutls_handshake_set_timeout (tls_, 0);
  state_ = State::tls_handshake;
  handshake_step ();
}

void
H1Connection::handshake_step ()
{
  int rv = gnutls_handshake (tls_);
  if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED) {
    watch (gnutls_record_get_direction (tls_) == 1);
    return;
  }
  if (rv < 0) {
    std::string why = tls_ctx_.verify_error.empty () ? std::string ("TLS handshake with ") + peer_
                                                           + ": " + gnutls_strerror (rv)
                                                     : tls_ctx_.verify_error;
    fail (ErrorKind::tls, why);
    return;
  }
  const char *group = gnutls_group_get_name (gnutls_group_get (tls_));
  gnutls_datum_t alpn{};
  std::string alpn_text = "none";
  if (gnutls_alpn_get_selected_protocol (tls_, &alpn) == 0)
    alpn_text.assign ((const char *)alpn.data, alpn.size);
  info_.tls_details = std::string (gnutls_protocol_get_name (gnutls_protocol_get_version (tls_)))
                      + ", " + gnutls_cipher_get_name (gnutls_cipher_get (tls_)) + ", "
                      + (group ? group : "?") + ", ALPN " + alpn_text;
  info_.peer_pin = peer_spki_pin (tls_);
  became_open ();
}

void
H1Connection::became_open ()
{
  state_ = State::open;
  connect_timer_.cancel ();
  info_.handshake_ns = monotonic_ns ();
  log ("connected in %.2f ms%s%s", (info_.handshake_ns - info_.started_ns) / 1e6,
       use_tls_ ? ": " : "", info_.tls_details.c_str ());
  watch (false);
  if (on_ready) {
    auto cb = on_ready;
    loop_.defer ([cb] { cb (); });
  }
  send_next ();
}

void
H1Connection::fetch (Request request, ResponseCallback cb)
{
  auto r = std::make_unique<H1Request> ();
  r->request = std::move (request);
  r->cb = std::move (cb);
  r->response.queued_ns = monotonic_ns ();
  if (failed_) {
    r->response.error = ErrorKind::cancelled;
    r->response.error_text = "connection already closed";
    deliver (*r);
    return;
  }
  queue_.push_back (std::move (r));
  if (state_ == State::open && queue_.size () == 1)
    send_next ();
}

void
H1Connection::send_next ()
{
  if (state_ != State::open || queue_.empty () || front_sent_)
    return;
  H1Request &r = *queue_.front ();
  out_ = "GET " + r.request.path + " HTTP/1.1\r\nHost: " + url_.authority ()
         + "\r\nUser-Agent: " + config_.user_agent + "\r\nAccept: */*\r\n";
  for (auto &[name, value] : r.request.headers)
    out_ += name + ": " + value + "\r\n";
  out_ += "\r\n";
  out_off_ = 0;
  front_sent_ = true;
  parse_ = Parse::head;
  head_.clear ();
  r.response.sent_ns = monotonic_ns ();
  request_timer_.arm_in (r.request.timeout_ns);
  log ("GET %s", r.request.path.c_str ());
  write_out ();
}

ssize_t
H1Connection::raw_send (const char *data, size_t len)
{
  if (tls_) {
    ssize_t n = gnutls_record_send (tls_, data, len);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
      errno = EAGAIN;
      return -1;
    }
    if (n < 0) {
      errno = EPIPE;
      return -1;
    }
    return n;
  }
  return send (fd_, data, len, MSG_NOSIGNAL);
}

ssize_t
H1Connection::stamped_recv (void *data, size_t len)
{
  iovec iov{ data, len };
  msghdr msg{};
  alignas (cmsghdr) char control[kRxStampControlSize];
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg (fd_, &msg, 0);
  if (n > 0) {
    RxStamp stamp = rx_stamp_from (msg);
    if (stamp.realtime_ns)
      rx_stamp_ = stamp;
  }
  return n;
}

ssize_t
H1Connection::tls_pull (gnutls_transport_ptr_t self, void *data, size_t len)
{
  auto *c = static_cast<H1Connection *> (self);
  ssize_t n = c->stamped_recv (data, len);
  if (n < 0)
    gnutls_transport_set_errno (c->tls_, errno);
  return n;
}

ssize_t
H1Connection::raw_recv (char *data, size_t len)
{
  if (tls_) {
    ssize_t n = gnutls_record_recv (tls_, data, len);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
      errno = EAGAIN;
      return -1;
    }
    if (n == GNUTLS_E_PREMATURE_TERMINATION)
      return 0; // peer closed without close_notify: treat as EOF
    if (n < 0) {
      errno = EPROTO;
      return -1;
    }
    return n;
  }
  return stamped_recv (data, len);
}

void
H1Connection::write_out ()
{
  while (out_off_ < out_.size ()) {
    ssize_t n = raw_send (out_.data () + out_off_, out_.size () - out_off_);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        watch (true);
        return;
      }
      fail (ErrorKind::closed, "sending to " + peer_ + ": " + strerror (errno));
      return;
    }
    info_.bytes_sent += (uint64_t)n;
    out_off_ += (size_t)n;
  }
  watch (false);
}

void
H1Connection::read_in ()
{
  in_read_ = true;
  read_loop ();
  in_read_ = false;
  rx_stamp_ = RxStamp{};
}

void
H1Connection::read_loop ()
{
  thread_local std::array<char, 65536> buf;
  for (;;) {
    ssize_t n = raw_recv (buf.data (), buf.size ());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      fail (front_sent_ ? ErrorKind::closed : ErrorKind::closed,
            "receiving from " + peer_ + ": " + strerror (errno));
      return;
    }
    if (n == 0) {
      if (front_sent_ && parse_ == Parse::body && body_ == Body::until_close) {
        complete_response ();
        if (!failed_)
          fail (ErrorKind::closed, "server closed the connection after the response");
        return;
      }
      fail (ErrorKind::closed, front_sent_ ? "server closed the connection mid-response"
                                           : "server closed the idle connection");
      return;
    }
    info_.bytes_received += (uint64_t)n;
    if (!front_sent_) {
      fail (ErrorKind::protocol, "server sent " + std::to_string (n) + " bytes nobody asked for");
      return;
    }
    if (!parse (buf.data (), (size_t)n))
      return;
  }
}

bool
H1Connection::parse (const char *data, size_t len)
{
  while (len > 0 || (parse_ == Parse::body && body_ == Body::length && remaining_ == 0)) {
    if (!front_sent_ || queue_.empty ()) {
      fail (ErrorKind::protocol, "server sent bytes after the response");
      return false;
    }
    Response &r = queue_.front ()->response;
    bool keep = queue_.front ()->request.keep_body;
    auto take_body = [&] (size_t n) {
      if (keep)
        r.body.append (data, n);
      else if (r.body.size () < Response::kHeadBytes)
        r.body.append (data, std::min (n, Response::kHeadBytes - r.body.size ()));
      r.body_size += n;
      data += n;
      len -= n;
    };
    switch (parse_) {
    case Parse::head: {
      size_t before = head_.size ();
      head_.append (data, len);
      size_t end = head_.find ("\r\n\r\n", before >= 3 ? before - 3 : 0);
      if (end == std::string::npos) {
        if (head_.size () > kMaxHeaderBytes) {
          fail (ErrorKind::protocol, "response header from " + peer_ + " over 64 KiB");
          return false;
        }
        return true;
      }
      size_t used = end + 4 - before;
      data += used;
      len -= used;
      head_.resize (end + 2);
      if (!parse_head ())
        return false;
      break;
    }
    case Parse::body:
      if (body_ == Body::length) {
        size_t n = (size_t)std::min<uint64_t> (remaining_, len);
        take_body (n);
        remaining_ -= n;
        if (remaining_ == 0) {
          complete_response ();
          if (failed_)
            return false;
        }
      } else {
        take_body (len);
      }
      break;
    case Parse::chunk_size:
    case Parse::chunk_crlf:
    case Parse::trailers: {
      const char *nl = (const char *)memchr (data, '\n', len);
      size_t n = nl ? (size_t)(nl - data) + 1 : len;
      line_.append (data, n);
      data += n;
      len -= n;
      if (!nl) {
        if (line_.size () > 4096) {
          fail (ErrorKind::protocol, "chunk line from " + peer_ + " too long");
          return false;
        }
        break;
      }
      std::string line = trim (line_);
      line_.clear ();
      if (parse_ == Parse::chunk_crlf) {
        parse_ = Parse::chunk_size;
      } else if (parse_ == Parse::chunk_size) {
        char *end = nullptr;
        remaining_ = strtoull (line.c_str (), &end, 16);
        if (end == line.c_str ()) {
          fail (ErrorKind::protocol, "bad chunk size \"" + line + "\" from " + peer_);
          return false;
        }
        parse_ = remaining_ == 0 ? Parse::trailers : Parse::chunk_data;
      } else if (line.empty ()) { // end of trailers
        complete_response ();
        if (failed_)
          return false;
      }
      break;
    }
    case Parse::chunk_data: {
      size_t n = (size_t)std::min<uint64_t> (remaining_, len);
      take_body (n);
      remaining_ -= n;
      if (remaining_ == 0)
        parse_ = Parse::chunk_crlf;
      break;
    }
    }
  }
  return true;
}

bool
H1Connection::parse_head ()
{
  Response &r = queue_.front ()->response;
  size_t eol = head_.find ("\r\n");
  std::string status_line = head_.substr (0, eol);
  int major = 0, minor = 0, status = 0;
  if (sscanf (status_line.c_str (), "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
    fail (ErrorKind::protocol, "bad status line from " + peer_ + ": \"" + status_line + "\"");
    return false;
  }
  if (status >= 100 && status < 200) {
    head_.clear (); // informational: the real response follows
    return true;
  }
  r.status = status;
  r.headers_ns = in_read_ && rx_stamp_.realtime_ns ? rx_stamp_.monotonic_ns () : monotonic_ns ();
  r.headers.clear ();
  server_closes_ = major == 1 && minor == 0;
  std::string transfer_encoding;
  int64_t content_length = -1;
  size_t pos = eol + 2;
  while (pos < head_.size ()) {
    size_t next = head_.find ("\r\n", pos);
    std::string line = head_.substr (pos, next - pos);
    pos = next + 2;
    size_t colon = line.find (':');
    if (colon == std::string::npos)
      continue;
    std::string name = lower (trim (line.substr (0, colon)));
    std::string value = trim (line.substr (colon + 1));
    if (name == "content-length")
      content_length = strtoll (value.c_str (), nullptr, 10);
    else if (name == "transfer-encoding")
      transfer_encoding = lower (value);
    else if (name == "connection")
      server_closes_ = lower (value).find ("close") != std::string::npos;
    if (queue_.front ()->request.keep_headers)
      r.headers.emplace_back (std::move (name), std::move (value));
  }
  head_.clear ();
  if (status == 204 || status == 304) {
    body_ = Body::none;
    complete_response ();
    return !failed_;
  }
  if (transfer_encoding.find ("chunked") != std::string::npos) {
    body_ = Body::chunked;
    parse_ = Parse::chunk_size;
  } else if (content_length >= 0) {
    body_ = Body::length;
    remaining_ = (uint64_t)content_length;
    parse_ = Parse::body;
  } else {
    body_ = Body::until_close;
    parse_ = Parse::body;
  }
  return true;
}

void
H1Connection::complete_response ()
{
  request_timer_.cancel ();
  auto r = std::move (queue_.front ());
  queue_.pop_front ();
  front_sent_ = false;
  parse_ = Parse::head;
  deliver (*r);
  if (server_closes_) {
    fail (ErrorKind::closed, "server closes the connection (Connection: close)");
    return;
  }
  send_next ();
}

void
H1Connection::deliver (H1Request &r)
{
  if (!r.cb)
    return;
  // Stamped by the kernel when the last bytes came in (set while reading;
  // errors and timeouts outside a read take the time now).
  if (in_read_ && rx_stamp_.realtime_ns) {
    r.response.done_ns = rx_stamp_.monotonic_ns ();
    r.response.done_wall = rx_stamp_.wall_seconds ();
  } else {
    r.response.done_ns = monotonic_ns ();
    r.response.done_wall = wall_seconds ();
  }
  loop_.defer (
      [cb = std::move (r.cb), resp = std::move (r.response)] () mutable { cb (std::move (resp)); });
  r.cb = nullptr;
}

void
H1Connection::close ()
{
  if (!failed_)
    fail (ErrorKind::cancelled, "closed by the client", false);
}

void
H1Connection::fail (ErrorKind kind, const std::string &text, bool notify)
{
  if (failed_)
    return;
  failed_ = true;
  if (kind != ErrorKind::cancelled)
    log ("closed: %s (%s)", text.c_str (), error_kind_name (kind));
  bool was_open = state_ == State::open;
  state_ = State::failed;
  connect_timer_.cancel ();
  request_timer_.cancel ();
  if (fd_ >= 0) {
    loop_.remove (fd_);
    if (tls_ && was_open)
      gnutls_bye (tls_, GNUTLS_SHUT_WR); // best effort close_notify
    ::close (fd_);
    fd_ = -1;
  }
  ErrorKind request_kind = was_open && kind != ErrorKind::cancelled && kind != ErrorKind::timeout
                               ? ErrorKind::closed
                               : kind;
  for (auto &r : queue_) {
    r->response.error = request_kind;
    r->response.error_text = text;
    deliver (*r);
  }
  queue_.clear ();
  if (notify && on_closed) {
    auto cb = on_closed;
    loop_.defer ([cb, kind, text] { cb (kind, text); });
  }
}

} // namespace

std::unique_ptr<HttpConnection>
connect_http1 (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
               const ClientConfig &config)
{
  auto c = std::make_unique<H1Connection> (loop, url, addr, addrlen, config);
  c->start ();
  return c;
}

} // namespace mirror::tools
