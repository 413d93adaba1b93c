// SPDX-License-Identifier: LGPL-2.1-or-later
// HTTP/2 client connection over TLS (GnuTLS, ALPN h2 only) with nghttp2, on
// the shared EventLoop: many requests at once on one TCP connection, each
// on its own stream, up to the server's SETTINGS_MAX_CONCURRENT_STREAMS
// (the rest wait here, in order). TCP and TLS are tls_transport.h's; the
// framing is nghttp2's, driven by memory: what nghttp2_session_mem_send
// produces goes out through gnutls_record_send, what gnutls_record_recv
// returns goes into nghttp2_session_mem_recv. No cleartext h2c: the Origin
// and nginx both speak HTTP/2 only over TLS.
#include "h3_client.h"
#include "pending_request.h"
#include "tls_transport.h"

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <deque>
#include <map>
#include <string_view>
#include <vector>

#include <sys/epoll.h>

#include <gnutls/gnutls.h>
#include <nghttp2/nghttp2.h>

namespace mirror::tools {
namespace {

// nghttp2's frames are gathered up to one TLS record's worth before a send.
constexpr size_t kWriteChunk = 16384;
constexpr uint32_t kMaxWindow = (1u << 31) - 1; // RFC 9113, section 6.9.1
// Times one request is sent again after REFUSED_STREAM.
constexpr int kMaxRefusals = 3;

// One request: queued until the stream limit allows, then keyed by stream id.
struct H2Stream : PendingRequest {
  uint64_t seq = 0; // order of fetch (): refused requests go back in place
  int32_t id = -1;
  bool peer_reset = false; // the server sent RST_STREAM
  uint32_t reset_code = 0;
  int refusals = 0;
};

class H2Connection final : public HttpConnection, public TlsTransportOwner {
 public:
  H2Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
                const ClientConfig &config);
  ~H2Connection () override;

  void start ();
  void fetch (Request request, ResponseCallback cb) override;
  void close () override;
  bool ready () const override { return open_ && !failed_ && !goaway_; }
  bool failed () const override { return failed_; }
  size_t in_flight () const override;
  const ConnectionInfo &info () const override { return info_; }

  void on_transport_open () override;
  void on_transport_io (uint32_t events) override;
  void on_transport_failed (ErrorKind kind, const std::string &text) override;

 private:
  // nghttp2's callbacks (trampolines below) land here.
  friend struct H2Callbacks;

  void log (const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
  bool setup_session ();
  // Opens streams for queued requests within the server's limit, then
  // writes what nghttp2 has; ends the connection once nghttp2 is done.
  void flush ();
  void schedule_flush ();
  void start_queued ();
  void submit (std::unique_ptr<H2Stream> s);
  void read_in ();
  // Tears the connection down: requests complete with kind (or `closed`
  // once open), on_closed runs (once) unless we closed it ourselves.
  void fail (ErrorKind kind, const std::string &text, bool notify = true);
  // Best effort on a client close: GOAWAY, then TLS close_notify.
  void say_goodbye ();
  void report_closed (ErrorKind kind, const std::string &text);
  void deliver (H2Stream &s);
  void deliver_error (H2Stream &s, ErrorKind kind, const std::string &text);
  void on_stream_timeout (H2Stream *s);
  H2Stream *find (int32_t id);

  int on_begin_headers (const nghttp2_frame *frame);
  int on_header (const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                 const uint8_t *value, size_t valuelen);
  int on_frame_recv (const nghttp2_frame *frame);
  int on_frame_send (const nghttp2_frame *frame);
  int on_data_chunk (int32_t id, const uint8_t *data, size_t len);
  int on_stream_close (int32_t id, uint32_t error_code);
  void on_goaway (const nghttp2_goaway &goaway);
  // A stream the server refused before processing it goes back in the
  // queue; false when it may not (again).
  bool requeue_refused (std::unique_ptr<H2Stream> &s);

  EventLoop &loop_;
  ClientConfig config_;
  ConnectionInfo info_;
  std::string peer_;
  std::string authority_;
  TlsTransport transport_;
  bool open_ = false;
  bool failed_ = false;
  bool closed_reported_ = false;
  bool flush_scheduled_ = false;
  nghttp2_session *session_ = nullptr;

  std::deque<std::unique_ptr<H2Stream>> queued_; // by seq
  uint64_t next_seq_ = 0;
  std::map<int32_t, std::unique_ptr<H2Stream>> streams_; // submitted, not closed
  // Bytes from nghttp2 not yet taken by GnuTLS. Not appended to while a
  // send is pending: GnuTLS wants the same arguments again after EAGAIN.
  std::string out_;
  size_t out_off_ = 0;

  bool goaway_ = false;
  std::string goaway_text_;

  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);
};

// C trampolines: nghttp2's user_data is the connection.
struct H2Callbacks {
  static H2Connection *conn (void *user_data) { return static_cast<H2Connection *> (user_data); }

