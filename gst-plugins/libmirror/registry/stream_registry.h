// SPDX-License-Identifier: LGPL-2.1-or-later
// The stream registry: which streams exist in the cluster, who owns each one,
// and their latest state and statistics.
//
// Threading contract (shared by every backend):
//  - every method may be called from any thread and never blocks on I/O;
//  - completion callbacks and watch callbacks always run on the registry's own
//    worker thread (a private GMainContext), never synchronously inside the
//    call; they must not block. Callers that live on another main context
//    marshal the result themselves (g_main_context_invoke).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mirror {

// What a stream is doing; the transitions are StreamLifecycle's
// (registry/stream_lifecycle.h).
enum class StreamState {
  kStarting,     // pipeline running, no media yet
  kLive,         // media arriving
  kPaused,       // paused by the operator
  kStalled,      // the feed is connected but no media came for a while
  kError,        // the pipeline failed; released, listed until it lapses or is deleted
  kStopping,     // a DELETE or shutdown is draining it
  kReconnecting, // the feed went away; waiting for it (callers) or retrying (pulls)
  kEnded,        // the feed is over; released, listed until it lapses
  kDegraded,     // media arriving, but the box cannot do all the work: the
                 // transcode sheds frames to stay live (the message says how)
};

const char *to_string (StreamState state);
std::optional<StreamState> stream_state_from_string (std::string_view text);

struct StreamStats {
  uint64_t bytes = 0;
  uint64_t packets = 0;
  uint64_t packets_lost = 0;
  uint64_t packets_retransmitted = 0; // SRT: what the caller sent again
  double bitrate_bps = 0;
  std::string codec;            // "h265", "h264", ...
  int width = 0;
  int height = 0;
  double frame_rate = 0;
};

// Which StreamStats fields an update carries: the heartbeat owns the media
// figures, the ingest source the transport ones; neither clobbers the other.
enum StatsField : unsigned {
  kStatsBytes = 1u << 0,
  kStatsPackets = 1u << 1,
  kStatsPacketsLost = 1u << 2, // packets_lost and packets_retransmitted
  kStatsBitrate = 1u << 3,
  kStatsCodec = 1u << 4,
  kStatsResolution = 1u << 5,
  kStatsFrameRate = 1u << 6,
  kStatsMedia = kStatsBytes | kStatsBitrate | kStatsCodec | kStatsResolution | kStatsFrameRate,
  kStatsTransport = kStatsPackets | kStatsPacketsLost,
  kStatsAll = kStatsMedia | kStatsTransport,
};

// Copies the fields named by mask from update into stats.
void merge_stats (StreamStats &stats, const StreamStats &update, unsigned mask);

// How busy a node is, as the directory shows it beside each stream it owns.
struct NodeLoad {
  uint32_t streams = 0;   // streams it owns
  uint32_t viewers = 0;   // viewer connections it serves now
  double cpu = 0;         // cores its process used lately (1.0: one core)
};

// What a node says about itself in the entries it owns.
struct NodeInfo {
  std::string public_url; // where it serves viewers (server.public_url); "" unknown
  NodeLoad load;
  // The SPKI pin (base64 SHA-256) of its HTTPS certificate: how a node that
  // relays its streams trusts a self-signed one; "" none.
  std::string tls_pin;
};

struct StreamEntry {
  std::string id;
  std::string node_id;          // the mirrord (or process) that owns it
  // The directory (cluster playback): the owner's public URL and load, and
  // the stream's epoch: one more each time a node takes the stream on
  // (registers it), counted cluster-wide, so that two ownerships are never
  // one timeline. Set by the registry.
  std::string owner_url;
  std::string owner_tls_pin; // NodeInfo::tls_pin of the owner
  uint64_t epoch = 0;
  NodeLoad owner_load;
  StreamState state = StreamState::kStarting;
  std::string source;           // ingest URI or peer address
  std::string message;          // last error or state detail, may be empty
  StreamStats stats;
  int64_t created_unix_ms = 0;  // set by the registry on register
  int64_t updated_unix_ms = 0;  // set by the registry on every change
};

// JSON form, used by the Redis backend and by the APIs.
std::string to_json (const StreamEntry &entry);
std::optional<StreamEntry> stream_entry_from_json (std::string_view json);

