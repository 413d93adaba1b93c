// SPDX-License-Identifier: LGPL-2.1-or-later
// The one table of configuration keys. The YAML reader, the environment
// overrides and dump_config() all walk this table, so a key added here is at
// once readable from the file, settable by MIRROR_<SECTION>_<KEY> and dumped.
#pragma once

#include "config.h"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mirror::daemon::config_schema {

enum class Kind {
  kBool,
  kInteger,
  kPort,
  kString,
  kEnum,
  kDuration,     // stored in a *_ms field; the key drops the suffix
  kBitrate,      // bits/s
  kSize,         // bytes
  kStringList,   // YAML sequence, or "a,b" in the environment
  kPayloadTypes, // {96: H265}, or "96=H265,97=H264"
  kStringMap,    // {k: v}, or "k=v,k2=v2"
  kRoutes,       // [{match: glob, pipeline: name}] or {glob: name}, or "glob=name"
};

using Routes = std::vector<std::pair<std::string, std::string>>;
using Field = std::variant<bool *, int *, int64_t *, uint16_t *, uint64_t *, std::string *,
                           std::vector<std::string> *, std::map<int, std::string> *,
                           std::map<std::string, std::string> *, Routes *>;

// nullopt when text is acceptable, else the problem ("is not host:port").
using TextCheck = std::optional<std::string> (*) (std::string_view text);

struct Key {
  std::string_view path; // "ingestion.srt.port"
  Kind kind;
  Field (*field) (Config &config);
  int64_t min = 0; // numeric kinds
  int64_t max = 0;
  std::vector<std::string_view> choices; // enum values; for integers the only values allowed
  TextCheck check = nullptr;             // strings, list items, map values
  std::string_view allowed;              // replaces the text made from min/max/choices
  bool secret = false;                   // never echoed in errors
};

const std::vector<Key> &keys ();

const Key *find_key (std::string_view path);

// "ingestion" and "ingestion.srt" are sections: they hold keys, not values.
bool is_section (std::string_view path);

// The names directly under a section ("" is the top level), in table order.
std::vector<std::string> section_children (std::string_view section);

// "ingestion.srt.port" -> "MIRROR_INGESTION_SRT_PORT".
std::string env_name (const Key &key);

// What an error's "(allowed: ...)" says for key.
std::string allowed_text (const Key &key);

} // namespace mirror::daemon::config_schema
