// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_TRANSCODE_BIN (gst_mirror_transcode_bin_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorTranscodeBin, gst_mirror_transcode_bin, GST, MIRROR_TRANSCODE_BIN,
                      GstBin)

G_END_DECLS
