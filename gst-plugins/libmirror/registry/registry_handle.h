// SPDX-License-Identifier: LGPL-2.1-or-later
// How a registry travels inside a GstContext (context type "mirror.registry")
// without libmirror knowing GStreamer: a GBoxed holding a shared_ptr.
// mirrord sets such a context on every pipeline; an element that gets none
// makes its own registry from its `registry` property.
#pragma once

#include <memory>

#include <glib-object.h>

#include "registry/stream_registry.h"

#define MIRROR_REGISTRY_CONTEXT_TYPE "mirror.registry"
#define MIRROR_REGISTRY_CONTEXT_FIELD "registry"

G_BEGIN_DECLS
#define MIRROR_TYPE_REGISTRY_HANDLE (mirror_registry_handle_get_type ())
GType mirror_registry_handle_get_type (void);
G_END_DECLS

namespace mirror {

struct RegistryHandle {
  std::shared_ptr<StreamRegistry> registry;
};

// A new boxed handle (free with g_boxed_free (MIRROR_TYPE_REGISTRY_HANDLE, h)
// or let a GValue own it).
RegistryHandle *registry_handle_new (std::shared_ptr<StreamRegistry> registry);

}  // namespace mirror
