// SPDX-License-Identifier: LGPL-2.1-or-later
#include "config.h"
#include "layers.h"

#include <exception>

namespace mirror::daemon {

ConfigResult
load_config (const std::string &path, const char *const *env)
{
  ConfigResult result;
  // yaml-cpp and the standard library throw; mirrord wants a ConfigError it
  // can print and exit 2 on, never an exception unwinding through main.
  try {
    Config config;
    config_layers::Origins origins;
    std::optional<ConfigError> error;
    if (!path.empty ())
      error = config_layers::apply_yaml_file (path, config, origins);
    if (!error)
      error = config_layers::apply_environment (env, config, origins, result.warnings);
    if (!error)
      error = config_layers::check_rules (config, origins);
    if (error) {
      result.error = std::move (error);
      return result;
    }
    result.config = std::move (config);
  } catch (const std::exception &e) {
    ConfigError error;
    error.source = path;
    error.problem = std::string ("internal error while loading: ") + e.what ();
    result.error = std::move (error);
  } catch (...) {
    ConfigError error;
    error.source = path;
    error.problem = "internal error while loading";
    result.error = std::move (error);
  }
  return result;
}

} // namespace mirror::daemon
