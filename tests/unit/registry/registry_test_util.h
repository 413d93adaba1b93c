// SPDX-License-Identifier: LGPL-2.1-or-later
// Helpers for registry tests: blocking wrappers over the asynchronous API,
// polling with deadlines, and a recorder for watch events.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "registry/stream_registry.h"

#include "../../common/wait_until.h"

namespace mirror::test {

using namespace std::chrono_literals;

// CI runs on two busy cores: waits are generous, and only fail slow tests.
// Stretched by MIRROR_TEST_SLOWDOWN where used (scaled ()).
inline constexpr std::chrono::milliseconds kCallTimeout = 10s;

// The thread a callback ran on, with the callback's result.
template <typename T> struct Answer {
  RegistryStatus status;
  T value{};
  std::thread::id thread;
};

template <typename T, typename Start>
Answer<T>
wait_answer (Start start)
{
  auto promise = std::make_shared<std::promise<Answer<T>>> ();
  auto future = promise->get_future ();
  start (promise);
  if (future.wait_for (scaled (kCallTimeout)) != std::future_status::ready)
    return { { RegistryErrc::kInternal, "test: no callback within 10 s (scaled)" }, {}, {} };
  return future.get ();
}

inline Answer<bool>
register_sync (StreamRegistry &registry, StreamEntry entry)
{
  return wait_answer<bool> ([&] (auto promise) {
    registry.register_stream (std::move (entry), [promise] (const RegistryStatus &status) {
      promise->set_value ({ status, status.ok (), std::this_thread::get_id () });
    });
  });
}

inline Answer<bool>
register_sync (StreamRegistry &registry, const std::string &id)
{
  StreamEntry entry;
  entry.id = id;
  entry.source = "srt://peer-of-" + id;
  return register_sync (registry, std::move (entry));
}

inline Answer<bool>
unregister_sync (StreamRegistry &registry, const std::string &id)
{
  return wait_answer<bool> ([&] (auto promise) {
    registry.unregister_stream (id, [promise] (const RegistryStatus &status) {
      promise->set_value ({ status, status.ok (), std::this_thread::get_id () });
    });
  });
}

inline Answer<std::optional<StreamEntry>>
get_sync (StreamRegistry &registry, const std::string &id)
{
  return wait_answer<std::optional<StreamEntry>> ([&] (auto promise) {
    registry.get_stream (
        id, [promise] (const RegistryStatus &status, const std::optional<StreamEntry> &entry) {
          promise->set_value ({ status, entry, std::this_thread::get_id () });
        });
  });
}

inline Answer<std::vector<StreamEntry>>
list_sync (StreamRegistry &registry)
{
  return wait_answer<std::vector<StreamEntry>> ([&] (auto promise) {
    registry.list_streams (
        [promise] (const RegistryStatus &status, const std::vector<StreamEntry> &entries) {
          promise->set_value ({ status, entries, std::this_thread::get_id () });
        });
  });
}

inline std::vector<std::string>
ids_of (const std::vector<StreamEntry> &entries)
{
  std::vector<std::string> ids;
  for (const auto &entry : entries)
    ids.push_back (entry.id);
  return ids;
}

inline bool
listed (StreamRegistry &registry, const std::string &id)
{
  auto answer = list_sync (registry);
  for (const auto &entry : answer.value)
    if (entry.id == id)
      return true;
  return false;
}

// Records watch events. Declare it before the registry it watches, so that it
// outlives the registry's worker thread.
class EventLog {
 public:
  struct Recorded {
    RegistryEvent event;
    std::thread::id thread;
  };

  void attach (StreamRegistry &registry)
  {
    registry.add_watch ([this] (const RegistryEvent &event) {
      std::lock_guard<std::mutex> lock (mutex_);
      events_.push_back ({ event, std::this_thread::get_id () });
    });
  }

  std::vector<Recorded> events () const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    return events_;
  }

  bool has (RegistryEvent::Kind kind, const std::string &id,
            std::optional<StreamState> state = std::nullopt) const
  {
    std::lock_guard<std::mutex> lock (mutex_);
    for (const auto &r : events_)
      if (r.event.kind == kind && r.event.entry.id == id
          && (!state || r.event.entry.state == *state))
        return true;
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Recorded> events_;
};

} // namespace mirror::test
