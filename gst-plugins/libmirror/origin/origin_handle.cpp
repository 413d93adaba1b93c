// SPDX-License-Identifier: LGPL-2.1-or-later
// The GBoxed that carries an Origin through a GstContext.
#include "origin/origin_handle.h"

typedef mirror::OriginHandle MirrorOriginHandle;

// Copying shares the Origin: every copy keeps it alive.
static MirrorOriginHandle *
mirror_origin_handle_copy (MirrorOriginHandle *handle)
{
  return new mirror::OriginHandle (*handle);
}

static void
mirror_origin_handle_free (MirrorOriginHandle *handle)
{
  delete handle;
}

G_DEFINE_BOXED_TYPE (MirrorOriginHandle, mirror_origin_handle, mirror_origin_handle_copy,
                     mirror_origin_handle_free)

namespace mirror {

OriginHandle *
origin_handle_new (std::shared_ptr<Origin> origin)
{
  return new OriginHandle{ std::move (origin) };
}

} // namespace mirror
