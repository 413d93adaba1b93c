// SPDX-License-Identifier: LGPL-2.1-or-later
// How an Origin travels inside a GstContext (context type "mirror.origin")
// without libmirror knowing GStreamer: a GBoxed holding a shared_ptr, like
// the registry's.
#pragma once

#include <memory>

#include <glib-object.h>

#include "origin/origin.h"

#define MIRROR_ORIGIN_CONTEXT_TYPE "mirror.origin"
#define MIRROR_ORIGIN_CONTEXT_FIELD "origin"

G_BEGIN_DECLS
#define MIRROR_TYPE_ORIGIN_HANDLE (mirror_origin_handle_get_type ())
GType mirror_origin_handle_get_type (void);
G_END_DECLS

namespace mirror {

struct OriginHandle {
  std::shared_ptr<Origin> origin;
};

// A new boxed handle (free with g_boxed_free (MIRROR_TYPE_ORIGIN_HANDLE, h)
// or let a GValue own it).
OriginHandle *origin_handle_new (std::shared_ptr<Origin> origin);

} // namespace mirror
