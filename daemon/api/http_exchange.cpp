// SPDX-License-Identifier: LGPL-2.1-or-later
#include "api/http_exchange.h"

namespace mirror::daemon {

HttpExchange::HttpExchange (SoupServerMessage *msg, std::vector<std::string> params)
    : msg_ (SOUP_SERVER_MESSAGE (g_object_ref (msg))),
      method_ (soup_server_message_get_method (msg)), params_ (std::move (params))
{
  // A client that goes away while its answer is pending must not be answered.
  disconnected_id_ = g_signal_connect (msg_, "disconnected",
                                       G_CALLBACK (+[] (SoupServerMessage *, gpointer self) {
                                         static_cast<HttpExchange *> (self)->disconnected_ = true;
                                       }),
                                       this);
}

HttpExchange::~HttpExchange ()
{
  g_signal_handler_disconnect (msg_, disconnected_id_);
  if (parser_)
    g_object_unref (parser_);
  g_object_unref (msg_);
}

std::string
HttpExchange::body () const
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg_);
  if (!body || !body->data)
    return {};
  return std::string (body->data, body->length);
}

std::string
HttpExchange::host () const
{
  const char *h
      = soup_message_headers_get_one (soup_server_message_get_request_headers (msg_), "Host");
  if (!h || !*h)
    return {};
  std::string host (h);
  if (host[0] == '[')
    return host.substr (0, host.find (']') + 1);
  return host.substr (0, host.find (':'));
}

std::string
HttpExchange::query (const char *name) const
{
  GUri *uri = soup_server_message_get_uri (msg_);
  const char *q = uri ? g_uri_get_query (uri) : nullptr;
  if (!q)
    return {};
  GHashTable *params = g_uri_parse_params (q, -1, "&", G_URI_PARAMS_NONE, nullptr);
  if (!params)
    return {};
  const char *value = static_cast<const char *> (g_hash_table_lookup (params, name));
  std::string out = value ? value : "";
  g_hash_table_unref (params);
  return out;
}

JsonObject *
HttpExchange::json_body ()
{
  std::string text = body ();
  if (text.empty ()) {
    send_error (400, ApiErrc::kInvalidInput, "request body is empty (expected a JSON object)");
    return nullptr;
  }
  parser_ = json_parser_new ();
  GError *err = nullptr;
  if (!json_parser_load_from_data (parser_, text.data (), (gssize)text.size (), &err)) {
    send_error (400, ApiErrc::kInvalidInput, std::string ("malformed JSON body: ") + err->message);
    g_error_free (err);
    return nullptr;
  }
  JsonNode *root = json_parser_get_root (parser_);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    send_error (400, ApiErrc::kInvalidInput, "request body must be a JSON object");
    return nullptr;
  }
  return json_node_get_object (root);
}

void
HttpExchange::set_header (const char *name, const std::string &value)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg_), name,
                                value.c_str ());
}

void
HttpExchange::send_text (unsigned status, const char *content_type, const std::string &body)
{
  if (answered_)
    return;
  answered_ = true;
  status_ = status;
  if (disconnected_)
    return;
  soup_server_message_set_status (msg_, status, nullptr);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg_), "Cache-Control",
                                "no-store");
  soup_server_message_set_response (msg_, content_type, SOUP_MEMORY_COPY, body.data (),
                                    body.size ());
  if (paused_)
    soup_server_message_unpause (msg_);
}

void
HttpExchange::send_json (unsigned status, const std::string &json)
{
  send_text (status, "application/json", json);
}

void
HttpExchange::send_error (unsigned status, ApiErrc code, const std::string &message)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, api_error_code_name (code));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message.c_str ());
  json_builder_end_object (b);
  send_json (status, json_to_string (json_builder_get_root (b)));
  g_object_unref (b);
}

void
HttpExchange::send_error (const ApiError &error)
{
  send_error (api_error_http_status (error.code), error.code, error.message);
}

void
HttpExchange::pause_if_pending ()
{
  if (!answered_ && !paused_) {
    paused_ = true;
    soup_server_message_pause (msg_);
  }
}

namespace {
std::string
generate (JsonNode *node, bool pretty)
{
  JsonGenerator *gen = json_generator_new ();
  json_generator_set_root (gen, node);
  json_generator_set_pretty (gen, pretty);
  char *text = json_generator_to_data (gen, nullptr);
  std::string out = text;
  if (pretty)
    out += "\n";
  g_free (text);
  g_object_unref (gen);
  json_node_unref (node);
  return out;
}
} // namespace

std::string
json_to_string (JsonNode *node)
{
  return generate (node, true);
}

std::string
json_to_compact_string (JsonNode *node)
{
  return generate (node, false);
}

} // namespace mirror::daemon
