// SPDX-License-Identifier: LGPL-2.1-or-later
// The in-process registry (memory://): one node, one map, no I/O. It still
// runs on its own worker thread so that it keeps the threading contract of
// every backend (callbacks never run inside the call that caused them).
#pragma once

#include <map>
#include <string>

#include "registry/worker_registry.h"

namespace mirror {

class MemoryRegistry final : public WorkerRegistry {
 public:
  MemoryRegistry (std::string node_id, int64_t heartbeat_timeout_ms);
  ~MemoryRegistry () override;

  void register_stream (StreamEntry entry, DoneFn done) override;
  void unregister_stream (const std::string &id, DoneFn done) override;
  void get_stream (const std::string &id, GetFn done) override;
  void list_streams (ListFn done) override;

  void heartbeat (const std::string &id) override;
  void update_state (const std::string &id, StreamState state, const std::string &message) override;
  void update_stats (const std::string &id, const StreamStats &stats, unsigned fields) override;
  void record_timeline (const std::string &id, uint64_t next) override;

  bool is_connected () const override { return true; }
  bool wait_connected (int64_t) override { return true; }
  std::string describe () const override { return "memory://"; }

 private:
  struct Record {
    StreamEntry entry;
    int64_t last_heartbeat_ms = 0; // monotonic
  };

  // Worker thread only. The record of id if this node owns it, else nullptr
  // (and the reason logged: fire-and-forget calls have no one to tell).
  Record *find_owned (const std::string &id, const char *what);
  StreamEntry stamped (StreamEntry entry) const;
  void sweep ();

  std::map<std::string, Record> streams_; // worker thread only; sorted by id
  // Each id's last epoch and recorded timeline, kept after it goes.
  struct Past {
    uint64_t epoch = 0;
    uint64_t timeline = 0;
  };
  std::map<std::string, Past> pasts_;
  static constexpr size_t kPastsKept = 10000;
  GSource *sweep_timer_ = nullptr;
};

} // namespace mirror
