// SPDX-License-Identifier: LGPL-2.1-or-later
// HTTP/1.1 client connection over TCP, optionally TLS (GnuTLS), non-blocking
// on the shared EventLoop: keep-alive, one request at a time (no
// pipelining, as browsers do), Content-Length, chunked and read-until-close
// bodies. The load generator's HTTP/1.1 viewers and mirror-h3get --http1
// use it, so both protocols are measured by the same code above this layer.
// The socket, the TLS session and the receive stamps are TlsTransport's.
#include "h3_client.h"

#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>

#include <sys/epoll.h>

#include <gnutls/gnutls.h>

#include "tls_transport.h"

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

class H1Connection final : public HttpConnection, public TlsTransportOwner {
 public:
  H1Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
                const ClientConfig &config);
  ~H1Connection () override;

  void start ();
  void fetch (Request request, ResponseCallback cb) override;
  void close () override;
  bool ready () const override { return transport_.open () && !failed_; }
  bool failed () const override { return failed_; }
  size_t in_flight () const override { return queue_.size (); }
  const ConnectionInfo &info () const override { return info_; }

  void on_transport_open () override;
  void on_transport_io (uint32_t events) override;
  void on_transport_failed (ErrorKind kind, const std::string &text) override;

 private:
  enum class Body { none, length, chunked, until_close };
  enum class Parse { head, body, chunk_size, chunk_data, chunk_crlf, trailers };

  void log (const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
  void send_next ();
  void write_out ();
  void read_in ();
  void read_loop ();
  // Feeds received bytes to the response parser; false when the
  // connection was failed.
  bool parse (const char *data, size_t len);
  bool parse_head ();
  void complete_response ();
  void fail (ErrorKind kind, const std::string &text, bool notify = true);
  void deliver (H1Request &r);

  EventLoop &loop_;
  Url url_;
  ClientConfig config_;
  ConnectionInfo info_; // before transport_, which writes to it
  std::string peer_;
  bool use_tls_ = false;
  TlsTransport transport_;
  bool failed_ = false;

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

  Timer request_timer_;
};

H1Connection::H1Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr,
                            socklen_t addrlen, const ClientConfig &config)
    : loop_ (loop), url_ (url), config_ (config), peer_ (url.authority ()),
      use_tls_ (url.scheme == "https" && config.tls_for_http1),
      // TLS offers ALPN http/1.1 but takes whatever the server selects.
      transport_ (loop, url, addr, addrlen, config_, use_tls_ ? "http/1.1" : "", "HTTP/1.1", *this,
                  info_, false),
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
  info_.protocol = use_tls_ ? "http/1.1+tls" : "http/1.1";
}

H1Connection::~H1Connection ()
{
  if (!failed_)
    fail (ErrorKind::cancelled, "connection destroyed", false);
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
  transport_.start ();
}

void
H1Connection::on_transport_failed (ErrorKind kind, const std::string &text)
{
  fail (kind, text);
}

void
H1Connection::on_transport_io (uint32_t events)
{
  if (failed_)
    return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    read_in ();
  if (!failed_ && (events & EPOLLOUT))
    write_out ();
}

void
H1Connection::on_transport_open ()
{
  log ("connected in %.2f ms%s%s", (info_.handshake_ns - info_.started_ns) / 1e6,
       use_tls_ ? ": " : "", info_.tls_details.c_str ());
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
  if (transport_.open () && queue_.size () == 1)
    send_next ();
}

void
H1Connection::send_next ()
{
  if (!transport_.open () || queue_.empty () || front_sent_)
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

void
H1Connection::write_out ()
{
  while (out_off_ < out_.size ()) {
    ssize_t n = transport_.send (out_.data () + out_off_, out_.size () - out_off_);
    if (n == GNUTLS_E_AGAIN) {
      transport_.want_write (true);
      return;
    }
    if (n < 0) {
      // TLS errors have long read as a broken pipe; TCP's are the socket's.
      fail (ErrorKind::closed, "sending to " + peer_ + ": " + strerror (use_tls_ ? EPIPE : errno));
      return;
    }
    out_off_ += (size_t)n;
  }
  transport_.want_write (false);
}

void
H1Connection::read_in ()
{
  transport_.begin_reads ();
  read_loop ();
  transport_.end_reads ();
}

void
H1Connection::read_loop ()
{
  thread_local std::array<char, 65536> buf;
  for (;;) {
    ssize_t n = transport_.recv (buf.data (), buf.size ());
    if (n == GNUTLS_E_AGAIN)
      return;
    if (n < 0) {
      fail (ErrorKind::closed,
            "receiving from " + peer_ + ": " + strerror (use_tls_ ? EPROTO : errno));
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
  r.headers_ns = transport_.arrival_ns ();
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
  r.response.done_ns = transport_.arrival_ns ();
  r.response.done_wall = transport_.arrival_wall ();
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
  bool was_open = transport_.open ();
  request_timer_.cancel ();
  transport_.close (true); // best effort close_notify, if TLS and open
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
