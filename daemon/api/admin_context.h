// SPDX-License-Identifier: LGPL-2.1-or-later
// What the admin API's handlers reach: everything mirrord owns that outlives
// one request.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/soup_acceptor.h"

namespace mirror {
class Metrics;
class Origin;
class StreamRegistry;
} // namespace mirror

namespace mirror::daemon {

struct Config;
class StreamManager;

// Health of the parts that are not streams (listeners, buses), as reported
// by whoever runs them.
class HealthBoard {
 public:
  struct Component {
    bool healthy = true;
    std::string detail;
  };
  void set (const std::string &name, bool healthy, const std::string &detail);
  std::map<std::string, Component> snapshot () const;

 private:
  mutable std::mutex lock_;
  std::map<std::string, Component> components_;
};

struct AdminContext {
  const Config &config;
  StreamManager &streams;
  std::shared_ptr<StreamRegistry> registry;
  Metrics &metrics;
  HealthBoard &health;
  int64_t started_monotonic_ms;
  std::shared_ptr<Origin> origin; // null: no LL-HLS front end
  // The admin port's own connections (set by the REST server).
  std::function<SoupAcceptor::Stats ()> admin_connections;
  // Sets an SRT stream's passphrase for new callers (IngestListeners); none:
  // no SRT listener.
  std::function<bool (const std::string &id, std::optional<std::string> passphrase)>
      set_srt_passphrase;
  // Drops a stream's SRT caller: its address, or nothing when none is
  // connected here.
  std::function<std::optional<std::string> (const std::string &id)> drop_srt_caller;
};

} // namespace mirror::daemon
