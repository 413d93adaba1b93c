// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage/rendition_file.h"

#include <cerrno>
#include <cstring>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

namespace mirror {

namespace {

std::string
rendition_info_json (const RenditionInfo &info)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  auto str = [b] (const char *name, const std::string &value) {
    json_builder_set_member_name (b, name);
    json_builder_add_string_value (b, value.c_str ());
  };
  auto num = [b] (const char *name, int64_t value) {
    json_builder_set_member_name (b, name);
    json_builder_add_int_value (b, value);
  };
  str ("name", info.name);
  str ("kind", info.kind == RenditionKind::kVideo ? "video" : "audio");
  str ("codecs", info.codecs);
  num ("width", info.width);
  num ("height", info.height);
  json_builder_set_member_name (b, "frame_rate");
  json_builder_add_double_value (b, info.frame_rate);
  num ("bandwidth", info.bandwidth);
  num ("part_target_ns", info.part_target_ns);
  str ("language", info.language);
  json_builder_end_object (b);
  JsonNode *root = json_builder_get_root (b);
  gchar *text = json_to_string (root, TRUE);
  std::string out = std::string (text) + "\n";
  g_free (text);
  json_node_unref (root);
  g_object_unref (b);
  return out;
}

} // namespace

bool
write_rendition_info (const std::string &path, const RenditionInfo &info, std::string *error)
{
  const std::string json = rendition_info_json (info);
  GError *err = nullptr;
  // g_file_set_contents writes a temporary file and renames it.
  if (!g_file_set_contents (path.c_str (), json.data (), gssize (json.size ()), &err)) {
    *error = err->message;
    g_error_free (err);
    return false;
  }
  return true;
}

std::optional<RenditionInfo>
read_rendition_info (const std::string &path)
{
  JsonParser *parser = json_parser_new ();
  std::optional<RenditionInfo> out;
  if (json_parser_load_from_file (parser, path.c_str (), nullptr)) {
    JsonNode *root = json_parser_get_root (parser);
    if (root && JSON_NODE_HOLDS_OBJECT (root)) {
      JsonObject *o = json_node_get_object (root);
      RenditionInfo info;
      auto str = [o] (const char *name) {
        const char *v = json_object_get_string_member_with_default (o, name, "");
        return std::string (v ? v : "");
      };
      info.name = str ("name");
      info.kind = str ("kind") == "audio" ? RenditionKind::kAudio : RenditionKind::kVideo;
      info.codecs = str ("codecs");
      info.width = unsigned (json_object_get_int_member_with_default (o, "width", 0));
      info.height = unsigned (json_object_get_int_member_with_default (o, "height", 0));
      info.frame_rate = json_object_get_double_member_with_default (o, "frame_rate", 0);
      info.bandwidth = unsigned (json_object_get_int_member_with_default (o, "bandwidth", 0));
      info.part_target_ns = json_object_get_int_member_with_default (o, "part_target_ns", 0);
      info.language = str ("language");
      if (!info.name.empty () && !info.codecs.empty ())
        out = info;
    }
  }
  g_object_unref (parser);
  return out;
}

} // namespace mirror
