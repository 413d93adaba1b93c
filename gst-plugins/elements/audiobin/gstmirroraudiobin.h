// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_AUDIO_BIN (gst_mirror_audio_bin_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorAudioBin, gst_mirror_audio_bin, GST, MIRROR_AUDIO_BIN, GstBin)

G_END_DECLS
