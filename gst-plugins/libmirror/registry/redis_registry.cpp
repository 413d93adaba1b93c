// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/redis_registry.h"

#include <algorithm>

#include "registry/redis_scripts.h"

namespace mirror {

namespace {

// How long a register_stream made while Redis is unreachable waits for it.
constexpr int64_t kRegisterWaitMs = 3000;

// A reply of the Lua scripts: {code, holder}, or what went wrong.
struct ScriptReply {
  bool valid = false;
  long long code = 0;
  std::string holder;
  uint64_t epoch = 0;    // a claim's: the entry's epoch
  uint64_t timeline = 0; // a claim's: the timeline stored before it
  std::string error;
};

std::string
text_of (const redisReply *reply)
{
  return reply->str ? std::string (reply->str, reply->len) : std::string ();
}

ScriptReply
parse_script_reply (const redisReply *reply)
{
  ScriptReply out;
  if (reply->type == REDIS_REPLY_ERROR) {
    out.error = text_of (reply);
  } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2
             && reply->element[0]->type == REDIS_REPLY_INTEGER) {
    out.valid = true;
    out.code = reply->element[0]->integer;
    out.holder = text_of (reply->element[1]);
    if (reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_INTEGER)
      out.epoch = static_cast<uint64_t> (std::max<long long> (0, reply->element[2]->integer));
    if (reply->elements >= 4 && reply->element[3]->type == REDIS_REPLY_INTEGER)
      out.timeline = static_cast<uint64_t> (std::max<long long> (0, reply->element[3]->integer));
  } else {
    out.error = "unexpected reply of type " + std::to_string (reply->type);
  }
  return out;
}

} // namespace

RedisRegistry::RedisRegistry (RegistryUri endpoint, std::string node_id, std::string key_prefix,
                              int64_t heartbeat_timeout_ms)
    : WorkerRegistry (std::move (node_id), heartbeat_timeout_ms, "mirror-registry-redis"),
      link_ (worker (), std::move (endpoint)), prefix_ (std::move (key_prefix)),
      index_key_ (prefix_ + "streams")
{
  run ([this] { link_.start ([this] { on_link_ready (); }); });
  sweep_timer_ = add_timer (sweep_interval_ms (), [this] { sweep (); });
}

RedisRegistry::~RedisRegistry ()
{
  shutdown ([this] {
    link_.shutdown ();
    destroy_source (&sweep_timer_);
  });
}

RegistryStatus
RedisRegistry::unreachable (const std::string &what) const
{
  return { RegistryErrc::kUnavailable,
           "cannot " + what + ": Redis at " + link_.describe () + " is unreachable" };
}

void
RedisRegistry::register_stream (StreamEntry entry, DoneFn done)
{
  run ([this, entry = std::move (entry), done = std::move (done)] () mutable {
    if (auto invalid = check_id (entry.id)) {
      complete (std::move (done), *invalid);
      return;
    }
    if (owned_.count (entry.id)) {
      complete (std::move (done), { RegistryErrc::kAlreadyExists,
                                    "stream '" + entry.id + "' is already registered by this node '"
                                        + node_id () + "'" });
      return;
    }
    tombstones_.erase (entry.id);
    std::string id = entry.id;
    entry.node_id = node_id ();
    entry.created_unix_ms = entry.updated_unix_ms = now_unix_ms ();
    Owned &owned = owned_[id];
    owned.entry = std::move (entry);
    owned.last_heartbeat_ms = now_monotonic_ms ();
    owned.generation = next_generation_++;
    owned.register_done = std::move (done);
    owned.register_deadline_ms = owned.last_heartbeat_ms + kRegisterWaitMs;
    // Not ready: on_link_ready () claims it, or the sweep gives up on it.
    if (link_.ready ())
      send_claim (id);
  });
}

void
RedisRegistry::send_claim (const std::string &id)
{
  Owned &owned = owned_.at (id);
  int64_t now = now_monotonic_ms ();
  // A registration waiting for the link has had no chance to heartbeat yet.
  if (!owned.claimed)
    owned.last_heartbeat_ms = now;
  int64_t ttl_ms = heartbeat_timeout_ms () - (now - owned.last_heartbeat_ms);
  if (ttl_ms <= 0)
    return; // lapsed: the sweep drops it
  owned.claim_in_flight = true;
  owned.dirty = false;
  uint64_t generation = owned.generation;
  stamp_owner (owned.entry);
  link_.send (
      { "EVAL", redis_scripts::kClaim, "4", stream_key (id), index_key_, epoch_key (id),
        timeline_key (id), node_id (), to_json (owned.entry), std::to_string (ttl_ms), id,
        std::to_string (owned.entry.epoch), std::to_string (kEpochTtlMs),
        std::to_string (owned.timeline) },
      [this, id, generation] (redisReply *reply) { on_claim_reply (id, generation, reply); });
}

