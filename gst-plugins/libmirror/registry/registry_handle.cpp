// SPDX-License-Identifier: LGPL-2.1-or-later
// The GBoxed that carries a registry through a GstContext.
#include "registry/registry_handle.h"

typedef mirror::RegistryHandle MirrorRegistryHandle;

// Copying shares the registry: every copy keeps it alive.
static MirrorRegistryHandle *
mirror_registry_handle_copy (MirrorRegistryHandle *handle)
{
  return new mirror::RegistryHandle (*handle);
}

static void
mirror_registry_handle_free (MirrorRegistryHandle *handle)
{
  delete handle;
}

G_DEFINE_BOXED_TYPE (MirrorRegistryHandle, mirror_registry_handle, mirror_registry_handle_copy,
                     mirror_registry_handle_free)

namespace mirror {

RegistryHandle *
registry_handle_new (std::shared_ptr<StreamRegistry> registry)
{
  return new RegistryHandle{ std::move (registry) };
}

} // namespace mirror
