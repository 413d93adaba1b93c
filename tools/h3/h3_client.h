// SPDX-License-Identifier: LGPL-2.1-or-later
// HTTP clients for debugging the Origin and loading it: HTTP/3 over QUIC v1
// (ngtcp2 + ngtcp2_crypto_gnutls + nghttp3 + GnuTLS), HTTP/2 over TLS
// (nghttp2 + GnuTLS) and HTTP/1.1 over TCP, with or without TLS (GnuTLS),
// behind one request API. Many connections share one EventLoop in one
// thread; each connection has its own socket.
//
//   EventLoop loop;
//   auto conn = connect_http (loop, url, Protocol::h3, config);
//   conn->fetch ({ .path = url.path_and_query }, [] (Response &&r) { ... });
//   loop.run ();
//
// Callbacks run from the loop's deferred tasks, never from inside a library
// call, so they may start requests or destroy the connection.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include "event_loop.h"
#include "tls_policy.h"

namespace mirror::tools {

enum class Protocol { h3, h2, http1 };

struct Url {
  std::string scheme; // "https" or "http"
  std::string host;   // without brackets
  uint16_t port = 0;
  std::string path_and_query; // starts with '/'

  // scheme://host[:port][/path][?query]; false for anything else.
  static std::optional<Url> parse (const std::string &text);
  std::string authority () const; // host[:port], brackets for IPv6
  std::string to_string () const;
  // A reference from a document at this URL (absolute URL, absolute path or
  // relative path), RFC 3986 style without dot-segment removal.
  Url resolve (const std::string &reference) const;
};

// What went wrong, coarse enough to count by kind in a load test.
enum class ErrorKind {
  none,
  resolve,   // no address for the host
  connect,   // socket, TCP connect, UDP send
  tls,       // TLS handshake or certificate refused
  handshake, // QUIC handshake timed out or failed without a TLS alert
  timeout,   // a request got no complete answer in time
  reset,     // the server reset the request stream (HTTP/3, HTTP/2)
  closed,    // the connection went away (peer close, idle timeout, EOF)
  protocol,  // unparseable response or a QUIC/HTTP/3/HTTP/2 protocol error
  cancelled, // we gave up on it (connection closed locally)
};
const char *error_kind_name (ErrorKind kind);

struct Request {
  std::string path; // path and query, as sent
  std::vector<std::pair<std::string, std::string>> headers;
  // false: count the body, keep only its first kHeadBytes (load tests do not
  // need megabytes of parts in memory).
  bool keep_body = true;
  // false: the response's headers are not kept (status only), for the same
  // reason.
  bool keep_headers = true;
  int64_t timeout_ns = 15 * kNsPerSecond;
};

struct Response {
  static constexpr size_t kHeadBytes = 64;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers; // names lower-case
  std::string body; // whole body, or its first kHeadBytes (keep_body false)
  uint64_t body_size = 0;
  // Monotonic ns: request handed to the connection, sent, response headers,
  // complete. Wall-clock seconds at completion.
  int64_t queued_ns = 0, sent_ns = 0, headers_ns = 0, done_ns = 0;
  double done_wall = 0;
  ErrorKind error = ErrorKind::none;
  std::string error_text;