  static int begin_headers (nghttp2_session *, const nghttp2_frame *frame, void *user_data)
  {
    return conn (user_data)->on_begin_headers (frame);
  }

  static int header (nghttp2_session *, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t,
                     void *user_data)
  {
    return conn (user_data)->on_header (frame, name, namelen, value, valuelen);
  }

  static int frame_recv (nghttp2_session *, const nghttp2_frame *frame, void *user_data)
  {
    return conn (user_data)->on_frame_recv (frame);
  }

  static int frame_send (nghttp2_session *, const nghttp2_frame *frame, void *user_data)
  {
    return conn (user_data)->on_frame_send (frame);
  }

  static int data_chunk (nghttp2_session *, uint8_t, int32_t id, const uint8_t *data, size_t len,
                         void *user_data)
  {
    return conn (user_data)->on_data_chunk (id, data, len);
  }

  static int stream_close (nghttp2_session *, int32_t id, uint32_t error_code, void *user_data)
  {
    return conn (user_data)->on_stream_close (id, error_code);
  }

  static int error (nghttp2_session *, int lib_error_code, const char *msg, size_t len,
                    void *user_data)
  {
    conn (user_data)->log ("nghttp2: %.*s (%s)", (int)len, msg, nghttp2_strerror (lib_error_code));
    return 0;
  }
};

H2Connection::H2Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr,
                            socklen_t addrlen, const ClientConfig &config)
    : loop_ (loop), config_ (config), peer_ (url.authority ()), authority_ (url.authority ()),
      transport_ (loop, url, addr, addrlen, config_, "h2", "HTTP/2", *this, info_)
{
  info_.protocol = "h2";
}

H2Connection::~H2Connection ()
{
  *alive_ = false;
  if (!failed_)
    fail (ErrorKind::cancelled, "connection destroyed", false);
  if (session_)
    nghttp2_session_del (session_);
}

void
H2Connection::log (const char *fmt, ...)
{
  if (config_.verbose < 1)
    return;
  va_list ap;
  va_start (ap, fmt);
  log_connection_line ("h2", peer_, fmt, ap);
  va_end (ap);
}

size_t
H2Connection::in_flight () const
{
  size_t n = 0;
  for (auto &s : queued_)
    n += s->cb != nullptr;
  for (auto &[id, s] : streams_)
    n += s->cb != nullptr;
  return n;
}

void
H2Connection::start ()
{
  transport_.start ();
}

void
H2Connection::on_transport_failed (ErrorKind kind, const std::string &text)
{
  fail (kind, text);
}

void
H2Connection::on_transport_open ()
{
  if (!setup_session ())
    return;
  open_ = true;
  log ("connected in %.2f ms: %s", (info_.handshake_ns - info_.started_ns) / 1e6,
       info_.tls_details.c_str ());
  if (on_ready) {
    auto cb = on_ready;
    loop_.defer ([cb] { cb (); });
  }
  flush ();
}

void
H2Connection::on_transport_io (uint32_t events)
{
  if (failed_)
    return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    read_in ();
  // Also after a read: SETTINGS ACKs, WINDOW_UPDATEs and queued requests.
  if (!failed_)
    flush ();
}

