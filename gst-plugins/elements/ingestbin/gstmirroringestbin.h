// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_INGEST_BIN (gst_mirror_ingest_bin_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorIngestBin, gst_mirror_ingest_bin, GST, MIRROR_INGEST_BIN, GstBin)

G_END_DECLS
