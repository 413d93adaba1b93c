// SPDX-License-Identifier: LGPL-2.1-or-later
// HTTP/3 client connection: one connected UDP socket, one ngtcp2_conn, one
// nghttp3_conn, GnuTLS for the handshake. The call order follows ngtcp2's
// v0.12.1 example client (Debian 12's libraries are the 0.x API): nghttp3 is
// set up once the 1-RTT receive key exists, received stream data goes to
// nghttp3 and the consumed bytes are given back as flow-control credit, and
// after every read, write or timer the next deadline comes from
// ngtcp2_conn_get_expiry.
#include "h3_client.h"
#include "pending_request.h"

#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <string_view>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

namespace mirror::tools {
namespace {

// TLS 1.3 only, no middlebox-compatibility mode (QUIC forbids it), the
// ciphers and groups QUIC implementations commonly offer.
constexpr char kQuicTlsPriority[]
    = "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
      "+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
      "+GROUP-SECP384R1:+GROUP-SECP521R1";

// A receive slot per datagram; 64 KiB covers anything the kernel can hand us.
constexpr size_t kMaxDatagram = 65536;
// Datagrams read per wake-up before other connections get their turn, and
// per recvmmsg call.
constexpr int kReadBatch = 64;
constexpr int kRecvBatch = 8;

std::string
hex (uint64_t v)
{
  char buf[32];
  snprintf (buf, sizeof buf, "0x%llx", (unsigned long long)v);
  return buf;
}

std::string
describe_close_error (const ngtcp2_connection_close_error &e)
{
  std::string s;
  switch (e.type) {
  case NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT:
  case NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT_VERSION_NEGOTIATION:
  case NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT_IDLE_CLOSE:
    s = "transport error " + hex (e.error_code);
    if ((e.error_code & 0xff00) == NGTCP2_CRYPTO_ERROR)
      s += " (TLS alert " + std::to_string (e.error_code & 0xff) + ": "
           + (gnutls_alert_get_strname ((gnutls_alert_description_t)(e.error_code & 0xff)) ?: "?")
           + ")";
    break;
  case NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION:
    s = "application error " + hex (e.error_code);
    if (e.error_code == NGHTTP3_H3_NO_ERROR)
      s += " (H3_NO_ERROR)";
    break;
  default:
    s = "error " + hex (e.error_code);
  }
  if (e.reasonlen > 0)
    s += ", reason \"" + std::string ((const char *)e.reason, e.reasonlen) + "\"";
  return s;
}

std::string
addr_to_string (const sockaddr_storage &ss)
{
  char host[64] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto *in = (const sockaddr_in *)&ss;
    inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs (in->sin_port);
    return std::string (host) + ":" + std::to_string (port);
  }
  auto *in6 = (const sockaddr_in6 *)&ss;
  inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs (in6->sin6_port);
  return "[" + std::string (host) + "]:" + std::to_string (port);
}

class H3Connection;

// One request: queued until a stream can be opened, then keyed by stream id.
struct H3Stream : PendingRequest {
  int64_t id = -1;
  bool ended = false; // FIN received: the response is complete
  uint64_t reset_code = 0;
  bool was_reset = false;
};

class H3Connection final : public HttpConnection, public IoWatcher {
 public:
  H3Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
                const ClientConfig &config);
  ~H3Connection () override;

  void start ();
  void fetch (Request request, ResponseCallback cb) override;
  void close () override;
  bool ready () const override { return ready_ && !failed_; }
  bool failed () const override { return failed_; }
  size_t in_flight () const override { return streams_.size () + queued_.size (); }
  const ConnectionInfo &info () const override { return info_; }
  void on_io (uint32_t events) override;

 private:
  // ngtcp2 and nghttp3 callbacks (trampolines below) land here.
  friend struct H3Callbacks;

  void log (const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
  void on_read ();
  // One datagram through ngtcp2; false once the connection has failed.
  bool read_datagram (const msghdr &msg, const uint8_t *data, size_t n);
  void on_timer ();
  // Opens streams for queued requests, then writes what ngtcp2 and nghttp3
  // have, within congestion control and pacing; re-arms the timer.
  void flush ();
  void schedule_flush ();
  int write_packets ();
  // 0, or -EAGAIN when the socket is full (the packet is then kept).
  int send_datagram (const uint8_t *data, size_t len);
  void update_timer ();
  void pace (ngtcp2_tstamp ts);
  void start_queued ();
  int submit (H3Stream &s);
  int setup_http3 ();
  // Tears the connection down: requests complete with kind (or `closed`
  // once established), on_closed runs unless we closed it ourselves.
  void fail (ErrorKind kind, const std::string &text, bool send_close, bool notify = true);
  void send_connection_close ();
  // Hands the response to its callback (deferred) once; the stream entry
  // itself may live on until ngtcp2 reports the stream closed.
  void deliver (H3Stream &s);
  void deliver_error (H3Stream &s, ErrorKind kind, const std::string &text);
  void on_stream_timeout (H3Stream *s);
  H3Stream *find (int64_t id);
  std::unique_ptr<H3Stream> take (int64_t id);
  ErrorKind kind_for_failure (int liberr) const;

  // Callback bodies.
  int on_recv_stream_data (uint32_t flags, int64_t id, const uint8_t *data, size_t len);
  int on_acked (int64_t id, uint64_t len);
  int on_stream_close (uint32_t flags, int64_t id, uint64_t code);
  int on_stream_reset (int64_t id, uint64_t code);
  int on_handshake_completed ();
  int on_recv_rx_key (ngtcp2_crypto_level level);
  int on_new_token (const ngtcp2_vec *token);
  int on_h3_stream_close (int64_t id, uint64_t code);
  int on_h3_recv_data (int64_t id, const uint8_t *data, size_t len);
  void consume (int64_t id, size_t n);
  int on_h3_header (int64_t id, nghttp3_rcbuf *name, nghttp3_rcbuf *value);
  int on_h3_end_headers (int64_t id);
  int on_h3_end_stream (int64_t id);
  int on_h3_goaway (int64_t id);

  EventLoop &loop_;
  Url url_;
  ClientConfig config_;
  std::string authority_;
  sockaddr_storage remote_{};
  socklen_t remote_len_ = 0;
  sockaddr_storage local_{};
  socklen_t local_len_ = 0;
  int fd_ = -1;
  bool want_write_ = false; // EPOLLOUT armed: a packet waits for socket space
  std::vector<uint8_t> blocked_packet_;

  ngtcp2_conn *conn_ = nullptr;
  nghttp3_conn *h3_ = nullptr;
  gnutls_session_t tls_ = nullptr;
  gnutls_certificate_credentials_t cred_ = nullptr;
  TlsSessionContext tls_ctx_;
  std::string token_; // NEW_TOKEN token offered in our Initial
  ngtcp2_connection_close_error last_error_{};

  Timer timer_;
  bool ready_ = false;
  bool failed_ = false;
  bool goaway_ = false;
  bool got_stateless_reset_ = false;
  RxStamp rx_stamp_; // kernel arrival of the datagram being read, if any
  int64_t goaway_id_ = -1;
  bool flush_scheduled_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);

