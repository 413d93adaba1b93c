// SPDX-License-Identifier: LGPL-2.1-or-later
#include "config.h"
#include "field_io.h"
#include "schema.h"

#include <yaml-cpp/yaml.h>

namespace mirror::daemon {

namespace {

using config_schema::Field;
using config_schema::Key;
using config_schema::Kind;

std::vector<std::string>
split_path (std::string_view path)
{
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = path.find ('.', start);
    parts.emplace_back (path.substr (start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos)
      return parts;
    start = dot + 1;
  }
}

constexpr const char *kHidden = "***";

void
emit_value (YAML::Emitter &out, const Key &key, const Config &config, bool reveal)
{
  Config copy = config; // fields are reached through a mutable accessor
  Field field = key.field (copy);
  const bool hide = key.secret && !reveal;
  if (hide && key.kind == Kind::kString) {
    out << (std::get<std::string *> (field)->empty () ? "" : kHidden);
    return;
  }
  switch (key.kind) {
  case Kind::kStringList: {
    const auto &list = *std::get<std::vector<std::string> *> (field);
    out << (list.empty () ? YAML::Flow : YAML::Block) << YAML::BeginSeq;
    for (const std::string &item : list)
      out << item;
    out << YAML::EndSeq;
    return;
  }
  case Kind::kPayloadTypes: {
    const auto &map = *std::get<std::map<int, std::string> *> (field);
    out << (map.empty () ? YAML::Flow : YAML::Block) << YAML::BeginMap;
    for (const auto &[pt, codec] : map)
      out << YAML::Key << pt << YAML::Value << codec;
    out << YAML::EndMap;
    return;
  }
  case Kind::kStringMap: {
    const auto &map = *std::get<std::map<std::string, std::string> *> (field);
    out << (map.empty () ? YAML::Flow : YAML::Block) << YAML::BeginMap;
    for (const auto &[name, value] : map)
      out << YAML::Key << name << YAML::Value << (hide ? kHidden : value);
    out << YAML::EndMap;
    return;
  }
  case Kind::kRoutes: {
    const auto &routes = *std::get<config_schema::Routes *> (field);
    out << YAML::BeginSeq;
    for (const auto &[match, pipeline] : routes)
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "match" << YAML::Value << match
          << YAML::Key << "pipeline" << YAML::Value << pipeline << YAML::EndMap;
    out << YAML::EndSeq;
    return;
  }
  case Kind::kBool:
    out << (*std::get<bool *> (field) ? "true" : "false");
    return;
  default:
    // Numbers with their unit ("500ms", "400k", "4MiB"), as a user writes them.
    out << config_io::scalar_text (key, config);
    return;
  }
}

} // namespace

std::string
dump_config (const Config &config, bool reveal_secrets)
{
  YAML::Emitter out;
  out << YAML::BeginMap;
  // The table keeps each section's keys together, so the sections open and
  // close like the nesting of the paths.
  std::vector<std::string> open;
  for (const Key &key : config_schema::keys ()) {
    std::vector<std::string> parts = split_path (key.path);
    std::vector<std::string> sections (parts.begin (), parts.end () - 1);
    size_t shared = 0;
    while (shared < open.size () && shared < sections.size () && open[shared] == sections[shared])
      shared++;
    for (size_t i = open.size (); i > shared; i--)
      out << YAML::EndMap;
    open.resize (shared);
    for (size_t i = shared; i < sections.size (); i++) {
      out << YAML::Key << sections[i] << YAML::Value << YAML::BeginMap;
      open.push_back (sections[i]);
    }
    out << YAML::Key << parts.back () << YAML::Value;
    emit_value (out, key, config, reveal_secrets);
  }
  for (size_t i = 0; i < open.size (); i++)
    out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string (out.c_str ()) + "\n";
}

std::string
effective_admin_bind_address (const ServerConfig &server)
{
  if (!server.admin_bind_address.empty ())
    return server.admin_bind_address;
  return server.admin_token.empty () ? "127.0.0.1" : "0.0.0.0";
}

bool
is_loopback_address (std::string_view address)
{
  return address == "localhost" || address == "::1" || address == "[::1]"
         || address.substr (0, 4) == "127.";
}

} // namespace mirror::daemon
