// SPDX-License-Identifier: LGPL-2.1-or-later
// make_registry: from RegistryOptions to a running backend.
#include <unistd.h>

#include <glib.h>

#include "registry/memory_registry.h"
#include "registry/redis_registry.h"
#include "registry/registry_uri.h"

namespace mirror {

namespace {

std::string
default_node_id ()
{
  return std::string (g_get_host_name ()) + "-" + std::to_string (getpid ());
}

} // namespace

std::shared_ptr<StreamRegistry>
make_registry (const RegistryOptions &options, std::string *error)
{
  std::string scratch;
  if (!error)
    error = &scratch;
  std::string why;
  auto uri = parse_registry_uri (options.uri, &why);
  if (!uri) {
    *error = "registry URI '" + redact_registry_uri (options.uri) + "' is invalid: " + why;
    return nullptr;
  }
  if (options.heartbeat_timeout_ms <= 0) {
    *error = "registry URI '" + redact_registry_uri (options.uri)
             + "': heartbeat timeout must be positive, got "
             + std::to_string (options.heartbeat_timeout_ms) + " ms";
    return nullptr;
  }
  std::string node_id = options.node_id.empty () ? default_node_id () : options.node_id;

  std::shared_ptr<StreamRegistry> registry;
  if (uri->backend == RegistryUri::Backend::kMemory) {
    registry
        = std::make_shared<MemoryRegistry> (std::move (node_id), options.heartbeat_timeout_ms);
  } else {
    if (!options.password.empty ())
      uri->password = options.password;
    registry = std::make_shared<RedisRegistry> (std::move (*uri), std::move (node_id),
                                                options.key_prefix, options.heartbeat_timeout_ms);
  }
  // Queued before any registration can be.
  registry->set_node_info ({ options.public_url, {} });
  return registry;
}

} // namespace mirror
