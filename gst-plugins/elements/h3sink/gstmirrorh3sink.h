// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_H3_SINK (gst_mirror_h3_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorH3Sink, gst_mirror_h3_sink, GST, MIRROR_H3_SINK, GstBaseSink)

G_END_DECLS