bool
H2Connection::setup_session ()
{
  nghttp2_session_callbacks *cbs = nullptr;
  if (nghttp2_session_callbacks_new (&cbs) != 0) {
    fail (ErrorKind::protocol, "nghttp2_session_callbacks_new: out of memory");
    return false;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback (cbs, H2Callbacks::begin_headers);
  nghttp2_session_callbacks_set_on_header_callback (cbs, H2Callbacks::header);
  nghttp2_session_callbacks_set_on_frame_recv_callback (cbs, H2Callbacks::frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback (cbs, H2Callbacks::frame_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback (cbs, H2Callbacks::data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback (cbs, H2Callbacks::stream_close);
  if (config_.verbose >= 2)
    nghttp2_session_callbacks_set_error_callback2 (cbs, H2Callbacks::error);
  int rv = nghttp2_session_client_new (&session_, cbs, this);
  nghttp2_session_callbacks_del (cbs);
  if (rv != 0) {
    fail (ErrorKind::protocol,
          std::string ("nghttp2_session_client_new: ") + nghttp2_strerror (rv));
    return false;
  }
  // Windows large enough that a part arrives at the server's pace, not at
  // one WINDOW_UPDATE per round trip; nghttp2 returns credit as we consume.
  uint32_t stream_window = (uint32_t)std::min<uint64_t> (config_.stream_window, kMaxWindow);
  int32_t connection_window = (int32_t)std::min<uint64_t> (config_.connection_window, kMaxWindow);
  nghttp2_settings_entry settings[] = {
    { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window },
  };
  rv = nghttp2_submit_settings (session_, NGHTTP2_FLAG_NONE, settings,
                                sizeof settings / sizeof settings[0]);
  if (rv == 0)
    rv = nghttp2_session_set_local_window_size (session_, NGHTTP2_FLAG_NONE, 0, connection_window);
  if (rv != 0) {
    fail (ErrorKind::protocol, std::string ("HTTP/2 SETTINGS: ") + nghttp2_strerror (rv));
    return false;
  }
  return true;
}

void
H2Connection::fetch (Request request, ResponseCallback cb)
{
  auto s = std::make_unique<H2Stream> ();
  s->begin (std::move (request), std::move (cb));
  s->seq = next_seq_++;
  if (failed_ || goaway_) {
    deliver_error (*s, failed_ ? ErrorKind::cancelled : ErrorKind::closed,
                   failed_ ? "connection already closed" : goaway_text_);
    return;
  }
  H2Stream *raw = s.get ();
  s->arm_timeout (loop_, [this, raw] { on_stream_timeout (raw); });
  queued_.push_back (std::move (s));
  // Deferred: requests made together leave together, in one TLS record.
  schedule_flush ();
}

void
H2Connection::schedule_flush ()
{
  if (flush_scheduled_ || failed_ || !open_)
    return;
  flush_scheduled_ = true;
  std::weak_ptr<bool> alive = alive_;
  loop_.defer ([this, alive] {
    if (alive.expired ())
      return;
    flush_scheduled_ = false;
    flush ();
  });
}

void
H2Connection::start_queued ()
{
  if (!open_ || failed_ || goaway_)
    return;
  uint32_t limit
      = nghttp2_session_get_remote_settings (session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  while (!queued_.empty () && streams_.size () < limit && !failed_) {
    auto s = std::move (queued_.front ());
    queued_.pop_front ();
    if (s->cb)
      submit (std::move (s));
  }
}

void
H2Connection::submit (std::unique_ptr<H2Stream> s)
{
  auto nv = [] (const std::string &name, const std::string &value) {
    return nghttp2_nv{ (uint8_t *)name.data (), (uint8_t *)value.data (), name.size (),
                       value.size (), NGHTTP2_NV_FLAG_NONE };
  };
  static const std::string kMethod = ":method", kGet = "GET", kScheme = ":scheme", kHttps = "https",
                           kAuthority = ":authority", kPath = ":path", kUserAgent = "user-agent",
                           kAccept = "accept", kAny = "*/*";
  // HTTP/2 field names are lower case (RFC 9113, section 8.2.1).
  std::vector<std::pair<std::string, std::string>> extra = s->request.headers;
  for (auto &[name, value] : extra)
    for (auto &c : name)
      c = (char)tolower ((unsigned char)c);
  std::vector<nghttp2_nv> nva;
  nva.reserve (6 + extra.size ());
  nva.push_back (nv (kMethod, kGet));
  nva.push_back (nv (kScheme, kHttps));
  nva.push_back (nv (kAuthority, authority_));
  nva.push_back (nv (kPath, s->request.path));
  nva.push_back (nv (kUserAgent, config_.user_agent));
  nva.push_back (nv (kAccept, kAny));
  for (auto &[name, value] : extra)
    nva.push_back (nv (name, value));
  // No body: nghttp2 sends HEADERS with END_STREAM.
  int32_t id
      = nghttp2_submit_request (session_, nullptr, nva.data (), nva.size (), nullptr, nullptr);
  if (id < 0) {
    std::string text = "GET " + s->request.path + ": " + nghttp2_strerror (id);
    if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
      // Stream IDs used up: this connection can take no more requests.
      deliver_error (*s, ErrorKind::closed, text);
      queued_.push_front (std::move (s));
      fail (ErrorKind::closed, "no HTTP/2 stream IDs left on the connection to " + peer_);
      return;
    }
    deliver_error (*s, ErrorKind::protocol, text);
    return;
  }
  s->id = id;
  streams_[id] = std::move (s);
}

void
H2Connection::flush ()
{
  if (failed_ || !open_)
    return;
  start_queued ();
  for (;;) {
    if (out_off_ == out_.size ()) {
      out_.clear ();
      out_off_ = 0;
      while (out_.size () < kWriteChunk && !failed_) {
        const uint8_t *data = nullptr;
        ssize_t n = nghttp2_session_mem_send (session_, &data);
        if (n < 0) {
          fail (ErrorKind::protocol, "HTTP/2 to " + peer_ + ": " + nghttp2_strerror ((int)n));
          return;
        }
        if (n == 0)
          break;
        out_.append ((const char *)data, (size_t)n);
      }
      if (failed_)
        return;
      if (out_.empty ())
        break;
    }
    ssize_t n = transport_.send (out_.data () + out_off_, out_.size () - out_off_);
    if (n == GNUTLS_E_AGAIN) {
      transport_.want_write (true);
      return;
    }
    if (n < 0) {
      fail (ErrorKind::closed, "sending to " + peer_ + ": " + gnutls_strerror ((int)n));
      return;
    }
    out_off_ += (size_t)n;
  }
  transport_.want_write (false);
  // nghttp2 is done with the session: GOAWAY and no stream left.
  if (!nghttp2_session_want_read (session_) && !nghttp2_session_want_write (session_))
    fail (ErrorKind::closed,
          goaway_text_.empty () ? "HTTP/2 session with " + peer_ + " ended" : goaway_text_);
}

void
H2Connection::read_in ()
{
  thread_local std::array<uint8_t, 65536> buf;
  transport_.begin_reads ();
  while (!failed_) {
    ssize_t n = transport_.recv (buf.data (), buf.size ());
    if (n == GNUTLS_E_AGAIN)
      break;
    if (n == 0) {
      fail (ErrorKind::closed, goaway_ ? goaway_text_ : "server closed the connection");
      break;
    }
    if (n < 0) {
      fail (ErrorKind::closed, "receiving from " + peer_ + ": " + gnutls_strerror ((int)n));
      break;
    }
    ssize_t used = nghttp2_session_mem_recv (session_, buf.data (), (size_t)n);
    if (used < 0 && !failed_)
      fail (ErrorKind::protocol, "HTTP/2 from " + peer_ + ": " + nghttp2_strerror ((int)used));
  }
  transport_.end_reads ();
}

H2Stream *
H2Connection::find (int32_t id)
{
  auto it = streams_.find (id);
  return it == streams_.end () ? nullptr : it->second.get ();
}

int
H2Connection::on_begin_headers (const nghttp2_frame *frame)
{
  if (H2Stream *s = find (frame->hd.stream_id))
    s->informational = false;
  return 0;
}

int
H2Connection::on_header (const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                         const uint8_t *value, size_t valuelen)
{
  H2Stream *s = frame->hd.type == NGHTTP2_HEADERS ? find (frame->hd.stream_id) : nullptr;
  if (s == nullptr || !s->cb)
    return 0;
  s->add_header (std::string_view ((const char *)name, namelen),
                 std::string_view ((const char *)value, valuelen));
  return 0;
}

int
H2Connection::on_frame_recv (const nghttp2_frame *frame)
{
  switch (frame->hd.type) {
  case NGHTTP2_GOAWAY:
    on_goaway (frame->goaway);
    return 0;
  case NGHTTP2_RST_STREAM:
    if (H2Stream *s = find (frame->hd.stream_id)) {
      s->peer_reset = true;
      s->reset_code = frame->rst_stream.error_code;
    }
    return 0;
  case NGHTTP2_HEADERS:
  case NGHTTP2_DATA:
    break;
  default:
    return 0;
  }
  H2Stream *s = find (frame->hd.stream_id);
  if (s == nullptr || !s->cb)
    return 0;
  Response &r = s->response;
  if (frame->hd.type == NGHTTP2_HEADERS && !s->informational && r.status != 0 && r.headers_ns == 0)
    r.headers_ns = transport_.arrival_ns ();
  // Complete at END_STREAM; the stream closes right after (our side was
  // closed by the request's END_STREAM). Without a status, the close
  // reports it.
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && r.status != 0)
    deliver (*s);
  return 0;
}

int
H2Connection::on_frame_send (const nghttp2_frame *frame)
{
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  if (H2Stream *s = find (frame->hd.stream_id)) {
    s->response.sent_ns = monotonic_ns ();
    log ("stream %d: GET %s", frame->hd.stream_id, s->request.path.c_str ());
  }
  return 0;
}

int
H2Connection::on_data_chunk (int32_t id, const uint8_t *data, size_t len)
{
  H2Stream *s = find (id);
  if (s == nullptr || !s->cb)
    return 0;
  s->add_body (data, len);
  return 0;
}

int
H2Connection::on_stream_close (int32_t id, uint32_t error_code)
{
  // After fail () the entries stay until we are destroyed: fail () may run
  // inside one of their timers.
  if (failed_)
    return 0;
  auto it = streams_.find (id);
  if (it == streams_.end ())
    return 0;
  auto s = std::move (it->second);
  streams_.erase (it);
  if (s->cb && requeue_refused (s))
    return 0;
  if (s->cb) {
    std::string text = "GET " + s->request.path + ": stream " + std::to_string (id)
                       + " closed before the response ended";
    if (s->peer_reset)
      deliver_error (*s, ErrorKind::reset,
                     text + " (" + peer_ + " reset it: " + nghttp2_http2_strerror (s->reset_code)
                         + ")");
    else
      deliver_error (*s, ErrorKind::protocol,
                     text + " (" + nghttp2_http2_strerror (error_code) + ")");
  }
  // A stream slot is free: the next queued request may go.
  if (!queued_.empty ())
    schedule_flush ();
  return 0;
}

bool
H2Connection::requeue_refused (std::unique_ptr<H2Stream> &s)
{
  // Until the server's SETTINGS arrive, nghttp2 assumes 100 streams at once
  // (RFC 9113's floor for servers), as browsers do rather than wait a round
  // trip; a server that allows fewer refuses the excess with REFUSED_STREAM,
  // which promises the request was not processed (section 8.7).
  if (!s->peer_reset || s->reset_code != NGHTTP2_REFUSED_STREAM || s->response.status != 0
      || s->refusals >= kMaxRefusals || goaway_)
    return false;
  log ("stream %d: GET %s refused by the server (REFUSED_STREAM): queued again", s->id,
       s->request.path.c_str ());
  ++s->refusals;
  s->id = -1;
  s->peer_reset = false;
  s->reset_code = 0;
  s->informational = false;
  s->response.sent_ns = 0;
  auto pos = std::find_if (queued_.begin (), queued_.end (),
                           [&] (const std::unique_ptr<H2Stream> &q) { return q->seq > s->seq; });
  queued_.insert (pos, std::move (s));
  schedule_flush ();
  return true;
}

void
H2Connection::on_goaway (const nghttp2_goaway &goaway)
{
  goaway_ = true;
  goaway_text_ = "server sent GOAWAY (last stream " + std::to_string (goaway.last_stream_id) + ", "
                 + nghttp2_http2_strerror (goaway.error_code) + ")";
  log ("%s", goaway_text_.c_str ());
  // Requests the server will not process: theirs to retry elsewhere. Those
  // up to last_stream_id still complete here.
  for (auto &[id, s] : streams_)
    if (id > goaway.last_stream_id)
      deliver_error (*s, ErrorKind::closed, goaway_text_);
  for (auto &s : queued_)
    deliver_error (*s, ErrorKind::closed, goaway_text_);
  queued_.clear ();
  report_closed (ErrorKind::closed, goaway_text_);
}

void
H2Connection::deliver (H2Stream &s)
{
  // Stamped by the kernel when the last bytes came in (while reading;
  // errors and timeouts outside a read take the time now).
  if (s.cb)
    s.deliver (loop_, transport_.arrival_ns (), transport_.arrival_wall ());
}

void
H2Connection::deliver_error (H2Stream &s, ErrorKind kind, const std::string &text)
{
  if (s.cb)
    s.deliver_error (loop_, kind, text, transport_.arrival_ns (), transport_.arrival_wall ());
}

void
H2Connection::on_stream_timeout (H2Stream *s)
{
  std::string text = s->timeout_text ();
  if (s->id < 0) {
    std::shared_ptr<H2Stream> gone = take_queued (queued_, s);
    if (!gone)
      return;
    deliver_error (*s, ErrorKind::timeout,
                   text
                       + (open_ ? " (never sent: the server's stream limit was reached)"
                                : " (never sent: not connected)"));
    // We are inside this stream's timer: free it after the callback.
    loop_.defer ([gone] {});
    return;
  }
  // Only this request goes (RST_STREAM CANCEL), not the connection; the
  // entry goes when nghttp2 reports the stream closed, after the send.
  deliver_error (*s, ErrorKind::timeout, text);
  if (!failed_ && session_) {
    nghttp2_submit_rst_stream (session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    schedule_flush ();
  }
}

void
H2Connection::close ()
{
  if (!failed_)
    fail (ErrorKind::cancelled, "closed by the client", false);
}

void
H2Connection::say_goodbye ()
{
  // Not while GnuTLS holds a record half sent: it would take the next
  // send for a retry of that one.
  if (session_ == nullptr || out_off_ != out_.size ())
    return;
  nghttp2_session_terminate_session (session_, NGHTTP2_NO_ERROR);
  std::string bye;
  const uint8_t *data = nullptr;
  ssize_t n;
  while ((n = nghttp2_session_mem_send (session_, &data)) > 0)
    bye.append ((const char *)data, (size_t)n);
  if (!bye.empty ())
    transport_.send (bye.data (), bye.size ());
}

void
H2Connection::fail (ErrorKind kind, const std::string &text, bool notify)
{
  if (failed_)
    return;
  failed_ = true;
  if (kind != ErrorKind::cancelled || config_.verbose)
    log ("closed: %s (%s)", text.c_str (), error_kind_name (kind));
  bool was_open = open_;
  open_ = false;
  if (was_open && kind == ErrorKind::cancelled)
    say_goodbye ();
  transport_.close (was_open && kind == ErrorKind::cancelled);
  // Requests die with the connection. Once it was up, their kind is
  // `closed` (or ours, `cancelled`); before, the reason it never came up.
  ErrorKind request_kind = was_open && kind != ErrorKind::cancelled && kind != ErrorKind::timeout
                               ? ErrorKind::closed
                               : kind;
  for (auto &s : queued_)
    deliver_error (*s, request_kind, text);
  for (auto &[id, s] : streams_)
    deliver_error (*s, request_kind, text);
  if (notify)
    report_closed (kind, text);
}

void
H2Connection::report_closed (ErrorKind kind, const std::string &text)
{
  // Once: a GOAWAY reports, and the end of the connection after it does not.
  if (closed_reported_)
    return;
  closed_reported_ = true;
  if (on_closed) {
    auto cb = on_closed;
    loop_.defer ([cb, kind, text] { cb (kind, text); });
  }
}

} // namespace

std::unique_ptr<HttpConnection>
connect_h2 (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
            const ClientConfig &config)
{
  auto c = std::make_unique<H2Connection> (loop, url, addr, addrlen, config);
  c->start ();
  return c;
}

} // namespace mirror::tools