  bool ok () const { return error == ErrorKind::none; }
  const std::string *header (const std::string &lower_name) const;
};

using ResponseCallback = std::function<void (Response &&)>;

struct ClientConfig {
  TlsPolicy tls;
  bool tls_for_http1 = true; // https:// URLs over HTTP/1.1 use TLS
  int verbose = 0;           // 1: connection events, 2: + ngtcp2 debug log
  int64_t connect_timeout_ns = 10 * kNsPerSecond;
  int64_t idle_timeout_ns = 30 * kNsPerSecond;
  // Receive windows (QUIC: initial, grown by ngtcp2 up to the max; HTTP/2:
  // SETTINGS_INITIAL_WINDOW_SIZE and the connection window, not grown).
  uint64_t stream_window = 1 << 20;
  uint64_t max_stream_window = 8 << 20;
  uint64_t connection_window = 4 << 20;
  uint64_t max_connection_window = 16 << 20;
  std::string user_agent = "mirror-h3/0.1";
  // QUIC: take a server's GSO batch as one buffer (UDP_GRO, Linux 5.0+) and
  // split it here, as quic-go and quiche do, rather than have the kernel
  // segment it and queue each datagram apart.
  bool udp_gro = true;
  // QUIC NEW_TOKEN tokens by authority, so the next connection skips the
  // server's Retry round trip; shared by every connection given this config.
  std::shared_ptr<std::map<std::string, std::string>> quic_tokens
      = std::make_shared<std::map<std::string, std::string>> ();
};

// Connection-level facts for reports.
struct ConnectionInfo {
  std::string protocol;    // "h3", "h2", "http/1.1", "http/1.1+tls"
  std::string tls_details; // cipher, group, ALPN
  std::string peer_pin;    // server's SPKI pin (TLS only)
  int64_t started_ns = 0;
  int64_t connected_ns = 0; // TCP connected (HTTP/1.1); first packet sent (h3)
  int64_t handshake_ns = 0; // TLS (or QUIC) handshake complete
  bool used_retry = false;  // QUIC: the server sent Retry
  bool used_token = false;  // QUIC: we offered a NEW_TOKEN token
  uint64_t bytes_sent = 0;  // UDP payload or TCP bytes, TLS included
  uint64_t bytes_received = 0;
  uint64_t datagrams_received = 0; // QUIC
  uint64_t gro_reads = 0;          // QUIC: reads that held a GSO batch whole (UDP_GRO)
};

class HttpConnection {
 public:
  virtual ~HttpConnection () = default;

  // Queues a request; on HTTP/3 and HTTP/2 it goes out as soon as the
  // handshake and the server's stream limit allow, on HTTP/1.1 after the
  // requests before it (no pipelining). cb runs exactly once, unless the
  // connection is destroyed first.
  virtual void fetch (Request request, ResponseCallback cb) = 0;

  // Closes now (HTTP/3: CONNECTION_CLOSE with H3_NO_ERROR; HTTP/2: GOAWAY
  // with NO_ERROR); requests still open complete with ErrorKind::cancelled.
  virtual void close () = 0;

  // Ready: the handshake is done. Failed: closed by error, idle or us.
  virtual bool ready () const = 0;
  virtual bool failed () const = 0;
  virtual size_t in_flight () const = 0;
  virtual const ConnectionInfo &info () const = 0;

  // Runs (deferred) once when the connection is lost or refused; the kind
  // and the reason name the peer.
  std::function<void (ErrorKind, const std::string &)> on_closed;
  // Runs (deferred) once when the handshake completes.
  std::function<void ()> on_ready;
};

// Resolves url's host (blocking getaddrinfo: tools resolve once, up front).
bool resolve (const Url &url, sockaddr_storage *addr, socklen_t *len, std::string *error);

// Starts connecting at once; failures arrive through on_closed and the
// callbacks of requests made meanwhile.
std::unique_ptr<HttpConnection> connect_h3 (EventLoop &loop, const Url &url,
                                            const sockaddr_storage &addr, socklen_t addrlen,
                                            const ClientConfig &config);
// HTTP/2 over TLS only (ALPN h2; a server that does not select it fails
// the connection with ErrorKind::tls).
std::unique_ptr<HttpConnection> connect_h2 (EventLoop &loop, const Url &url,
                                            const sockaddr_storage &addr, socklen_t addrlen,
                                            const ClientConfig &config);
std::unique_ptr<HttpConnection> connect_http1 (EventLoop &loop, const Url &url,
                                               const sockaddr_storage &addr, socklen_t addrlen,
                                               const ClientConfig &config);
std::unique_ptr<HttpConnection> connect_http (EventLoop &loop, const Url &url,
                                              const sockaddr_storage &addr, socklen_t addrlen,
                                              Protocol protocol, const ClientConfig &config);

// Raises RLIMIT_NOFILE to its hard limit (thousands of viewers, one socket
// each); returns the new soft limit.
uint64_t raise_fd_limit ();

} // namespace mirror::tools
