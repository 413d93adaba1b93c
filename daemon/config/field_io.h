// SPDX-License-Identifier: LGPL-2.1-or-later
// Typed access to one key's field: text (from YAML or the environment) in,
// checked against the key's type and range; text out for dumps and errors.
#pragma once

#include "schema.h"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mirror::daemon::config_io {

// A value in the shape its source gave it, before it is typed.
struct RawValue {
  enum class Shape { kScalar, kList, kPairs };
  Shape shape = Shape::kScalar;
  std::string scalar;
  std::vector<std::string> list;
  std::vector<std::pair<std::string, std::string>> pairs;
};

// Everything of a ConfigError except where it came from.
struct Problem {
  std::string key; // the key, or one entry of it: "ingestion.rtp.payload_types.99"
  std::string value;
  bool has_value = true;
  std::string problem;
  std::string allowed;
};

// Checks value against key and stores it; on a problem config is unchanged.
std::optional<Problem> apply_value (const config_schema::Key &key, const RawValue &value,
                                    Config &config);

// The environment's spelling: lists "a,b", maps and routes "k=v,k2=v2".
std::optional<Problem> apply_text (const config_schema::Key &key, std::string_view text,
                                   Config &config);

// A scalar key's value as the parsers read it back ("500ms", "400k", "4MiB").
std::string scalar_text (const config_schema::Key &key, const Config &config);

// A problem about key's current value, for rules that span several keys.
Problem problem_at (const config_schema::Key &key, const Config &config, std::string problem,
                    std::string allowed);

} // namespace mirror::daemon::config_io
