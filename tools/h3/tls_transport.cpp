// SPDX-License-Identifier: LGPL-2.1-or-later
#include "tls_transport.h"

#include <cerrno>
#include <climits>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace mirror::tools {
namespace {

// CLOCK_MONOTONIC minus CLOCK_REALTIME, from the pair of readings least
// spread by preemption.
int64_t
clock_offset_ns ()
{
  int64_t best = 0, spread = INT64_MAX;
  for (int i = 0; i < 3; ++i) {
    int64_t r1 = realtime_ns (), m = monotonic_ns (), r2 = realtime_ns ();
    if (r2 - r1 < spread) {
      spread = r2 - r1;
      best = m - (r1 + (r2 - r1) / 2);
    }
  }
  return best;
}

} // namespace

TlsTransport::TlsTransport (EventLoop &loop, const Url &url, const sockaddr_storage &addr,
                            socklen_t addrlen, const ClientConfig &config, std::string alpn,
                            std::string protocol_name, TlsTransportOwner &owner,
                            ConnectionInfo &info, bool alpn_required)
    : loop_ (loop), url_ (url), config_ (config), alpn_ (std::move (alpn)),
      protocol_name_ (std::move (protocol_name)), alpn_required_ (alpn_required), owner_ (owner),
      info_ (info), peer_ (url.authority ()), remote_ (addr), remote_len_ (addrlen),
      connect_timer_ (loop, [this] {
        failed (state_ == State::connecting ? ErrorKind::connect : ErrorKind::tls,
                (state_ == State::connecting ? "TCP connect to " : "TLS handshake with ") + peer_
                    + " took longer than " + std::to_string (config_.connect_timeout_ns / kNsPerMs)
                    + " ms");
      })
{
  tls_ctx_.policy = &config_.tls;
  tls_ctx_.host = url.host;
}

TlsTransport::~TlsTransport ()
{
  close (false);
  if (tls_)
    gnutls_deinit (tls_);
  if (cred_)
    gnutls_certificate_free_credentials (cred_);
}

