// SPDX-License-Identifier: LGPL-2.1-or-later
// The HTTP/3 front end of the Origin: QUIC v1 (ngtcp2 with GnuTLS) and
// HTTP/3 (nghttp3) on one UDP socket, run by the Origin's GMainContext like
// the libsoup front end. Every request goes to the same OriginHandler; held
// requests (blocking playlist reloads, hinted parts) simply leave their
// stream without a response until the handler answers. Response bodies are
// the store's refcounted buffers, handed to nghttp3 without copying and kept
// until the peer acknowledges them.
//
// Connection setup is address-validated with Retry (or a NEW_TOKEN token
// from an earlier connection), packets for connections we do not know get a
// rate-limited stateless reset, and everything a peer can make us keep is
// bounded by Limits. All of it runs on the context's thread and never blocks:
// a send that would block is kept and retried when the socket is writable.
//
// Several workers, one port: each worker thread runs its own QuicFrontend on
// its own GMainContext, all of them in one QuicWorkerGroup, each with its own
// SO_REUSEPORT socket on the same port. The kernel spreads datagrams by
// 4-tuple hash, so after a client's NAT rebinding or migration its packets
// may reach a worker that does not own the connection. Every connection ID
// a worker chooses (the connection's first, NEW_CONNECTION_ID ones, a
// Retry's) therefore names that worker: 13 random bytes, the worker's index
// masked and a 4-byte check, both from an HMAC of the random bytes under the
// group's secret (so a client's random DCID names a worker once in 2^32, and
// observers cannot read the index). A datagram whose DCID the receiving
// worker does not know but which names another worker is copied, with its
// addresses and ECN, into that worker's inbox (a datagram socketpair the
// group owns, bounded by its buffer: beyond it the datagram is dropped and
// counted) and handled by the owner on its own context as if its socket had
// read it; it answers from its own socket, whose address is the same. A
// datagram is forwarded at most once, never to the worker that received it,
// and Initials with a client-chosen DCID never name a worker, so new
// connections stay where the kernel put them. Retry and NEW_TOKEN tokens and
// stateless reset tokens verify on every worker of the group. (The kernel
// cannot steer by connection ID itself, SO_ATTACH_REUSEPORT_EBPF style: the
// index is masked; forwarding is for the rare migrated client.)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "http/connection_budget.h"
#include "origin/origin_handler.h"
#include "origin/tls_identity.h"

namespace mirror {

// The QUIC side of one port's workers: the secrets they share (connection
// IDs, address-validation tokens, stateless resets), the port the first one
// bound, and each worker's inbox for stray datagrams. Made once, before the
// workers, and shared by their front ends; any thread.
class QuicWorkerGroup {
 public:
  struct Stats {
    uint64_t forwarded = 0;       // stray datagrams handed to the worker owning them
    uint64_t forward_dropped = 0; // strays dropped because their owner's inbox was full
  };

  // workers: 1 to 256. An inbox that cannot be made (no file descriptors)
  // makes that worker's listen () fail, naming the reason.
  explicit QuicWorkerGroup (unsigned workers);
  ~QuicWorkerGroup ();
  QuicWorkerGroup (const QuicWorkerGroup &) = delete;
  QuicWorkerGroup &operator= (const QuicWorkerGroup &) = delete;

  unsigned size () const;
  // The UDP port the group's first listener bound; 0 before that.
  uint16_t port () const;
  Stats stats () const;

  class Shared; // secrets, inboxes, who listens (.cpp)

 private:
  friend class QuicFrontend;
  std::unique_ptr<Shared> shared_;
};

class QuicFrontend {
 public:
  struct Limits {
    // Connections beyond this are refused (CONNECTION_REFUSED): this front
    // end's own, and with a ConnectionBudget the process's in all.
    size_t max_connections = 10000;
    // From one client address (0: no cap), without a shared budget.
    size_t max_per_address = 0;
    // Request streams a client may have open at once: more than half of
    // it always, all of it at most (the credit grows by halves).
    uint64_t max_streams_bidi = 100;
    // Requests of one connection that may wait on the handler at once; the
    // next ones are answered 503.
    size_t max_held_per_connection = 32;
    int64_t idle_timeout_ns = 30LL * 1000000000LL;
    // Receive windows we advertise (per stream, per connection).
    uint64_t max_stream_data = 4 * 1024 * 1024;
    uint64_t max_data = 16 * 1024 * 1024;
  };

  struct Stats {
    uint64_t connections_now = 0;
    uint64_t connections_total = 0;  // accepted (after address validation)
    uint64_t handshake_failures = 0; // gone before the handshake completed
    uint64_t streams_total = 0;      // requests handed to the handler
    uint64_t bytes_sent = 0;         // UDP payload bytes
    uint64_t bytes_received = 0;
    uint64_t held_now = 0; // requests waiting on the handler
    uint64_t retries_sent = 0;
    uint64_t stateless_resets_sent = 0;
    uint64_t packets_dropped = 0; // undecodable, unexpected or refused datagrams
    // Validated Initials refused CONNECTION_REFUSED by the budget: the
    // process's total, or the client address's share.
    uint64_t refused = 0;
    uint64_t refused_per_address = 0;
    // In a worker group: datagrams this worker's socket read for another
    // worker's connection and handed to it, those other workers handed to
    // this one, and those dropped because the owner's inbox was full.
    uint64_t forwarded_out = 0;
    uint64_t forwarded_in = 0;
    uint64_t forward_dropped = 0;
  };

  // handler must outlive the front end. Nothing is bound until listen ().
  // Without a group: one socket, the only one on its port. With one: this
  // front end is worker `worker` (below group->size ()) of the group.
  // @budget: connection limits shared with other front ends (the workers');
  // none: one of its own from @limits.
  QuicFrontend (OriginHandler &handler, const TlsIdentity &identity, Limits limits,
                std::shared_ptr<QuicWorkerGroup> group = nullptr, unsigned worker = 0,
                std::shared_ptr<ConnectionBudget> budget = nullptr);
  // Leaves the group first (other workers stop forwarding to it and answer
  // its strays themselves), then closes every connection (CONNECTION_CLOSE,
  // H3_NO_ERROR) and cancels what it still had held. On the context's thread.
  ~QuicFrontend ();
  QuicFrontend (const QuicFrontend &) = delete;
  QuicFrontend &operator= (const QuicFrontend &) = delete;

  // On the Origin's context, which must be the thread-default: binds UDP
  // bind_address:port (0: any free port) and joins that context. false, with
  // *error naming the address, port or certificate at fault.
  //
  // In a group the socket has SO_REUSEPORT, and port 0 means the port the
  // group's first listener bound (any free port for that first one): the
  // Origin listens with worker 0 first, then the others, each on its own
  // thread. Listens of one group are serialised; a worker index already
  // listening in the group is an error.
  bool listen (const std::string &bind_address, uint16_t port, std::string *error);
  uint16_t port () const;

  // Any thread (the counters are atomic).
  Stats stats () const;

  // Graceful stop, on the context's thread: no new connections; each one
  // gets a GOAWAY, finishes the requests it has and is then closed.
  void shutdown ();

  class Endpoint; // the socket, its connections and their requests (.cpp)

 private:
  std::unique_ptr<Endpoint> endpoint_;
};

} // namespace mirror
