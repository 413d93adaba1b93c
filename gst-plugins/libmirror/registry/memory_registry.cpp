// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/memory_registry.h"

#include <algorithm>

#include <glib.h>

namespace mirror {

MemoryRegistry::MemoryRegistry (std::string node_id, int64_t heartbeat_timeout_ms)
    : WorkerRegistry (std::move (node_id), heartbeat_timeout_ms, "mirror-registry-mem")
{
  sweep_timer_ = add_timer (sweep_interval_ms (), [this] { sweep (); });
}

MemoryRegistry::~MemoryRegistry ()
{
  shutdown ([this] { destroy_source (&sweep_timer_); });
}

void
MemoryRegistry::register_stream (StreamEntry entry, DoneFn done)
{
  run ([this, entry = std::move (entry), done = std::move (done)] () mutable {
    if (auto invalid = check_id (entry.id)) {
      complete (std::move (done), *invalid);
      return;
    }
    auto it = streams_.find (entry.id);
    if (it != streams_.end ()) {
      complete (std::move (done), { RegistryErrc::kAlreadyExists,
                                    "stream '" + entry.id + "' is already registered by node '"
                                        + it->second.entry.node_id + "'" });
      return;
    }
    entry.node_id = node_id ();
    // Ids come and go: forget the pasts of those long gone (a later
    // registration starts again at epoch 1; one node's timelines are told
    // apart by their clock numbering and its numbering ledger anyway).
    if (pasts_.size () >= kPastsKept)
      std::erase_if (pasts_, [this] (const auto &e) { return !streams_.count (e.first); });
    Past &past = pasts_[entry.id];
    entry.epoch = ++past.epoch;
    set_claimed_timeline (entry.id, past.timeline);
    stamp_owner (entry);
    entry.created_unix_ms = entry.updated_unix_ms = now_unix_ms ();
    Record &record = streams_[entry.id];
    record.entry = std::move (entry);
    record.last_heartbeat_ms = now_monotonic_ms ();
    complete (std::move (done), {});
    emit (RegistryEvent::Kind::kAdded, record.entry);
  });
}

void
MemoryRegistry::unregister_stream (const std::string &id, DoneFn done)
{
  run ([this, id, done = std::move (done)] () mutable {
    auto it = streams_.find (id);
    if (it == streams_.end ()) {
      complete (std::move (done),
                { RegistryErrc::kNotFound, "stream '" + id + "' is not registered" });
      return;
    }
    if (it->second.entry.node_id != node_id ()) {
      complete (std::move (done),
                { RegistryErrc::kNotOwner, "stream '" + id + "' is owned by node '"
                                               + it->second.entry.node_id + "', not '" + node_id ()
                                               + "'" });
      return;
    }
    StreamEntry gone = std::move (it->second.entry);
    streams_.erase (it);
    complete (std::move (done), {});
    emit (RegistryEvent::Kind::kRemoved, gone);
  });
}

void
MemoryRegistry::get_stream (const std::string &id, GetFn done)
{
  run ([this, id, done = std::move (done)] () mutable {
    auto it = streams_.find (id);
    if (it == streams_.end ())
      complete (std::move (done),
                { RegistryErrc::kNotFound, "stream '" + id + "' is not registered" }, std::nullopt);
    else
      complete (std::move (done), {}, stamped (it->second.entry));
  });
}

void
MemoryRegistry::list_streams (ListFn done)
{
  run ([this, done = std::move (done)] () mutable {
    std::vector<StreamEntry> entries;
    entries.reserve (streams_.size ());
    for (const auto &[id, record] : streams_)
      entries.push_back (stamped (record.entry));
    complete (std::move (done), {}, std::move (entries));
  });
}

StreamEntry
MemoryRegistry::stamped (StreamEntry entry) const
{
  // Every entry is this node's: its latest public URL and load.
  stamp_owner (entry);
  return entry;
}

MemoryRegistry::Record *
MemoryRegistry::find_owned (const std::string &id, const char *what)
{
  auto it = streams_.find (id);
  if (it == streams_.end ()) {
    g_debug ("registry: ignoring %s of stream '%s': not registered", what, id.c_str ());
    return nullptr;
  }
  if (it->second.entry.node_id != node_id ()) {
    g_debug ("registry: ignoring %s of stream '%s': owned by node '%s', not '%s'", what,
             id.c_str (), it->second.entry.node_id.c_str (), node_id ().c_str ());
    return nullptr;
  }
  return &it->second;
}

void
MemoryRegistry::heartbeat (const std::string &id)
{
  run ([this, id] {
    if (Record *record = find_owned (id, "heartbeat"))
      record->last_heartbeat_ms = now_monotonic_ms ();
  });
}

void
MemoryRegistry::update_state (const std::string &id, StreamState state, const std::string &message)
{
  run ([this, id, state, message] {
    Record *record = find_owned (id, "state update");
    if (!record)
      return;
    record->last_heartbeat_ms = now_monotonic_ms ();
    if (record->entry.state == state && record->entry.message == message)
      return;
    record->entry.state = state;
    record->entry.message = message;
    record->entry.updated_unix_ms = now_unix_ms ();
    emit (RegistryEvent::Kind::kStateChanged, record->entry);
  });
}

void
MemoryRegistry::update_stats (const std::string &id, const StreamStats &stats, unsigned fields)
{
  run ([this, id, stats, fields] {
    Record *record = find_owned (id, "stats update");
    if (!record)
      return;
    record->last_heartbeat_ms = now_monotonic_ms ();
    merge_stats (record->entry.stats, stats, fields);
    record->entry.updated_unix_ms = now_unix_ms ();
  });
}

void
MemoryRegistry::record_timeline (const std::string &id, uint64_t next)
{
  run ([this, id, next] {
    if (find_owned (id, "timeline"))
      pasts_[id].timeline = std::max (pasts_[id].timeline, next);
  });
}

void
MemoryRegistry::sweep ()
{
  int64_t now = now_monotonic_ms ();
  for (auto it = streams_.begin (); it != streams_.end ();) {
    int64_t silent_ms = now - it->second.last_heartbeat_ms;
    if (silent_ms <= heartbeat_timeout_ms ()) {
      ++it;
      continue;
    }
    g_message ("registry: stream '%s' expired: no heartbeat for %" G_GINT64_FORMAT
               " ms (timeout %" G_GINT64_FORMAT " ms)",
               it->first.c_str (), silent_ms, heartbeat_timeout_ms ());
    emit (RegistryEvent::Kind::kExpired, it->second.entry);
    it = streams_.erase (it);
  }
}

} // namespace mirror