enum class RegistryErrc {
  kOk,
  kAlreadyExists,   // the id is registered anywhere in the cluster
  kNotFound,
  kNotOwner,        // the id exists but belongs to another node
  kUnavailable,     // backend unreachable and the operation needs it
  kInvalid,         // bad id or argument
  kInternal,
};

struct RegistryStatus {
  RegistryErrc code = RegistryErrc::kOk;
  std::string message;
  bool ok () const { return code == RegistryErrc::kOk; }
};

struct RegistryEvent {
  enum class Kind { kAdded, kRemoved, kStateChanged, kExpired };
  Kind kind;
  StreamEntry entry;
};

class StreamRegistry {
 public:
  using DoneFn = std::function<void (const RegistryStatus &)>;
  using GetFn = std::function<void (const RegistryStatus &, const std::optional<StreamEntry> &)>;
  using ListFn = std::function<void (const RegistryStatus &, const std::vector<StreamEntry> &)>;
  using EventFn = std::function<void (const RegistryEvent &)>;

  virtual ~StreamRegistry () = default;

  // Atomically claims entry.id for this node. kAlreadyExists if any node
  // (this one included) holds it. entry.node_id is overwritten with node_id().
  virtual void register_stream (StreamEntry entry, DoneFn done) = 0;
  // Only the owner may unregister. done may be empty.
  virtual void unregister_stream (const std::string &id, DoneFn done) = 0;
  virtual void get_stream (const std::string &id, GetFn done) = 0;
  // Every stream in the cluster, sorted by id.
  virtual void list_streams (ListFn done) = 0;

  // Fire and forget; only act on streams this node owns.
  // heartbeat refreshes the entry's TTL (registry heartbeat_timeout).
  virtual void heartbeat (const std::string &id) = 0;
  virtual void update_state (const std::string &id, StreamState state, const std::string &message) = 0;
  virtual void update_stats (const std::string &id, const StreamStats &stats,
      unsigned fields = kStatsAll) = 0;

  // Events about streams this node owns (added, removed, state changed) and
  // about entries that expired because their heartbeat lapsed.
  virtual unsigned add_watch (EventFn fn) = 0;
  virtual void remove_watch (unsigned watch_id) = 0;

  // What this node's entries say about it: stamped on every entry it owns at
  // its next write (a heartbeat at the latest).
  virtual void set_node_info (const NodeInfo &info) = 0;

  // A stream's timeline, kept cluster-wide beyond its entry as its epoch is:
  // the next EXT-X-DISCONTINUITY-SEQUENCE number its playlists may use. The
  // owner records each one it reaches (fire and forget; never lowered;
  // ignored unless this node owns id), and a node that takes the stream on
  // reads it with its claim, so that its timeline starts past every
  // discontinuity an earlier owner announced: a player that followed the
  // stream from one node to the next sees a new discontinuity, never two
  // ownerships as one timeline.
  virtual void record_timeline (const std::string &id, uint64_t next) = 0;
  // What the claim that registered id on this node read (0: nothing, or id
  // is not registered here). Any thread; set before register_stream's done
  // runs, forgotten when the entry goes.
  virtual uint64_t claimed_timeline (const std::string &id) const = 0;
  // Whether the backend is reachable now (always true for memory).
  virtual bool is_connected () const = 0;
  // Blocks the calling thread until connected or timeout; for start-up only.
  virtual bool wait_connected (int64_t timeout_ms) = 0;
  // "memory://" or "redis://host:port/db" (no password).
  virtual std::string describe () const = 0;
  virtual const std::string &node_id () const = 0;
};

struct RegistryOptions {
  std::string uri = "memory://";   // memory:// or redis://[:password@]host[:port][/db]
  std::string node_id;             // empty: "<hostname>-<pid>"
  std::string password;            // overrides one in the URI
  std::string public_url;          // NodeInfo::public_url from the start
  std::string key_prefix = "mirror:";
  int64_t heartbeat_timeout_ms = 15000;
};

// Returns nullptr and sets *error (naming the URI and what is wrong) on a bad URI.
std::shared_ptr<StreamRegistry> make_registry (const RegistryOptions &options, std::string *error);

}  // namespace mirror
