// SPDX-License-Identifier: LGPL-2.1-or-later
#include "api/events.h"

#include <algorithm>
#include <set>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "api/http_exchange.h"
#include "api/v1/stream_json.h"
#include "config/config.h"
#include "hls/media_store.h"
#include "hls/stream_store.h"
#include "origin/origin.h"
#include "registry/stream_registry.h"
#include "streams/stream_manager.h"

namespace mirror::daemon {

namespace {

constexpr guint kTickMs = 1000;

bool
is_alarm (const std::string &state)
{
  return state == "error" || state == "stalled" || state == "degraded";
}

// JSON text of a string value (quoted, escaped).
std::string
json_string (const std::string &text)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (node, text.c_str ());
  return json_to_compact_string (node);
}

// Everything a tile shows of @view: the REST document's members, plus what
// only this node's Origin knows for its own streams (renditions, the live
// edge's distance to the clock).
JsonNode *
stream_figures (const StreamView &view, Origin *origin, JsonNode *dvr,
                const ViewerCounts *viewers)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  add_stream_members (b, view);
  std::shared_ptr<StreamStore> store
      = view.local && origin ? origin->store ().find_stream (view.entry.id) : nullptr;
  if (store) {
    json_builder_set_member_name (b, "renditions");
    json_builder_begin_array (b);
    for (const RenditionInfo &r : store->renditions ()) {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, r.name.c_str ());
      json_builder_set_member_name (b, "codecs");
      json_builder_add_string_value (b, r.codecs.c_str ());
      json_builder_set_member_name (b, "width");
      json_builder_add_int_value (b, r.width);
      json_builder_set_member_name (b, "height");
      json_builder_add_int_value (b, r.height);
      json_builder_set_member_name (b, "bandwidth");
      json_builder_add_int_value (b, r.bandwidth);
      json_builder_end_object (b);
    }
    json_builder_end_array (b);
    if (viewers) {
      auto it = viewers->find (view.entry.id);
      json_builder_set_member_name (b, "viewers");
      json_builder_begin_object (b);
      for (size_t p = 0; p < kOriginProtocols; p++) {
        json_builder_set_member_name (b, to_string (OriginProtocol (p)));
        json_builder_add_int_value (b, it == viewers->end () ? 0 : it->second[p]);
      }
      json_builder_end_object (b);
    }
    if (auto edge = store->live_edge_wallclock_ns ()) {
      json_builder_set_member_name (b, "live_lag_s");
      json_builder_add_double_value (b, (double)(g_get_real_time () * 1000 - *edge) / 1e9);
    }
  }
  json_builder_end_object (b);
  JsonNode *root = json_builder_get_root (b);
  g_object_unref (b);
  if (dvr)
    json_object_set_member (json_node_get_object (root), "dvr", json_node_copy (dvr));
  return root;
}

// The "dvr" member alone (its own object), or null when nothing records.
JsonNode *
dvr_node (const AdminContext &ctx, const std::string &id)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  add_dvr_members (b, ctx, id);
  json_builder_end_object (b);
  JsonNode *root = json_builder_get_root (b);
  g_object_unref (b);
  JsonObject *o = json_node_get_object (root);
  JsonNode *dvr = json_object_has_member (o, "dvr") ? json_node_copy (json_object_get_member (o, "dvr"))
                                                    : nullptr;
  json_node_unref (root);
  return dvr;
}

// member name -> its value's JSON text.
std::map<std::string, std::string>
members_of (JsonNode *object_node)
{
  std::map<std::string, std::string> out;
  JsonObject *o = json_node_get_object (object_node);
  JsonObjectIter it;
  const gchar *name;
  JsonNode *value;
  json_object_iter_init (&it, o);
  while (json_object_iter_next (&it, &name, &value))
    out[name] = json_to_compact_string (json_node_copy (value));
  return out;
}

std::string
object_text (const std::map<std::string, std::string> &members)
{
  std::string out = "{";
  for (const auto &[name, text] : members) {
    if (out.size () > 1)
      out += ",";
    out += json_string (name) + ":" + text;
  }
  return out + "}";
}

