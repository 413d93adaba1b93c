// SPDX-License-Identifier: LGPL-2.1-or-later
// The cluster registry on Redis (redis://).
//
// Layout: "<prefix>stream:<id>" holds the entry's JSON with a TTL of
// heartbeat_timeout_ms (so a node that stops heartbeating loses its streams
// cluster-wide), and the set "<prefix>streams" indexes the ids. Every write of
// an entry is a Lua script that checks the stored node_id first, so claims are
// atomic cluster-wide and only the owner changes or removes its streams.
//
// This node keeps the latest entry of each stream it owns. While Redis is
// unreachable:
//  - heartbeat and updates land in that local copy and streams keep working;
//    when the link is back (reconnect with backoff from 100 ms to 1 s) every
//    owned stream is written again at once. An id that another node took
//    meanwhile is given up with a kStateChanged event (state kError, message
//    naming the id and the other node);
//  - get_stream answers kOk from the local copy for this node's streams, and
//    kUnavailable for others;
//  - list_streams answers kUnavailable *together with* this node's streams
//    (sorted): callers get an honest status and still have what is known;
//  - register_stream waits up to 3 s for the link, then fails kUnavailable
//    (an id cannot be claimed cluster-wide without Redis);
//  - unregister_stream of an owned stream succeeds locally and is replayed in
//    Redis on reconnect; of another id it fails kUnavailable.
// While connected, get/list read Redis, except that this node's own streams
// are shown from the local copy (which may be a write ahead).
//
// Heartbeats lapse on this node's clock: an owned stream silent for longer
// than heartbeat_timeout_ms is dropped with a kExpired event, at about the
// time its key expires in Redis (writes carry the TTL left, not a fresh one).
//
// Two registries with the same node_id on one Redis share ownership; the
// default node id ("<hostname>-<pid>") makes that happen to two redis://
// registries in one process, so give each its own node id there.
#pragma once

#include <map>
#include <set>
#include <string>

#include "registry/redis_link.h"
#include "registry/registry_uri.h"
#include "registry/worker_registry.h"

namespace mirror {

class RedisRegistry final : public WorkerRegistry {
 public:
  RedisRegistry (RegistryUri endpoint, std::string node_id, std::string key_prefix,
                 int64_t heartbeat_timeout_ms);
  ~RedisRegistry () override;

  void register_stream (StreamEntry entry, DoneFn done) override;
  void unregister_stream (const std::string &id, DoneFn done) override;
  void get_stream (const std::string &id, GetFn done) override;
  void list_streams (ListFn done) override;

  void heartbeat (const std::string &id) override;
  void update_state (const std::string &id, StreamState state, const std::string &message) override;
  void update_stats (const std::string &id, const StreamStats &stats, unsigned fields) override;
  void record_timeline (const std::string &id, uint64_t next) override;

  bool is_connected () const override { return link_.connected (); }
  bool wait_connected (int64_t timeout_ms) override { return link_.wait_connected (timeout_ms); }
  std::string describe () const override { return link_.describe (); }

 private:
  // A stream this node owns, or is registering.
  struct Owned {
    StreamEntry entry;                // latest, what Redis gets on the next write
    uint64_t timeline = 0;            // what record_timeline said last
    int64_t last_heartbeat_ms = 0;    // monotonic
    uint64_t generation = 0;          // tells replies for an earlier registration apart
    bool claimed = false;             // Redis accepted it at least once
    bool claim_in_flight = false;     // at most one write per stream in flight
    bool dirty = false;               // changed while a write was in flight
    DoneFn register_done;             // until the first claim is answered
    int64_t register_deadline_ms = 0; // monotonic; when an unanswered register fails
  };
  using OwnedMap = std::map<std::string, Owned>;

  std::string stream_key (const std::string &id) const { return prefix_ + "stream:" + id; }
  // A stream's epoch counter; it outlives the entry (the next owner counts
  // on from it) by a week after the last write.
  std::string epoch_key (const std::string &id) const { return prefix_ + "epoch:" + id; }
  static constexpr int64_t kEpochTtlMs = 7LL * 24 * 3600 * 1000;
  // Its timeline (StreamRegistry::record_timeline), kept as long.
  std::string timeline_key (const std::string &id) const { return prefix_ + "timeline:" + id; }
  RegistryStatus unreachable (const std::string &what) const;

  // Worker thread only, below.
  Owned *find_owned (const std::string &id, const char *what);
  void write (Owned &owned);
  void send_claim (const std::string &id);
  void on_claim_reply (const std::string &id, uint64_t generation, redisReply *reply);
  void give_up (OwnedMap::iterator it, const std::string &holder);
  void send_release (const std::string &id, DoneFn done, bool owned_here, uint64_t timeline = 0);
  void prune (const std::vector<std::string> &ids);
  StreamEntry freshest (StreamEntry stored) const;
  void answer_locally (const std::string &id, GetFn done);
  void list_locally (ListFn done);
  void on_link_ready ();
  void sweep ();

  RedisLink link_;
  const std::string prefix_;
  const std::string index_key_;

  OwnedMap owned_;                   // worker thread only
  std::set<std::string> tombstones_; // unregistered while Redis was down
  uint64_t next_generation_ = 1;
  GSource *sweep_timer_ = nullptr;
};

} // namespace mirror
