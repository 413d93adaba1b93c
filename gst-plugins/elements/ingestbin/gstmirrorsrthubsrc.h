// SPDX-License-Identifier: LGPL-2.1-or-later
// GstMirrorSrtHubSrc: the ingest bin's source for srt://:PORT?streamid=ID. It
// attaches to the process-wide SrtHub for the port as that stream id's
// consumer: the hub's receive thread wraps each batch of SRT payloads (MPEG-TS
// packets) in one GstBuffer (one copy) and leaves it in the ring; callers
// coming and going become ring notes. Internal: made with g_object_new.
#pragma once

#include <optional>
#include <string>

#include "ingest/srt_hub.h"
#include "ingestbin/gstmirrorringsrc.h"

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_SRT_HUB_SRC (gst_mirror_srt_hub_src_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorSrtHubSrc, gst_mirror_srt_hub_src, GST, MIRROR_SRT_HUB_SRC,
                      GstMirrorRingSrc)

G_END_DECLS

// Before READY->PAUSED. @label names the stream in messages.
void gst_mirror_srt_hub_src_set_hub (GstMirrorSrtHubSrc *src, const mirror::SrtHubOptions &options,
                                     const std::string &stream_id, const std::string &label);
// The current caller's figures, from the hub; nullopt when none is connected.
std::optional<mirror::SrtConnectionStats> gst_mirror_srt_hub_src_stats (GstMirrorSrtHubSrc *src);
