// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/quic_frontend.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "util/fault_point.h"

namespace mirror {

namespace {

// Pacing from ngtcp2 0.12 starts from its 333 ms initial RTT guess, which
// holds the first response of every connection back by tens of ms; until
// the handshake has measured a real RTT, send as soon as allowed.
void
pace (ngtcp2_conn *conn, ngtcp2_tstamp ts)
{
  if (ngtcp2_conn_get_handshake_completed (conn))
    ngtcp2_conn_update_pkt_tx_time (conn, ts);
}

// Our connection IDs. Fixed length, because a short header does not say how
// long its DCID is; long enough that nobody guesses a live one.
constexpr size_t kScidLen = 18;
// In a worker group: the masked worker index, random bytes, the check.
constexpr size_t kCidNonceLen = 13;
constexpr size_t kCidCheckLen = 4;
static_assert (1 + kCidNonceLen + kCidCheckLen == kScidLen);
constexpr unsigned kMaxWorkers = 256; // the index is one byte
// An inbox holds what fits in this much socket buffer (the kernel counts
// each datagram's overhead too): a burst of a migrated client's packets,
// not a backlog.
constexpr int kInboxBufferBytes = 1024 * 1024;
// Datagrams read per dispatch, so that timers and other sources get a turn
// under load.
constexpr size_t kReadBatch = 64;
// Read kRecvBatch at a time by recvmmsg, each into its own buffer.
constexpr size_t kRecvBatch = 16;
constexpr size_t kRxBufferSize = 65536;
// One write pass builds at most this much (GSO batches included).
constexpr size_t kTxBufferSize = 65536;
constexpr size_t kMaxGsoSegments = 32;
// What the connections write during one dispatch waits here and leaves in
// sendmmsg calls of up to this many messages (each a GSO batch), when the
// dispatch ends or the queue is full.
constexpr size_t kMaxQueuedSends = 64;
constexpr size_t kQueueBytes = 1024 * 1024;
// Client unidirectional streams: control and the two QPACK streams, plus room
// for the reserved (grease) types browsers open.
constexpr uint64_t kMaxStreamsUni = 16;
constexpr uint64_t kMaxRequestHeaderBytes = 16 * 1024;
constexpr ngtcp2_duration kRetryTokenLifetime = 10 * NGTCP2_SECONDS;
constexpr ngtcp2_duration kRegularTokenLifetime = 3600 * NGTCP2_SECONDS;
// Packets we answer without a connection (stateless resets, version
// negotiation, refusals) can be provoked by spoofed sources: a token bucket
// keeps us from being a reflector.
constexpr double kStatelessBurst = 100;
constexpr double kStatelessPerSecond = 100;

constexpr char kTlsPriority[]
    = "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:"
      "+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:"
      "+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1";

// ngtcp2 wants nanoseconds on one monotonic clock; GLib's timers run on the
// same CLOCK_MONOTONIC.
ngtcp2_tstamp
now_ns ()
{
  timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (ngtcp2_tstamp)ts.tv_sec * NGTCP2_SECONDS + (ngtcp2_tstamp)ts.tv_nsec;
}

void
random_bytes (uint8_t *p, size_t n)
{
  if (gnutls_rnd (GNUTLS_RND_RANDOM, p, n) != 0) {
    // Never seen in practice; GLib's generator still beats zeros.
    for (size_t i = 0; i < n; ++i)
      p[i] = (uint8_t)g_random_int ();
  }
}

template <typename T, auto Free> struct Deinit {
  void operator() (T handle) const { Free (handle); }
};
template <typename T, auto Free>
using Handle = std::unique_ptr<std::remove_pointer_t<T>, Deinit<T, Free>>;

using Credentials = Handle<gnutls_certificate_credentials_t, gnutls_certificate_free_credentials>;
using Priority = Handle<gnutls_priority_t, gnutls_priority_deinit>;
using TlsSession = Handle<gnutls_session_t, gnutls_deinit>;
using QuicConn = Handle<ngtcp2_conn *, ngtcp2_conn_del>;
using H3Conn = Handle<nghttp3_conn *, nghttp3_conn_del>;

struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;

  sockaddr *sa () { return reinterpret_cast<sockaddr *> (&storage); }
  const sockaddr *sa () const { return reinterpret_cast<const sockaddr *> (&storage); }
  ngtcp2_addr addr () const { return { const_cast<sockaddr *> (sa ()), (ngtcp2_socklen)len }; }
};

std::string
describe (const sockaddr *sa)
{
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto *in = reinterpret_cast<const sockaddr_in *> (sa);
    inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs (in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto *in6 = reinterpret_cast<const sockaddr_in6 *> (sa);
    inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs (in6->sin6_port);
    return std::string ("[") + host + "]:" + std::to_string (port);
  }
  return std::string (host) + ":" + std::to_string (port);
}

// What travels with a stray datagram to its owner's inbox, before the bytes.
struct InboxHeader {
  sockaddr_storage local;
  sockaddr_storage remote;
  uint32_t local_len;
  uint32_t remote_len;
  uint32_t ecn;
  uint32_t reserved;
};

// A connection ID as a map key, in place: ours are 18 bytes, past a
// std::string's inline capacity, so a string key cost an allocation for
// every datagram's lookup.
struct CidKey {
  uint8_t len = 0;
  std::array<uint8_t, NGTCP2_MAX_CIDLEN> data{};
  bool operator== (const CidKey &other) const
  {
    return len == other.len && memcmp (data.data (), other.data.data (), len) == 0;
  }
};

struct CidKeyHash {
  size_t operator() (const CidKey &key) const
  {
    return std::hash<std::string_view> () (
        std::string_view (reinterpret_cast<const char *> (key.data.data ()), key.len));
  }
};

CidKey
cid_key (const uint8_t *data, size_t len)
{
  CidKey key;
  key.len = (uint8_t)std::min (len, key.data.size ());
  memcpy (key.data.data (), data, key.len);
  return key;
}

CidKey
cid_key (const ngtcp2_cid &cid)
{
  return cid_key (cid.data, cid.datalen);
}

std::string
lowercase (std::string s)
{
  for (char &c : s)
    c = g_ascii_tolower (c);
  return s;
}

// Connection-specific fields HTTP/3 forbids (RFC 9114 4.2).
bool
forbidden_in_h3 (const std::string &name)
{
  return name == "connection" || name == "keep-alive" || name == "proxy-connection"
         || name == "transfer-encoding" || name == "upgrade" || name == "content-length";
}

nghttp3_nv
make_nv (const std::string &name, const std::string &value)
{
  return { reinterpret_cast<uint8_t *> (const_cast<char *> (name.data ())),
           reinterpret_cast<uint8_t *> (const_cast<char *> (value.data ())), name.size (),
           value.size (), NGHTTP3_NV_FLAG_NONE };
}

} // namespace

// ---------------------------------------------------------------------------
// QuicWorkerGroup

class QuicWorkerGroup::Shared {
 public:
  explicit Shared (unsigned workers);
  ~Shared ();

  struct Inbox {
    // [0] read by its worker, [1] written by the others; made with the group
    // and closed with it, so a sender never writes to a closed descriptor.
    int fds[2] = { -1, -1 };
    int error = 0; // errno of socketpair () when there is none
    // Senders look at this, without the lock, before each forward.
    std::atomic<bool> listening{ false };
    bool claimed = false; // a front end of this index has listened (mutex)
  };
  enum class Forward { kQueued, kFull, kNotListening };

  // A connection ID naming worker: its index masked and checked by an HMAC
  // of random bytes, so only the group can make or read one.
  void mint (unsigned worker, ngtcp2_cid *cid) const;
  // The worker a DCID names, or -1 for one no worker of this group made.
  int owner (const uint8_t *dcid, size_t len) const;
  // Copies the datagram into worker to's inbox; never blocks.
  Forward forward (unsigned to, const Address &local, const Address &remote, uint32_t ecn,
                   const uint8_t *data, size_t len);

  const unsigned workers;
  std::array<uint8_t, 32> cid_secret{};
  std::array<uint8_t, 32> token_secret{};
  // For identities without a key (the Endpoint derives it from the key).
  std::array<uint8_t, 32> reset_secret{};
  std::unique_ptr<Inbox[]> inboxes;
  std::mutex mutex; // listens, claims, port
  std::atomic<uint16_t> port{ 0 };
  std::atomic<uint64_t> forwarded{ 0 };
  std::atomic<uint64_t> forward_dropped{ 0 };

 private:
  void mac (const uint8_t *nonce, uint8_t out[32]) const;
};

