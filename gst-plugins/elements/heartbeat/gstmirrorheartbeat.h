// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_HEARTBEAT (gst_mirror_heartbeat_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorHeartbeat, gst_mirror_heartbeat, GST, MIRROR_HEARTBEAT,
                      GstBaseTransform)

G_END_DECLS
