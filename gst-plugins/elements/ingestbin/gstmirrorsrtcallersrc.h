// SPDX-License-Identifier: LGPL-2.1-or-later
// GstMirrorSrtCallerSrc: the ingest bin's source for a pull,
// srt://HOST:PORT?mode=caller. A mirror::SrtCaller connects to the remote
// listener, leaves what it receives in the ring and connects again with
// backoff whenever the connection fails or breaks; each failed attempt is a
// ring note (kRetrying). Internal: made with g_object_new.
#pragma once

#include <optional>
#include <string>

#include "ingest/srt_caller.h"
#include "ingestbin/gstmirrorringsrc.h"

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_SRT_CALLER_SRC (gst_mirror_srt_caller_src_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorSrtCallerSrc, gst_mirror_srt_caller_src, GST, MIRROR_SRT_CALLER_SRC,
                      GstMirrorRingSrc)

G_END_DECLS

// Before READY->PAUSED. @label names the stream in messages.
void gst_mirror_srt_caller_src_set_options (GstMirrorSrtCallerSrc *src,
                                            const mirror::SrtCallerOptions &options,
                                            const std::string &label);
// The connection's figures; nullopt while not connected.
std::optional<mirror::SrtConnectionStats>
gst_mirror_srt_caller_src_stats (GstMirrorSrtCallerSrc *src);