std::string
now_text ()
{
  return rfc3339_ms (g_get_real_time () / 1000);
}

} // namespace

struct EventStream::Subscriber {
  SoupServerMessage *msg = nullptr;
  // Still inside the request's handler: libsoup writes what is appended
  // when the handler returns; later chunks need an unpause.
  bool in_handler = true;
  gulong finished_id = 0;
  gulong disconnected_id = 0;
};

EventStream::EventStream (AdminContext &context) : ctx_ (context)
{
  StreamManager::Listener l;
  l.added = [this] (const StreamView &view) { on_added (view); };
  l.removed = [this] (const std::string &id) { on_removed (id); };
  l.state_changed = [this] (const StreamView &view) { on_state (view); };
  listener_ = ctx_.streams.add_listener (std::move (l));
}

EventStream::~EventStream ()
{
  *alive_ = false;
  ctx_.streams.remove_listener (listener_);
  close_all ();
  forget_dvr (nullptr);
}

std::string
EventStream::state_events (const std::string &id, const std::string &state,
                           const std::string &message)
{
  auto was = last_state_.find (id);
  if (was == last_state_.end () || was->second == state)
    return {};
  std::string out = format ("state-changed", "{\"id\":" + json_string (id) + ",\"from\":"
                                                 + json_string (was->second) + ",\"to\":"
                                                 + json_string (state) + ",\"message\":"
                                                 + json_string (message) + "}");
  if (is_alarm (state))
    out += format ("alarm", "{\"id\":" + json_string (id) + ",\"state\":" + json_string (state)
                                + ",\"message\":" + json_string (message) + "}");
  was->second = state;
  return out;
}

void
EventStream::on_added (const StreamView &view)
{
  if (subscribers_.empty () || last_.count (view.entry.id))
    return;
  const ViewerCounts viewers = viewer_counts ();
  JsonNode *figures = stream_figures (view, ctx_.origin.get (), dvr_of (view), &viewers);
  last_[view.entry.id] = members_of (figures);
  last_state_[view.entry.id] = to_string (view.entry.state);
  broadcast (format ("stream-added", json_to_compact_string (figures)));
}

void
EventStream::on_removed (const std::string &id)
{
  if (subscribers_.empty ())
    return;
  last_.erase (id);
  last_state_.erase (id);
  forget_dvr (&id);
  broadcast (format ("stream-removed", "{\"id\":" + json_string (id) + "}"));
}

void
EventStream::on_state (const StreamView &view)
{
  if (subscribers_.empty ())
    return;
  const std::string &id = view.entry.id;
  if (!last_state_.count (id)) {
    // Not seen yet (it came between a client's snapshot and the first
    // tick): it is new to the clients that did not list it.
    on_added (view);
    return;
  }
  const std::string out = state_events (id, to_string (view.entry.state), view.entry.message);
  if (!out.empty ())
    broadcast (out);
}

std::string
EventStream::format (const char *name, const std::string &json)
{
  return std::string ("event: ") + name + "\ndata: " + json + "\n\n";
}