void
RedisRegistry::on_claim_reply (const std::string &id, uint64_t generation, redisReply *reply)
{
  auto it = owned_.find (id);
  // Unregistered (and perhaps registered again) since: not this claim's business.
  if (it == owned_.end () || it->second.generation != generation)
    return;
  Owned &owned = it->second;
  owned.claim_in_flight = false;
  if (!reply)
    return; // link lost: on_link_ready () writes it again

  ScriptReply result = parse_script_reply (reply);
  if (!result.valid) {
    std::string why
        = "Redis at " + link_.describe () + " did not store stream '" + id + "': " + result.error;
    if (owned.claimed) {
      g_warning ("registry: %s", why.c_str ()); // the next heartbeat tries again
    } else {
      DoneFn done = std::move (owned.register_done);
      owned_.erase (it);
      complete (std::move (done), { RegistryErrc::kInternal, why });
    }
    return;
  }
  if (result.code != 1) {
    give_up (it, result.holder);
    return;
  }
  if (owned.entry.epoch == 0)
    owned.entry.epoch = result.epoch;
  if (!owned.claimed) {
    owned.claimed = true;
    set_claimed_timeline (id, result.timeline);
    complete (std::move (owned.register_done), {});
    owned.register_done = nullptr;
    emit (RegistryEvent::Kind::kAdded, owned.entry);
  }
  if (owned.dirty)
    send_claim (id);
}

void
RedisRegistry::give_up (OwnedMap::iterator it, const std::string &holder)
{
  Owned owned = std::move (it->second);
  owned_.erase (it);
  const std::string &id = owned.entry.id;
  if (!owned.claimed) {
    complete (std::move (owned.register_done),
              { RegistryErrc::kAlreadyExists,
                "stream '" + id + "' is already registered by node '" + holder + "'" });
    return;
  }
  // Its key lapsed (Redis down or this node silent) and another node claimed
  // the id in between: two origins must not both publish it.
  std::string message = "stream '" + id + "' is now registered by node '" + holder + "'; node '"
                        + node_id () + "' no longer owns it";
  g_warning ("registry: %s", message.c_str ());
  owned.entry.state = StreamState::kError;
  owned.entry.message = message;
  owned.entry.updated_unix_ms = now_unix_ms ();
  emit (RegistryEvent::Kind::kStateChanged, owned.entry);
}

void
RedisRegistry::unregister_stream (const std::string &id, DoneFn done)
{
  run ([this, id, done = std::move (done)] () mutable {
    auto it = owned_.find (id);
    if (it == owned_.end ()) {
      // Perhaps ours from an earlier run of this node: Redis decides.
      if (link_.ready ())
        send_release (id, std::move (done), false);
      else
        complete (std::move (done), unreachable ("unregister stream '" + id
                                                 + "' (not owned by node '" + node_id () + "')"));
      return;
    }
    Owned owned = std::move (it->second);
    owned_.erase (it);
    if (owned.claimed)
      emit (RegistryEvent::Kind::kRemoved, owned.entry);
    else
      complete (std::move (owned.register_done),
                { RegistryErrc::kNotFound,
                  "stream '" + id + "' was unregistered before its registration completed" });
    if (link_.ready ()) {
      send_release (id, std::move (done), true, owned.timeline);
    } else {
      tombstones_.insert (id);
      complete (std::move (done), {});
    }
  });
}

void
RedisRegistry::send_release (const std::string &id, DoneFn done, bool owned_here,
                             uint64_t timeline)
{
  link_.send (
      { "EVAL", redis_scripts::kRelease, "3", stream_key (id), index_key_, timeline_key (id),
        node_id (), id, std::to_string (timeline), std::to_string (kEpochTtlMs) },
      [this, id, done = std::move (done), owned_here] (redisReply *reply) mutable {
        if (!reply) {
          if (!owned_here) {
            complete (std::move (done), unreachable ("unregister stream '" + id + "'"));
            return;
          }
          if (!owned_.count (id))
            tombstones_.insert (id); // replayed on reconnect
          complete (std::move (done), {});
          return;
        }
        ScriptReply result = parse_script_reply (reply);
        if (!result.valid) {
          complete (std::move (done), { RegistryErrc::kInternal, "Redis at " + link_.describe ()
                                                                     + " did not remove stream '"
                                                                     + id + "': " + result.error });
        } else if (result.code == 1 || (result.code == 0 && owned_here)) {
          complete (std::move (done), {});
        } else if (result.code == 0) {
          complete (std::move (done),
                    { RegistryErrc::kNotFound, "stream '" + id + "' is not registered" });
        } else {
          complete (std::move (done), { RegistryErrc::kNotOwner,
                                        "stream '" + id + "' is owned by node '" + result.holder
                                            + "', not '" + node_id () + "'" });
        }
      });
}

