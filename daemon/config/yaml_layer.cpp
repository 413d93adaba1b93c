// SPDX-License-Identifier: LGPL-2.1-or-later
#include "layers.h"

#include "schema.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace mirror::daemon::config_layers {

namespace {

using config_io::Problem;
using config_io::RawValue;
using config_schema::Key;
using config_schema::Kind;

std::string
join (const std::vector<std::string> &items)
{
  std::string out;
  for (const std::string &item : items)
    out += (out.empty () ? "" : ", ") + item;
  return out;
}

// How a node looks in an error: scalars as written, the rest as flow YAML
// on one line, cut short: a whole section pasted into the message would
// hide the problem.
std::string
render (const YAML::Node &node)
{
  if (node.IsScalar ())
    return node.Scalar ();
  if (node.IsNull ())
    return "";
  // Flow style on the root is enough: yaml-cpp writes what is inside a flow
  // collection in flow style too. Recursing here would loop on "&a [*a]".
  YAML::Node copy = YAML::Clone (node);
  copy.SetStyle (YAML::EmitterStyle::Flow);
  YAML::Emitter out;
  out << copy;
  std::string text = out.c_str ();
  constexpr size_t kMax = 60;
  if (text.size () > kMax)
    text = text.substr (0, kMax - 3) + "...";
  return text;
}

Problem
shape_problem (const Key &key, const std::string &where, const YAML::Node &node,
               const char *problem)
{
  Problem p{ where, render (node), true, problem, config_schema::allowed_text (key) };
  if (key.secret) {
    p.value.clear ();
    p.has_value = false;
  }
  return p;
}

std::optional<Problem>
scalar_pairs (const Key &key, const YAML::Node &map, RawValue &raw)
{
  for (const auto &entry : map) {
    std::string where = std::string (key.path) + "." + render (entry.first);
    if (!entry.first.IsScalar ())
      return shape_problem (key, std::string (key.path), entry.first, "is not a name");
    if (!entry.second.IsScalar () && !entry.second.IsNull ())
      return shape_problem (key, where, entry.second, "is not a single value");
    raw.pairs.emplace_back (entry.first.Scalar (),
                            entry.second.IsNull () ? std::string () : entry.second.Scalar ());
  }
  return std::nullopt;
}

// Routes as a list keeps the order explicit: [{match: "cam-*", pipeline: hevc}].
std::optional<Problem>
route_list (const Key &key, const YAML::Node &list, RawValue &raw)
{
  for (size_t i = 0; i < list.size (); i++) {
    const YAML::Node item = list[i];
    std::string where = std::string (key.path) + "[" + std::to_string (i) + "]";
    if (!item.IsMap ())
      return shape_problem (key, where, item, "is not a {match, pipeline} mapping");
    std::string match, pipeline;
    for (const auto &entry : item) {
      std::string name = entry.first.IsScalar () ? entry.first.Scalar () : render (entry.first);
      std::string value = entry.second.IsScalar () ? entry.second.Scalar () : "";
      if (name != "match" && name != "pipeline")
        return Problem{ where + "." + name, "", false, "unknown key", "match, pipeline" };
      if (!entry.second.IsScalar ())
        return shape_problem (key, where + "." + name, entry.second, "is not a single value");
      (name == "match" ? match : pipeline) = value;
    }
    if (match.empty () || pipeline.empty ())
      return Problem{ where, render (item), true, "needs both match and pipeline",
                      "{match: <stream id glob>, pipeline: <name>}" };
    raw.pairs.emplace_back (match, pipeline);
  }
  return std::nullopt;
}

std::optional<Problem>
to_raw (const Key &key, const YAML::Node &node, RawValue &raw)
{
  const std::string path (key.path);
  switch (key.kind) {
  case Kind::kStringList:
    if (node.IsNull ()) {
      raw.shape = RawValue::Shape::kList;
    } else if (node.IsSequence ()) {
      raw.shape = RawValue::Shape::kList;
      for (size_t i = 0; i < node.size (); i++) {
        if (!node[i].IsScalar ())
          return shape_problem (key, path + "[" + std::to_string (i) + "]", node[i],
                                "is not a single value");
        raw.list.push_back (node[i].Scalar ());
      }
    } else if (node.IsScalar ()) {
      raw.scalar = node.Scalar (); // "a, b" as in the environment
    } else {
      return shape_problem (key, path, node, "is not a list");
    }
    return std::nullopt;
  case Kind::kRoutes:
    raw.shape = RawValue::Shape::kPairs;
    if (node.IsSequence ())
      return route_list (key, node, raw);
    if (node.IsMap ())
      return scalar_pairs (key, node, raw);
    if (node.IsNull ())
      return std::nullopt;
    return shape_problem (key, path, node, "is not a list of routes");
  case Kind::kPayloadTypes:
  case Kind::kStringMap:
    raw.shape = RawValue::Shape::kPairs;
    if (node.IsMap ())
      return scalar_pairs (key, node, raw);
    if (node.IsNull ())
      return std::nullopt;
    return shape_problem (key, path, node, "is not a map");
  default:
    // An empty "key:" reads as null; for text that is "", for a number it
    // is reported as the empty value it is.
    if (node.IsNull ())
      return std::nullopt;
    if (!node.IsScalar ())
      return shape_problem (key, path, node, "is not a single value");
    raw.scalar = node.Scalar ();
    return std::nullopt;
  }
}

std::optional<Problem>
apply_section (const YAML::Node &node, const std::string &section, Config &config, Origins &origins,
               const std::string &source)
{
  std::vector<std::string> children = config_schema::section_children (section);
  if (!node.IsMap ()) {
    return Problem{ section, render (node), true, "is not a mapping",
                    "a mapping of " + join (children) };
  }
  for (const auto &entry : node) {
    if (!entry.first.IsScalar ())
      return Problem{ section, render (entry.first), true, "is not a key name", join (children) };
    std::string path
        = section.empty () ? entry.first.Scalar () : section + "." + entry.first.Scalar ();
    if (const Key *key = config_schema::find_key (path)) {
      RawValue raw;
      if (auto problem = to_raw (*key, entry.second, raw))
        return problem;
      if (auto problem = config_io::apply_value (*key, raw, config))
        return problem;
      origins[path] = source;
    } else if (config_schema::is_section (path)) {
      // "redis:" with every key commented out is an empty section, not an error.
      if (entry.second.IsNull ())
        continue;
      if (auto problem = apply_section (entry.second, path, config, origins, source))
        return problem;
    } else {
      return Problem{ path, "", false, "unknown key", join (children) };
    }
  }
  return std::nullopt;
}

} // namespace