  std::deque<std::unique_ptr<H3Stream>> queued_;
  std::map<int64_t, std::unique_ptr<H3Stream>> streams_;
  ConnectionInfo info_;
};

// Trampolines: C callbacks to member functions. No exception may cross them
// (nothing below throws but std::bad_alloc, which would end the tool anyway).
struct H3Callbacks {
  static H3Connection *self (void *user_data) { return static_cast<H3Connection *> (user_data); }

  static ngtcp2_conn *get_conn (ngtcp2_crypto_conn_ref *ref)
  {
    return self (ref->user_data)->conn_;
  }

  static int recv_stream_data (ngtcp2_conn *, uint32_t flags, int64_t id, uint64_t,
                               const uint8_t *data, size_t len, void *ud, void *)
  {
    return self (ud)->on_recv_stream_data (flags, id, data, len) == 0 ? 0
                                                                      : NGTCP2_ERR_CALLBACK_FAILURE;
  }
  static int acked_stream_data_offset (ngtcp2_conn *, int64_t id, uint64_t, uint64_t len, void *ud,
                                       void *)
  {
    return self (ud)->on_acked (id, len) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }
  static int stream_close (ngtcp2_conn *, uint32_t flags, int64_t id, uint64_t code, void *ud,
                           void *)
  {
    return self (ud)->on_stream_close (flags, id, code) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }
  static int stream_reset (ngtcp2_conn *, int64_t id, uint64_t, uint64_t code, void *ud, void *)
  {
    return self (ud)->on_stream_reset (id, code) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }
  static int stream_stop_sending (ngtcp2_conn *, int64_t id, uint64_t code, void *ud, void *)
  {
    // The server no longer wants our request body: we have none beyond the
    // headers, but nghttp3 must stop treating the stream as readable.
    auto *c = self (ud);
    if (c->h3_ && nghttp3_conn_shutdown_stream_read (c->h3_, id) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }
  static int extend_max_local_streams_bidi (ngtcp2_conn *, uint64_t, void *ud)
  {
    // More request streams allowed: queued requests go out on the next
    // flush (never open streams from inside ngtcp2's own call).
    self (ud)->schedule_flush ();
    return 0;
  }
  static int extend_max_stream_data (ngtcp2_conn *, int64_t id, uint64_t, void *ud, void *)
  {
    auto *c = self (ud);
    if (c->h3_ && nghttp3_conn_unblock_stream (c->h3_, id) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }
  static void rand (uint8_t *dest, size_t len, const ngtcp2_rand_ctx *)
  {
    // Not secret (padding, path probing order): a fast PRNG will do.
    thread_local std::mt19937_64 gen{ std::random_device{}() };
    for (size_t i = 0; i < len; ++i)
      dest[i] = (uint8_t)gen ();
  }
  static int get_new_connection_id (ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token, size_t len,
                                    void *)
  {
    if (gnutls_rnd (GNUTLS_RND_RANDOM, cid->data, len) != 0
        || gnutls_rnd (GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = len;
    return 0;
  }
  static int handshake_completed (ngtcp2_conn *, void *ud)
  {
    return self (ud)->on_handshake_completed () == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }
  static int recv_retry (ngtcp2_conn *conn, const ngtcp2_pkt_hd *hd, void *ud)
  {
    self (ud)->info_.used_retry = true;
    self (ud)->log ("Retry: address validation round trip");
    return ngtcp2_crypto_recv_retry_cb (conn, hd, ud);
  }
  static int recv_new_token (ngtcp2_conn *, const ngtcp2_vec *token, void *ud)
  {
    return self (ud)->on_new_token (token);
  }
  static int recv_rx_key (ngtcp2_conn *, ngtcp2_crypto_level level, void *ud)
  {
    return self (ud)->on_recv_rx_key (level) == 0 ? 0 : NGTCP2_ERR_CALLBACK_FAILURE;
  }
  static int recv_stateless_reset (ngtcp2_conn *, const ngtcp2_pkt_stateless_reset *, void *ud)
  {
    self (ud)->got_stateless_reset_ = true;
    return 0;
  }
  static void log_printf (void *ud, const char *fmt, ...)
  {
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "  ngtcp2: ");
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\n");
    va_end (ap);
  }

  // nghttp3
  static int h3_stream_close (nghttp3_conn *, int64_t id, uint64_t code, void *ud, void *)
  {
    return self (ud)->on_h3_stream_close (id, code) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  static int h3_recv_data (nghttp3_conn *, int64_t id, const uint8_t *data, size_t len, void *ud,
                           void *)
  {
    return self (ud)->on_h3_recv_data (id, data, len) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  static int h3_deferred_consume (nghttp3_conn *, int64_t id, size_t n, void *ud, void *)
  {
    self (ud)->consume (id, n);
    return 0;
  }
  static int h3_begin_headers (nghttp3_conn *, int64_t, void *, void *) { return 0; }
  static int h3_recv_header (nghttp3_conn *, int64_t id, int32_t, nghttp3_rcbuf *name,
                             nghttp3_rcbuf *value, uint8_t, void *ud, void *)
  {
    return self (ud)->on_h3_header (id, name, value) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  static int h3_end_headers (nghttp3_conn *, int64_t id, int, void *ud, void *)
  {
    return self (ud)->on_h3_end_headers (id) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  static int h3_stop_sending (nghttp3_conn *, int64_t id, uint64_t code, void *ud, void *)
  {
    auto *c = self (ud);
    return ngtcp2_conn_shutdown_stream_read (c->conn_, id, code) == 0
               ? 0
               : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  static int h3_end_stream (nghttp3_conn *, int64_t id, void *ud, void *)
  {
    return self (ud)->on_h3_end_stream (id) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  static int h3_reset_stream (nghttp3_conn *, int64_t id, uint64_t code, void *ud, void *)
  {
    auto *c = self (ud);
    return ngtcp2_conn_shutdown_stream_write (c->conn_, id, code) == 0
               ? 0
               : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
  static int h3_shutdown (nghttp3_conn *, int64_t id, void *ud)
  {
    return self (ud)->on_h3_goaway (id) == 0 ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
  }
};

H3Connection::H3Connection (EventLoop &loop, const Url &url, const sockaddr_storage &addr,
                            socklen_t addrlen, const ClientConfig &config)
    : loop_ (loop), url_ (url), config_ (config), authority_ (url.authority ()), remote_ (addr),
      remote_len_ (addrlen), timer_ (loop, [this] { on_timer (); })
{
  info_.protocol = "h3";
  tls_ctx_.conn_ref.get_conn = H3Callbacks::get_conn;
  tls_ctx_.conn_ref.user_data = this;
  tls_ctx_.policy = &config_.tls;
  tls_ctx_.host = url.host;
  ngtcp2_connection_close_error_default (&last_error_);
}

H3Connection::~H3Connection ()
{
  *alive_ = false;
  if (!failed_)
    fail (ErrorKind::cancelled, "connection destroyed", true, false);
  // Requests still held are dropped without their callbacks: the owner is
  // going away with us.
  queued_.clear ();
  streams_.clear ();
  if (h3_)
    nghttp3_conn_del (h3_);
  if (conn_)
    ngtcp2_conn_del (conn_);
  if (tls_)
    gnutls_deinit (tls_);
  if (cred_)
    gnutls_certificate_free_credentials (cred_);
}

void
H3Connection::log (const char *fmt, ...)
{
  if (config_.verbose < 1)
    return;
  va_list ap;
  va_start (ap, fmt);
  log_connection_line ("h3", authority_, fmt, ap);
  va_end (ap);
}

void
H3Connection::start ()
{
  info_.started_ns = monotonic_ns ();
  fd_ = socket (remote_.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd_ < 0) {
    fail (ErrorKind::connect, std::string ("UDP socket: ") + strerror (errno), false);
    return;
  }
  // A connected socket: the kernel hands us only the server's datagrams, and
  // one socket per connection is how thousands of viewers stay apart.
  if (connect (fd_, (const sockaddr *)&remote_, remote_len_) != 0) {
    fail (ErrorKind::connect,
          "UDP connect to " + addr_to_string (remote_) + ": " + strerror (errno), false);
    return;
  }
  local_len_ = sizeof local_;
  getsockname (fd_, (sockaddr *)&local_, &local_len_);
  enable_rx_timestamps (fd_);
  if (config_.udp_gro) {
    int one = 1;
    // Without it (an older kernel) the datagrams come one by one.
    setsockopt (fd_, SOL_UDP, UDP_GRO, &one, sizeof one);
  }
  if (!loop_.add (fd_, EPOLLIN, this)) {
    fail (ErrorKind::connect, std::string ("epoll: ") + strerror (errno), false);
    return;
  }

  ngtcp2_callbacks cb{};
  cb.client_initial = ngtcp2_crypto_client_initial_cb;
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.recv_retry = H3Callbacks::recv_retry;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.recv_stream_data = H3Callbacks::recv_stream_data;
  cb.acked_stream_data_offset = H3Callbacks::acked_stream_data_offset;
  cb.stream_close = H3Callbacks::stream_close;
  cb.stream_reset = H3Callbacks::stream_reset;
  cb.stream_stop_sending = H3Callbacks::stream_stop_sending;
  cb.extend_max_local_streams_bidi = H3Callbacks::extend_max_local_streams_bidi;
  cb.extend_max_stream_data = H3Callbacks::extend_max_stream_data;
  cb.rand = H3Callbacks::rand;
  cb.get_new_connection_id = H3Callbacks::get_new_connection_id;
  cb.handshake_completed = H3Callbacks::handshake_completed;
  cb.recv_new_token = H3Callbacks::recv_new_token;
  cb.recv_rx_key = H3Callbacks::recv_rx_key;
  cb.recv_stateless_reset = H3Callbacks::recv_stateless_reset;

  ngtcp2_cid dcid, scid;
  dcid.datalen = 18;
  scid.datalen = 17;
  if (gnutls_rnd (GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0
      || gnutls_rnd (GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
    fail (ErrorKind::connect, "no random bytes for connection IDs", false);
    return;
  }

  ngtcp2_settings settings;
  ngtcp2_settings_default (&settings);
  settings.initial_ts = monotonic_ns ();
  settings.handshake_timeout = (ngtcp2_duration)config_.connect_timeout_ns;
  settings.max_window = config_.max_connection_window;
  settings.max_stream_window = config_.max_stream_window;
  if (config_.verbose >= 2)
    settings.log_printf = H3Callbacks::log_printf;
  auto cached = config_.quic_tokens->find (authority_);
  if (cached != config_.quic_tokens->end ()) {
    token_ = cached->second;
    settings.token.base = (uint8_t *)token_.data ();
    settings.token.len = token_.size ();
    info_.used_token = true;
  }

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default (&params);
  // Responses arrive on streams we open: bidi_local is the window that
  // matters. The server's control and QPACK streams are unidirectional.
  params.initial_max_stream_data_bidi_local = config_.stream_window;
  params.initial_max_stream_data_bidi_remote = 0;
  params.initial_max_stream_data_uni = 256 * 1024;
  params.initial_max_data = config_.connection_window;
  params.initial_max_streams_bidi = 0;
  params.initial_max_streams_uni = 16;
  params.max_idle_timeout = (ngtcp2_duration)config_.idle_timeout_ns;
  params.active_connection_id_limit = 7;

  ngtcp2_path path{
    { (ngtcp2_sockaddr *)&local_, local_len_ },
    { (ngtcp2_sockaddr *)&remote_, remote_len_ },
    nullptr,
  };
  int rv = ngtcp2_conn_client_new (&conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings,
                                   &params, nullptr, this);
  if (rv != 0) {
    fail (ErrorKind::protocol, std::string ("ngtcp2_conn_client_new: ") + ngtcp2_strerror (rv),
          false);
    return;
  }

  std::string error;
  cred_ = make_client_credentials (config_.tls, &error);
  if (cred_ == nullptr) {
    fail (ErrorKind::tls, error, false);
    return;
  }
  const char *where = nullptr;
  gnutls_datum_t alpn{ (unsigned char *)"h3", 2 };
  if ((rv = gnutls_init (&tls_, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA)) != 0
      || (rv = gnutls_priority_set_direct (tls_, kQuicTlsPriority, &where)) != 0
      || (rv = ngtcp2_crypto_gnutls_configure_client_session (tls_)) != 0
      || (rv = gnutls_credentials_set (tls_, GNUTLS_CRD_CERTIFICATE, cred_)) != 0
      || (rv = gnutls_alpn_set_protocols (tls_, &alpn, 1, GNUTLS_ALPN_MANDATORY)) != 0) {
    fail (ErrorKind::tls,
          std::string ("GnuTLS session setup: ") + (rv < 0 ? gnutls_strerror (rv) : "failed"),
          false);
    return;
  }
  // ngtcp2's crypto layer finds the connection through this pointer.
  gnutls_session_set_ptr (tls_, &tls_ctx_);
  if (!is_ip_literal (url_.host))
    gnutls_server_name_set (tls_, GNUTLS_NAME_DNS, url_.host.data (), url_.host.size ());
  ngtcp2_conn_set_tls_native_handle (conn_, tls_);

  log ("connecting from %s to %s%s", addr_to_string (local_).c_str (),
       addr_to_string (remote_).c_str (), info_.used_token ? " with a NEW_TOKEN token" : "");
  flush ();
  info_.connected_ns = monotonic_ns ();
}

void
H3Connection::fetch (Request request, ResponseCallback cb)
{
  auto s = std::make_unique<H3Stream> ();
  s->begin (std::move (request), std::move (cb));
  if (failed_ || goaway_) {
    deliver_error (*s, failed_ ? ErrorKind::cancelled : ErrorKind::closed,
                   failed_ ? "connection already closed" : "server sent GOAWAY");
    return;
  }
  H3Stream *raw = s.get ();
  s->arm_timeout (loop_, [this, raw] { on_stream_timeout (raw); });
  queued_.push_back (std::move (s));
  schedule_flush ();
}

void
H3Connection::close ()
{
  if (failed_)
    return;
  fail (ErrorKind::cancelled, "closed by the client", true, false);
}

void
H3Connection::schedule_flush ()
{
  if (flush_scheduled_ || failed_)
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
H3Connection::on_io (uint32_t events)
{
  if (failed_)
    return;
  if (events & (EPOLLIN | EPOLLERR))
    on_read ();
  if (failed_)
    return;
  if ((events & EPOLLOUT) && !blocked_packet_.empty ()) {
    std::vector<uint8_t> pkt;
    pkt.swap (blocked_packet_);
    if (send_datagram (pkt.data (), pkt.size ()) == -EAGAIN)
      return;
    if (failed_)
      return;
    want_write_ = false;
    loop_.modify (fd_, EPOLLIN, this);
  }
  flush ();
}

void
H3Connection::on_read ()
{
  // A response's datagrams arrive together: recvmmsg takes them in one call
  // (a system call per datagram was a sixth of a load generator's time).
  struct Slots {
    std::array<std::array<uint8_t, kMaxDatagram>, kRecvBatch> data;
    alignas (cmsghdr) char control[kRecvBatch][kRxStampControlSize];
    std::array<iovec, kRecvBatch> iov;
    std::array<mmsghdr, kRecvBatch> msgs;
  };
  thread_local std::unique_ptr<Slots> slots = std::make_unique<Slots> ();
  Slots &s = *slots;
  for (int read = 0; read < kReadBatch;) {
    for (int i = 0; i < kRecvBatch; ++i) {
      s.iov[i] = { s.data[i].data (), kMaxDatagram };
      msghdr &msg = s.msgs[i].msg_hdr;
      msg = msghdr{};
      msg.msg_iov = &s.iov[i];
      msg.msg_iovlen = 1;
      msg.msg_control = s.control[i];
      msg.msg_controllen = sizeof s.control[i];
    }
    int got = recvmmsg (fd_, s.msgs.data (), kRecvBatch, 0, nullptr);
    if (got < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
      // ICMP port unreachable surfaces here on a connected socket: nobody
      // listens on that UDP port.
      fail (ready_ ? ErrorKind::closed : ErrorKind::connect,
            "UDP from " + addr_to_string (remote_) + ": " + strerror (errno), false);
      return;
    }
    for (int i = 0; i < got; ++i) {
      const msghdr &msg = s.msgs[i].msg_hdr;
      const uint8_t *data = s.data[i].data ();
      size_t len = s.msgs[i].msg_len;
      // A GSO batch read whole (UDP_GRO): datagrams of segment bytes each,
      // the last one shorter or equal.
      size_t segment = len;
      for (cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR ((msghdr *)&msg, c))
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int size = 0;
          memcpy (&size, CMSG_DATA (c), sizeof size);
          if (size > 0)
            segment = (size_t)size;
        }
      info_.gro_reads += segment < len;
      for (size_t at = 0; at < len; at += segment)
        if (!read_datagram (msg, data + at, std::min (segment, len - at)))
          return;
    }
    read += got;
    if (got < kRecvBatch)
      return; // drained
  }
}

bool
H3Connection::read_datagram (const msghdr &msg, const uint8_t *data, size_t n)
{
  ngtcp2_path path{
    { (ngtcp2_sockaddr *)&local_, local_len_ },
    { (ngtcp2_sockaddr *)&remote_, remote_len_ },
    nullptr,
  };
  ngtcp2_pkt_info pi{};
  info_.bytes_received += (uint64_t)n;
  ++info_.datagrams_received;
  // Responses completed by this datagram arrived when it did.
  rx_stamp_ = rx_stamp_from (msg);
  int rv = ngtcp2_conn_read_pkt (conn_, &path, &pi, data, n, monotonic_ns ());
  rx_stamp_ = RxStamp{};
  if (rv == 0)
    return true;
  if (rv == NGTCP2_ERR_DRAINING) {
    ngtcp2_connection_close_error ce;
    ngtcp2_conn_get_connection_close_error (conn_, &ce);
    ErrorKind kind = ErrorKind::closed;
    if (!ready_)
      kind = (ce.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT
              && (ce.error_code & 0xff00) == NGTCP2_CRYPTO_ERROR)
                 ? ErrorKind::tls
                 : ErrorKind::handshake;
    if (got_stateless_reset_)
      fail (ErrorKind::closed,
            "stateless reset from " + addr_to_string (remote_)
                + ": the server no longer knows this connection (restarted?)",
            false);
    else
      fail (kind, "server closed the connection: " + describe_close_error (ce), false);
    return false;
  }
  if (rv == NGTCP2_ERR_CRYPTO) {
    std::string why = tls_ctx_.verify_error;
    if (why.empty ()) {
      uint8_t alert = ngtcp2_conn_get_tls_alert (conn_);
      why = std::string ("TLS handshake failed, alert ") + std::to_string (alert) + " ("
            + (gnutls_alert_get_strname ((gnutls_alert_description_t)alert) ?: "?") + ")";
    }
    ngtcp2_connection_close_error_set_transport_error_tls_alert (
        &last_error_, ngtcp2_conn_get_tls_alert (conn_), nullptr, 0);
    fail (ErrorKind::tls, why, true);
    return false;
  }
  if (rv == NGTCP2_ERR_RECV_VERSION_NEGOTIATION) {
    fail (ErrorKind::protocol, "server does not speak QUIC v1 (version negotiation)", false);
    return false;
  }
  if (rv == NGTCP2_ERR_DROP_CONN) {
    fail (ErrorKind::closed, "connection dropped", false);
    return false;
  }
  if (last_error_.error_code == 0)
    ngtcp2_connection_close_error_set_transport_error_liberr (&last_error_, rv, nullptr, 0);
  fail (kind_for_failure (rv), std::string ("ngtcp2_conn_read_pkt: ") + ngtcp2_strerror (rv), true);
  return false;
}

ErrorKind
H3Connection::kind_for_failure (int liberr) const
{
  if (liberr == NGTCP2_ERR_HANDSHAKE_TIMEOUT)
    return ErrorKind::handshake;
  if (liberr == NGTCP2_ERR_IDLE_CLOSE)
    return ErrorKind::closed;
  return ErrorKind::protocol;
}

void
H3Connection::on_timer ()
{
  if (failed_)
    return;
  int rv = ngtcp2_conn_handle_expiry (conn_, monotonic_ns ());
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    fail (ErrorKind::closed, "idle timeout, nothing heard from " + addr_to_string (remote_), false);
    return;
  }
  if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    fail (ErrorKind::handshake,
          "no QUIC handshake with " + addr_to_string (remote_) + " within "
              + std::to_string (config_.connect_timeout_ns / kNsPerMs) + " ms"
              + (info_.bytes_received ? "" : " (no answer at all: is HTTP/3 listening there?)"),
          false);
    return;
  }
  if (rv != 0) {
    ngtcp2_connection_close_error_set_transport_error_liberr (&last_error_, rv, nullptr, 0);
    fail (ErrorKind::protocol, std::string ("ngtcp2_conn_handle_expiry: ") + ngtcp2_strerror (rv),
          true);
    return;
  }
  flush ();
}

void
H3Connection::flush ()
{
  if (failed_ || conn_ == nullptr)
    return;
  start_queued ();
  if (failed_)
    return;
  if (blocked_packet_.empty () && write_packets () != 0)
    return;
  update_timer ();
}

void
H3Connection::update_timer ()
{
  if (failed_)
    return;
  ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry (conn_);
  if (expiry == UINT64_MAX)
    timer_.cancel ();
  else if (int64_t at = (int64_t)std::min<uint64_t> (expiry, INT64_MAX / 2);
           !timer_.armed () || timer_.deadline () != at)
    timer_.arm_at (at); // most flushes leave the deadline where it was
}

void
H3Connection::pace (ngtcp2_tstamp ts)
{
  // ngtcp2 0.12 paces at cwnd / smoothed RTT, and before the first RTT
  // sample that is the 333 ms initial RTT: our 1200-byte Initial alone would
  // hold the Finished and the first request back ~25 ms after the server's
  // flight arrives. The handshake is a few packets; pace from then on.
  if (ngtcp2_conn_get_handshake_completed (conn_))
    ngtcp2_conn_update_pkt_tx_time (conn_, ts);
}

int
H3Connection::send_datagram (const uint8_t *data, size_t len)
{
  for (;;) {
    ssize_t n = send (fd_, data, len, 0);
    if (n >= 0) {
      info_.bytes_sent += (uint64_t)n;
      return 0;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      // Keep it and wait for room: QUIC would recover a lost packet, but
      // dropping our own on a full socket buffer only adds a timeout.
      blocked_packet_.assign (data, data + len);
      if (!want_write_) {
        want_write_ = true;
        loop_.modify (fd_, EPOLLIN | EPOLLOUT, this);
      }
      return -EAGAIN;
    }
    if (errno == ECONNREFUSED) {
      // A previous datagram drew ICMP port unreachable.
      fail (ready_ ? ErrorKind::closed : ErrorKind::connect,
            "nothing listens on UDP " + addr_to_string (remote_) + " (port unreachable)", false);
      return -1;
    }
    fail (ErrorKind::connect, "UDP send to " + addr_to_string (remote_) + ": " + strerror (errno),
          false);
    return -1;
  }
}

int
H3Connection::write_packets ()
{
  thread_local std::array<uint8_t, 1500> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero (&ps);
  size_t max_payload = ngtcp2_conn_get_max_tx_udp_payload_size (conn_);
  size_t max_packets = std::max<size_t> (1, ngtcp2_conn_get_send_quantum (conn_) / max_payload);
  size_t sent = 0;
  ngtcp2_tstamp ts = monotonic_ns ();

  for (;;) {
    int64_t stream_id = -1;
    int fin = 0;
    std::array<nghttp3_vec, 16> vec;
    nghttp3_ssize nvec = 0;
    if (h3_ && ngtcp2_conn_get_max_data_left (conn_)) {
      nvec = nghttp3_conn_writev_stream (h3_, &stream_id, &fin, vec.data (), vec.size ());
      if (nvec < 0) {
        ngtcp2_connection_close_error_set_application_error (
            &last_error_, nghttp3_err_infer_quic_app_error_code ((int)nvec), nullptr, 0);
        fail (ErrorKind::protocol,
              std::string ("nghttp3_conn_writev_stream: ") + nghttp3_strerror ((int)nvec), true);
        return -1;
      }
    }
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    if (fin)
      flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
    ngtcp2_ssize ndatalen = -1;
    ngtcp2_pkt_info pi;
    ngtcp2_ssize n = ngtcp2_conn_writev_stream (
        conn_, &ps.path, &pi, buf.data (), std::min (max_payload, buf.size ()), &ndatalen, flags,
        stream_id, (const ngtcp2_vec *)vec.data (), (size_t)nvec, ts);
    if (n < 0) {
      switch (n) {
      case NGTCP2_ERR_STREAM_DATA_BLOCKED:
        // Out of the server's flow-control credit for this stream; nghttp3
        // gets it back in extend_max_stream_data.
        nghttp3_conn_block_stream (h3_, stream_id);
        continue;
      case NGTCP2_ERR_STREAM_SHUT_WR:
        nghttp3_conn_shutdown_stream_write (h3_, stream_id);
        continue;
      case NGTCP2_ERR_WRITE_MORE:
        // The packet has room for more stream data: tell nghttp3 what went
        // in and ask it again.
        if (int rv = nghttp3_conn_add_write_offset (h3_, stream_id, (size_t)ndatalen); rv != 0) {
          ngtcp2_connection_close_error_set_application_error (
              &last_error_, nghttp3_err_infer_quic_app_error_code (rv), nullptr, 0);
          fail (ErrorKind::protocol,
                std::string ("nghttp3_conn_add_write_offset: ") + nghttp3_strerror (rv), true);
          return -1;
        }
        continue;
      }
      ngtcp2_connection_close_error_set_transport_error_liberr (&last_error_, (int)n, nullptr, 0);
      fail (kind_for_failure ((int)n),
            std::string ("ngtcp2_conn_writev_stream: ") + ngtcp2_strerror ((int)n), true);
      return -1;
    }
    if (ndatalen >= 0 && stream_id >= 0) {
      if (int rv = nghttp3_conn_add_write_offset (h3_, stream_id, (size_t)ndatalen); rv != 0) {
        ngtcp2_connection_close_error_set_application_error (
            &last_error_, nghttp3_err_infer_quic_app_error_code (rv), nullptr, 0);
        fail (ErrorKind::protocol,
              std::string ("nghttp3_conn_add_write_offset: ") + nghttp3_strerror (rv), true);
        return -1;
      }
    }
    if (n == 0) {
      // Nothing more to send now (or congestion limited).
      pace (ts);
      return 0;
    }
    int rv = send_datagram (buf.data (), (size_t)n);
    if (rv == -EAGAIN) {
      pace (ts);
      return 0;
    }
    if (rv != 0)
      return -1;
    if (++sent >= max_packets) {
      // Pacing: ngtcp2's expiry now includes the next send time.
      pace (ts);
      return 0;
    }
  }
}

int
H3Connection::setup_http3 ()
{
  if (h3_)
    return 0;
  if (ngtcp2_conn_get_max_local_streams_uni (conn_) < 3) {
    last_error_.error_code = 0;
    return -1;
  }
  nghttp3_callbacks cb{};
  cb.stream_close = H3Callbacks::h3_stream_close;
  cb.recv_data = H3Callbacks::h3_recv_data;
  cb.deferred_consume = H3Callbacks::h3_deferred_consume;
  cb.begin_headers = H3Callbacks::h3_begin_headers;
  cb.recv_header = H3Callbacks::h3_recv_header;
  cb.end_headers = H3Callbacks::h3_end_headers;
  cb.stop_sending = H3Callbacks::h3_stop_sending;
  cb.end_stream = H3Callbacks::h3_end_stream;
  cb.reset_stream = H3Callbacks::h3_reset_stream;
  cb.shutdown = H3Callbacks::h3_shutdown;
  nghttp3_settings settings;
  nghttp3_settings_default (&settings);
  settings.qpack_max_dtable_capacity = 4096;
  settings.qpack_blocked_streams = 100;
  if (nghttp3_conn_client_new (&h3_, &cb, &settings, nghttp3_mem_default (), this) != 0)
    return -1;
  int64_t control, qenc, qdec;
  if (ngtcp2_conn_open_uni_stream (conn_, &control, nullptr) != 0
      || nghttp3_conn_bind_control_stream (h3_, control) != 0
      || ngtcp2_conn_open_uni_stream (conn_, &qenc, nullptr) != 0
      || ngtcp2_conn_open_uni_stream (conn_, &qdec, nullptr) != 0
      || nghttp3_conn_bind_qpack_streams (h3_, qenc, qdec) != 0)
    return -1;
  return 0;
}

void
H3Connection::start_queued ()
{
  if (h3_ == nullptr || goaway_)
    return;
  while (!queued_.empty ()) {
    int64_t id = -1;
    int rv = ngtcp2_conn_open_bidi_stream (conn_, &id, nullptr);
    if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
      return; // extend_max_local_streams_bidi brings us back
    auto s = std::move (queued_.front ());
    queued_.pop_front ();
    if (rv != 0) {
      deliver_error (*s, ErrorKind::protocol,
                     std::string ("ngtcp2_conn_open_bidi_stream: ") + ngtcp2_strerror (rv));
      continue;
    }
    s->id = id;
    H3Stream &ref = *s;
    streams_[id] = std::move (s);
    if (submit (ref) != 0)
      return;
  }
}

int
H3Connection::submit (H3Stream &s)
{
  auto nv = [] (const std::string &name, const std::string &value) {
    return nghttp3_nv{ (uint8_t *)name.data (), (uint8_t *)value.data (), name.size (),
                       value.size (), NGHTTP3_NV_FLAG_NONE };
  };
  static const std::string kMethod = ":method", kGet = "GET", kScheme = ":scheme", kHttps = "https",
                           kAuthority = ":authority", kPath = ":path", kUserAgent = "user-agent";
  std::vector<nghttp3_nv> nva;
  nva.reserve (5 + s.request.headers.size ());
  nva.push_back (nv (kMethod, kGet));
  nva.push_back (nv (kScheme, kHttps));
  nva.push_back (nv (kAuthority, authority_));
  nva.push_back (nv (kPath, s.request.path));
  nva.push_back (nv (kUserAgent, config_.user_agent));
  for (auto &[name, value] : s.request.headers)
    nva.push_back (nv (name, value));
  // No body: nghttp3 sends HEADERS with FIN.
  int rv = nghttp3_conn_submit_request (h3_, s.id, nva.data (), nva.size (), nullptr, nullptr);
  if (rv != 0) {
    ngtcp2_connection_close_error_set_application_error (
        &last_error_, nghttp3_err_infer_quic_app_error_code (rv), nullptr, 0);
    fail (ErrorKind::protocol,
          std::string ("nghttp3_conn_submit_request: ") + nghttp3_strerror (rv), true);
    return -1;
  }
  s.response.sent_ns = monotonic_ns ();
  log ("stream %lld: GET %s", (long long)s.id, s.request.path.c_str ());
  return 0;
}

H3Stream *
H3Connection::find (int64_t id)
{
  auto it = streams_.find (id);
  return it == streams_.end () ? nullptr : it->second.get ();
}

std::unique_ptr<H3Stream>
H3Connection::take (int64_t id)
{
  auto it = streams_.find (id);
  if (it == streams_.end ())
    return nullptr;
  auto s = std::move (it->second);
  streams_.erase (it);
  return s;
}

void
H3Connection::deliver (H3Stream &s)
{
  if (!s.cb)
    return;
  if (rx_stamp_.realtime_ns)
    s.deliver (loop_, rx_stamp_.monotonic_ns (), rx_stamp_.wall_seconds ());
  else
    s.deliver (loop_, monotonic_ns (), wall_seconds ());
}

void
H3Connection::deliver_error (H3Stream &s, ErrorKind kind, const std::string &text)
{
  if (!s.cb)
    return;
  s.response.error = kind;
  s.response.error_text = text;
  deliver (s);
}

void
H3Connection::on_stream_timeout (H3Stream *s)
{
  std::string text = s->timeout_text ();
  if (s->id < 0) {
    std::shared_ptr<H3Stream> gone = take_queued (queued_, s);
    if (!gone)
      return;
    deliver_error (*s, ErrorKind::timeout, text + " (never sent: no stream credit)");
    // We are inside this stream's timer: free it after the callback.
    loop_.defer ([gone] {});
    return;
  }
  // Cancel the request on the wire (RESET_STREAM + STOP_SENDING); the entry
  // goes away when ngtcp2 reports the stream closed.
  deliver_error (*s, ErrorKind::timeout, text);
  ngtcp2_conn_shutdown_stream (conn_, s->id, NGHTTP3_H3_REQUEST_CANCELLED);
  schedule_flush ();
}

void
H3Connection::fail (ErrorKind kind, const std::string &text, bool send_close, bool notify)
{
  if (failed_)
    return;
  failed_ = true;
  if (kind != ErrorKind::cancelled || config_.verbose)
    log ("closed: %s (%s)", text.c_str (), error_kind_name (kind));
  if (send_close)
    send_connection_close ();
  timer_.cancel ();
  if (fd_ >= 0) {
    loop_.remove (fd_);
    ::close (fd_);
    fd_ = -1;
  }
  // Requests die with the connection. Once it was up, their kind is
  // `closed` (or ours, `cancelled`); before, the reason it never came up.
  ErrorKind request_kind = kind;
  if (ready_ && kind != ErrorKind::cancelled && kind != ErrorKind::timeout)
    request_kind = ErrorKind::closed;
  for (auto &s : queued_)
    deliver_error (*s, request_kind, text);
  for (auto &[id, s] : streams_)
    deliver_error (*s, request_kind, text);
  // The entries stay until we are destroyed: fail () may run inside one of
  // their timers.
  if (notify) {
    auto cb = on_closed;
    if (cb)
      loop_.defer ([cb, kind, text] { cb (kind, text); });
  }
}

void
H3Connection::send_connection_close ()
{
  if (conn_ == nullptr || fd_ < 0 || ngtcp2_conn_is_in_closing_period (conn_)
      || ngtcp2_conn_is_in_draining_period (conn_))
    return;
  if (last_error_.error_code == 0
      && last_error_.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT)
    ngtcp2_connection_close_error_set_application_error (&last_error_, NGHTTP3_H3_NO_ERROR, nullptr,
                                                         0);
  std::array<uint8_t, 1500> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero (&ps);
  ngtcp2_pkt_info pi;
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close (conn_, &ps.path, &pi, buf.data (),
                                                       buf.size (), &last_error_, monotonic_ns ());
  if (n > 0)
    (void)!::send (fd_, buf.data (), (size_t)n, 0);
}

int
H3Connection::on_recv_stream_data (uint32_t flags, int64_t id, const uint8_t *data, size_t len)
{
  if (h3_ == nullptr)
    return -1;
  nghttp3_ssize n
      = nghttp3_conn_read_stream (h3_, id, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
  if (n < 0) {
    ngtcp2_connection_close_error_set_application_error (
        &last_error_, nghttp3_err_infer_quic_app_error_code ((int)n), nullptr, 0);
    log ("nghttp3_conn_read_stream: %s", nghttp3_strerror ((int)n));
    return -1;
  }
  // What nghttp3 consumed itself (frame headers, QPACK): credit back now.
  // Body bytes are credited in recv_data.
  consume (id, (size_t)n);
  return 0;
}

void
H3Connection::consume (int64_t id, size_t n)
{
  ngtcp2_conn_extend_max_stream_offset (conn_, id, n);
  ngtcp2_conn_extend_max_offset (conn_, n);
}

int
H3Connection::on_acked (int64_t id, uint64_t len)
{
  if (h3_ && nghttp3_conn_add_ack_offset (h3_, id, len) != 0)
    return -1;
  return 0;
}

int
H3Connection::on_stream_close (uint32_t flags, int64_t id, uint64_t code)
{
  if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
    code = NGHTTP3_H3_NO_ERROR;
  if (h3_) {
    int rv = nghttp3_conn_close_stream (h3_, id, code);
    if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
      // Opened by the peer but never carried data nghttp3 saw.
      if (!ngtcp2_is_bidi_stream (id) && !ngtcp2_conn_is_local_stream (conn_, id))
        ngtcp2_conn_extend_max_streams_uni (conn_, 1);
    } else if (rv != 0) {
      ngtcp2_connection_close_error_set_application_error (
          &last_error_, nghttp3_err_infer_quic_app_error_code (rv), nullptr, 0);
      return -1;
    }
  }
  // A request nghttp3 never knew about (failed submit) ends here.
  if (auto s = take (id))
    deliver_error (*s, ErrorKind::reset,
                   "stream " + std::to_string (id) + " closed, code " + hex (code));
  return 0;
}

int
H3Connection::on_stream_reset (int64_t id, uint64_t code)
{
  if (H3Stream *s = find (id)) {
    s->was_reset = true;
    s->reset_code = code;
  }
  if (h3_ && nghttp3_conn_shutdown_stream_read (h3_, id) != 0)
    return -1;
  return 0;
}

int
H3Connection::on_handshake_completed ()
{
  ready_ = true;
  info_.handshake_ns = monotonic_ns ();
  gnutls_datum_t alpn{};
  std::string alpn_text = "none";
  if (gnutls_alpn_get_selected_protocol (tls_, &alpn) == 0)
    alpn_text.assign ((const char *)alpn.data, alpn.size);
  if (alpn_text != "h3") {
    log ("server chose ALPN %s, not h3", alpn_text.c_str ());
    return -1;
  }
  const char *group = gnutls_group_get_name (gnutls_group_get (tls_));
  info_.tls_details = std::string (gnutls_cipher_get_name (gnutls_cipher_get (tls_))) + ", "
                      + (group ? group : "?") + ", ALPN h3, QUIC v1";
  info_.peer_pin = peer_spki_pin (tls_);
  log ("handshake complete in %.2f ms: %s%s", (info_.handshake_ns - info_.started_ns) / 1e6,
       info_.tls_details.c_str (), info_.used_retry ? ", after Retry" : "");
  if (on_ready) {
    auto cb = on_ready;
    loop_.defer ([cb] { cb (); });
  }
  schedule_flush ();
  return 0;
}

int
H3Connection::on_recv_rx_key (ngtcp2_crypto_level level)
{
  if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION)
    return 0;
  if (setup_http3 () != 0) {
    log ("HTTP/3 setup failed (the server allows fewer than 3 unidirectional streams?)");
    return -1;
  }
  return 0;
}

int
H3Connection::on_new_token (const ngtcp2_vec *token)
{
  (*config_.quic_tokens)[authority_] = std::string ((const char *)token->base, token->len);
  return 0;
}

int
H3Connection::on_h3_stream_close (int64_t id, uint64_t code)
{
  if (!ngtcp2_is_bidi_stream (id)) {
    if (!ngtcp2_conn_is_local_stream (conn_, id))
      ngtcp2_conn_extend_max_streams_uni (conn_, 1);
    return 0;
  }
  auto s = take (id);
  if (!s || !s->cb)
    return 0; // delivered at end_stream (or timed out)
  std::string text = "GET " + s->request.path + ": stream closed before the response ended";
  if (s->was_reset)
    text += " (server reset it, code " + hex (s->reset_code) + ")";
  else if (code != NGHTTP3_H3_NO_ERROR)
    text += " (code " + hex (code) + ")";
  deliver_error (*s, ErrorKind::reset, text);
  return 0;
}

int
H3Connection::on_h3_recv_data (int64_t id, const uint8_t *data, size_t len)
{
  consume (id, len);
  H3Stream *s = find (id);
  if (s == nullptr || !s->cb)
    return 0;
  s->add_body (data, len);
  return 0;
}

int
H3Connection::on_h3_header (int64_t id, nghttp3_rcbuf *name, nghttp3_rcbuf *value)
{
  H3Stream *s = find (id);
  if (s == nullptr)
    return 0;
  nghttp3_vec n = nghttp3_rcbuf_get_buf (name);
  nghttp3_vec v = nghttp3_rcbuf_get_buf (value);
  s->add_header (std::string_view ((const char *)n.base, n.len),
                 std::string_view ((const char *)v.base, v.len));
  return 0;
}

int
H3Connection::on_h3_end_headers (int64_t id)
{
  H3Stream *s = find (id);
  if (s && !s->informational && s->response.headers_ns == 0)
    s->response.headers_ns = rx_stamp_.realtime_ns ? rx_stamp_.monotonic_ns () : monotonic_ns ();
  return 0;
}

int
H3Connection::on_h3_end_stream (int64_t id)
{
  // The response is complete now; the stream itself closes once both sides
  // are acknowledged, which can be an RTT later: answer the caller now.
  H3Stream *s = find (id);
  if (s == nullptr)
    return 0;
  s->ended = true;
  if (s->response.status != 0)
    deliver (*s);
  return 0; // without a status, on_h3_stream_close reports it
}

int
H3Connection::on_h3_goaway (int64_t id)
{
  goaway_ = true;
  goaway_id_ = id;
  log ("GOAWAY: the server takes no requests from stream %lld on", (long long)id);
  // Requests the server will not process: theirs to retry elsewhere.
  for (auto &[sid, s] : streams_)
    if (sid >= id)
      deliver_error (*s, ErrorKind::closed, "server sent GOAWAY");
  for (auto &s : queued_)
    deliver_error (*s, ErrorKind::closed, "server sent GOAWAY");
  if (on_closed) {
    auto cb = on_closed;
    loop_.defer ([cb] { cb (ErrorKind::closed, "server sent GOAWAY"); });
  }
  return 0;
}

} // namespace

std::unique_ptr<HttpConnection>
connect_h3 (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
            const ClientConfig &config)
{
  auto c = std::make_unique<H3Connection> (loop, url, addr, addrlen, config);
  c->start ();
  return c;
}

} // namespace mirror::tools