QuicWorkerGroup::Shared::Shared (unsigned n)
    : workers (std::clamp (n, 1u, kMaxWorkers)), inboxes (new Inbox[workers])
{
  if (n != workers)
    g_critical ("HTTP/3: a worker group of %u workers; using %u", n, workers);
  random_bytes (cid_secret.data (), cid_secret.size ());
  random_bytes (token_secret.data (), token_secret.size ());
  random_bytes (reset_secret.data (), reset_secret.size ());
  for (unsigned i = 0; i < workers; ++i) {
    Inbox &inbox = inboxes[i];
    if (socketpair (AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, inbox.fds) != 0) {
      inbox.error = errno;
      inbox.fds[0] = inbox.fds[1] = -1;
      continue;
    }
    // A Unix datagram socket's queue is charged to the sending side.
    int buffer = kInboxBufferBytes;
    setsockopt (inbox.fds[1], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  }
}

QuicWorkerGroup::Shared::~Shared ()
{
  for (unsigned i = 0; i < workers; ++i)
    for (int fd : inboxes[i].fds)
      if (fd >= 0)
        close (fd);
}

void
QuicWorkerGroup::Shared::mac (const uint8_t *nonce, uint8_t out[32]) const
{
  if (gnutls_hmac_fast (GNUTLS_MAC_SHA256, cid_secret.data (), cid_secret.size (), nonce,
                        kCidNonceLen, out)
      != 0)
    memset (out, 0, 32); // never seen; such IDs then name no worker
}

void
QuicWorkerGroup::Shared::mint (unsigned worker, ngtcp2_cid *cid) const
{
  cid->datalen = kScidLen;
  random_bytes (cid->data + 1, kCidNonceLen);
  uint8_t m[32];
  mac (cid->data + 1, m);
  cid->data[0] = (uint8_t)(worker ^ m[0]);
  memcpy (cid->data + 1 + kCidNonceLen, m + 1, kCidCheckLen);
}

int
QuicWorkerGroup::Shared::owner (const uint8_t *dcid, size_t len) const
{
  if (len != kScidLen)
    return -1;
  uint8_t m[32];
  mac (dcid + 1, m);
  if (memcmp (dcid + 1 + kCidNonceLen, m + 1, kCidCheckLen) != 0)
    return -1;
  unsigned worker = dcid[0] ^ m[0];
  return worker < workers ? (int)worker : -1;
}

QuicWorkerGroup::Shared::Forward
QuicWorkerGroup::Shared::forward (unsigned to, const Address &local, const Address &remote,
                                  uint32_t ecn, const uint8_t *data, size_t len)
{
  Inbox &inbox = inboxes[to];
  if (!inbox.listening.load (std::memory_order_acquire))
    return Forward::kNotListening;
  InboxHeader header{};
  header.local = local.storage;
  header.remote = remote.storage;
  header.local_len = local.len;
  header.remote_len = remote.len;
  header.ecn = ecn;
  iovec iov[2] = { { &header, sizeof header }, { const_cast<uint8_t *> (data), len } };
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  ssize_t n;
  do
    n = sendmsg (inbox.fds[1], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    ++forward_dropped;
    return Forward::kFull;
  }
  ++forwarded;
  return Forward::kQueued;
}

QuicWorkerGroup::QuicWorkerGroup (unsigned workers) : shared_ (std::make_unique<Shared> (workers))
{}

QuicWorkerGroup::~QuicWorkerGroup () = default;

unsigned
QuicWorkerGroup::size () const
{
  return shared_->workers;
}

uint16_t
QuicWorkerGroup::port () const
{
  return shared_->port;
}

QuicWorkerGroup::Stats
QuicWorkerGroup::stats () const
{
  Stats s;
  s.forwarded = shared_->forwarded;
  s.forward_dropped = shared_->forward_dropped;
  return s;
}

// ---------------------------------------------------------------------------
// Endpoint

class QuicFrontend::Endpoint {
 public:
  Endpoint (OriginHandler &handler, const TlsIdentity &identity, const Limits &limits,
            std::shared_ptr<QuicWorkerGroup> group, unsigned worker,
            std::shared_ptr<ConnectionBudget> budget);
  ~Endpoint ();

  bool listen (const std::string &bind_address, uint16_t port, std::string *error);
  uint16_t port () const { return port_; }
  Stats stats () const;
  void shutdown ();

 private:
  class Connection;
  struct Request;

  struct SocketSource {
    GSource base;
    Endpoint *endpoint;
    gpointer tag;
  };
  // Every connection's timer, in one source: a min-heap of the times they
  // are due. A source per connection cost GLib a prepare and a check of
  // each, two mutex operations apiece, on every iteration of the worker's
  // loop (about 930 a second at 1000 viewers), and a dispatch per due
  // connection; this is one of each however many connections there are.
  struct TimerSource {
    GSource base;
    Endpoint *endpoint;
  };

  struct Counters {
    std::atomic<uint64_t> connections_now{ 0 };
    std::atomic<uint64_t> connections_total{ 0 };
    std::atomic<uint64_t> handshake_failures{ 0 };
    std::atomic<uint64_t> refused{ 0 };
    std::atomic<uint64_t> refused_per_address{ 0 };
    std::atomic<uint64_t> streams_total{ 0 };
    std::atomic<uint64_t> bytes_sent{ 0 };
    std::atomic<uint64_t> bytes_received{ 0 };
    std::atomic<uint64_t> held_now{ 0 };
    std::atomic<uint64_t> retries_sent{ 0 };
    std::atomic<uint64_t> stateless_resets_sent{ 0 };
    std::atomic<uint64_t> packets_dropped{ 0 };
    std::atomic<uint64_t> forwarded_out{ 0 };
    std::atomic<uint64_t> forwarded_in{ 0 };
    std::atomic<uint64_t> forward_dropped{ 0 };
  };

  bool setup_tls (std::string *error);
  bool join_group (uint16_t *port, std::string *error);
  void leave_group ();
  static gboolean socket_dispatch (GSource *source, GSourceFunc, gpointer);
  static gboolean inbox_dispatch (GSource *source, GSourceFunc, gpointer);
  void read_datagrams ();
  void read_inbox ();
  // forwarded: it came through the inbox, and goes nowhere else.
  void on_datagram (const Address &local, const Address &remote, uint32_t ecn, const uint8_t *data,
                    size_t len, std::vector<Connection *> &touched, bool forwarded);
  // true when the datagram names another worker of the group and went to it
  // (or was dropped at its full inbox).
  bool forward_stray (const ngtcp2_version_cid &vc, const Address &local, const Address &remote,
                      uint32_t ecn, const uint8_t *data, size_t len);
  void write_touched (std::vector<Connection *> &touched);
  // A connection ID of ours: naming this worker in a group, random otherwise.
  void new_cid (ngtcp2_cid *cid) const;
  Connection *accept (const Address &local, const Address &remote, const uint8_t *data, size_t len);
  void on_writable ();

  // Sends len bytes as datagrams of gso_size (the last may be shorter), in one
  // GSO send when the kernel has it. Returns the bytes that went; fewer than
  // len only when the socket would block.
  size_t send (const ngtcp2_addr &local, const ngtcp2_addr &remote, uint32_t ecn,
               const uint8_t *data, size_t len, size_t gso_size);
  size_t send_one (const ngtcp2_addr &local, const ngtcp2_addr &remote, const uint8_t *data,
                   size_t len, size_t gso_size);
  // Fills msg (and control, which must hold kControlSpace) for one send.
  static constexpr size_t kControlSpace
      = CMSG_SPACE (sizeof (in6_pktinfo)) + CMSG_SPACE (sizeof (uint16_t));
  void build_msg (msghdr &msg, iovec &iov, uint8_t *control, const sockaddr *local,
                  const sockaddr *remote, socklen_t remote_len, const uint8_t *data, size_t len,
                  size_t gso_size) const;
  // A connection's datagrams, sent at the end of the dispatch (flush_queue)
  // with the others' in as few sendmmsg calls as the ECN marks allow. What
  // the socket will not take goes back to its connection's blocked list.
  void queue (Connection *conn, const ngtcp2_path &path, uint32_t ecn, const uint8_t *data,
              size_t len, size_t gso_size);
  void flush_queue ();
  void set_ecn (uint32_t ecn);
  bool take_stateless_budget ();
  void send_retry (const ngtcp2_pkt_hd &hd, const Address &local, const Address &remote,
                   size_t trigger_len);
  void send_stateless_close (const ngtcp2_pkt_hd &hd, const Address &local, const Address &remote,
                             uint64_t error_code);
  void send_version_negotiation (const ngtcp2_version_cid &vc, const Address &local,
                                 const Address &remote);
  void send_stateless_reset (const uint8_t *dcid, size_t len, const Address &local,
                             const Address &remote);

  static gboolean timers_prepare (GSource *source, gint *timeout);
  static gboolean timers_check (GSource *source);
  static gboolean timers_dispatch (GSource *source, GSourceFunc, gpointer);
  // due_us: monotonic, -1 for none. Only the worker's thread sets it,
  // inside a dispatch, so the next iteration's prepare sees it without a
  // wake-up.
  void set_timer (Connection *conn, gint64 due_us);
  void timer_up (size_t slot);
  void timer_down (size_t slot);
  void timer_remove (size_t slot);

  void associate (const ngtcp2_cid &cid, Connection *conn);
  void dissociate (const ngtcp2_cid &cid);
  void watch_writable (Connection *conn);
  void doom (Connection *conn);
  // Deletes the connections doomed since the last call. Only at the top of a
  // dispatch: deleting one cancels its held requests in the handler.
  void reap ();

  OriginHandler &handler_;
  TlsIdentity identity_;
  Limits limits_;
  Counters counters_;
  // The group keeps the inboxes' descriptors alive as long as any worker.
  std::shared_ptr<QuicWorkerGroup> group_;
  std::shared_ptr<ConnectionBudget> budget_;
  QuicWorkerGroup::Shared *shared_ = nullptr;
  unsigned worker_ = 0;
  bool in_group_ = false; // listening, so other workers forward to us
  SocketSource *inbox_source_ = nullptr;

  Credentials credentials_;
  Priority priority_;
  // Retry and NEW_TOKEN tokens: a random secret (the group's), so tokens die
  // with the process.
  std::array<uint8_t, 32> token_secret_{};
  // Stateless reset tokens: derived from the TLS key, so that a restarted
  // Origin with the same identity still resets its predecessor's connections
  // (and every worker, holding the same key, makes the same tokens).
  std::array<uint8_t, 32> reset_secret_{};

  int fd_ = -1;
  int family_ = AF_INET;
  bool bound_to_any_ = false;
  bool gso_ = false;
  uint32_t socket_ecn_ = 0;
  Address local_;
  uint16_t port_ = 0;
  GMainContext *context_ = nullptr;
  SocketSource *socket_source_ = nullptr;
  TimerSource *timer_source_ = nullptr;
  std::vector<Connection *> timers_; // the heap: earliest due first
  struct Queued {
    Connection *conn; // null once it is gone
    Address local, remote;
    bool has_local;
    uint32_t ecn;
    size_t offset, len, gso_size;
  };
  std::vector<Queued> queued_;
  std::vector<uint8_t> queued_bytes_;
  std::vector<Connection *> due_; // the dispatch's scratch
  std::vector<uint8_t> rx_;
  std::vector<uint8_t> tx_;

  std::unordered_map<CidKey, Connection *, CidKeyHash> by_cid_;
  std::unordered_map<Connection *, std::unique_ptr<Connection>> connections_;
  std::vector<Connection *> write_blocked_;
  std::vector<Connection *> doomed_;
  bool shutting_down_ = false;

  double stateless_budget_ = kStatelessBurst;
  ngtcp2_tstamp stateless_refill_at_ = 0;
};

// One request stream.
struct QuicFrontend::Endpoint::Request {
  int64_t id = -1;
  std::string method;
  std::string path; // :path as sent, query included
  std::string range;
  bool dispatched = false;
  bool answered = false;
  bool held = false; // counted in the connection's and the endpoint's held
  std::function<void ()> cancel;
  // The body's buffers: [acked, sent) handed to nghttp3 but not yet
  // acknowledged (nghttp3 and ngtcp2 point into them without copying),
  // [sent, end) not yet handed out; an acknowledged one is let go at once.
  std::vector<Bytes> body;
  size_t acked = 0, sent = 0;
  size_t front_acked = 0; // bytes of body[acked] the peer has
  bool all_sent () const { return sent == body.size (); }
};

// One QUIC connection with its HTTP/3 session.
class QuicFrontend::Endpoint::Connection {
 public:
  explicit Connection (Endpoint &ep);
  ~Connection ();
  // The client address whose share of the ConnectionBudget this holds.
  std::optional<std::string> budget_address;
  Connection (const Connection &) = delete;
  Connection &operator= (const Connection &) = delete;

  bool init (const Address &local, const Address &remote, const ngtcp2_pkt_hd &hd,
             const ngtcp2_cid *original_dcid);
  void on_datagram (const Address &local, const Address &remote, uint32_t ecn, const uint8_t *data,
                    size_t len);
  // Writes what can go now, then re-arms the timer.
  void write ();
  void on_writable ();
  void goaway ();
  // CONNECTION_CLOSE right now, for the front end's destruction.
  void close_now ();
  bool doomed () const { return state_ == State::kDoomed; }

  bool touched = false; // listed in the current read batch

 private:
  friend class Endpoint; // keeps cid_keys_ in step with its by_cid_

  enum class State { kOpen, kClosing, kDraining, kDoomed };
  // The connection's timer is its place in the endpoint's heap, read by
  // the endpoint's one timer source (not a GLib ready time, whose every
  // change writes to the context's eventfd: about two writes per request).
  void set_timer (gint64 due_us) { ep_.set_timer (this, due_us); }
  static constexpr size_t kNoSlot = SIZE_MAX;
  gint64 due_us_ = -1;
  size_t timer_slot_ = kNoSlot;
  // Datagrams built but not sent because the socket would block.
  struct Pending {
    ngtcp2_path_storage path;
    uint32_t ecn = 0;
    size_t gso_size = 0;
    std::vector<uint8_t> data;
  };

  void on_timer ();
  void update_timer ();
  void schedule_write ();
  void write_streams ();
  void keep (const ngtcp2_path &path, uint32_t ecn, const uint8_t *data, size_t len,
             size_t gso_size);
  void start_closing ();
  void start_draining ();
  void doom ();
  void close_if_drained ();
  bool setup_h3 ();

  std::shared_ptr<Request> find (int64_t stream_id);
  void dispatch (const std::shared_ptr<Request> &request);
  void answer (Request &request, OriginResponse response);
  void release_hold (Request &request);
  void give_up (int64_t stream_id);
  void forget (int64_t stream_id);

  // ngtcp2
  static ngtcp2_conn *get_conn (ngtcp2_crypto_conn_ref *ref);
  static void on_rand (uint8_t *dest, size_t len, const ngtcp2_rand_ctx *);
  static int on_get_new_connection_id (ngtcp2_conn *, ngtcp2_cid *cid, uint8_t *token,
                                       size_t cidlen, void *user_data);
  static int on_remove_connection_id (ngtcp2_conn *, const ngtcp2_cid *cid, void *user_data);
  static int on_handshake_completed (ngtcp2_conn *, void *user_data);
  static int on_recv_tx_key (ngtcp2_conn *, ngtcp2_crypto_level level, void *user_data);
  static int on_recv_stream_data (ngtcp2_conn *, uint32_t flags, int64_t stream_id, uint64_t offset,
                                  const uint8_t *data, size_t len, void *user_data,
                                  void *stream_user_data);
  static int on_acked_stream_data_offset (ngtcp2_conn *, int64_t stream_id, uint64_t offset,
                                          uint64_t len, void *user_data, void *stream_user_data);
  static int on_stream_close (ngtcp2_conn *, uint32_t flags, int64_t stream_id,
                              uint64_t app_error_code, void *user_data, void *stream_user_data);
  static int on_stream_reset (ngtcp2_conn *, int64_t stream_id, uint64_t final_size,
                              uint64_t app_error_code, void *user_data, void *stream_user_data);
  static int on_stream_stop_sending (ngtcp2_conn *, int64_t stream_id, uint64_t app_error_code,
                                     void *user_data, void *stream_user_data);
  static int on_extend_max_remote_streams_bidi (ngtcp2_conn *, uint64_t max_streams,
                                                void *user_data);
  static int on_extend_max_stream_data (ngtcp2_conn *, int64_t stream_id, uint64_t max_data,
                                        void *user_data, void *stream_user_data);
  // nghttp3
  static int h3_acked_stream_data (nghttp3_conn *, int64_t stream_id, uint64_t len, void *user_data,
                                   void *stream_user_data);
  static int h3_stream_close (nghttp3_conn *, int64_t stream_id, uint64_t app_error_code,
                              void *user_data, void *stream_user_data);
  static int h3_recv_data (nghttp3_conn *, int64_t stream_id, const uint8_t *data, size_t len,
                           void *user_data, void *stream_user_data);
  static int h3_deferred_consume (nghttp3_conn *, int64_t stream_id, size_t consumed,
                                  void *user_data, void *stream_user_data);
  static int h3_begin_headers (nghttp3_conn *, int64_t stream_id, void *user_data,
                               void *stream_user_data);
  static int h3_recv_header (nghttp3_conn *, int64_t stream_id, int32_t token, nghttp3_rcbuf *name,
                             nghttp3_rcbuf *value, uint8_t flags, void *user_data,
                             void *stream_user_data);
  static int h3_end_stream (nghttp3_conn *, int64_t stream_id, void *user_data,
                            void *stream_user_data);
  static int h3_stop_sending (nghttp3_conn *, int64_t stream_id, uint64_t app_error_code,
                              void *user_data, void *stream_user_data);
  static int h3_reset_stream (nghttp3_conn *, int64_t stream_id, uint64_t app_error_code,
                              void *user_data, void *stream_user_data);
  static nghttp3_ssize h3_read_data (nghttp3_conn *, int64_t stream_id, nghttp3_vec *vec,
                                     size_t veccnt, uint32_t *pflags, void *user_data,
                                     void *stream_user_data);

  Endpoint &ep_;
  std::string peer_;
  ngtcp2_crypto_conn_ref conn_ref_{};
  TlsSession tls_;
  QuicConn conn_;
  H3Conn h3_;
  State state_ = State::kOpen;
  bool handshake_completed_ = false;
  ngtcp2_connection_close_error last_error_{};

  std::map<int64_t, std::shared_ptr<Request>> requests_;
  size_t held_ = 0;
  // Request streams closed since the client's stream credit was last
  // raised: credit_stream () raises it by half the limit at a time.
  uint64_t closed_uncredited_ = 0;
  void credit_stream ();
  std::vector<CidKey> cid_keys_; // every key by_cid_ holds for us

  std::deque<Pending> blocked_;
  std::vector<uint8_t> close_packet_;
  ngtcp2_path_storage close_path_{};
  uint64_t packets_while_closing_ = 0;
  ngtcp2_tstamp period_end_ = 0; // end of the closing or draining period

  // Graceful stop: 0 running, 1 shutdown notice sent, 2 final GOAWAY sent.
  int goaway_phase_ = 0;
  ngtcp2_tstamp goaway_at_ = UINT64_MAX;
  // ngtcp2's expiry as update_timer last read it. Every call that moves it
  // is followed by a write, whose update_timer reads it again, so the timer
  // need not ask ngtcp2 (a walk of its timers) before handling it.
  ngtcp2_tstamp expiry_ = 0;
};

// ---------------------------------------------------------------------------
// Connection

QuicFrontend::Endpoint::Connection::Connection (Endpoint &ep) : ep_ (ep)
{
  ngtcp2_connection_close_error_default (&last_error_);
  ngtcp2_path_storage_zero (&close_path_);
}

QuicFrontend::Endpoint::Connection::~Connection ()
{
  // nghttp3 and ngtcp2 point into the requests' bodies: free them first.
  h3_.reset ();
  conn_.reset ();
  tls_.reset ();
  for (auto &[id, request] : requests_) {
    if (request->held && !request->answered) {
      auto cancel = std::move (request->cancel);
      release_hold (*request);
      if (cancel)
        cancel ();
    }
  }
  requests_.clear ();
  for (const CidKey &key : cid_keys_) {
    auto it = ep_.by_cid_.find (key);
    if (it != ep_.by_cid_.end () && it->second == this)
      ep_.by_cid_.erase (it);
  }
  auto &blocked = ep_.write_blocked_;
  blocked.erase (std::remove (blocked.begin (), blocked.end (), this), blocked.end ());
  set_timer (-1);
  for (auto &q : ep_.queued_)
    if (q.conn == this)
      q.conn = nullptr;
  --ep_.counters_.connections_now;
  if (budget_address)
    ep_.budget_->give_back (*budget_address);
  if (!handshake_completed_)
    ++ep_.counters_.handshake_failures;
}

bool
QuicFrontend::Endpoint::Connection::init (const Address &local, const Address &remote,
                                          const ngtcp2_pkt_hd &hd, const ngtcp2_cid *original_dcid)
{
  peer_ = describe (remote.sa ());

  // A fuzzing build may fail any of ours (util/fault_point.h).
  [[maybe_unused]] constexpr int kFail = NGTCP2_ERR_CALLBACK_FAILURE;
  ngtcp2_callbacks callbacks{};
  callbacks.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  callbacks.handshake_completed = MIRROR_FAULTY (on_handshake_completed, kFail);
  callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
  callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
  callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
  callbacks.recv_stream_data = MIRROR_FAULTY (on_recv_stream_data, kFail);
  callbacks.acked_stream_data_offset = MIRROR_FAULTY (on_acked_stream_data_offset, kFail);
  callbacks.stream_close = MIRROR_FAULTY (on_stream_close, kFail);
  callbacks.rand = on_rand;
  callbacks.get_new_connection_id = MIRROR_FAULTY (on_get_new_connection_id, kFail);
  callbacks.remove_connection_id = MIRROR_FAULTY (on_remove_connection_id, kFail);
  callbacks.update_key = ngtcp2_crypto_update_key_cb;
  callbacks.stream_reset = MIRROR_FAULTY (on_stream_reset, kFail);
  callbacks.extend_max_remote_streams_bidi
      = MIRROR_FAULTY (on_extend_max_remote_streams_bidi, kFail);
  callbacks.extend_max_stream_data = MIRROR_FAULTY (on_extend_max_stream_data, kFail);
  callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  callbacks.stream_stop_sending = MIRROR_FAULTY (on_stream_stop_sending, kFail);
  callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  callbacks.recv_tx_key = MIRROR_FAULTY (on_recv_tx_key, kFail);

  ngtcp2_cid scid;
  ep_.new_cid (&scid);

  const Limits &limits = ep_.limits_;
  ngtcp2_settings settings;
  ngtcp2_settings_default (&settings);
  settings.initial_ts = now_ns ();
  // Only a verified token gets here; it lifts the anti-amplification limit.
  settings.token = hd.token;
  settings.max_window = limits.max_data;
  settings.max_stream_window = limits.max_stream_data;

  ngtcp2_transport_params params;
  ngtcp2_transport_params_default (&params);
  params.initial_max_stream_data_bidi_local = limits.max_stream_data;
  params.initial_max_stream_data_bidi_remote = limits.max_stream_data;
  params.initial_max_stream_data_uni = limits.max_stream_data;
  params.initial_max_data = limits.max_data;
  params.initial_max_streams_bidi = limits.max_streams_bidi;
  params.initial_max_streams_uni = kMaxStreamsUni;
  params.max_idle_timeout = (ngtcp2_duration)limits.idle_timeout_ns;
  params.active_connection_id_limit = 7;
  params.stateless_reset_token_present = 1;
  if (ngtcp2_crypto_generate_stateless_reset_token (
          params.stateless_reset_token, ep_.reset_secret_.data (), ep_.reset_secret_.size (), &scid)
      != 0)
    return false;
  if (original_dcid) {
    params.original_dcid = *original_dcid;
    params.retry_scid = hd.dcid;
    params.retry_scid_present = 1;
  } else {
    params.original_dcid = hd.dcid;
  }

  ngtcp2_path path{ local.addr (), remote.addr (), nullptr };
  ngtcp2_conn *conn = nullptr;
  int rv = ngtcp2_conn_server_new (&conn, &hd.scid, &scid, &path, hd.version, &callbacks, &settings,
                                   &params, nullptr, this);
  if (rv != 0) {
    g_warning ("HTTP/3: new connection from %s: %s", peer_.c_str (), ngtcp2_strerror (rv));
    return false;
  }
  conn_.reset (conn);

  gnutls_session_t session = nullptr;
  rv = gnutls_init (&session,
                    GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET | GNUTLS_NO_END_OF_EARLY_DATA);
  if (rv != 0) {
    g_warning ("HTTP/3: TLS session for %s: %s", peer_.c_str (), gnutls_strerror (rv));
    return false;
  }
  tls_.reset (session);
  conn_ref_.get_conn = get_conn;
  conn_ref_.user_data = this;
  // ngtcp2's GnuTLS glue finds the connection through the session's pointer.
  gnutls_session_set_ptr (session, &conn_ref_);
  gnutls_datum_t alpn{ reinterpret_cast<unsigned char *> (const_cast<char *> ("h3")), 2 };
  if ((rv = gnutls_priority_set (session, ep_.priority_.get ())) != 0
      || (rv = ngtcp2_crypto_gnutls_configure_server_session (session)) != 0
      || (rv = gnutls_credentials_set (session, GNUTLS_CRD_CERTIFICATE, ep_.credentials_.get ()))
             != 0
      || (rv = gnutls_alpn_set_protocols (session, &alpn, 1,
                                          GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE))
             != 0) {
    g_warning ("HTTP/3: TLS session for %s: %s", peer_.c_str (), gnutls_strerror (rv));
    return false;
  }
  ngtcp2_conn_set_tls_native_handle (conn, session);

  ep_.associate (scid, this);
  // Until the client switches to our ID, its Initials still carry this one.
  ep_.associate (hd.dcid, this);
  return true;
}

void
QuicFrontend::Endpoint::Connection::on_datagram (const Address &local, const Address &remote,
                                                 uint32_t ecn, const uint8_t *data, size_t len)
{
  switch (state_) {
  case State::kClosing:
    // The peer did not get our CONNECTION_CLOSE: repeat it, ever more rarely.
    ++packets_while_closing_;
    if ((packets_while_closing_ & (packets_while_closing_ - 1)) == 0)
      ep_.queue (this, close_path_.path, 0, close_packet_.data (), close_packet_.size (),
                 close_packet_.size ());
    return;
  case State::kDraining:
  case State::kDoomed:
    return;
  case State::kOpen:
    break;
  }

  ngtcp2_path path{ local.addr (), remote.addr (), nullptr };
  ngtcp2_pkt_info pi{ ecn };
  int rv = ngtcp2_conn_read_pkt (conn_.get (), &path, &pi, data, len, now_ns ());
  switch (rv) {
  case 0:
    return;
  case NGTCP2_ERR_DISCARD_PKT:
    ++ep_.counters_.packets_dropped;
    return;
  case NGTCP2_ERR_DRAINING:
    start_draining ();
    return;
  case NGTCP2_ERR_DROP_CONN:
  case NGTCP2_ERR_RETRY:
    doom ();
    return;
  case NGTCP2_ERR_CRYPTO:
    if (!last_error_.error_code)
      ngtcp2_connection_close_error_set_transport_error_tls_alert (
          &last_error_, ngtcp2_conn_get_tls_alert (conn_.get ()), nullptr, 0);
    break;
  default:
    if (!last_error_.error_code)
      ngtcp2_connection_close_error_set_transport_error_liberr (&last_error_, rv, nullptr, 0);
    break;
  }
  g_debug ("HTTP/3: %s: %s, closing", peer_.c_str (), ngtcp2_strerror (rv));
  start_closing ();
}

void
QuicFrontend::Endpoint::Connection::write ()
{
  if (state_ == State::kOpen) {
    if (blocked_.empty ())
      write_streams ();
    close_if_drained ();
  }
  update_timer ();
}

void
QuicFrontend::Endpoint::Connection::on_writable ()
{
  while (!blocked_.empty ()) {
    Pending &p = blocked_.front ();
    size_t sent = ep_.send (p.path.path.local, p.path.path.remote, p.ecn, p.data.data (),
                            p.data.size (), p.gso_size);
    if (sent < p.data.size ()) {
      p.data.erase (p.data.begin (), p.data.begin () + (ptrdiff_t)sent);
      ep_.watch_writable (this);
      return;
    }
    blocked_.pop_front ();
  }
  write ();
}

void
QuicFrontend::Endpoint::Connection::write_streams ()
{
  ngtcp2_conn *conn = conn_.get ();
  ngtcp2_tstamp ts = now_ns ();
  size_t max_payload = ngtcp2_conn_get_max_tx_udp_payload_size (conn);
  size_t path_max_payload = ngtcp2_conn_get_path_max_tx_udp_payload_size (conn);
  size_t max_packets = std::clamp<size_t> (ngtcp2_conn_get_send_quantum (conn) / max_payload, 1,
                                           std::min (kMaxGsoSegments, kTxBufferSize / max_payload));
  uint8_t *buf = ep_.tx_.data ();
  uint8_t *pos = buf;
  size_t batch_packets = 0, total_packets = 0, gso_size = 0;
  uint32_t batch_ecn = 0;
  ngtcp2_path_storage ps, batch_ps;
  ngtcp2_path_storage_zero (&ps);
  ngtcp2_path_storage_zero (&batch_ps);
  ngtcp2_pkt_info pi{};

  auto fail_app = [this] (int64_t err) {
    ngtcp2_connection_close_error_set_application_error (
        &last_error_, nghttp3_err_infer_quic_app_error_code ((int)err), nullptr, 0);
    start_closing ();
  };

  for (;;) {
    int64_t stream_id = -1;
    int fin = 0;
    std::array<nghttp3_vec, 16> vec;
    nghttp3_ssize nvec = 0;
    if (h3_ && ngtcp2_conn_get_max_data_left (conn)) {
      nvec = nghttp3_conn_writev_stream (h3_.get (), &stream_id, &fin, vec.data (), vec.size ());
      if (nvec < 0) {
        g_debug ("HTTP/3: %s: nghttp3_conn_writev_stream: %s", peer_.c_str (),
                 nghttp3_strerror ((int)nvec));
        fail_app (nvec);
        return;
      }
    }

    ngtcp2_ssize accepted = -1;
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    ngtcp2_ssize n = ngtcp2_conn_writev_stream (
        conn, &ps.path, &pi, pos, max_payload, &accepted, flags, stream_id,
        reinterpret_cast<const ngtcp2_vec *> (vec.data ()), (size_t)nvec, ts);
    if (n < 0) {
      switch (n) {
      case NGTCP2_ERR_STREAM_DATA_BLOCKED:
        nghttp3_conn_block_stream (h3_.get (), stream_id);
        continue;
      case NGTCP2_ERR_STREAM_SHUT_WR:
        nghttp3_conn_shutdown_stream_write (h3_.get (), stream_id);
        continue;
      case NGTCP2_ERR_WRITE_MORE:
        if (int rv = nghttp3_conn_add_write_offset (h3_.get (), stream_id, (uint64_t)accepted);
            rv != 0) {
          fail_app (rv);
          return;
        }
        continue;
      default:
        g_debug ("HTTP/3: %s: ngtcp2_conn_writev_stream: %s", peer_.c_str (),
                 ngtcp2_strerror ((int)n));
        ngtcp2_connection_close_error_set_transport_error_liberr (&last_error_, (int)n, nullptr, 0);
        start_closing ();
        return;
      }
    }
    if (accepted >= 0) {
      if (int rv = nghttp3_conn_add_write_offset (h3_.get (), stream_id, (uint64_t)accepted);
          rv != 0) {
        fail_app (rv);
        return;
      }
    }

    if (n == 0) {
      // Nothing more to send now (congestion, pacing or nothing to say).
      if (batch_packets)
        ep_.queue (this, batch_ps.path, batch_ecn, buf, (size_t)(pos - buf), gso_size);
      pace (conn, ts);
      return;
    }

    // A GSO batch shares path and ECN, and every datagram but the last has
    // the first one's size. A PMTU probe (bigger than the path's size) goes
    // alone.
    bool joins = batch_packets > 0 && ngtcp2_path_eq (&batch_ps.path, &ps.path)
                 && batch_ecn == pi.ecn && (size_t)n <= gso_size
                 && !(gso_size > path_max_payload && (size_t)n != gso_size);
    if (batch_packets > 0 && !joins) {
      ep_.queue (this, batch_ps.path, batch_ecn, buf, (size_t)(pos - buf), gso_size);
      memmove (buf, pos, (size_t)n);
      pos = buf;
      batch_packets = 0;
    }
    if (batch_packets == 0) {
      ngtcp2_path_copy (&batch_ps.path, &ps.path);
      batch_ecn = pi.ecn;
      gso_size = (size_t)n;
    }
    pos += n;
    ++batch_packets;
    ++total_packets;

    bool quantum_spent = total_packets >= max_packets;
    if (quantum_spent || (size_t)n < gso_size || batch_packets >= max_packets) {
      ep_.queue (this, batch_ps.path, batch_ecn, buf, (size_t)(pos - buf), gso_size);
      pos = buf;
      batch_packets = 0;
      if (quantum_spent) {
        // The pacing timer (in the expiry) brings us back for the rest.
        pace (conn, ts);
        return;
      }
    }
  }
}

void
QuicFrontend::Endpoint::Connection::keep (const ngtcp2_path &path, uint32_t ecn,
                                          const uint8_t *data, size_t len, size_t gso_size)
{
  Pending &p = blocked_.emplace_back ();
  ngtcp2_path_storage_zero (&p.path);
  ngtcp2_path_copy (&p.path.path, &path);
  p.ecn = ecn;
  p.gso_size = gso_size;
  p.data.assign (data, data + len);
  ep_.watch_writable (this);
}

void
QuicFrontend::Endpoint::Connection::on_timer ()
{
  ngtcp2_tstamp now = now_ns ();
  switch (state_) {
  case State::kClosing:
  case State::kDraining:
    if (now >= period_end_)
      doom ();
    else
      update_timer ();
    return;
  case State::kDoomed:
    return;
  case State::kOpen:
    break;
  }

  if (goaway_phase_ == 1 && now >= goaway_at_) {
    // The notice had a few round trips to arrive: now the real GOAWAY, and
    // new streams are refused.
    nghttp3_conn_shutdown (h3_.get ());
    goaway_phase_ = 2;
    goaway_at_ = UINT64_MAX;
  }
  if (expiry_ <= now) {
    int rv = ngtcp2_conn_handle_expiry (conn_.get (), now);
    if (rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
      // Idle: the peer is gone or expects us to be; nothing to send.
      g_debug ("HTTP/3: %s: %s", peer_.c_str (), ngtcp2_strerror (rv));
      doom ();
      return;
    }
    if (rv != 0) {
      ngtcp2_connection_close_error_set_transport_error_liberr (&last_error_, rv, nullptr, 0);
      start_closing ();
      return;
    }
  }
  write ();
}

void
QuicFrontend::Endpoint::Connection::update_timer ()
{
  ngtcp2_tstamp at = UINT64_MAX;
  switch (state_) {
  case State::kOpen:
    expiry_ = ngtcp2_conn_get_expiry (conn_.get ());
    at = std::min (expiry_, goaway_at_);
    break;
  case State::kClosing:
  case State::kDraining:
    at = period_end_;
    break;
  case State::kDoomed:
    break;
  }
  if (at == UINT64_MAX) {
    set_timer (-1);
    return;
  }
  ngtcp2_tstamp now = now_ns ();
  // Rounded up (a timer that fires early would find nothing expired) to
  // the next whole millisecond, GLib's own resolution: the connections due
  // within one millisecond are served in one dispatch, and what they write
  // leaves in one sendmmsg.
  if (at <= now) {
    set_timer (0);
    return;
  }
  const gint64 due = g_get_monotonic_time () + (gint64)((at - now + 999) / 1000);
  set_timer ((due + 999) / 1000 * 1000);
}

void
QuicFrontend::Endpoint::Connection::schedule_write ()
{
  if (state_ == State::kOpen)
    set_timer (0);
}

void
QuicFrontend::Endpoint::Connection::start_closing ()
{
  if (state_ != State::kOpen)
    return;
  if (last_error_.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT_IDLE_CLOSE) {
    doom ();
    return;
  }
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero (&ps);
  ngtcp2_pkt_info pi{};
  close_packet_.resize (NGTCP2_MAX_UDP_PAYLOAD_SIZE);
  ngtcp2_ssize n
      = ngtcp2_conn_write_connection_close (conn_.get (), &ps.path, &pi, close_packet_.data (),
                                            close_packet_.size (), &last_error_, now_ns ());
  if (n <= 0) {
    // Nothing we could say (no keys yet): just forget it.
    doom ();
    return;
  }
  close_packet_.resize ((size_t)n);
  ngtcp2_path_copy (&close_path_.path, &ps.path);
  state_ = State::kClosing;
  // RFC 9000 10.2: stay around three PTOs to answer stragglers.
  period_end_ = now_ns () + 3 * ngtcp2_conn_get_pto (conn_.get ());
  ep_.queue (this, close_path_.path, 0, close_packet_.data (), close_packet_.size (),
             close_packet_.size ());
  update_timer ();
}

void
QuicFrontend::Endpoint::Connection::start_draining ()
{
  if (state_ != State::kOpen)
    return;
  state_ = State::kDraining;
  period_end_ = now_ns () + 3 * ngtcp2_conn_get_pto (conn_.get ());
  update_timer ();
}

void
QuicFrontend::Endpoint::Connection::doom ()
{
  if (state_ == State::kDoomed)
    return;
  state_ = State::kDoomed;
  set_timer (-1);
  ep_.doom (this);
}

void
QuicFrontend::Endpoint::Connection::goaway ()
{
  if (state_ != State::kOpen || goaway_phase_ != 0)
    return;
  if (!h3_) {
    // Still in the handshake: nothing to drain.
    ngtcp2_connection_close_error_set_transport_error (&last_error_, NGTCP2_NO_ERROR, nullptr, 0);
    start_closing ();
    return;
  }
  nghttp3_conn_submit_shutdown_notice (h3_.get ());
  goaway_phase_ = 1;
  goaway_at_ = now_ns () + 3 * ngtcp2_conn_get_pto (conn_.get ());
  schedule_write ();
}

void
QuicFrontend::Endpoint::Connection::close_if_drained ()
{
  if (goaway_phase_ == 2 && requests_.empty ()) {
    ngtcp2_connection_close_error_set_application_error (&last_error_, NGHTTP3_H3_NO_ERROR, nullptr,
                                                         0);
    start_closing ();
  }
}

void
QuicFrontend::Endpoint::Connection::close_now ()
{
  if (state_ == State::kOpen) {
    if (h3_)
      ngtcp2_connection_close_error_set_application_error (&last_error_, NGHTTP3_H3_NO_ERROR,
                                                           nullptr, 0);
    else
      ngtcp2_connection_close_error_set_transport_error (&last_error_, NGTCP2_NO_ERROR, nullptr, 0);
    start_closing (); // sends it once
  }
}

bool
QuicFrontend::Endpoint::Connection::setup_h3 ()
{
  if (h3_)
    return true;
  ngtcp2_conn *conn = conn_.get ();
  if (ngtcp2_conn_get_max_local_streams_uni (conn) < 3) {
    g_debug ("HTTP/3: %s allows fewer than 3 unidirectional streams", peer_.c_str ());
    return false;
  }
  [[maybe_unused]] constexpr int kFail = NGHTTP3_ERR_CALLBACK_FAILURE;
  nghttp3_callbacks callbacks{};
  callbacks.acked_stream_data = MIRROR_FAULTY (h3_acked_stream_data, kFail);
  callbacks.stream_close = MIRROR_FAULTY (h3_stream_close, kFail);
  callbacks.recv_data = MIRROR_FAULTY (h3_recv_data, kFail);
  callbacks.deferred_consume = MIRROR_FAULTY (h3_deferred_consume, kFail);
  callbacks.begin_headers = MIRROR_FAULTY (h3_begin_headers, kFail);
  callbacks.recv_header = MIRROR_FAULTY (h3_recv_header, kFail);
  callbacks.stop_sending = MIRROR_FAULTY (h3_stop_sending, kFail);
  callbacks.end_stream = MIRROR_FAULTY (h3_end_stream, kFail);
  callbacks.reset_stream = MIRROR_FAULTY (h3_reset_stream, kFail);
  nghttp3_settings settings;
  nghttp3_settings_default (&settings);
  settings.max_field_section_size = kMaxRequestHeaderBytes;
  // Requests' fields as static references and literals too: a client
  // allowed our decoder's table (Chromium, nghttp3) refers to it in every
  // request, and each such request costs an acknowledgement on our decoder
  // stream, an ack-eliciting packet of two bytes that the client must then
  // acknowledge (a third of a live viewer's datagrams to us per part), to
  // save it some tens of bytes a request.
  settings.qpack_max_dtable_capacity = 0;
  settings.qpack_blocked_streams = 0;
  // Our answers' fields go as static references and literals, not into
  // the QPACK dynamic table: a field section that refers to the table must
  // be acknowledged on the client's decoder stream, a packet for it to send
  // and for us to read and acknowledge per answer, for a saving of some
  // tens of bytes. 35.1-37.7 us per request at 1000 viewers against
  // 39.2-43.4 with the table (same box, alternate runs).
  settings.qpack_encoder_max_dtable_capacity = 0;

  nghttp3_conn *h3 = nullptr;
  if (nghttp3_conn_server_new (&h3, &callbacks, &settings, nghttp3_mem_default (), this) != 0)
    return false;
  h3_.reset (h3);
  const ngtcp2_transport_params *params = ngtcp2_conn_get_local_transport_params (conn);
  nghttp3_conn_set_max_client_streams_bidi (h3, params->initial_max_streams_bidi);

  int64_t control = -1, qpack_encoder = -1, qpack_decoder = -1;
  if (ngtcp2_conn_open_uni_stream (conn, &control, nullptr) != 0
      || nghttp3_conn_bind_control_stream (h3, control) != 0
      || ngtcp2_conn_open_uni_stream (conn, &qpack_encoder, nullptr) != 0
      || ngtcp2_conn_open_uni_stream (conn, &qpack_decoder, nullptr) != 0
      || nghttp3_conn_bind_qpack_streams (h3, qpack_encoder, qpack_decoder) != 0)
    return false;
  return true;
}

std::shared_ptr<QuicFrontend::Endpoint::Request>
QuicFrontend::Endpoint::Connection::find (int64_t stream_id)
{
  auto it = requests_.find (stream_id);
  return it == requests_.end () ? nullptr : it->second;
}

void
QuicFrontend::Endpoint::Connection::dispatch (const std::shared_ptr<Request> &request)
{
  Request &r = *request;
  r.dispatched = true;
  ++ep_.counters_.streams_total;

  OriginRequest origin_request;
  origin_request.method = r.method;
  origin_request.range = r.range;
  size_t q = r.path.find ('?');
  origin_request.path = r.path.substr (0, q);
  if (q != std::string::npos)
    origin_request.query = r.path.substr (q + 1);
  if (origin_request.method.empty () || origin_request.path.empty ()) {
    answer (r, OriginResponse::text (400, "bad request\n"));
    return;
  }
  origin_request.protocol = OriginProtocol::kHttp3;
  origin_request.client = reinterpret_cast<uintptr_t> (this);

  // The closure may run after the stream or the whole connection is gone:
  // the weak pointer says so (the connection owns its requests).
  std::weak_ptr<Request> weak = request;
  Connection *self = this;
  std::function<void ()> cancel;
  try {
    cancel = ep_.handler_.handle (origin_request, [weak, self] (OriginResponse response) {
      if (auto r = weak.lock (); r && !r->answered)
        self->answer (*r, std::move (response));
    });
  } catch (const std::exception &e) {
    g_warning ("HTTP/3: %s %s from %s: %s", origin_request.method.c_str (),
               origin_request.path.c_str (), peer_.c_str (), e.what ());
    if (!r.answered)
      answer (r, OriginResponse::text (500, "internal error\n"));
    return;
  }
  if (r.answered)
    return;

  if (held_ >= ep_.limits_.max_held_per_connection) {
    // One connection may not tie up more of the handler than this.
    if (cancel)
      cancel ();
    answer (r, OriginResponse::text (503, "too many waiting requests on this connection\n"));
    return;
  }
  r.cancel = std::move (cancel);
  r.held = true;
  ++held_;
  ++ep_.counters_.held_now;
}

void
QuicFrontend::Endpoint::Connection::release_hold (Request &r)
{
  if (!r.held)
    return;
  r.held = false;
  --held_;
  --ep_.counters_.held_now;
}

void
QuicFrontend::Endpoint::Connection::answer (Request &r, OriginResponse response)
{
  r.answered = true;
  r.cancel = nullptr;
  release_hold (r);
  if (state_ != State::kOpen || !h3_)
    return;

  bool head = r.method == "HEAD";
  bool bodyless_status = (response.status >= 100 && response.status < 200) || response.status == 204
                         || response.status == 304;
  std::string status = std::to_string (response.status);
  std::string length = std::to_string (response.body_size ());
  static const std::string kStatus = ":status", kContentType = "content-type",
                           kCacheControl = "cache-control", kContentLength = "content-length";

  // Reserved up front: the nv entries point into these strings.
  std::vector<std::string> names;
  names.reserve (response.headers.size ());
  std::vector<nghttp3_nv> nva;
  nva.reserve (4 + response.headers.size () + (response.common ? response.common->size () : 0));
  nva.push_back (make_nv (kStatus, status));
  if (!response.content_type.empty ())
    nva.push_back (make_nv (kContentType, response.content_type));
  if (!response.cache_control.empty ())
    nva.push_back (make_nv (kCacheControl, response.cache_control));
  if (!bodyless_status)
    nva.push_back (make_nv (kContentLength, length));
  for (const auto &[name, value] : response.headers) {
    // HTTP/3 field names are lowercase (RFC 9114 4.2); peers reject others.
    std::string lower = lowercase (name);
    if (lower.empty () || lower[0] == ':' || forbidden_in_h3 (lower))
      continue;
    names.push_back (std::move (lower));
    nva.push_back (make_nv (names.back (), value));
  }
  if (response.common)
    for (const CommonField &f : *response.common)
      if (f.http3)
        nva.push_back (make_nv (f.lower, f.value));

  nghttp3_data_reader reader{ h3_read_data };
  bool has_body = !head && !bodyless_status && response.body_size () > 0;
  if (has_body) {
    r.body = std::move (response.body);
    std::erase_if (r.body, [] (const Bytes &b) { return b.empty (); });
  }
  int rv = nghttp3_conn_submit_response (h3_.get (), r.id, nva.data (), nva.size (),
                                         has_body ? &reader : nullptr);
  if (rv != 0) {
    g_debug ("HTTP/3: %s stream %" G_GINT64_FORMAT ": nghttp3_conn_submit_response: %s",
             peer_.c_str (), r.id, nghttp3_strerror (rv));
    r.body.clear ();
    r.acked = r.sent = 0;
    ngtcp2_conn_shutdown_stream (conn_.get (), r.id, NGHTTP3_H3_INTERNAL_ERROR);
  }
  schedule_write ();
}

void
QuicFrontend::Endpoint::Connection::give_up (int64_t stream_id)
{
  // The client cancelled (RESET_STREAM or STOP_SENDING) a request that is
  // still held: stop waiting now rather than when the stream finally closes.
  auto r = find (stream_id);
  if (!r || !r->held || r->answered)
    return;
  auto cancel = std::move (r->cancel);
  r->answered = true;
  release_hold (*r);
  if (cancel)
    cancel ();
  ngtcp2_conn_shutdown_stream_write (conn_.get (), stream_id, NGHTTP3_H3_REQUEST_CANCELLED);
}

void
QuicFrontend::Endpoint::Connection::forget (int64_t stream_id)
{
  auto it = requests_.find (stream_id);
  if (it == requests_.end ())
    return;
  std::shared_ptr<Request> r = std::move (it->second);
  requests_.erase (it);
  if (r->held && !r->answered) {
    auto cancel = std::move (r->cancel);
    release_hold (*r);
    if (cancel)
      cancel ();
  }
}

// ngtcp2 callbacks -----------------------------------------------------------

ngtcp2_conn *
QuicFrontend::Endpoint::Connection::get_conn (ngtcp2_crypto_conn_ref *ref)
{
  return static_cast<Connection *> (ref->user_data)->conn_.get ();
}

void
QuicFrontend::Endpoint::Connection::on_rand (uint8_t *dest, size_t len, const ngtcp2_rand_ctx *)
{
  random_bytes (dest, len);
}

int
QuicFrontend::Endpoint::Connection::on_get_new_connection_id (ngtcp2_conn *, ngtcp2_cid *cid,
                                                              uint8_t *token, size_t cidlen,
                                                              void *user_data)
{
  auto *self = static_cast<Connection *> (user_data);
  if (cidlen == kScidLen) {
    self->ep_.new_cid (cid);
  } else {
    cid->datalen = cidlen;
    random_bytes (cid->data, cidlen);
  }
  if (ngtcp2_crypto_generate_stateless_reset_token (token, self->ep_.reset_secret_.data (),
                                                    self->ep_.reset_secret_.size (), cid)
      != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  self->ep_.associate (*cid, self);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_remove_connection_id (ngtcp2_conn *, const ngtcp2_cid *cid,
                                                             void *user_data)
{
  auto *self = static_cast<Connection *> (user_data);
  CidKey key = cid_key (*cid);
  auto &keys = self->cid_keys_;
  keys.erase (std::remove (keys.begin (), keys.end (), key), keys.end ());
  self->ep_.dissociate (*cid);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_handshake_completed (ngtcp2_conn *conn, void *user_data)
{
  auto *self = static_cast<Connection *> (user_data);
  self->handshake_completed_ = true;
  // A token for the next connection from this address, so it skips Retry.
  std::array<uint8_t, NGTCP2_CRYPTO_MAX_REGULAR_TOKENLEN> token;
  const ngtcp2_path *path = ngtcp2_conn_get_path (conn);
  ngtcp2_ssize n = ngtcp2_crypto_generate_regular_token (
      token.data (), self->ep_.token_secret_.data (), self->ep_.token_secret_.size (),
      path->remote.addr, path->remote.addrlen, now_ns ());
  if (n > 0)
    ngtcp2_conn_submit_new_token (conn, token.data (), (size_t)n);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_recv_tx_key (ngtcp2_conn *, ngtcp2_crypto_level level,
                                                    void *user_data)
{
  if (level != NGTCP2_CRYPTO_LEVEL_APPLICATION)
    return 0;
  auto *self = static_cast<Connection *> (user_data);
  if (!self->setup_h3 ())
    return NGTCP2_ERR_CALLBACK_FAILURE;
  if (self->ep_.shutting_down_)
    self->goaway ();
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_recv_stream_data (ngtcp2_conn *conn, uint32_t flags,
                                                         int64_t stream_id, uint64_t,
                                                         const uint8_t *data, size_t len,
                                                         void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  if (!self->h3_)
    return 0;
  nghttp3_ssize consumed = nghttp3_conn_read_stream (self->h3_.get (), stream_id, data, len,
                                                     flags & NGTCP2_STREAM_DATA_FLAG_FIN);
  if (consumed < 0) {
    g_debug ("HTTP/3: %s: nghttp3_conn_read_stream: %s", self->peer_.c_str (),
             nghttp3_strerror ((int)consumed));
    ngtcp2_connection_close_error_set_application_error (
        &self->last_error_, nghttp3_err_infer_quic_app_error_code ((int)consumed), nullptr, 0);
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  ngtcp2_conn_extend_max_stream_offset (conn, stream_id, (uint64_t)consumed);
  ngtcp2_conn_extend_max_offset (conn, (uint64_t)consumed);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_acked_stream_data_offset (ngtcp2_conn *, int64_t stream_id,
                                                                 uint64_t, uint64_t len,
                                                                 void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  if (self->h3_ && nghttp3_conn_add_ack_offset (self->h3_.get (), stream_id, len) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_stream_close (ngtcp2_conn *conn, uint32_t flags,
                                                     int64_t stream_id, uint64_t app_error_code,
                                                     void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET))
    app_error_code = NGHTTP3_H3_NO_ERROR;
  if (self->h3_) {
    int rv = nghttp3_conn_close_stream (self->h3_.get (), stream_id, app_error_code);
    if (rv == NGHTTP3_ERR_STREAM_NOT_FOUND) {
      // nghttp3 never saw it (h3_stream_close does this otherwise).
      self->forget (stream_id);
      if (ngtcp2_is_bidi_stream (stream_id) && !ngtcp2_conn_is_local_stream (conn, stream_id))
        self->credit_stream ();
    } else if (rv != 0) {
      ngtcp2_connection_close_error_set_application_error (
          &self->last_error_, nghttp3_err_infer_quic_app_error_code (rv), nullptr, 0);
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
  }
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_stream_reset (ngtcp2_conn *, int64_t stream_id, uint64_t,
                                                     uint64_t, void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  if (self->h3_ && nghttp3_conn_shutdown_stream_read (self->h3_.get (), stream_id) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  self->give_up (stream_id);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_stream_stop_sending (ngtcp2_conn *, int64_t stream_id,
                                                            uint64_t, void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  if (self->h3_ && nghttp3_conn_shutdown_stream_read (self->h3_.get (), stream_id) != 0)
    return NGTCP2_ERR_CALLBACK_FAILURE;
  self->give_up (stream_id);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_extend_max_remote_streams_bidi (ngtcp2_conn *,
                                                                       uint64_t max_streams,
                                                                       void *user_data)
{
  auto *self = static_cast<Connection *> (user_data);
  if (self->h3_)
    nghttp3_conn_set_max_client_streams_bidi (self->h3_.get (), max_streams);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::on_extend_max_stream_data (ngtcp2_conn *, int64_t stream_id,
                                                               uint64_t, void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  if (self->h3_) {
    int rv = nghttp3_conn_unblock_stream (self->h3_.get (), stream_id);
    if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND)
      return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

// nghttp3 callbacks ----------------------------------------------------------

int
QuicFrontend::Endpoint::Connection::h3_acked_stream_data (nghttp3_conn *, int64_t, uint64_t len,
                                                          void *, void *stream_user_data)
{
  auto *r = static_cast<Request *> (stream_user_data);
  if (!r)
    return 0;
  // The peer has these bytes: the buffers they came from may go.
  while (len > 0 && r->acked < r->sent) {
    size_t left = r->body[r->acked].size () - r->front_acked;
    if (len >= left) {
      len -= left;
      r->body[r->acked++] = Bytes ();
      r->front_acked = 0;
    } else {
      r->front_acked += (size_t)len;
      len = 0;
    }
  }
  return 0;
}

int
QuicFrontend::Endpoint::Connection::h3_stream_close (nghttp3_conn *, int64_t stream_id, uint64_t,
                                                     void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  self->forget (stream_id);
  ngtcp2_conn *conn = self->conn_.get ();
  if (ngtcp2_is_bidi_stream (stream_id) && !ngtcp2_conn_is_local_stream (conn, stream_id))
    self->credit_stream ();
  return 0;
}

void
QuicFrontend::Endpoint::Connection::credit_stream ()
{
  // A MAX_STREAMS frame for every stream closed was a packet of its own for
  // most rounds of a live viewer (its two requests' streams close on the
  // ACK of their answers, when we have nothing else to send), and another
  // for the viewer to acknowledge. In halves of the limit instead, as
  // quiche does: the client may always have more than half of
  // max_streams_bidi open at once, and one round in tens carries the frame.
  const uint64_t step = std::max<uint64_t> (1, ep_.limits_.max_streams_bidi / 2);
  if (++closed_uncredited_ >= step) {
    ngtcp2_conn_extend_max_streams_bidi (conn_.get (), closed_uncredited_);
    closed_uncredited_ = 0;
  }
}

int
QuicFrontend::Endpoint::Connection::h3_recv_data (nghttp3_conn *, int64_t stream_id,
                                                  const uint8_t *, size_t len, void *user_data,
                                                  void *)
{
  // Request bodies mean nothing to the Origin; give the credit back.
  auto *self = static_cast<Connection *> (user_data);
  ngtcp2_conn_extend_max_stream_offset (self->conn_.get (), stream_id, len);
  ngtcp2_conn_extend_max_offset (self->conn_.get (), len);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::h3_deferred_consume (nghttp3_conn *, int64_t stream_id,
                                                         size_t consumed, void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  ngtcp2_conn_extend_max_stream_offset (self->conn_.get (), stream_id, consumed);
  ngtcp2_conn_extend_max_offset (self->conn_.get (), consumed);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::h3_begin_headers (nghttp3_conn *h3, int64_t stream_id,
                                                      void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  auto &slot = self->requests_[stream_id];
  if (!slot) {
    slot = std::make_shared<Request> ();
    slot->id = stream_id;
  }
  nghttp3_conn_set_stream_user_data (h3, stream_id, slot.get ());
  return 0;
}

int
QuicFrontend::Endpoint::Connection::h3_recv_header (nghttp3_conn *, int64_t, int32_t token,
                                                    nghttp3_rcbuf *, nghttp3_rcbuf *value, uint8_t,
                                                    void *, void *stream_user_data)
{
  auto *r = static_cast<Request *> (stream_user_data);
  if (!r)
    return 0;
  nghttp3_vec v = nghttp3_rcbuf_get_buf (value);
  switch (token) {
  case NGHTTP3_QPACK_TOKEN__PATH:
    r->path.assign (reinterpret_cast<const char *> (v.base), v.len);
    break;
  case NGHTTP3_QPACK_TOKEN__METHOD:
    r->method.assign (reinterpret_cast<const char *> (v.base), v.len);
    break;
  case NGHTTP3_QPACK_TOKEN_RANGE:
    r->range.assign (reinterpret_cast<const char *> (v.base), std::min<size_t> (v.len, 256));
    break;
  default:
    break;
  }
  return 0;
}

int
QuicFrontend::Endpoint::Connection::h3_end_stream (nghttp3_conn *, int64_t stream_id,
                                                   void *user_data, void *)
{
  auto *self = static_cast<Connection *> (user_data);
  auto r = self->find (stream_id);
  if (r && !r->dispatched)
    self->dispatch (r);
  return 0;
}

int
QuicFrontend::Endpoint::Connection::h3_stop_sending (nghttp3_conn *, int64_t stream_id,
                                                     uint64_t app_error_code, void *user_data,
                                                     void *)
{
  auto *self = static_cast<Connection *> (user_data);
  int rv = ngtcp2_conn_shutdown_stream_read (self->conn_.get (), stream_id, app_error_code);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

int
QuicFrontend::Endpoint::Connection::h3_reset_stream (nghttp3_conn *, int64_t stream_id,
                                                     uint64_t app_error_code, void *user_data,
                                                     void *)
{
  auto *self = static_cast<Connection *> (user_data);
  int rv = ngtcp2_conn_shutdown_stream_write (self->conn_.get (), stream_id, app_error_code);
  return rv == 0 || rv == NGTCP2_ERR_STREAM_NOT_FOUND ? 0 : NGHTTP3_ERR_CALLBACK_FAILURE;
}

nghttp3_ssize
QuicFrontend::Endpoint::Connection::h3_read_data (nghttp3_conn *, int64_t, nghttp3_vec *vec,
                                                  size_t veccnt, uint32_t *pflags, void *,
                                                  void *stream_user_data)
{
  auto *r = static_cast<Request *> (stream_user_data);
  size_t n = 0;
  // Hand out the store's own buffers; they stay in body until the peer
  // has them.
  while (r && n < veccnt && !r->all_sent ()) {
    const Bytes &b = r->body[r->sent++];
    vec[n].base = const_cast<uint8_t *> (b.data ());
    vec[n].len = b.size ();
    ++n;
  }
  if (!r || r->all_sent ())
    *pflags |= NGHTTP3_DATA_FLAG_EOF;
  return (nghttp3_ssize)n;
}

// ---------------------------------------------------------------------------
// Endpoint

QuicFrontend::Endpoint::Endpoint (OriginHandler &handler, const TlsIdentity &identity,
                                  const Limits &limits, std::shared_ptr<QuicWorkerGroup> group,
                                  unsigned worker, std::shared_ptr<ConnectionBudget> budget)
    : handler_ (handler), identity_ (identity), limits_ (limits), group_ (std::move (group)),
      budget_ (budget ? std::move (budget)
                      : std::make_shared<ConnectionBudget> (limits.max_connections,
                                                            limits.max_per_address)),
      shared_ (group_ ? group_->shared_.get () : nullptr), worker_ (worker),
      rx_ (kRxBufferSize * kRecvBatch), tx_ (kTxBufferSize)
{
  if (shared_)
    token_secret_ = shared_->token_secret;
  else
    random_bytes (token_secret_.data (), token_secret_.size ());
  static const char kLabel[] = "mirror/quic/stateless-reset";
  if (identity_.key_pem.empty ()
      || gnutls_hmac_fast (GNUTLS_MAC_SHA256, identity_.key_pem.data (), identity_.key_pem.size (),
                           kLabel, sizeof kLabel - 1, reset_secret_.data ())
             != 0) {
    if (shared_)
      reset_secret_ = shared_->reset_secret;
    else
      random_bytes (reset_secret_.data (), reset_secret_.size ());
  }
}

QuicFrontend::Endpoint::~Endpoint ()
{
  // First of all: no other worker hands us anything from now on.
  leave_group ();
  shutting_down_ = true;
  for (auto &[raw, conn] : connections_)
    conn->close_now ();
  flush_queue ();
  doomed_.clear ();
  connections_.clear ();
  // Each base is its struct's first member: a null source is a null GSource.
  for (GSource *source :
       { reinterpret_cast<GSource *> (socket_source_), reinterpret_cast<GSource *> (inbox_source_),
         reinterpret_cast<GSource *> (timer_source_) }) {
    if (source) {
      g_source_destroy (source);
      g_source_unref (source);
    }
  }
  if (fd_ >= 0)
    close (fd_);
  if (context_)
    g_main_context_unref (context_);
}

bool
QuicFrontend::Endpoint::setup_tls (std::string *error)
{
  gnutls_certificate_credentials_t creds = nullptr;
  int rv = gnutls_certificate_allocate_credentials (&creds);
  if (rv != 0) {
    *error = std::string ("HTTP/3 TLS credentials: ") + gnutls_strerror (rv);
    return false;
  }
  credentials_.reset (creds);
  gnutls_datum_t cert{ reinterpret_cast<unsigned char *> (identity_.cert_pem.data ()),
                       (unsigned)identity_.cert_pem.size () };
  gnutls_datum_t key{ reinterpret_cast<unsigned char *> (identity_.key_pem.data ()),
                      (unsigned)identity_.key_pem.size () };
  rv = gnutls_certificate_set_x509_key_mem2 (creds, &cert, &key, GNUTLS_X509_FMT_PEM, nullptr, 0);
  if (rv < 0) {
    *error = "HTTP/3 TLS certificate " + identity_.cert_file + " / key " + identity_.key_file + ": "
             + gnutls_strerror (rv);
    return false;
  }
  gnutls_priority_t priority = nullptr;
  const char *where = nullptr;
  rv = gnutls_priority_init (&priority, kTlsPriority, &where);
  if (rv != 0) {
    *error = std::string ("HTTP/3 TLS priority (at \"") + (where ? where : "")
             + "\"): " + gnutls_strerror (rv);
    return false;
  }
  priority_.reset (priority);
  return true;
}

bool
QuicFrontend::Endpoint::join_group (uint16_t *port, std::string *error)
{
  if (worker_ >= shared_->workers) {
    *error = "HTTP/3 worker " + std::to_string (worker_) + ": the group has only "
             + std::to_string (shared_->workers) + " workers";
    return false;
  }
  QuicWorkerGroup::Shared::Inbox &inbox = shared_->inboxes[worker_];
  if (inbox.claimed) {
    *error = "HTTP/3 worker " + std::to_string (worker_) + " of the group is already listening";
    return false;
  }
  if (inbox.fds[0] < 0) {
    *error = "HTTP/3 worker " + std::to_string (worker_)
             + ": inbox: socketpair: " + g_strerror (inbox.error);
    return false;
  }
  if (*port == 0)
    *port = shared_->port;
  return true;
}

void
QuicFrontend::Endpoint::leave_group ()
{
  if (!in_group_)
    return;
  std::lock_guard<std::mutex> lock (shared_->mutex);
  QuicWorkerGroup::Shared::Inbox &inbox = shared_->inboxes[worker_];
  inbox.listening.store (false, std::memory_order_release);
  inbox.claimed = false;
  in_group_ = false;
}

bool
QuicFrontend::Endpoint::listen (const std::string &bind_address, uint16_t port, std::string *error)
{
  if (!setup_tls (error))
    return false;
  // One listen of a group at a time: the first one's port is the others'.
  std::unique_lock<std::mutex> group_lock;
  if (shared_) {
    group_lock = std::unique_lock<std::mutex> (shared_->mutex);
    if (!join_group (&port, error))
      return false;
  }

  Address addr;
  auto *in = reinterpret_cast<sockaddr_in *> (&addr.storage);
  auto *in6 = reinterpret_cast<sockaddr_in6 *> (&addr.storage);
  if (inet_pton (AF_INET, bind_address.c_str (), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons (port);
    addr.len = sizeof (sockaddr_in);
    bound_to_any_ = in->sin_addr.s_addr == htonl (INADDR_ANY);
  } else if (inet_pton (AF_INET6, bind_address.c_str (), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons (port);
    addr.len = sizeof (sockaddr_in6);
    bound_to_any_ = IN6_IS_ADDR_UNSPECIFIED (&in6->sin6_addr);
  } else {
    *error = "server.bind_address " + bind_address + ": not an IP address";
    return false;
  }
  family_ = addr.storage.ss_family;
  std::string where = "HTTP/3 listener on UDP " + describe (addr.sa ());

  fd_ = socket (family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    *error = where + ": socket: " + g_strerror (errno);
    return false;
  }
  int on = 1, off = 0;
  if (family_ == AF_INET6) {
    // Dual stack like the TCP listener on "::"; IPv4 peers appear mapped.
    setsockopt (fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    setsockopt (fd_, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    setsockopt (fd_, IPPROTO_IPV6, IPV6_RECVTCLASS, &on, sizeof on);
    int pmtu = IPV6_PMTUDISC_DO;
    setsockopt (fd_, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
  } else {
    setsockopt (fd_, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
    int pmtu = IP_PMTUDISC_DO; // no fragments: ngtcp2 probes the path MTU itself
    setsockopt (fd_, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  }
  // ECN marks of received packets (IPv4 ones on a dual-stack socket too).
  setsockopt (fd_, IPPROTO_IP, IP_RECVTOS, &on, sizeof on);
  // The group's workers share the port; the kernel spreads the peers.
  if (shared_ && setsockopt (fd_, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
    *error = where + ": SO_REUSEPORT: " + g_strerror (errno);
    return false;
  }
  int buffer = 4 * 1024 * 1024; // bursts from many viewers; capped by net.core.*mem_max
  setsockopt (fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  setsockopt (fd_, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  if (bind (fd_, addr.sa (), addr.len) != 0) {
    *error = where + ": " + g_strerror (errno);
    return false;
  }
#ifdef UDP_SEGMENT
  int segment = 0;
  socklen_t segment_len = sizeof segment;
  gso_ = getsockopt (fd_, SOL_UDP, UDP_SEGMENT, &segment, &segment_len) == 0;
#endif
  local_.len = sizeof local_.storage;
  if (getsockname (fd_, local_.sa (), &local_.len) != 0) {
    *error = where + ": getsockname: " + g_strerror (errno);
    return false;
  }
  port_ = ntohs (family_ == AF_INET
                     ? reinterpret_cast<const sockaddr_in *> (&local_.storage)->sin_port
                     : reinterpret_cast<const sockaddr_in6 *> (&local_.storage)->sin6_port);

  context_ = g_main_context_ref_thread_default ();
  static GSourceFuncs funcs = { nullptr, nullptr, socket_dispatch, nullptr, nullptr, nullptr };
  socket_source_ = reinterpret_cast<SocketSource *> (g_source_new (&funcs, sizeof (SocketSource)));
  socket_source_->endpoint = this;
  socket_source_->tag
      = g_source_add_unix_fd (&socket_source_->base, fd_, (GIOCondition)(G_IO_IN | G_IO_ERR));
  g_source_set_static_name (&socket_source_->base, "mirror-quic-socket");
  // Not blocked while dispatched: GLib would take the fd out of the poll
  // set and put it back, waking the context through its eventfd each time
  // (two writes, a read and one more poll per dispatch). No dispatch here
  // iterates the context, so nothing recurses.
  g_source_set_can_recurse (&socket_source_->base, TRUE);
  g_source_attach (&socket_source_->base, context_);

  static GSourceFuncs timer_funcs
      = { timers_prepare, timers_check, timers_dispatch, nullptr, nullptr, nullptr };
  timer_source_
      = reinterpret_cast<TimerSource *> (g_source_new (&timer_funcs, sizeof (TimerSource)));
  timer_source_->endpoint = this;
  g_source_set_static_name (&timer_source_->base, "mirror-quic-timers");
  g_source_attach (&timer_source_->base, context_);

  if (shared_) {
    if (shared_->port == 0)
      shared_->port = port_;
    QuicWorkerGroup::Shared::Inbox &inbox = shared_->inboxes[worker_];
    // What a former front end of this index left unread is stale.
    while (recv (inbox.fds[0], rx_.data (), rx_.size (), MSG_DONTWAIT) >= 0 || errno == EINTR)
      ;
    static GSourceFuncs inbox_funcs
        = { nullptr, nullptr, inbox_dispatch, nullptr, nullptr, nullptr };
    inbox_source_
        = reinterpret_cast<SocketSource *> (g_source_new (&inbox_funcs, sizeof (SocketSource)));
    inbox_source_->endpoint = this;
    inbox_source_->tag = g_source_add_unix_fd (&inbox_source_->base, inbox.fds[0], G_IO_IN);
    g_source_set_static_name (&inbox_source_->base, "mirror-quic-inbox");
    g_source_set_can_recurse (&inbox_source_->base, TRUE); // as the socket's
    g_source_attach (&inbox_source_->base, context_);
    inbox.claimed = true;
    inbox.listening.store (true, std::memory_order_release);
    in_group_ = true;
  }
  return true;
}

QuicFrontend::Stats
QuicFrontend::Endpoint::stats () const
{
  Stats s;
  s.connections_now = counters_.connections_now;
  s.connections_total = counters_.connections_total;
  s.handshake_failures = counters_.handshake_failures;
  s.streams_total = counters_.streams_total;
  s.bytes_sent = counters_.bytes_sent;
  s.bytes_received = counters_.bytes_received;
  s.held_now = counters_.held_now;
  s.retries_sent = counters_.retries_sent;
  s.stateless_resets_sent = counters_.stateless_resets_sent;
  s.packets_dropped = counters_.packets_dropped;
  s.forwarded_out = counters_.forwarded_out;
  s.forwarded_in = counters_.forwarded_in;
  s.forward_dropped = counters_.forward_dropped;
  s.refused = counters_.refused;
  s.refused_per_address = counters_.refused_per_address;
  return s;
}

void
QuicFrontend::Endpoint::shutdown ()
{
  shutting_down_ = true;
  for (auto &[raw, conn] : connections_)
    conn->goaway ();
  reap ();
}

gboolean
QuicFrontend::Endpoint::socket_dispatch (GSource *source, GSourceFunc, gpointer)
{
  auto *s = reinterpret_cast<SocketSource *> (source);
  Endpoint *ep = s->endpoint;
  GIOCondition revents = g_source_query_unix_fd (source, s->tag);
  if (revents & G_IO_OUT)
    ep->on_writable ();
  if (revents & (G_IO_IN | G_IO_ERR))
    ep->read_datagrams ();
  ep->reap ();
  return G_SOURCE_CONTINUE;
}

gboolean
QuicFrontend::Endpoint::inbox_dispatch (GSource *source, GSourceFunc, gpointer)
{
  Endpoint *ep = reinterpret_cast<SocketSource *> (source)->endpoint;
  ep->read_inbox ();
  ep->reap ();
  return G_SOURCE_CONTINUE;
}

gboolean
QuicFrontend::Endpoint::timers_prepare (GSource *source, gint *timeout)
{
  const Endpoint *ep = reinterpret_cast<TimerSource *> (source)->endpoint;
  if (ep->timers_.empty ()) {
    *timeout = -1;
    return FALSE;
  }
  const gint64 due = ep->timers_.front ()->due_us_;
  const gint64 now = g_source_get_time (source);
  if (due <= now) {
    *timeout = 0;
    return TRUE;
  }
  // Rounded up, as GLib rounds a ready time.
  *timeout = (gint)std::min<gint64> ((due - now + 999) / 1000, G_MAXINT);
  return FALSE;
}

gboolean
QuicFrontend::Endpoint::timers_check (GSource *source)
{
  const Endpoint *ep = reinterpret_cast<TimerSource *> (source)->endpoint;
  return !ep->timers_.empty () && ep->timers_.front ()->due_us_ <= g_source_get_time (source);
}

gboolean
QuicFrontend::Endpoint::timers_dispatch (GSource *source, GSourceFunc, gpointer)
{
  Endpoint *ep = reinterpret_cast<TimerSource *> (source)->endpoint;
  const gint64 now = g_source_get_time (source);
  // Taken off the heap first: a connection's on_timer sets its next time.
  // None is deleted before reap (), so the list stays valid.
  std::vector<Connection *> &due = ep->due_;
  due.clear ();
  while (!ep->timers_.empty () && ep->timers_.front ()->due_us_ <= now) {
    Connection *conn = ep->timers_.front ();
    ep->set_timer (conn, -1);
    due.push_back (conn);
  }
  for (Connection *conn : due)
    conn->on_timer ();
  due.clear ();
  ep->reap ();
  return G_SOURCE_CONTINUE;
}

void
QuicFrontend::Endpoint::set_timer (Connection *conn, gint64 due_us)
{
  if (due_us < 0) {
    if (conn->timer_slot_ != Connection::kNoSlot)
      timer_remove (conn->timer_slot_);
    conn->due_us_ = -1;
    return;
  }
  if (conn->timer_slot_ == Connection::kNoSlot) {
    conn->due_us_ = due_us;
    conn->timer_slot_ = timers_.size ();
    timers_.push_back (conn);
    timer_up (conn->timer_slot_);
    return;
  }
  const gint64 was = conn->due_us_;
  conn->due_us_ = due_us;
  if (due_us < was)
    timer_up (conn->timer_slot_);
  else if (due_us > was)
    timer_down (conn->timer_slot_);
}

void
QuicFrontend::Endpoint::timer_up (size_t slot)
{
  Connection *conn = timers_[slot];
  while (slot > 0) {
    size_t parent = (slot - 1) / 2;
    if (timers_[parent]->due_us_ <= conn->due_us_)
      break;
    timers_[slot] = timers_[parent];
    timers_[slot]->timer_slot_ = slot;
    slot = parent;
  }
  timers_[slot] = conn;
  conn->timer_slot_ = slot;
}

void
QuicFrontend::Endpoint::timer_down (size_t slot)
{
  Connection *conn = timers_[slot];
  const size_t n = timers_.size ();
  for (;;) {
    size_t child = 2 * slot + 1;
    if (child >= n)
      break;
    if (child + 1 < n && timers_[child + 1]->due_us_ < timers_[child]->due_us_)
      ++child;
    if (conn->due_us_ <= timers_[child]->due_us_)
      break;
    timers_[slot] = timers_[child];
    timers_[slot]->timer_slot_ = slot;
    slot = child;
  }
  timers_[slot] = conn;
  conn->timer_slot_ = slot;
}

void
QuicFrontend::Endpoint::timer_remove (size_t slot)
{
  Connection *gone = timers_[slot];
  Connection *last = timers_.back ();
  timers_.pop_back ();
  gone->timer_slot_ = Connection::kNoSlot;
  if (last == gone)
    return;
  timers_[slot] = last;
  last->timer_slot_ = slot;
  if (slot > 0 && last->due_us_ < timers_[(slot - 1) / 2]->due_us_)
    timer_up (slot);
  else
    timer_down (slot);
}

void
QuicFrontend::Endpoint::read_datagrams ()
{
  constexpr size_t kControl = CMSG_SPACE (sizeof (in6_pktinfo)) + CMSG_SPACE (sizeof (int))
                              + CMSG_SPACE (sizeof (in_pktinfo));
  std::array<mmsghdr, kRecvBatch> msgs;
  std::array<iovec, kRecvBatch> iovs;
  std::array<Address, kRecvBatch> remotes;
  alignas (cmsghdr) uint8_t controls[kRecvBatch][kControl];
  std::vector<Connection *> touched;
  for (size_t total = 0; total < kReadBatch;) {
    for (size_t i = 0; i < kRecvBatch; ++i) {
      iovs[i] = { rx_.data () + i * kRxBufferSize, kRxBufferSize };
      msghdr &msg = msgs[i].msg_hdr;
      msg = {};
      msg.msg_name = remotes[i].sa ();
      msg.msg_namelen = sizeof remotes[i].storage;
      msg.msg_iov = &iovs[i];
      msg.msg_iovlen = 1;
      msg.msg_control = controls[i];
      msg.msg_controllen = kControl;
      msgs[i].msg_len = 0;
    }
    int got = recvmmsg (fd_, msgs.data (), kRecvBatch, 0, nullptr);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        g_debug ("HTTP/3: recvmmsg: %s", g_strerror (errno));
      break;
    }
    for (size_t i = 0; i < (size_t)got; ++i) {
      msghdr &msg = msgs[i].msg_hdr;
      const size_t n = msgs[i].msg_len;
      Address &remote = remotes[i];
      remote.len = msg.msg_namelen;
      counters_.bytes_received += (uint64_t)n;
      if (msg.msg_flags & MSG_TRUNC) {
        ++counters_.packets_dropped;
        continue;
      }
      Address local = local_;
      uint32_t tos = 0;
      for (cmsghdr *c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && family_ == AF_INET) {
          in_pktinfo info;
          memcpy (&info, CMSG_DATA (c), sizeof info);
          reinterpret_cast<sockaddr_in *> (&local.storage)->sin_addr = info.ipi_addr;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
          in6_pktinfo info;
          memcpy (&info, CMSG_DATA (c), sizeof info);
          reinterpret_cast<sockaddr_in6 *> (&local.storage)->sin6_addr = info.ipi6_addr;
        } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
          uint8_t v;
          memcpy (&v, CMSG_DATA (c), sizeof v);
          tos = v;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
          int v;
          memcpy (&v, CMSG_DATA (c), sizeof v);
          tos = (uint32_t)v;
        }
      }
      on_datagram (local, remote, tos & NGTCP2_ECN_MASK, (const uint8_t *)iovs[i].iov_base, n,
                   touched, false);
    }
    total += (size_t)got;
    // Fewer than asked: the socket is empty (no call just to hear EAGAIN).
    if ((size_t)got < kRecvBatch)
      break;
  }
  write_touched (touched);
}

void
QuicFrontend::Endpoint::read_inbox ()
{
  std::vector<Connection *> touched;
  int fd = shared_->inboxes[worker_].fds[0];
  for (size_t i = 0; i < kReadBatch; ++i) {
    InboxHeader header;
    iovec iov[2] = { { &header, sizeof header }, { rx_.data (), rx_.size () } };
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    ssize_t n = recvmsg (fd, &msg, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if ((size_t)n < sizeof header || (msg.msg_flags & MSG_TRUNC)
        || header.local_len > sizeof header.local || header.remote_len > sizeof header.remote) {
      ++counters_.packets_dropped;
      continue;
    }
    Address local, remote;
    local.storage = header.local;
    local.len = header.local_len;
    remote.storage = header.remote;
    remote.len = header.remote_len;
    ++counters_.forwarded_in;
    on_datagram (local, remote, header.ecn, rx_.data (), (size_t)n - sizeof header, touched, true);
  }
  write_touched (touched);
}

void
QuicFrontend::Endpoint::write_touched (std::vector<Connection *> &touched)
{
  // Answer once per connection for the whole batch.
  for (Connection *conn : touched) {
    conn->touched = false;
    if (!conn->doomed ())
      conn->write ();
  }
}

void
QuicFrontend::Endpoint::new_cid (ngtcp2_cid *cid) const
{
  if (shared_) {
    shared_->mint (worker_, cid);
    return;
  }
  cid->datalen = kScidLen;
  random_bytes (cid->data, cid->datalen);
}

bool
QuicFrontend::Endpoint::forward_stray (const ngtcp2_version_cid &vc, const Address &local,
                                       const Address &remote, uint32_t ecn, const uint8_t *data,
                                       size_t len)
{
  // A client's own DCID (a new connection's Initial) names no worker, bar
  // a 2^-32 chance: new connections stay where the kernel put them.
  int owner = shared_->owner (vc.dcid, vc.dcidlen);
  if (owner < 0 || (unsigned)owner == worker_)
    return false;
  switch (shared_->forward ((unsigned)owner, local, remote, ecn, data, len)) {
  case QuicWorkerGroup::Shared::Forward::kQueued:
    ++counters_.forwarded_out;
    return true;
  case QuicWorkerGroup::Shared::Forward::kFull:
    ++counters_.forward_dropped;
    ++counters_.packets_dropped;
    return true;
  case QuicWorkerGroup::Shared::Forward::kNotListening:
    break;
  }
  // Its worker is gone, and so are its connections: answer as for any
  // connection we do not know (the reset secret is the group's).
  return false;
}

void
QuicFrontend::Endpoint::on_datagram (const Address &local, const Address &remote, uint32_t ecn,
                                     const uint8_t *data, size_t len,
                                     std::vector<Connection *> &touched, bool forwarded)
{
  if (len == 0) {
    ++counters_.packets_dropped;
    return;
  }
  ngtcp2_version_cid vc;
  int rv = ngtcp2_pkt_decode_version_cid (&vc, data, len, kScidLen);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    send_version_negotiation (vc, local, remote);
    return;
  }
  if (rv != 0) {
    ++counters_.packets_dropped;
    return;
  }

  Connection *conn = nullptr;
  if (auto it = by_cid_.find (cid_key (vc.dcid, vc.dcidlen)); it != by_cid_.end ())
    conn = it->second;
  else if (shared_ && !forwarded && forward_stray (vc, local, remote, ecn, data, len))
    return;
  else if (data[0] & 0x80)
    conn = accept (local, remote, data, len);
  else {
    // A short header for a connection we do not have (forgotten, or from
    // before a restart): tell the peer to stop, if it could be one of ours.
    send_stateless_reset (vc.dcid, len, local, remote);
    ++counters_.packets_dropped;
    return;
  }
  if (!conn)
    return;
  conn->on_datagram (local, remote, ecn, data, len);
  if (!conn->touched) {
    conn->touched = true;
    touched.push_back (conn);
  }
}

QuicFrontend::Endpoint::Connection *
QuicFrontend::Endpoint::accept (const Address &local, const Address &remote, const uint8_t *data,
                                size_t len)
{
  ngtcp2_pkt_hd hd;
  // Only a full-size (>= 1200 bytes) Initial may open a connection; a 0-RTT
  // packet that overtook its Initial is dropped too, we do not do 0-RTT.
  if (ngtcp2_accept (&hd, data, len) != 0) {
    ++counters_.packets_dropped;
    return nullptr;
  }
  if (shutting_down_ || connections_.size () >= limits_.max_connections) {
    send_stateless_close (hd, local, remote, NGTCP2_CONNECTION_REFUSED);
    ++counters_.packets_dropped;
    return nullptr;
  }

  // Address validation: a Retry round trip, unless the client brings a
  // token proving it received from this address before.
  ngtcp2_cid original_dcid;
  const ngtcp2_cid *retried = nullptr;
  if (hd.token.len == 0) {
    send_retry (hd, local, remote, len);
    return nullptr;
  }
  switch (hd.token.base[0]) {
  case NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY:
    if (ngtcp2_crypto_verify_retry_token (&original_dcid, hd.token.base, hd.token.len,
                                          token_secret_.data (), token_secret_.size (), hd.version,
                                          remote.sa (), remote.len, &hd.dcid, kRetryTokenLifetime,
                                          now_ns ())
        != 0) {
      send_stateless_close (hd, local, remote, NGTCP2_INVALID_TOKEN);
      ++counters_.packets_dropped;
      return nullptr;
    }
    retried = &original_dcid;
    break;
  case NGTCP2_CRYPTO_TOKEN_MAGIC_REGULAR:
    if (ngtcp2_crypto_verify_regular_token (hd.token.base, hd.token.len, token_secret_.data (),
                                            token_secret_.size (), remote.sa (), remote.len,
                                            kRegularTokenLifetime, now_ns ())
        != 0) {
      send_retry (hd, local, remote, len);
      return nullptr;
    }
    break;
  default:
    send_retry (hd, local, remote, len);
    return nullptr;
  }

  // The address is validated now: its share of the budget is its own.
  std::string address = peer_ip (remote.sa ());
  const ConnectionBudget::Verdict verdict = budget_->take (address);
  if (verdict != ConnectionBudget::Verdict::kOk) {
    send_stateless_close (hd, local, remote, NGTCP2_CONNECTION_REFUSED);
    ++counters_.packets_dropped;
    if (verdict == ConnectionBudget::Verdict::kTotal) {
      ++counters_.refused;
    } else if (const uint64_t n = ++counters_.refused_per_address; (n & (n - 1)) == 0) {
      g_warning ("HTTP/3: %s has %zu connections open, its limit (server."
                 "max_connections_per_address): further ones are refused "
                 "(%" G_GUINT64_FORMAT " so far)",
                 address.c_str (), budget_->from (address), n);
    }
    return nullptr;
  }
  auto conn = std::make_unique<Connection> (*this);
  conn->budget_address = std::move (address); // given back by the destructor
  ++counters_.connections_now; // the destructor takes it back, init failed or not
  if (!conn->init (local, remote, hd, retried)) {
    ++counters_.packets_dropped;
    return nullptr;
  }
  ++counters_.connections_total;
  Connection *raw = conn.get ();
  connections_.emplace (raw, std::move (conn));
  return raw;
}

void
QuicFrontend::Endpoint::on_writable ()
{
  // Stop watching first: a connection that blocks again asks again.
  g_source_modify_unix_fd (&socket_source_->base, socket_source_->tag,
                           (GIOCondition)(G_IO_IN | G_IO_ERR));
  std::vector<Connection *> waiting = std::move (write_blocked_);
  write_blocked_.clear ();
  for (size_t i = 0; i < waiting.size (); ++i) {
    if (!write_blocked_.empty ()) {
      // Blocked again: the rest keep waiting, in order.
      write_blocked_.insert (write_blocked_.end (), waiting.begin () + (ptrdiff_t)i,
                             waiting.end ());
      break;
    }
    if (!waiting[i]->doomed ())
      waiting[i]->on_writable ();
  }
}

void
QuicFrontend::Endpoint::watch_writable (Connection *conn)
{
  if (std::find (write_blocked_.begin (), write_blocked_.end (), conn) == write_blocked_.end ())
    write_blocked_.push_back (conn);
  g_source_modify_unix_fd (&socket_source_->base, socket_source_->tag,
                           (GIOCondition)(G_IO_IN | G_IO_OUT | G_IO_ERR));
}

void
QuicFrontend::Endpoint::set_ecn (uint32_t ecn)
{
  // Socket-wide: one setsockopt when the codepoint changes, not per packet.
  if (ecn == socket_ecn_)
    return;
  socket_ecn_ = ecn;
  int tos = (int)ecn;
  if (family_ == AF_INET6)
    setsockopt (fd_, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof tos);
  setsockopt (fd_, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
}

size_t
QuicFrontend::Endpoint::send (const ngtcp2_addr &local, const ngtcp2_addr &remote, uint32_t ecn,
                              const uint8_t *data, size_t len, size_t gso_size)
{
  set_ecn (ecn);
  if (len <= gso_size || gso_)
    return send_one (local, remote, data, len, gso_size);
  size_t sent = 0;
  while (sent < len) {
    size_t piece = std::min (gso_size, len - sent);
    size_t n = send_one (local, remote, data + sent, piece, piece);
    if (n < piece)
      break;
    sent += n;
  }
  return sent;
}

void
QuicFrontend::Endpoint::build_msg (msghdr &msg, iovec &iov, uint8_t *control, const sockaddr *local,
                                   const sockaddr *remote, socklen_t remote_len,
                                   const uint8_t *data, size_t len, size_t gso_size) const
{
  iov = { const_cast<uint8_t *> (data), len };
  msg = {};
  msg.msg_name = const_cast<sockaddr *> (remote);
  msg.msg_namelen = remote_len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  memset (control, 0, kControlSpace);
  msg.msg_control = control;
  msg.msg_controllen = kControlSpace;
  size_t control_len = 0;
  cmsghdr *c = CMSG_FIRSTHDR (&msg);

  // On a wildcard socket, answer from the address the peer wrote to.
  if (bound_to_any_ && local) {
    if (local->sa_family == AF_INET) {
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN (sizeof (in_pktinfo));
      in_pktinfo info{};
      info.ipi_spec_dst = reinterpret_cast<const sockaddr_in *> (local)->sin_addr;
      memcpy (CMSG_DATA (c), &info, sizeof info);
      control_len += CMSG_SPACE (sizeof (in_pktinfo));
      c = CMSG_NXTHDR (&msg, c);
    } else if (local->sa_family == AF_INET6
               && !IN6_IS_ADDR_V4MAPPED (
                   &reinterpret_cast<const sockaddr_in6 *> (local)->sin6_addr)) {
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN (sizeof (in6_pktinfo));
      in6_pktinfo info{};
      info.ipi6_addr = reinterpret_cast<const sockaddr_in6 *> (local)->sin6_addr;
      memcpy (CMSG_DATA (c), &info, sizeof info);
      control_len += CMSG_SPACE (sizeof (in6_pktinfo));
      c = CMSG_NXTHDR (&msg, c);
    }
  }
#ifdef UDP_SEGMENT
  if (len > gso_size) {
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN (sizeof (uint16_t));
    uint16_t segment = (uint16_t)gso_size;
    memcpy (CMSG_DATA (c), &segment, sizeof segment);
    control_len += CMSG_SPACE (sizeof (uint16_t));
  }
#endif
  msg.msg_controllen = control_len;
  if (control_len == 0)
    msg.msg_control = nullptr;
}

size_t
QuicFrontend::Endpoint::send_one (const ngtcp2_addr &local, const ngtcp2_addr &remote,
                                  const uint8_t *data, size_t len, size_t gso_size)
{
  msghdr msg;
  iovec iov;
  alignas (cmsghdr) uint8_t control[kControlSpace];
  build_msg (msg, iov, control, local.addr, remote.addr, remote.addrlen, data, len, gso_size);
  ssize_t n;
  do
    n = sendmsg (fd_, &msg, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    if (errno == EIO && len > gso_size && gso_) {
      // The device cannot segment (some virtual NICs): one datagram each from now on.
      g_message ("HTTP/3: UDP GSO failed (%s); sending datagrams one by one", g_strerror (errno));
      gso_ = false;
      return send (local, remote, socket_ecn_, data, len, gso_size);
    }
    // A probe above the path MTU (EMSGSIZE), an unreachable peer: to QUIC
    // that is loss, and loss it handles.
    g_debug ("HTTP/3: sendmsg to %s: %s", describe (remote.addr).c_str (), g_strerror (errno));
    return len;
  }
  counters_.bytes_sent += (uint64_t)n;
  return len;
}

void
QuicFrontend::Endpoint::queue (Connection *conn, const ngtcp2_path &path, uint32_t ecn,
                               const uint8_t *data, size_t len, size_t gso_size)
{
  if (queued_.size () >= kMaxQueuedSends || queued_bytes_.size () + len > kQueueBytes)
    flush_queue ();
  Queued &q = queued_.emplace_back ();
  q.conn = conn;
  q.has_local = path.local.addr && path.local.addrlen <= sizeof q.local.storage;
  if (q.has_local) {
    memcpy (&q.local.storage, path.local.addr, path.local.addrlen);
    q.local.len = path.local.addrlen;
  }
  memcpy (&q.remote.storage, path.remote.addr,
          std::min<size_t> (path.remote.addrlen, sizeof q.remote.storage));
  q.remote.len = path.remote.addrlen;
  q.ecn = ecn;
  q.offset = queued_bytes_.size ();
  q.len = len;
  q.gso_size = gso_size;
  queued_bytes_.insert (queued_bytes_.end (), data, data + len);
}

void
QuicFrontend::Endpoint::flush_queue ()
{
  std::array<mmsghdr, kMaxQueuedSends> msgs;
  std::array<iovec, kMaxQueuedSends> iovs;
  alignas (cmsghdr) uint8_t controls[kMaxQueuedSends][kControlSpace];
  size_t at = 0;
  bool blocked = false;
  while (at < queued_.size () && !blocked) {
    // The ECN mark is the socket's: one call per run of the same mark.
    const uint32_t ecn = queued_[at].ecn;
    set_ecn (ecn);
    size_t end = at;
    while (end < queued_.size () && queued_[end].ecn == ecn
           && (gso_ || queued_[end].len <= queued_[end].gso_size))
      ++end;
    if (end == at) {
      // A batch the kernel cannot segment: one datagram at a time.
      const Queued &q = queued_[at];
      ngtcp2_addr local{ q.has_local ? const_cast<sockaddr *> (q.local.sa ()) : nullptr,
                         (ngtcp2_socklen)q.local.len };
      size_t sent = send (local, q.remote.addr (), ecn, queued_bytes_.data () + q.offset, q.len,
                          q.gso_size);
      if (sent < q.len) {
        blocked = true;
        break;
      }
      ++at;
      continue;
    }
    for (size_t i = at; i < end; ++i) {
      const Queued &q = queued_[i];
      build_msg (msgs[i - at].msg_hdr, iovs[i - at], controls[i - at],
                 q.has_local ? q.local.sa () : nullptr, q.remote.sa (), q.remote.len,
                 queued_bytes_.data () + q.offset, q.len, q.gso_size);
      msgs[i - at].msg_len = 0;
    }
    int n = sendmmsg (fd_, msgs.data (), (unsigned)(end - at), 0);
    if (n > 0) {
      for (int i = 0; i < n; ++i)
        counters_.bytes_sent += queued_[at + (size_t)i].len;
      at += (size_t)n;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      blocked = true;
      break;
    }
    const Queued &q = queued_[at];
    if (errno == EIO && q.len > q.gso_size && gso_) {
      // The device cannot segment (some virtual NICs): one datagram each from now on.
      g_message ("HTTP/3: UDP GSO failed (%s); sending datagrams one by one", g_strerror (errno));
      gso_ = false;
      continue;
    }
    // A probe above the path MTU (EMSGSIZE), an unreachable peer: to QUIC
    // that is loss, and loss it handles.
    g_debug ("HTTP/3: sendmmsg to %s: %s", describe (q.remote.sa ()).c_str (), g_strerror (errno));
    ++at;
  }
  if (blocked) {
    // The socket is full: each connection keeps the rest, in order, for
    // when it is writable.
    for (; at < queued_.size (); ++at) {
      const Queued &q = queued_[at];
      if (!q.conn)
        continue;
      ngtcp2_path path{};
      path.local = { q.has_local ? const_cast<sockaddr *> (q.local.sa ()) : nullptr,
                     (ngtcp2_socklen)q.local.len };
      path.remote = q.remote.addr ();
      q.conn->keep (path, q.ecn, queued_bytes_.data () + q.offset, q.len, q.gso_size);
    }
  }
  queued_.clear ();
  queued_bytes_.clear ();
}

bool
QuicFrontend::Endpoint::take_stateless_budget ()
{
  ngtcp2_tstamp now = now_ns ();
  if (stateless_refill_at_ != 0) {
    double elapsed = (double)(now - stateless_refill_at_) / (double)NGTCP2_SECONDS;
    stateless_budget_
        = std::min (kStatelessBurst, stateless_budget_ + elapsed * kStatelessPerSecond);
  }
  stateless_refill_at_ = now;
  if (stateless_budget_ < 1)
    return false;
  stateless_budget_ -= 1;
  return true;
}

void
QuicFrontend::Endpoint::send_retry (const ngtcp2_pkt_hd &hd, const Address &local,
                                    const Address &remote, size_t trigger_len)
{
  // The client's next Initial carries this as its DCID: it names us.
  ngtcp2_cid scid;
  new_cid (&scid);
  std::array<uint8_t, NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN> token;
  ngtcp2_ssize token_len = ngtcp2_crypto_generate_retry_token (
      token.data (), token_secret_.data (), token_secret_.size (), hd.version, remote.sa (),
      remote.len, &scid, &hd.dcid, now_ns ());
  if (token_len < 0)
    return;
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  ngtcp2_ssize n
      = ngtcp2_crypto_write_retry (buf.data (), std::min (buf.size (), trigger_len * 3), hd.version,
                                   &hd.scid, &scid, &hd.dcid, token.data (), (size_t)token_len);
  if (n < 0)
    return;
  send (local.addr (), remote.addr (), 0, buf.data (), (size_t)n, (size_t)n);
  ++counters_.retries_sent;
}

void
QuicFrontend::Endpoint::send_stateless_close (const ngtcp2_pkt_hd &hd, const Address &local,
                                              const Address &remote, uint64_t error_code)
{
  if (!take_stateless_budget ())
    return;
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  ngtcp2_ssize n = ngtcp2_crypto_write_connection_close (
      buf.data (), buf.size (), hd.version, &hd.scid, &hd.dcid, error_code, nullptr, 0);
  if (n > 0)
    send (local.addr (), remote.addr (), 0, buf.data (), (size_t)n, (size_t)n);
}

void
QuicFrontend::Endpoint::send_version_negotiation (const ngtcp2_version_cid &vc,
                                                  const Address &local, const Address &remote)
{
  if (!take_stateless_budget ())
    return;
  uint8_t unused;
  random_bytes (&unused, 1);
  // A reserved version first, so clients keep handling unknown ones (RFC 9000 15).
  uint32_t grease;
  random_bytes (reinterpret_cast<uint8_t *> (&grease), sizeof grease);
  std::array<uint32_t, 2> versions{ (grease & 0xf0f0f0f0u) | 0x0a0a0a0au, NGTCP2_PROTO_VER_V1 };
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation (buf.data (), buf.size (), unused, vc.scid,
                                                         vc.scidlen, vc.dcid, vc.dcidlen,
                                                         versions.data (), versions.size ());
  if (n > 0)
    send (local.addr (), remote.addr (), 0, buf.data (), (size_t)n, (size_t)n);
}

void
QuicFrontend::Endpoint::send_stateless_reset (const uint8_t *dcid, size_t len, const Address &local,
                                              const Address &remote)
{
  // Shorter than a packet of ours could be (header, our CID, the smallest
  // payload and tag): not from a connection of ours, so no reset. A reset is
  // also always smaller than what provoked it, so two endpoints cannot
  // bounce resets at each other forever (RFC 9000 10.3.3).
  if (len < 1 + kScidLen + 21 || !take_stateless_budget ())
    return;
  ngtcp2_cid cid;
  ngtcp2_cid_init (&cid, dcid, kScidLen);
  std::array<uint8_t, NGTCP2_STATELESS_RESET_TOKENLEN> token;
  if (ngtcp2_crypto_generate_stateless_reset_token (token.data (), reset_secret_.data (),
                                                    reset_secret_.size (), &cid)
      != 0)
    return;
  constexpr size_t kMaxRandom = NGTCP2_MAX_CIDLEN + 22 - NGTCP2_STATELESS_RESET_TOKENLEN;
  size_t random_len = std::min (kMaxRandom, len - 1 - NGTCP2_STATELESS_RESET_TOKENLEN);
  std::array<uint8_t, kMaxRandom> random;
  random_bytes (random.data (), random_len);
  std::array<uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset (buf.data (), buf.size (), token.data (),
                                                     random.data (), random_len);
  if (n <= 0)
    return;
  send (local.addr (), remote.addr (), 0, buf.data (), (size_t)n, (size_t)n);
  ++counters_.stateless_resets_sent;
}

void
QuicFrontend::Endpoint::associate (const ngtcp2_cid &cid, Connection *conn)
{
  CidKey key = cid_key (cid);
  by_cid_[key] = conn;
  conn->cid_keys_.push_back (key);
}

void
QuicFrontend::Endpoint::dissociate (const ngtcp2_cid &cid)
{
  by_cid_.erase (cid_key (cid));
}

void
QuicFrontend::Endpoint::doom (Connection *conn)
{
  doomed_.push_back (conn);
}

void
QuicFrontend::Endpoint::reap ()
{
  // What the dispatch wrote leaves first, while its connections live.
  flush_queue ();
  while (!doomed_.empty ()) {
    std::vector<Connection *> doomed = std::move (doomed_);
    doomed_.clear ();
    for (Connection *conn : doomed)
      connections_.erase (conn);
  }
}

// ---------------------------------------------------------------------------
// QuicFrontend

QuicFrontend::QuicFrontend (OriginHandler &handler, const TlsIdentity &identity, Limits limits,
                            std::shared_ptr<QuicWorkerGroup> group, unsigned worker,
                            std::shared_ptr<ConnectionBudget> budget)
    : endpoint_ (std::make_unique<Endpoint> (handler, identity, limits, std::move (group), worker,
                                             std::move (budget)))
{}

QuicFrontend::~QuicFrontend () = default;

bool
QuicFrontend::listen (const std::string &bind_address, uint16_t port, std::string *error)
{
  return endpoint_->listen (bind_address, port, error);
}

uint16_t
QuicFrontend::port () const
{
  return endpoint_->port ();
}

QuicFrontend::Stats
QuicFrontend::stats () const
{
  return endpoint_->stats ();
}

void
QuicFrontend::shutdown ()
{
  endpoint_->shutdown ();
}

} // namespace mirror
