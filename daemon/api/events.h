// SPDX-License-Identifier: LGPL-2.1-or-later
// GET /api/v1/events: Server-Sent Events for the operator console and
// scripts. A client gets a `snapshot` of every stream in the cluster at
// once, then, once a second, an `update` that carries only the figures that
// changed since the last one (per stream, per member), and events as they
// are seen: `stream-added`, `stream-removed`, `state-changed` and `alarm`
// (a stream that went into error, stalled or degraded). The stream list is
// read once per second for every client together, and only while one is
// connected: an idle console costs nothing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <glib.h>

#include "api/admin_context.h"

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

  AdminContext &ctx_;
  std::vector<std::unique_ptr<Subscriber>> subscribers_;
  guint timer_ = 0;
  bool listing_ = false;
  // Each stream's figures as last sent: member -> its JSON text.
  std::map<std::string, std::map<std::string, std::string>> last_;
  std::map<std::string, std::string> last_state_;
  // Shared with list callbacks that may outlive this object.
  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);
};

} // namespace mirror::daemon
