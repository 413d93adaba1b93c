// SPDX-License-Identifier: LGPL-2.1-or-later
// What every registry backend shares: a worker thread that owns all of the
// backend's state, the watches, and the rule that user callbacks only ever run
// as their own queued task on that thread (never inside a public call, never
// in the middle of the backend's own code, so a callback may call back into
// the registry or even drop the last reference to it).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "registry/stream_registry.h"
#include "registry/watch_list.h"
#include "registry/worker_thread.h"

namespace mirror {

class WorkerRegistry : public StreamRegistry {
 public:
  ~WorkerRegistry () override;

  unsigned add_watch (EventFn fn) override;
  void remove_watch (unsigned watch_id) override;
  const std::string &node_id () const override { return node_id_; }
  void set_node_info (const NodeInfo &info) override;
  uint64_t claimed_timeline (const std::string &id) const override;

 protected:
  WorkerRegistry (std::string node_id, int64_t heartbeat_timeout_ms, const char *thread_name);

  // Derived destructors call this first: it drops queued work and watches,
  // runs teardown (detach sources, close sockets) on the worker thread, then
  // ends the thread. Idempotent.
  void shutdown (const std::function<void ()> &teardown);

  // Queues an operation on the worker thread, where all backend state lives.
  void run (std::function<void ()> op) { worker_.post (std::move (op)); }
  WorkerThread &worker () { return worker_; }

  // Worker thread only: what set_node_info said last, and that stamped on an
  // entry this node owns.
  const NodeInfo &node_info () const { return node_info_; }
  void stamp_owner (StreamEntry &entry) const;
  // What a claim of id read for claimed_timeline (before its done is
  // queued); emit forgets it when the entry is removed or expires.
  void set_claimed_timeline (const std::string &id, uint64_t next);

  // Queue the user's callback with its result (empty callbacks are skipped).
  void complete (DoneFn done, RegistryStatus status);
  void complete (GetFn done, RegistryStatus status, std::optional<StreamEntry> entry);
  void complete (ListFn done, RegistryStatus status, std::vector<StreamEntry> entries);
  void emit (RegistryEvent::Kind kind, const StreamEntry &entry);

  int64_t heartbeat_timeout_ms () const { return heartbeat_timeout_ms_; }
  // How often to look for lapsed heartbeats: often enough that an entry goes
  // at most a quarter of the timeout late, and at least every 250 ms.
  unsigned sweep_interval_ms () const;

  // A source on the worker's context calling fn every interval_ms until it is
  // destroyed (g_source_destroy + g_source_unref, done by teardown).
  GSource *add_timer (unsigned interval_ms, std::function<void ()> fn);

  // nullopt when id is acceptable, else kInvalid naming it.
  static std::optional<RegistryStatus> check_id (const std::string &id);
  static int64_t now_unix_ms ();
  static int64_t now_monotonic_ms ();

 private:
  std::string node_id_;
  NodeInfo node_info_;
  mutable std::mutex timelines_mutex_;
  std::map<std::string, uint64_t> claimed_timelines_;
  int64_t heartbeat_timeout_ms_;
  std::shared_ptr<WatchList> watches_;
  WorkerThread worker_;
  bool shut_down_ = false;
};

// Removes a timer made by add_timer (nullptr is fine) and clears the pointer.
void destroy_source (GSource **source);

} // namespace mirror