void
RedisRegistry::get_stream (const std::string &id, GetFn done)
{
  run ([this, id, done = std::move (done)] () mutable {
    if (!link_.ready ()) {
      answer_locally (id, std::move (done));
      return;
    }
    link_.send ({ "GET", stream_key (id) }, [this, id,
                                             done = std::move (done)] (redisReply *reply) mutable {
      if (!reply) {
        answer_locally (id, std::move (done));
      } else if (reply->type == REDIS_REPLY_NIL) {
        complete (std::move (done),
                  { RegistryErrc::kNotFound, "stream '" + id + "' is not registered" },
                  std::nullopt);
      } else if (reply->type != REDIS_REPLY_STRING) {
        complete (
            std::move (done),
            { RegistryErrc::kInternal, "GET " + stream_key (id) + " failed: " + text_of (reply) },
            std::nullopt);
      } else if (auto entry = stream_entry_from_json (text_of (reply))) {
        complete (std::move (done), {}, freshest (std::move (*entry)));
      } else {
        complete (std::move (done),
                  { RegistryErrc::kInternal, "stream '" + id + "' in Redis is not a valid entry: "
                                                 + text_of (reply).substr (0, 80) },
                  std::nullopt);
      }
    });
  });
}

void
RedisRegistry::list_streams (ListFn done)
{
  run ([this, done = std::move (done)] () mutable {
    if (!link_.ready ()) {
      list_locally (std::move (done));
      return;
    }
    link_.send ({ "SMEMBERS", index_key_ }, [this,
                                             done = std::move (done)] (redisReply *reply) mutable {
      if (!reply) {
        list_locally (std::move (done));
        return;
      }
      if (reply->type != REDIS_REPLY_ARRAY) {
        complete (
            std::move (done),
            { RegistryErrc::kInternal, "SMEMBERS " + index_key_ + " failed: " + text_of (reply) },
            std::vector<StreamEntry>{});
        return;
      }
      std::vector<std::string> ids;
      std::vector<std::string> mget{ "MGET" };
      for (size_t i = 0; i < reply->elements; ++i) {
        if (reply->element[i]->type != REDIS_REPLY_STRING)
          continue;
        ids.push_back (text_of (reply->element[i]));
        mget.push_back (stream_key (ids.back ()));
      }
      if (ids.empty ()) {
        complete (std::move (done), {}, std::vector<StreamEntry>{});
        return;
      }
      link_.send (mget, [this, ids, done = std::move (done)] (redisReply *reply) mutable {
        if (!reply) {
          list_locally (std::move (done));
          return;
        }
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != ids.size ()) {
          complete (std::move (done),
                    { RegistryErrc::kInternal, "MGET of " + std::to_string (ids.size ())
                                                   + " streams failed: " + text_of (reply) },
                    std::vector<StreamEntry>{});
          return;
        }
        std::vector<StreamEntry> entries;
        std::vector<std::string> expired;
        for (size_t i = 0; i < ids.size (); ++i) {
          const redisReply *value = reply->element[i];
          if (value->type != REDIS_REPLY_STRING) {
            expired.push_back (ids[i]);
            continue;
          }
          if (auto entry = stream_entry_from_json (text_of (value)))
            entries.push_back (freshest (std::move (*entry)));
          else
            g_warning ("registry: skipping stream '%s': its value in Redis is not a valid entry",
                       ids[i].c_str ());
        }
        if (!expired.empty ())
          prune (expired);
        std::sort (entries.begin (), entries.end (),
                   [] (const StreamEntry &a, const StreamEntry &b) { return a.id < b.id; });
        complete (std::move (done), {}, std::move (entries));
      });
    });
  });
}

void
RedisRegistry::prune (const std::vector<std::string> &ids)
{
  std::vector<std::string> argv{ "EVAL", redis_scripts::kPrune, std::to_string (ids.size () + 1),
                                 index_key_ };
  for (const auto &id : ids)
    argv.push_back (stream_key (id));
  argv.insert (argv.end (), ids.begin (), ids.end ());
  link_.send (argv, [] (redisReply *) {});
}

StreamEntry
RedisRegistry::freshest (StreamEntry stored) const
{
  auto it = owned_.find (stored.id);
  if (it != owned_.end () && it->second.claimed && stored.node_id == node_id ())
    return it->second.entry;
  return stored;
}