void
EventStream::subscribe (SoupServerMessage *msg)
{
  soup_server_message_set_status (msg, 200, nullptr);
  SoupMessageHeaders *h = soup_server_message_get_response_headers (msg);
  soup_message_headers_set_encoding (h, SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type (h, "text/event-stream", nullptr);
  soup_message_headers_replace (h, "Cache-Control", "no-store");
  // Sent chunks are not kept: the stream may last for days.
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);

  auto sub = std::make_unique<Subscriber> ();
  sub->msg = msg;
  g_object_ref (msg);
  auto gone = +[] (SoupServerMessage *m, gpointer self) {
    static_cast<EventStream *> (self)->remove (m);
  };
  sub->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (gone), this);
  sub->disconnected_id = g_signal_connect (msg, "disconnected", G_CALLBACK (gone), this);
  Subscriber &s = *sub;
  subscribers_.push_back (std::move (sub));
  // Reconnect after a second when the connection drops (EventSource).
  send (s, "retry: 1000\n\n");

  // This client's snapshot: the last figures sent to everyone, or, before
  // the first tick, a listing of its own.
  std::weak_ptr<bool> alive = alive_;
  ctx_.streams.list ([this, alive, msg] (const ApiError &error, const std::vector<StreamView> &views) {
    if (alive.expired () || !*alive.lock ())
      return;
    auto it = std::find_if (subscribers_.begin (), subscribers_.end (),
                            [msg] (const auto &s) { return s->msg == msg; });
    if (it == subscribers_.end ())
      return;
    std::string streams = "[";
    const ViewerCounts viewers = viewer_counts ();
    if (error.ok ())
      for (const StreamView &view : views) {
        if (streams.size () > 1)
          streams += ",";
        JsonNode *figures = stream_figures (view, ctx_.origin.get (), dvr_of (view), &viewers);
        // The baseline for what comes next, where there is none yet.
        if (!last_.count (view.entry.id)) {
          last_[view.entry.id] = members_of (figures);
          last_state_[view.entry.id] = to_string (view.entry.state);
        }
        streams += json_to_compact_string (figures);
      }
    streams += "]";
    send (**it, format ("snapshot", "{\"time\":" + json_string (now_text ()) + ",\"node_id\":"
                                        + json_string (ctx_.registry->node_id ()) + ",\"origin\":"
                                        + origin_json () + ",\"streams\":" + streams + "}"));
  });
  if (auto it = std::find_if (subscribers_.begin (), subscribers_.end (),
                             [msg] (const auto &s) { return s->msg == msg; });
      it != subscribers_.end ())
    (*it)->in_handler = false;
  ensure_timer ();
}

void
EventStream::forget_dvr (const std::string *id)
{
  for (auto it = dvr_cache_.begin (); it != dvr_cache_.end ();) {
    if (id && it->first != *id) {
      ++it;
      continue;
    }
    if (it->second.node)
      json_node_unref (it->second.node);
    it = dvr_cache_.erase (it);
  }
}

JsonNode *
EventStream::dvr_of (const StreamView &view)
{
  if (!view.local)
    return nullptr;
  // Read again every 10 s at most: it lists the recording's files.
  constexpr gint64 kDvrEveryUs = 10 * G_USEC_PER_SEC;
  const gint64 now = g_get_monotonic_time ();
  auto &cached = dvr_cache_[view.entry.id];
  if (!cached.node || now - cached.read_us >= kDvrEveryUs) {
    if (cached.node)
      json_node_unref (cached.node);
    cached.node = dvr_node (ctx_, view.entry.id);
    cached.read_us = now;
  }
  return cached.node;
}

ViewerCounts
EventStream::viewer_counts () const
{
  return ctx_.origin ? ctx_.origin->viewers () : ViewerCounts{};
}

void
EventStream::ensure_timer ()
{
  if (timer_ || subscribers_.empty ())
    return;
  timer_ = g_timeout_add (
      kTickMs,
      [] (gpointer self) -> gboolean {
        auto *events = static_cast<EventStream *> (self);
        if (events->subscribers_.empty ()) {
          // Nobody watches: no more listings, and the next client starts
          // from a fresh baseline.
          events->timer_ = 0;
          events->last_.clear ();
          events->last_state_.clear ();
          events->forget_dvr (nullptr);
          return G_SOURCE_REMOVE;
        }
        events->tick ();
        return G_SOURCE_CONTINUE;
      },
      this);
}

void
EventStream::tick ()
{
  if (listing_)
    return; // the last listing has not come back yet (a slow registry)
  listing_ = true;
  std::weak_ptr<bool> alive = alive_;
  ctx_.streams.list ([this, alive] (const ApiError &error, const std::vector<StreamView> &views) {
    if (alive.expired () || !*alive.lock ())
      return;
    listing_ = false;
    if (error.ok ())
      on_list (views);
  });
}

