// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_CMAF_MUX (gst_mirror_cmaf_mux_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorCmafMux, gst_mirror_cmaf_mux, GST, MIRROR_CMAF_MUX, GstElement)

G_END_DECLS