void
RedisRegistry::answer_locally (const std::string &id, GetFn done)
{
  auto it = owned_.find (id);
  if (it != owned_.end () && it->second.claimed)
    complete (std::move (done), {}, it->second.entry);
  else
    complete (std::move (done), unreachable ("get stream '" + id + "'"), std::nullopt);
}

void
RedisRegistry::list_locally (ListFn done)
{
  std::vector<StreamEntry> entries;
  for (const auto &[id, owned] : owned_)
    if (owned.claimed)
      entries.push_back (owned.entry);
  complete (std::move (done),
            unreachable ("list the cluster's streams (listing only node '" + node_id () + "''s "
                         + std::to_string (entries.size ()) + ")"),
            std::move (entries));
}

void
RedisRegistry::on_link_ready ()
{
  for (const auto &id : tombstones_)
    send_release (id, {}, true);
  tombstones_.clear ();
  size_t claims = 0;
  for (auto &[id, owned] : owned_) {
    if (owned.claim_in_flight)
      continue;
    send_claim (id);
    ++claims;
  }
  if (claims)
    g_message ("registry: writing %zu streams of node '%s' to Redis at %s", claims,
               node_id ().c_str (), link_.describe ().c_str ());
}

RedisRegistry::Owned *
RedisRegistry::find_owned (const std::string &id, const char *what)
{
  auto it = owned_.find (id);
  if (it == owned_.end ()) {
    g_debug ("registry: ignoring %s of stream '%s': not owned by node '%s'", what, id.c_str (),
             node_id ().c_str ());
    return nullptr;
  }
  return &it->second;
}

void
RedisRegistry::write (Owned &owned)
{
  if (owned.claim_in_flight) {
    owned.dirty = true;
    return;
  }
  // Unclaimed: the claim still to go out carries the latest. Not ready:
  // on_link_ready () writes every owned stream.
  if (owned.claimed && link_.ready ())
    send_claim (owned.entry.id);
}

void
RedisRegistry::heartbeat (const std::string &id)
{
  run ([this, id] {
    if (Owned *owned = find_owned (id, "heartbeat")) {
      owned->last_heartbeat_ms = now_monotonic_ms ();
      write (*owned);
    }
  });
}

void
RedisRegistry::update_state (const std::string &id, StreamState state, const std::string &message)
{
  run ([this, id, state, message] {
    Owned *owned = find_owned (id, "state update");
    if (!owned)
      return;
    owned->last_heartbeat_ms = now_monotonic_ms ();
    if (owned->entry.state != state || owned->entry.message != message) {
      owned->entry.state = state;
      owned->entry.message = message;
      owned->entry.updated_unix_ms = now_unix_ms ();
      if (owned->claimed)
        emit (RegistryEvent::Kind::kStateChanged, owned->entry);
    }
    write (*owned);
  });
}

void
RedisRegistry::update_stats (const std::string &id, const StreamStats &stats, unsigned fields)
{
  run ([this, id, stats, fields] {
    Owned *owned = find_owned (id, "stats update");
    if (!owned)
      return;
    owned->last_heartbeat_ms = now_monotonic_ms ();
    merge_stats (owned->entry.stats, stats, fields);
    owned->entry.updated_unix_ms = now_unix_ms ();
    write (*owned);
  });
}

void
RedisRegistry::record_timeline (const std::string &id, uint64_t next)
{
  run ([this, id, next] {
    Owned *owned = find_owned (id, "timeline");
    if (!owned || next <= owned->timeline)
      return;
    owned->timeline = next;
    write (*owned);
  });
}

void
RedisRegistry::sweep ()
{
  int64_t now = now_monotonic_ms ();
  for (auto it = owned_.begin (); it != owned_.end ();) {
    Owned &owned = it->second;
    if (!owned.claimed) {
      if (owned.claim_in_flight || now < owned.register_deadline_ms) {
        ++it;
        continue;
      }
      complete (std::move (owned.register_done),
                unreachable ("register stream '" + it->first + "' within "
                             + std::to_string (kRegisterWaitMs) + " ms"));
      it = owned_.erase (it);
      continue;
    }
    int64_t silent_ms = now - owned.last_heartbeat_ms;
    if (silent_ms <= heartbeat_timeout_ms ()) {
      ++it;
      continue;
    }
    g_message ("registry: stream '%s' expired: no heartbeat for %" G_GINT64_FORMAT
               " ms (timeout %" G_GINT64_FORMAT " ms)",
               it->first.c_str (), silent_ms, heartbeat_timeout_ms ());
    emit (RegistryEvent::Kind::kExpired, owned.entry);
    it = owned_.erase (it);
  }
}

} // namespace mirror
