// SPDX-License-Identifier: LGPL-2.1-or-later
#include "layers.h"

#include "schema.h"

#include <string_view>

namespace mirror::daemon::config_layers {

namespace {

constexpr std::string_view kPrefix = "MIRROR_";

// The test harness exports these; they configure tests, not mirrord.
bool
is_harness_variable (std::string_view name)
{
  return name == "MIRROR_SOURCE_ROOT" || name == "MIRROR_BUILD_ROOT"
         || name.starts_with ("MIRROR_TEST_");
}

} // namespace

std::optional<ConfigError>
apply_environment (const char *const *env, Config &config, Origins &origins,
                   std::vector<std::string> &warnings)
{
  if (!env)
    return std::nullopt;
  // Names are built from the keys, never split from the variable: keys hold
  // underscores themselves (MIRROR_STORAGE_LOCAL_CACHE_DIR).
  std::map<std::string, const config_schema::Key *> by_name;
  for (const config_schema::Key &key : config_schema::keys ())
    by_name[config_schema::env_name (key)] = &key;

  std::map<const config_schema::Key *, std::pair<std::string, std::string>> given;
  for (const char *const *entry = env; *entry; entry++) {
    std::string_view text (*entry);
    size_t eq = text.find ('=');
    if (!text.starts_with (kPrefix) || eq == std::string_view::npos)
      continue;
    std::string name (text.substr (0, eq));
    if (is_harness_variable (name))
      continue;
    auto found = by_name.find (name);
    if (found == by_name.end ()) {
      warnings.push_back (name
                          + ": names no configuration key, ignored (variables are "
                            "MIRROR_<SECTION>_<KEY>, e.g. MIRROR_SERVER_ADMIN_PORT)");
      continue;
    }
    given[found->second] = { name, std::string (text.substr (eq + 1)) }; // the last one wins
  }

  // Table order, so that the first error reported does not depend on the
  // order of the environment.
  Config updated = config;
  for (const config_schema::Key &key : config_schema::keys ()) {
    auto it = given.find (&key);
    if (it == given.end ())
      continue;
    const auto &[name, value] = it->second;
    if (auto problem = config_io::apply_text (key, value, updated))
      return to_error (std::move (*problem), name);
    origins[std::string (key.path)] = name;
  }
  config = std::move (updated);
  return std::nullopt;
}

} // namespace mirror::daemon::config_layers
