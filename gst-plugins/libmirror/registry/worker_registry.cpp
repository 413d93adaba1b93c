// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/worker_registry.h"

#include <algorithm>

#include <glib.h>

namespace mirror {

namespace {

constexpr size_t kMaxIdLength = 256;
constexpr unsigned kMaxSweepIntervalMs = 250;
constexpr unsigned kMinSweepIntervalMs = 10;

struct Timer {
  std::function<void ()> fn;
};

gboolean
timer_fire (gpointer data)
{
  auto *timer = static_cast<Timer *> (data);
  try {
    timer->fn ();
  } catch (...) {
    g_critical ("registry timer threw an exception");
  }
  return G_SOURCE_CONTINUE;
}

void
timer_free (gpointer data)
{
  delete static_cast<Timer *> (data);
}

} // namespace

WorkerRegistry::WorkerRegistry (std::string node_id, int64_t heartbeat_timeout_ms,
                                const char *thread_name)
    : node_id_ (std::move (node_id)), heartbeat_timeout_ms_ (heartbeat_timeout_ms),
      watches_ (std::make_shared<WatchList> ()), worker_ (thread_name)
{}

WorkerRegistry::~WorkerRegistry ()
{
  shutdown ({});
}

void
WorkerRegistry::set_node_info (const NodeInfo &info)
{
  run ([this, info] { node_info_ = info; });
}

void
WorkerRegistry::stamp_owner (StreamEntry &entry) const
{
  entry.owner_url = node_info_.public_url;
  entry.owner_tls_pin = node_info_.tls_pin;
  entry.owner_load = node_info_.load;
}

void
WorkerRegistry::shutdown (const std::function<void ()> &teardown)
{
  if (shut_down_)
    return;
  shut_down_ = true;
  watches_->close ();
  worker_.close ();
  if (teardown)
    worker_.run_sync (teardown);
  worker_.stop ();
}

unsigned
WorkerRegistry::add_watch (EventFn fn)
{
  return watches_->add (std::move (fn));
}

void
WorkerRegistry::remove_watch (unsigned watch_id)
{
  watches_->remove (watch_id);
}

void
WorkerRegistry::complete (DoneFn done, RegistryStatus status)
{
  if (done)
    run ([done = std::move (done), status = std::move (status)] { done (status); });
}

void
WorkerRegistry::complete (GetFn done, RegistryStatus status, std::optional<StreamEntry> entry)
{
  if (done)
    run ([done = std::move (done), status = std::move (status), entry = std::move (entry)] {
      done (status, entry);
    });
}

void
WorkerRegistry::complete (ListFn done, RegistryStatus status, std::vector<StreamEntry> entries)
{
  if (done)
    run ([done = std::move (done), status = std::move (status), entries = std::move (entries)] {
      done (status, entries);
    });
}

uint64_t
WorkerRegistry::claimed_timeline (const std::string &id) const
{
  std::lock_guard<std::mutex> lock (timelines_mutex_);
  auto it = claimed_timelines_.find (id);
  return it == claimed_timelines_.end () ? 0 : it->second;
}

void
WorkerRegistry::set_claimed_timeline (const std::string &id, uint64_t next)
{
  std::lock_guard<std::mutex> lock (timelines_mutex_);
  claimed_timelines_[id] = next;
}

void
WorkerRegistry::emit (RegistryEvent::Kind kind, const StreamEntry &entry)
{
  if (kind == RegistryEvent::Kind::kRemoved || kind == RegistryEvent::Kind::kExpired) {
    std::lock_guard<std::mutex> lock (timelines_mutex_);
    claimed_timelines_.erase (entry.id);
  }
  // The task holds the watch list, not this registry: a watch may drop the
  // last reference to the registry while later watches are still to be told.
  run ([watches = watches_, event = RegistryEvent{ kind, entry }] { watches->notify (event); });
}

unsigned
WorkerRegistry::sweep_interval_ms () const
{
  int64_t quarter = heartbeat_timeout_ms_ / 4;
  return static_cast<unsigned> (
      std::clamp<int64_t> (quarter, kMinSweepIntervalMs, kMaxSweepIntervalMs));
}

GSource *
WorkerRegistry::add_timer (unsigned interval_ms, std::function<void ()> fn)
{
  GSource *source = g_timeout_source_new (interval_ms);
  g_source_set_callback (source, timer_fire, new Timer{ std::move (fn) }, timer_free);
  g_source_attach (source, worker_.context ());
  return source;
}

std::optional<RegistryStatus>
WorkerRegistry::check_id (const std::string &id)
{
  if (id.empty ())
    return RegistryStatus{ RegistryErrc::kInvalid, "stream id is empty" };
  if (id.size () > kMaxIdLength)
    return RegistryStatus{ RegistryErrc::kInvalid,
                           "stream id '" + id.substr (0, 32) + "...' is "
                               + std::to_string (id.size ()) + " bytes long, at most "
                               + std::to_string (kMaxIdLength) + " allowed" };
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f || c == ' ')
      return RegistryStatus{ RegistryErrc::kInvalid,
                             "stream id '" + id + "' contains a space or control character" };
  }
  return std::nullopt;
}

int64_t
WorkerRegistry::now_unix_ms ()
{
  return g_get_real_time () / 1000;
}

int64_t
WorkerRegistry::now_monotonic_ms ()
{
  return g_get_monotonic_time () / 1000;
}

void
destroy_source (GSource **source)
{
  if (!*source)
    return;
  g_source_destroy (*source);
  g_source_unref (*source);
  *source = nullptr;
}

} // namespace mirror
