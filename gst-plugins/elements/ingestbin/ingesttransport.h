// SPDX-License-Identifier: LGPL-2.1-or-later
// What the transport under a feed says about itself (SRT hub or pull,
// rtpbin), in the terms of the mirror-ingest-stats message.
#pragma once

#include <gst/gst.h>

#include <string>

#include "ingest/srt_hub.h"

namespace mirror {

struct TransportFigures {
  std::string peer;
  guint64 bytes = 0;
  guint64 packets = 0;
  guint64 lost = 0;
  guint64 dropped = 0;
  guint64 retransmitted = 0;
  double rtt_ms = 0;
  double rate_mbps = -1; // < 0: unknown, derive it from the byte count
};

void transport_figures_from_srt_hub (const SrtConnectionStats &stats, TransportFigures *f);
// rtpbin's session source for @ssrc and its jitter buffer (may be nullptr).
void transport_figures_from_rtpbin (GstElement *rtpbin, GstElement *jitterbuffer, guint32 ssrc,
                                    TransportFigures *f);

} // namespace mirror
