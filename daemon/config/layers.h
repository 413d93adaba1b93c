// SPDX-License-Identifier: LGPL-2.1-or-later
// The layers load_config() stacks over the embedded defaults: the YAML file,
// then the environment, then the rules that span several keys.
#pragma once

#include "config.h"
#include "field_io.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mirror::daemon::config_layers {

// Dotted key -> where its value came from (a path or a variable name); keys
// left at their defaults are absent. Cross-key errors blame a key a user set.
using Origins = std::map<std::string, std::string>;

ConfigError to_error (config_io::Problem problem, std::string source);

// Applies every key of the YAML file at path; a missing, unreadable or
// malformed file is an error naming the path (and line and column).
std::optional<ConfigError> apply_yaml_file (const std::string &path, Config &config,
                                            Origins &origins);

// The same for a document already in memory; source names it in errors.
std::optional<ConfigError> apply_yaml_text (const std::string &text, const std::string &source,
                                            Config &config, Origins &origins);

// Applies every MIRROR_<SECTION>_<KEY> in env (NULL-terminated, like environ);
// MIRROR_* variables that name no key become warnings.
std::optional<ConfigError> apply_environment (const char *const *env, Config &config,
                                              Origins &origins, std::vector<std::string> &warnings);

// Rules between keys: ports that collide, parts that do not fit segments...
std::optional<ConfigError> check_rules (const Config &config, const Origins &origins);

} // namespace mirror::daemon::config_layers
