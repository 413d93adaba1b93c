// SPDX-License-Identifier: LGPL-2.1-or-later
// Cluster playback, mirrord's side: what this node tells the cluster about
// itself (its public URL and its load, on the entries it owns) and what it
// learns from it (who owns the streams it does not, for the Origin's
// redirects). Once a second on the main loop; the registry's answers land in
// the directory from the registry's thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <glib.h>

#include "hls/stream_store.h"
#include "origin/cluster_directory.h"
#include "registry/stream_registry.h"

namespace mirror {
class Origin;
}

namespace mirror::daemon {

class StreamManager;

// The streams' timelines kept in the registry (StreamRegistry::
// record_timeline), for the Origin's stores: a node that takes a stream on
// starts its playlists past every discontinuity an earlier owner announced.
// It holds the registry weakly: stores may outlive it at shutdown.
class RegistryTimeline final : public TimelineLedger {
 public:
  explicit RegistryTimeline (std::weak_ptr<StreamRegistry> registry)
      : registry_ (std::move (registry))
  {}
  uint64_t next_discontinuity_sequence (const std::string &id) override
  {
    auto registry = registry_.lock ();
    return registry ? registry->claimed_timeline (id) : 0;
  }
  void record (const std::string &id, uint64_t next) override
  {
    if (auto registry = registry_.lock ())
      registry->record_timeline (id, next);
  }

 private:
  std::weak_ptr<StreamRegistry> registry_;
};

class ClusterPresence {
 public:
  // @directory: filled with the other nodes' streams when the registry is
  // shared (Redis); left empty on a single node.
  ClusterPresence (std::shared_ptr<StreamRegistry> registry,
                   std::shared_ptr<ClusterDirectory> directory, std::string public_url,
                   const StreamManager &streams, std::shared_ptr<Origin> origin);
  ~ClusterPresence ();
  ClusterPresence (const ClusterPresence &) = delete;
  ClusterPresence &operator= (const ClusterPresence &) = delete;

  // Once now, then every second until destroyed.
  void start ();

 private:
  void tick ();
  double cpu_since_last ();

  std::shared_ptr<StreamRegistry> registry_;
  std::shared_ptr<ClusterDirectory> directory_;
  std::string public_url_;
  const StreamManager &streams_;
  std::shared_ptr<Origin> origin_;
  bool shared_ = false; // the registry is the cluster's, not this process's
  guint timer_ = 0;
  int64_t last_wall_us_ = 0;
  int64_t last_cpu_us_ = 0;
  double cpu_ = 0; // cores, over the last second or so
};

} // namespace mirror::daemon
