// SPDX-License-Identifier: LGPL-2.1-or-later
// What a caller is told when the hub refuses it: HTTP-like codes in libsrt's
// predefined range (SRT_REJX_*, access_control.h), which srt-live-transmit,
// ffmpeg and GStreamer print on the caller's side.
#pragma once

#include "ingest/srt_hub.h"

namespace mirror {

int srt_reject_code (SrtRejectReason reason);

} // namespace mirror
