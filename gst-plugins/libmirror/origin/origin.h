// SPDX-License-Identifier: LGPL-2.1-or-later
// The Origin: every stream's LL-HLS media (a MediaStore), the request
// handling over it and the HTTP front ends, on worker threads of its own so
// that no viewer ever waits on a streaming thread or the daemon's main loop.
// Each worker (OriginConfig::workers, one per core by default in mirrord)
// has its own GMainContext, OriginHandler (its own held requests and their
// wake-ups) and front ends: HTTPS (HTTP/2 or HTTP/1.1 by ALPN), plain
// HTTP/1.1 and HTTP/3, each on an SO_REUSEPORT socket of the shared port, so
// the kernel spreads connections over the workers and a connection stays on
// its worker from start to end (QUIC packets that land elsewhere after a
// rebinding are passed to their owner). The MediaStore is shared: parts are
// refcounted and published once per stream, and each worker's handler
// waits on it for its own viewers. Publishers (mirrorh3sink) attach to a stream, publish into its
// StreamStore from their streaming threads, and detach; a stream whose last
// publisher left ends its playlists (EXT-X-ENDLIST) and is forgotten after a
// linger, so players see the end instead of a 404.
//
// mirrord owns one and hands it to pipelines through the "mirror.origin"
// GstContext; a gst-launch prototype's sinks share one per port
// (shared_for_port).
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <glib.h>

#include "hls/media_store.h"
#include "http/soup_acceptor.h"
#include "http/tcp_frontend.h"
#include "origin/origin_handler.h"
#include "origin/quic_frontend.h"
#include "origin/tls_identity.h"
#include "storage/uploader.h"

namespace mirror {

struct OriginConfig {
  std::string bind_address = "0.0.0.0";
  // HTTPS: HTTP/2 or HTTP/1.1 over TLS by ALPN (and HTTP/3 on the same
  // number over UDP). 0: any free port; nullopt: none.
  std::optional<uint16_t> tls_port = 8443;
  // Plain HTTP/1.1. 0: any free port; nullopt: none.
  std::optional<uint16_t> http_port;
  // HTTP/3 on UDP with the TLS port's number, advertised by Alt-Svc.
  bool http3 = true;
  QuicFrontend::Limits quic_limits;
  std::string cert_file; // both empty: self-signed in state_dir
  std::string key_file;
  std::string state_dir; // empty: default_state_dir ()
  StreamConfig stream_defaults;
  // The S3 archive (storage.s3): uploads closed DVR periods, and time-shifted
  // playback reads through it what local disk no longer has. None: off.
  std::shared_ptr<Uploader> archive;
  // How long an ended stream's playlists stay up after its last publisher left.
  int64_t linger_ns = 10 * kNsPerSecond;
  // HTTPS and HTTP/1.1 connections with nothing in flight for this long close.
  int64_t http_idle_timeout_ms = 30000;
  // TCP viewer connections (HTTPS and HTTP, every worker) the process takes,
  // and from one client address (0: no cap; HTTP/3 has the same cap per
  // address on its own count, and quic_limits.max_connections in all).
  size_t http_max_connections = 10000;
  size_t max_connections_per_address = 0;
  // Worker threads serving viewers; 0: one per core.
  unsigned workers = 1;
  // Signed playback URLs (playback_token.h) with this HMAC key; empty: off.
  std::string playback_token_key;
  // Cluster playback: viewers of streams that another node owns are sent
  // there (OriginHandler::set_directory); none: a single node.
  std::shared_ptr<const ClusterDirectory> directory;
  std::string public_url; // this node's (server.public_url)
  // Relay the owner's answers (one shared cache, single flight) instead of
  // redirecting viewers to it.
  bool relay = false;
};

struct OriginStats {
  OriginHandlerStats requests; // summed over the workers
  unsigned workers = 0;
  SoupAcceptor::Stats http; // HTTPS and HTTP/1.1 connections, in the admin port's terms
  TcpFrontend::Stats tcp;   // the same, in full (TLS, HTTP/2)
  size_t streams = 0;
  bool http3 = false;
  QuicFrontend::Stats quic;
  OriginRelayStats relay; // cluster playback by relay; zeros when off
};

class Origin {
 public:
  // Binds the listeners and starts serving; nullptr with *error naming the
  // port, file or value at fault.
  static std::shared_ptr<Origin> start (const OriginConfig &config, std::string *error);
  // The Origin for config.tls_port in this process, started on first use and
  // shared by every caller asking for that port while one holds it.
  static std::shared_ptr<Origin> shared_for_port (const OriginConfig &config, std::string *error);

