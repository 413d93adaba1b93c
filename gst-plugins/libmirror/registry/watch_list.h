// SPDX-License-Identifier: LGPL-2.1-or-later
// The watches of one registry. Thread-safe: watches are added and removed from
// any thread and notified on the worker thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "registry/stream_registry.h"

namespace mirror {

class WatchList {
 public:
  unsigned add (StreamRegistry::EventFn fn);
  void remove (unsigned watch_id);
  // Calls every watch registered now, in the order they were added. A watch
  // removed meanwhile is skipped; nothing more is called once closed.
  void notify (const RegistryEvent &event);
  // The registry is going away.
  void close ();

 private:
  std::mutex mutex_;
  std::map<unsigned, std::shared_ptr<StreamRegistry::EventFn>> watches_;
  unsigned next_id_ = 1;
  bool closed_ = false;
};

} // namespace mirror
