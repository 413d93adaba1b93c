// SPDX-License-Identifier: LGPL-2.1-or-later
// The JSON form of a StreamEntry: what Redis stores and what the APIs show.
#include <cmath>
#include <limits>

#include <json-glib/json-glib.h>

#include "registry/stream_registry.h"

namespace mirror {

namespace {

void
add_string (JsonBuilder *b, const char *name, const std::string &value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value.c_str ());
}

void
add_int (JsonBuilder *b, const char *name, int64_t value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

// JSON integers are signed 64-bit here; a counter past that saturates rather
// than turning negative.
void
add_uint (JsonBuilder *b, const char *name, uint64_t value)
{
  constexpr uint64_t kMax = static_cast<uint64_t> (std::numeric_limits<int64_t>::max ());
  add_int (b, name, static_cast<int64_t> (value > kMax ? kMax : value));
}

// NaN and infinities are not JSON.
void
add_double (JsonBuilder *b, const char *name, double value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, std::isfinite (value) ? value : 0.0);
}

// Readers below: a missing member keeps the default, a member of the wrong
// type makes the whole document invalid.
bool
read_string (JsonObject *obj, const char *name, std::string *out)
{
  JsonNode *node = json_object_get_member (obj, name);
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return true;
  if (json_node_get_value_type (node) != G_TYPE_STRING)
    return false;
  *out = json_node_get_string (node);
  return true;
}

bool
read_number (JsonObject *obj, const char *name, double *out)
{
  JsonNode *node = json_object_get_member (obj, name);
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return true;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return false;
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *out = static_cast<double> (json_node_get_int (node));
  else if (type == G_TYPE_DOUBLE)
    *out = json_node_get_double (node);
  else
    return false;
  return true;
}

bool
read_int (JsonObject *obj, const char *name, int64_t *out)
{
  JsonNode *node = json_object_get_member (obj, name);
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return true;
  if (!JSON_NODE_HOLDS_VALUE (node))
    return false;
  GType type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    *out = json_node_get_int (node);
  else if (type == G_TYPE_DOUBLE)
    *out = static_cast<int64_t> (json_node_get_double (node));
  else
    return false;
  return true;
}

template <typename T>
bool
read_integral (JsonObject *obj, const char *name, T *out)
{
  int64_t value = static_cast<int64_t> (*out);
  if (!read_int (obj, name, &value) || value < 0)
    return false;
  *out = static_cast<T> (value);
  return true;
}

bool
read_stats (JsonObject *obj, StreamStats *stats)
{
  JsonNode *node = json_object_get_member (obj, "stats");
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return true;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return false;
  JsonObject *s = json_node_get_object (node);
  return read_integral (s, "bytes", &stats->bytes) && read_integral (s, "packets", &stats->packets)
         && read_integral (s, "packets_lost", &stats->packets_lost)
         && read_integral (s, "packets_retransmitted", &stats->packets_retransmitted)
         && read_number (s, "bitrate_bps", &stats->bitrate_bps)
         && read_string (s, "codec", &stats->codec) && read_integral (s, "width", &stats->width)
         && read_integral (s, "height", &stats->height)
         && read_number (s, "frame_rate", &stats->frame_rate);
}

bool
read_load (JsonObject *obj, NodeLoad *load)
{
  JsonNode *node = json_object_get_member (obj, "owner_load");
  if (!node || JSON_NODE_HOLDS_NULL (node))
    return true;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return false;
  JsonObject *l = json_node_get_object (node);
  return read_integral (l, "streams", &load->streams)
         && read_integral (l, "viewers", &load->viewers) && read_number (l, "cpu", &load->cpu);
}

} // namespace

std::string
to_json (const StreamEntry &entry)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_string (b, "id", entry.id);
  add_string (b, "node_id", entry.node_id);
  add_string (b, "state", to_string (entry.state));
  add_string (b, "source", entry.source);
  add_string (b, "message", entry.message);

  json_builder_set_member_name (b, "stats");
  json_builder_begin_object (b);
  add_uint (b, "bytes", entry.stats.bytes);
  add_uint (b, "packets", entry.stats.packets);
  add_uint (b, "packets_lost", entry.stats.packets_lost);
  add_uint (b, "packets_retransmitted", entry.stats.packets_retransmitted);
  add_double (b, "bitrate_bps", entry.stats.bitrate_bps);
  add_string (b, "codec", entry.stats.codec);
  add_int (b, "width", entry.stats.width);
  add_int (b, "height", entry.stats.height);
  add_double (b, "frame_rate", entry.stats.frame_rate);
  json_builder_end_object (b);

  add_string (b, "owner_url", entry.owner_url);
  if (!entry.owner_tls_pin.empty ())
    add_string (b, "owner_tls_pin", entry.owner_tls_pin);
  add_uint (b, "epoch", entry.epoch);
  json_builder_set_member_name (b, "owner_load");
  json_builder_begin_object (b);
  add_uint (b, "streams", entry.owner_load.streams);
  add_uint (b, "viewers", entry.owner_load.viewers);
  add_double (b, "cpu", entry.owner_load.cpu);
  json_builder_end_object (b);

  add_int (b, "created_unix_ms", entry.created_unix_ms);
  add_int (b, "updated_unix_ms", entry.updated_unix_ms);
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  g_autofree gchar *text = json_generator_to_data (gen, nullptr);
  return text ? text : "";
}

std::optional<StreamEntry>
stream_entry_from_json (std::string_view json)
{
  if (json.empty ())
    return std::nullopt;
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, json.data (), static_cast<gssize> (json.size ()),
                                   nullptr))
    return std::nullopt;
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return std::nullopt;
  JsonObject *obj = json_node_get_object (root);

  StreamEntry entry;
  std::string state = to_string (entry.state);
  if (!read_string (obj, "id", &entry.id) || entry.id.empty ())
    return std::nullopt;
  if (!read_string (obj, "node_id", &entry.node_id) || !read_string (obj, "state", &state)
      || !read_string (obj, "source", &entry.source)
      || !read_string (obj, "message", &entry.message) || !read_stats (obj, &entry.stats)
      || !read_int (obj, "created_unix_ms", &entry.created_unix_ms)
      || !read_int (obj, "updated_unix_ms", &entry.updated_unix_ms)
      || !read_string (obj, "owner_url", &entry.owner_url)
      || !read_string (obj, "owner_tls_pin", &entry.owner_tls_pin)
      || !read_integral (obj, "epoch", &entry.epoch) || !read_load (obj, &entry.owner_load))
    return std::nullopt;
  auto parsed_state = stream_state_from_string (state);
  if (!parsed_state)
    return std::nullopt;
  entry.state = *parsed_state;
  return entry;
}

} // namespace mirror
