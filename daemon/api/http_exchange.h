// SPDX-License-Identifier: LGPL-2.1-or-later
// One admin API request and its eventual answer. Handlers may answer at once
// or later (after a registry round trip); the message is paused meanwhile.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "streams/api_error.h"

namespace mirror::daemon {

class HttpExchange {
 public:
  HttpExchange (SoupServerMessage *msg, std::vector<std::string> params);
  ~HttpExchange ();
  HttpExchange (const HttpExchange &) = delete;
  HttpExchange &operator= (const HttpExchange &) = delete;

  const std::string &method () const { return method_; }
  const std::string &param (size_t i) const { return params_.at (i); }
  std::string body () const;
  // The query parameter, or "" when absent.
  std::string query (const char *name) const;
  // The host the client addressed (Host header, without the port; IPv6 in
  // brackets), for URLs it can follow; "" when it sent none.
  std::string host () const;

  // Parses the body as a JSON object; on failure answers 400 and returns null.
  JsonObject *json_body ();

  void send_json (unsigned status, const std::string &json);
  void send_text (unsigned status, const char *content_type, const std::string &body);
  // {"code": "NOT_FOUND", "message": "..."} with the matching status.
  void send_error (const ApiError &error);
  void send_error (unsigned status, ApiErrc code, const std::string &message);

  bool answered () const { return answered_; }
  unsigned status () const { return status_; }
  // Called by the server right after the handler returns.
  void pause_if_pending ();
  void set_header (const char *name, const std::string &value);
  // For an answer that streams (Server-Sent Events): the message, which the
  // caller now answers and keeps; the exchange neither pauses nor answers it.
  SoupServerMessage *take_stream ()
  {
    answered_ = true;
    return msg_;
  }

 private:
  SoupServerMessage *msg_;
  std::string method_;
  std::vector<std::string> params_;
  JsonParser *parser_ = nullptr;
  bool answered_ = false;
  bool paused_ = false;
  bool disconnected_ = false;
  gulong disconnected_id_ = 0;
  unsigned status_ = 0;
};

using Exchange = std::shared_ptr<HttpExchange>;

// JSON text of a json-glib node (takes ownership of node).
std::string json_to_string (JsonNode *node);
// The same on one line, without the final newline.
std::string json_to_compact_string (JsonNode *node);

} // namespace mirror::daemon