void
EventStream::on_list (const std::vector<StreamView> &views)
{
  std::string out;
  std::string changed = "[";
  std::set<std::string> present;
  const ViewerCounts viewers = viewer_counts ();
  for (const StreamView &view : views) {
    const std::string &id = view.entry.id;
    present.insert (id);
    JsonNode *figures = stream_figures (view, ctx_.origin.get (), dvr_of (view), &viewers);
    std::map<std::string, std::string> now = members_of (figures);
    const std::string state = to_string (view.entry.state);
    auto was = last_.find (id);
    if (was == last_.end ()) {
      // New since the snapshots (the listener tells this node's own).
      out += format ("stream-added", json_to_compact_string (json_node_copy (figures)));
    } else {
      // Another node's stream (this node's were told as they happened).
      out += state_events (id, state, view.entry.message);
    }
    // Only the members that changed (all of them for a stream new here).
    std::map<std::string, std::string> delta;
    for (const auto &[name, text] : now)
      if (was == last_.end () || was->second[name] != text)
        delta[name] = text;
    if (!delta.empty ()) {
      delta["id"] = json_string (id);
      if (changed.size () > 1)
        changed += ",";
      changed += object_text (delta);
    }
    last_[id] = std::move (now);
    last_state_[id] = state;
    json_node_unref (figures);
  }
  for (auto it = last_.begin (); it != last_.end ();) {
    if (present.count (it->first)) {
      ++it;
      continue;
    }
    out += format ("stream-removed", "{\"id\":" + json_string (it->first) + "}");
    last_state_.erase (it->first);
    forget_dvr (&it->first);
    it = last_.erase (it);
  }
  changed += "]";
  out += format ("update", "{\"time\":" + json_string (now_text ()) + ",\"origin\":"
                               + origin_json () + ",\"streams\":" + changed + "}");
  broadcast (out);
}

std::string
EventStream::origin_json () const
{
  const ServerConfig &server = ctx_.config.server;
  std::string out = "{\"http_port\":" + std::to_string (server.http_port)
                    + ",\"https_port\":" + std::to_string (server.http3_port);
  if (ctx_.origin) {
    const OriginStats s = ctx_.origin->stats ();
    out += ",\"tcp_connections\":" + std::to_string (s.tcp.connections_now)
           + ",\"h2_connections_total\":" + std::to_string (s.tcp.h2_connections)
           + ",\"quic_connections\":" + std::to_string (s.quic.connections_now)
           + ",\"requests\":" + std::to_string (s.requests.requests)
           + ",\"held_requests\":" + std::to_string (s.requests.held_now);
  }
  return out + "}";
}

void
EventStream::broadcast (const std::string &text)
{
  for (auto &s : subscribers_)
    send (*s, text);
}

void
EventStream::send (Subscriber &s, const std::string &text)
{
  soup_message_body_append (soup_server_message_get_response_body (s.msg), SOUP_MEMORY_COPY,
                            text.data (), text.size ());
  if (!s.in_handler)
    soup_server_message_unpause (s.msg);
}

void
EventStream::remove (SoupServerMessage *msg)
{
  auto it = std::find_if (subscribers_.begin (), subscribers_.end (),
                          [msg] (const auto &s) { return s->msg == msg; });
  if (it == subscribers_.end ())
    return;
  std::unique_ptr<Subscriber> s = std::move (*it);
  subscribers_.erase (it);
  g_signal_handler_disconnect (s->msg, s->finished_id);
  g_signal_handler_disconnect (s->msg, s->disconnected_id);
  g_object_unref (s->msg);
}

void
EventStream::close_all ()
{
  while (!subscribers_.empty ()) {
    SoupServerMessage *msg = subscribers_.back ()->msg;
    g_object_ref (msg);
    remove (msg);
    // The chunked body ends: the client sees the stream close.
    soup_message_body_complete (soup_server_message_get_response_body (msg));
    soup_server_message_unpause (msg);
    g_object_unref (msg);
  }
  if (timer_) {
    g_source_remove (timer_);
    timer_ = 0;
  }
}

} // namespace mirror::daemon