std::optional<ConfigError>
apply_yaml_text (const std::string &text, const std::string &source, Config &config,
                 Origins &origins)
{
  YAML::Node root;
  try {
    root = YAML::Load (text);
  } catch (const YAML::Exception &e) {
    // yaml-cpp counts from 0; editors count from 1.
    ConfigError error;
    error.source = source;
    error.problem = "malformed YAML at line " + std::to_string (e.mark.line + 1) + ", column "
                    + std::to_string (e.mark.column + 1) + ": " + e.msg;
    return error;
  }
  if (root.IsNull ())
    return std::nullopt; // an empty file: all defaults
  // Work on a copy so that a failed load leaves config as it was.
  Config updated = config;
  Origins updated_origins = origins;
  try {
    if (auto problem = apply_section (root, "", updated, updated_origins, source))
      return to_error (std::move (*problem), source);
  } catch (const YAML::Exception &e) {
    ConfigError error;
    error.source = source;
    error.problem = "unreadable YAML at line " + std::to_string (e.mark.line + 1) + ", column "
                    + std::to_string (e.mark.column + 1) + ": " + e.msg;
    return error;
  }
  config = std::move (updated);
  origins = std::move (updated_origins);
  return std::nullopt;
}

std::optional<ConfigError>
apply_yaml_file (const std::string &path, Config &config, Origins &origins)
{
  // POSIX I/O rather than streams: the error must carry strerror (errno).
  auto fail = [&] (int err) {
    ConfigError error;
    error.source = path;
    error.problem = std::string ("cannot read the file: ") + std::strerror (err);
    return error;
  };
  int fd = open (path.c_str (), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail (errno);
  std::string text;
  char buffer[8192];
  while (true) {
    ssize_t n = read (fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      close (fd);
      return fail (err);
    }
    if (n == 0)
      break;
    text.append (buffer, static_cast<size_t> (n));
  }
  close (fd);
  return apply_yaml_text (text, path, config, origins);
}

} // namespace mirror::daemon::config_layers
