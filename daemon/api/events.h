// SPDX-License-Identifier: LGPL-2.1-or-later
// GET /api/v1/events: Server-Sent Events for the operator console and
// scripts. A client gets a `snapshot` of every stream in the cluster at
// once, then, once a second, an `update` that carries only the figures that
// changed since the last one (per stream, per member), and events as they
// are seen: `stream-added`, `stream-removed`, `state-changed` and `alarm`
// (a stream that went into error, stalled or degraded). This node's own
// streams' events go out as they happen (StreamManager's listener), other
// nodes' when a tick sees them. The stream list is read once per second for
// every client together, and only while one is connected: an idle console
// costs nothing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <glib.h>

#include "api/admin_context.h"
#include "origin/origin_handler.h"

typedef struct _SoupServerMessage SoupServerMessage;
typedef struct _JsonNode JsonNode;

namespace mirror::daemon {

class EventStream {
 public:
  explicit EventStream (AdminContext &context);
  ~EventStream ();
  EventStream (const EventStream &) = delete;
  EventStream &operator= (const EventStream &) = delete;

  // Answers @msg with a text/event-stream that lasts until the client goes.
  void subscribe (SoupServerMessage *msg);
  // Ends every stream (shutdown).
  void close_all ();
  size_t subscribers () const { return subscribers_.size (); }

  // One Server-Sent Event: "event: NAME\ndata: JSON\n\n" (JSON on one line).
  static std::string format (const char *name, const std::string &json);

 private:
  struct Subscriber;
  void tick ();
  void on_list (const std::vector<struct StreamView> &views);
  void broadcast (const std::string &text);
  void send (Subscriber &s, const std::string &text);
  void remove (SoupServerMessage *msg);
  std::string origin_json () const;
  void ensure_timer ();
  // This node's recording of the stream (a cached "dvr" object; null when
  // nothing records it), read again every 10 s at most.
  JsonNode *dvr_of (const struct StreamView &view);
  void forget_dvr (const std::string *id); // null: all
  ViewerCounts viewer_counts () const;
  // Local streams' lifecycle, as it happens.
  void on_added (const struct StreamView &view);
  void on_removed (const std::string &id);
  void on_state (const struct StreamView &view);
  // state-changed (and alarm) for @id entering @state, when it is news.
  std::string state_events (const std::string &id, const std::string &state,
                            const std::string &message);

  AdminContext &ctx_;
  std::vector<std::unique_ptr<Subscriber>> subscribers_;
  guint timer_ = 0;
  bool listing_ = false;
  unsigned listener_ = 0;
  // Each stream's figures as last sent: member -> its JSON text.
  std::map<std::string, std::map<std::string, std::string>> last_;
  std::map<std::string, std::string> last_state_;
  struct CachedDvr {
    JsonNode *node = nullptr;
    gint64 read_us = 0;
  };
  std::map<std::string, CachedDvr> dvr_cache_;
  // Shared with list callbacks that may outlive this object.
  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);
};

} // namespace mirror::daemon