void
TlsTransport::start ()
{
  info_.started_ns = monotonic_ns ();
  state_ = State::connecting;
  fd_ = socket (remote_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd_ < 0) {
    failed (ErrorKind::connect, std::string ("TCP socket: ") + strerror (errno));
    return;
  }
  // Requests are small and latency is what we measure: no Nagle delay.
  int one = 1;
  setsockopt (fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  enable_rx_timestamps (fd_);
  if (connect (fd_, (const sockaddr *)&remote_, remote_len_) != 0 && errno != EINPROGRESS) {
    failed (ErrorKind::connect, "TCP connect to " + peer_ + ": " + strerror (errno));
    return;
  }
  if (!loop_.add (fd_, EPOLLOUT, this)) {
    failed (ErrorKind::connect, std::string ("epoll: ") + strerror (errno));
    return;
  }
  watching_write_ = true;
  connect_timer_.arm_in (config_.connect_timeout_ns);
}

void
TlsTransport::want_write (bool on)
{
  if (fd_ < 0 || on == watching_write_)
    return;
  watching_write_ = on;
  loop_.modify (fd_, on ? (EPOLLIN | EPOLLOUT) : EPOLLIN, this);
}

void
TlsTransport::on_io (uint32_t events)
{
  switch (state_) {
  case State::connecting:
    on_connected ();
    return;
  case State::handshake:
    handshake_step ();
    return;
  case State::open:
    owner_.on_transport_io (events);
    return;
  case State::idle:
  case State::closed:
    return;
  }
}

void
TlsTransport::on_connected ()
{
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt (fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    failed (ErrorKind::connect, "TCP connect to " + peer_ + ": " + strerror (err));
    return;
  }
  info_.connected_ns = monotonic_ns ();
  if (!tls ()) {
    opened ();
    return;
  }
  std::string error;
  cred_ = make_client_credentials (config_.tls, &error);
  if (cred_ == nullptr) {
    failed (ErrorKind::tls, error);
    return;
  }
  gnutls_datum_t alpn{ (unsigned char *)alpn_.data (), (unsigned)alpn_.size () };
  int rv;
  if ((rv = gnutls_init (&tls_, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) != 0
      || (rv = gnutls_set_default_priority (tls_)) != 0
      || (rv = gnutls_credentials_set (tls_, GNUTLS_CRD_CERTIFICATE, cred_)) != 0
      || (rv = gnutls_alpn_set_protocols (tls_, &alpn, 1, 0)) != 0) {
    failed (ErrorKind::tls, std::string ("GnuTLS session setup: ") + gnutls_strerror (rv));
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
  state_ = State::handshake;
  handshake_step ();
}

void
TlsTransport::handshake_step ()
{
  int rv = gnutls_handshake (tls_);
  if (rv == GNUTLS_E_AGAIN || rv == GNUTLS_E_INTERRUPTED) {
    want_write (gnutls_record_get_direction (tls_) == 1);
    return;
  }
  if (rv < 0) {
    std::string why;
    if (!tls_ctx_.verify_error.empty ())
      why = tls_ctx_.verify_error;
    // Where ALPN is only offered (HTTP/1.1), GnuTLS's own words for an
    // alert, as that client has always reported it.
    else if (alpn_required_ && rv == GNUTLS_E_FATAL_ALERT_RECEIVED
             && gnutls_alert_get (tls_) == GNUTLS_A_NO_APPLICATION_PROTOCOL)
      why = peer_ + " does not speak " + protocol_name_ + " over TLS: it refused ALPN " + alpn_
            + " (TLS alert no_application_protocol)";
    else if (alpn_required_ && rv == GNUTLS_E_FATAL_ALERT_RECEIVED)
      why = "TLS handshake with " + peer_ + ": the server sent alert "
            + gnutls_alert_get_name (gnutls_alert_get (tls_));
    else
      why = "TLS handshake with " + peer_ + ": " + gnutls_strerror (rv);
    failed (ErrorKind::tls, why);
    return;
  }
  // Where required, only our protocol: a server that would fall back to
  // another (HTTP/1.1) is refused, so that a figure is never another
  // protocol's in disguise. HTTP/1.1 takes what the server selects, or none
  // (servers that predate ALPN).
  gnutls_datum_t selected{};
  std::string alpn_text = "none";
  if (gnutls_alpn_get_selected_protocol (tls_, &selected) == 0)
    alpn_text.assign ((const char *)selected.data, selected.size);
  if (alpn_required_ && alpn_text != alpn_) {
    failed (ErrorKind::tls, peer_ + " does not speak " + protocol_name_
                                + " over TLS: the handshake selected ALPN " + alpn_text + ", not "
                                + alpn_);
    return;
  }
  const char *group = gnutls_group_get_name (gnutls_group_get (tls_));
  info_.tls_details = std::string (gnutls_protocol_get_name (gnutls_protocol_get_version (tls_)))
                      + ", " + gnutls_cipher_get_name (gnutls_cipher_get (tls_)) + ", "
                      + (group ? group : "?") + ", ALPN " + alpn_text;
  info_.peer_pin = peer_spki_pin (tls_);
  opened ();
}

void
TlsTransport::opened ()
{
  info_.handshake_ns = monotonic_ns ();
  state_ = State::open;
  connect_timer_.cancel ();
  want_write (false);
  owner_.on_transport_open ();
}

void
TlsTransport::failed (ErrorKind kind, const std::string &text)
{
  close (false);
  // Last: the owner tears itself down, but does not destroy us from here.
  owner_.on_transport_failed (kind, text);
}

ssize_t
TlsTransport::send (const void *data, size_t len)
{
  if (state_ != State::open)
    return GNUTLS_E_INVALID_SESSION;
  if (!tls_) {
    ssize_t n = ::send (fd_, data, len, MSG_NOSIGNAL);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? GNUTLS_E_AGAIN
                                                                       : GNUTLS_E_PUSH_ERROR;
    info_.bytes_sent += (uint64_t)n;
    return n;
  }
  ssize_t n = gnutls_record_send (tls_, data, len);
  if (n == GNUTLS_E_INTERRUPTED)
    return GNUTLS_E_AGAIN;
  if (n > 0)
    info_.bytes_sent += (uint64_t)n;
  return n;
}

ssize_t
TlsTransport::recv (void *data, size_t len)
{
  if (state_ != State::open)
    return GNUTLS_E_INVALID_SESSION;
  if (!tls_) {
    ssize_t n = stamped_recv (data, len);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? GNUTLS_E_AGAIN
                                                                       : GNUTLS_E_PULL_ERROR;
    info_.bytes_received += (uint64_t)n;
    return n;
  }
  ssize_t n = gnutls_record_recv (tls_, data, len);
  if (n == GNUTLS_E_INTERRUPTED)
    return GNUTLS_E_AGAIN;
  if (n == GNUTLS_E_PREMATURE_TERMINATION)
    return 0; // peer closed without close_notify: the end all the same
  if (n > 0)
    info_.bytes_received += (uint64_t)n;
  return n;
}

void
TlsTransport::close (bool close_notify)
{
  connect_timer_.cancel ();
  if (fd_ >= 0) {
    loop_.remove (fd_);
    if (close_notify && state_ == State::open && tls_)
      gnutls_bye (tls_, GNUTLS_SHUT_WR);
    ::close (fd_);
    fd_ = -1;
  }
  state_ = State::closed;
}

ssize_t
TlsTransport::stamped_recv (void *data, size_t len)
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
TlsTransport::tls_pull (gnutls_transport_ptr_t self, void *data, size_t len)
{
  auto *t = static_cast<TlsTransport *> (self);
  ssize_t n = t->stamped_recv (data, len);
  if (n < 0)
    gnutls_transport_set_errno (t->tls_, errno);
  return n;
}

void
TlsTransport::begin_reads ()
{
  in_reads_ = true;
  rx_stamp_ = RxStamp{};
  clock_offset_ns_ = clock_offset_ns ();
}

void
TlsTransport::end_reads ()
{
  in_reads_ = false;
  rx_stamp_ = RxStamp{};
}

int64_t
TlsTransport::arrival_ns () const
{
  if (in_reads_ && rx_stamp_.realtime_ns)
    return rx_stamp_.realtime_ns + clock_offset_ns_;
  return monotonic_ns ();
}

double
TlsTransport::arrival_wall () const
{
  return in_reads_ && rx_stamp_.realtime_ns ? rx_stamp_.wall_seconds () : wall_seconds ();
}

} // namespace mirror::tools
