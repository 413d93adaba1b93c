// SPDX-License-Identifier: LGPL-2.1-or-later
// A client's TCP connection on the EventLoop, with TLS (GnuTLS) or without,
// from the non-blocking connect through the handshake with the ALPN
// protocol offered, to close_notify: what the HTTP/2 client (TLS, ALPN h2
// required) and the HTTP/1.1 client (plain TCP, or TLS offering http/1.1)
// run on. Reads go through recvmsg with kernel receive stamps, so that a
// busy client does not count its own queueing as the server's latency.
//
// Threading: the EventLoop's thread only. The owner outlives the transport
// and is called back from the loop's dispatch, never from inside GnuTLS.
#pragma once

#include <cstdint>
#include <string>

#include <gnutls/gnutls.h>

#include "h3_client.h"

namespace mirror::tools {

class TlsTransportOwner {
 public:
  virtual ~TlsTransportOwner () = default;
  // Connected; with TLS, the handshake completed too (and the server
  // selected our ALPN protocol, where that is required).
  virtual void on_transport_open () = 0;
  // Open: the socket is readable and/or writable (epoll events).
  virtual void on_transport_io (uint32_t events) = 0;
  // Not open, never will be: TCP connect, TLS handshake, certificate, ALPN
  // or the connect timeout. The text names the peer.
  virtual void on_transport_failed (ErrorKind kind, const std::string &text) = 0;
};

class TlsTransport final : public IoWatcher {
 public:
  // alpn: the one protocol offered ("h2"), or empty for plain TCP (no
  // TLS); alpn_required: whether the server must select it (false: any
  // choice, none included, is taken and shown in tls_details);
  // protocol_name: how errors name it ("HTTP/2"). info: where
  // started/connected/handshake times, TLS details, the peer's pin and the
  // byte counts go (the owner's ConnectionInfo). Without TLS the handshake
  // time is the connect time.
  TlsTransport (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
                const ClientConfig &config, std::string alpn, std::string protocol_name,
                TlsTransportOwner &owner, ConnectionInfo &info, bool alpn_required = true);
  ~TlsTransport () override;
  TlsTransport (const TlsTransport &) = delete;
  TlsTransport &operator= (const TlsTransport &) = delete;

  void start ();
  bool open () const { return state_ == State::open; }
  const std::string &peer () const { return peer_; }
  bool tls () const { return !alpn_.empty (); }

  // Plain-text bytes taken (> 0), GNUTLS_E_AGAIN, or another GnuTLS error.
  // After GNUTLS_E_AGAIN, call again with the same data and length.
  // Without TLS a socket error is GNUTLS_E_PUSH_ERROR, errno as it left it.
  ssize_t send (const void *data, size_t len);
  // Bytes read (> 0), 0 at the end of the stream (close_notify or a bare
  // FIN), GNUTLS_E_AGAIN, or another GnuTLS error. Without TLS a socket
  // error is GNUTLS_E_PULL_ERROR, errno as it left it.
  ssize_t recv (void *data, size_t len);
  // Ask for on_transport_io on writability too (while a send would block).
  void want_write (bool on);
  // Stops watching and closes the socket; close_notify first if asked (best
  // effort, never waits).
  void close (bool close_notify);

  // Between begin_reads and end_reads: the monotonic and wall-clock times at
  // which the kernel received the latest bytes read; otherwise now.
  void begin_reads ();
  void end_reads ();
  int64_t arrival_ns () const;
  double arrival_wall () const;

 private:
  enum class State { idle, connecting, handshake, open, closed };

  void on_io (uint32_t events) override;
  void on_connected ();
  void handshake_step ();
  void opened ();
  void failed (ErrorKind kind, const std::string &text);
  ssize_t stamped_recv (void *data, size_t len);
  static ssize_t tls_pull (gnutls_transport_ptr_t self, void *data, size_t len);

  EventLoop &loop_;
  Url url_;
  const ClientConfig &config_;
  std::string alpn_;
  std::string protocol_name_;
  bool alpn_required_ = true;
  TlsTransportOwner &owner_;
  ConnectionInfo &info_;
  std::string peer_;
  sockaddr_storage remote_{};
  socklen_t remote_len_ = 0;
  int fd_ = -1;
  State state_ = State::idle;
  bool watching_write_ = false;

  gnutls_session_t tls_ = nullptr;
  gnutls_certificate_credentials_t cred_ = nullptr;
  TlsSessionContext tls_ctx_;

  bool in_reads_ = false;
  RxStamp rx_stamp_; // kernel arrival of the latest bytes read
  // CLOCK_MONOTONIC minus CLOCK_REALTIME, taken once per batch of reads so
  // that its stamps convert alike (RxStamp::monotonic_ns () reads both
  // clocks each time: a preemption between them skews one stamp).
  int64_t clock_offset_ns_ = 0;

  Timer connect_timer_;
};

} // namespace mirror::tools