  ~Origin ();
  Origin (const Origin &) = delete;
  Origin &operator= (const Origin &) = delete;

  MediaStore &store () { return store_; }
  // Per stream and protocol, the connections that asked for its objects in
  // the last 5 s, over every worker.
  ViewerCounts viewers ();
  const OriginConfig &config () const { return config_; }
  const TlsIdentity &identity () const { return identity_; }
  uint16_t tls_port () const { return tls_port_; }
  uint16_t http_port () const { return http_port_; }
  // UDP port of HTTP/3, 0 when off.
  uint16_t http3_port () const { return http3_port_; }

  // Graceful stop of the viewers' side: HTTP/3 connections get GOAWAY and
  // finish what they asked for. Any thread.
  void shutdown ();

  // A publisher of stream id arrives: its store (a fresh one if the old one
  // had ended). config applies when the stream is new.
  std::shared_ptr<StreamStore> attach (const std::string &id, const StreamConfig &config);
  std::shared_ptr<StreamStore> attach (const std::string &id)
  {
    return attach (id, config_.stream_defaults);
  }
  // It leaves; the last one out ends the stream's renditions and starts the linger.
  void detach (const std::string &id);
  // Counts as a publisher of id without publishing, until detach (id): its
  // publishers may all leave and new ones come (mirrord restarting a
  // wedged pipeline) while the stream goes on, where it would otherwise end.
  void hold (const std::string &id);

  // Taken on each worker's thread (blocks the caller briefly).
  OriginStats stats ();

 private:
  explicit Origin (const OriginConfig &config);
  bool run (std::string *error);

  struct Worker {
    unsigned index = 0;
    GMainContext *context = nullptr;
    GMainLoop *loop = nullptr;
    std::thread thread;
    // Owned by the thread; set while it serves.
    std::unique_ptr<OriginHandler> handler;
    std::unique_ptr<TcpFrontend> https;
    std::unique_ptr<TcpFrontend> http;
    std::unique_ptr<QuicFrontend> quic;
  };
  // On the worker's thread: its handler and front ends, on the ports worker
  // 0 chose. "" or the error.
  std::string start_worker (Worker &w);

  const OriginConfig config_;
  TlsIdentity identity_;
  MediaStore store_;
  std::shared_ptr<TcpFrontend::Tls> tls_;
  // The TCP viewer connections of every worker and both ports, in all and
  // per client address (OriginConfig::http_max_connections and
  // max_connections_per_address): the process's limits, not a worker's.
  std::shared_ptr<ConnectionBudget> tcp_budget_;
  // QUIC connections likewise (quic_limits.max_connections in all).
  std::shared_ptr<ConnectionBudget> quic_budget_;
  std::shared_ptr<QuicWorkerGroup> quic_group_;
  std::shared_ptr<OriginRelay> relay_; // OriginConfig::relay; every worker's
  std::vector<std::unique_ptr<Worker>> workers_;
  GMainContext *context_ = nullptr; // worker 0's: lingers run there
  uint16_t tls_port_ = 0;
  uint16_t http_port_ = 0;
  uint16_t http3_port_ = 0;

  struct Publishers {
    int count = 0;
    uint64_t generation = 0; // bumps on every attach, so a stale linger does nothing
  };
  // One more publisher of id (attach, hold); publishers_lock_ held.
  void count_publisher_locked (const std::string &id);
  std::mutex publishers_lock_;
  std::map<std::string, Publishers> publishers_;
};

} // namespace mirror
