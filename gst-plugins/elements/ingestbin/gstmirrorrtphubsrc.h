// SPDX-License-Identifier: LGPL-2.1-or-later
// GstMirrorRtpHubSrc: the ingest bin's source for rtp://:PORT?ssrc=N. It
// attaches to the process-wide RtpHub as the consumer of one session: each
// RTP datagram becomes one GstBuffer in the RTP ring (pushed downstream as a
// GstBufferList of whatever is queued), each RTCP datagram one buffer in a
// second ring that a plain GstMirrorRingSrc feeds to rtpbin. A session
// timeout ends both. Internal: made with g_object_new.
#pragma once

#include <memory>
#include <string>

#include "ingest/rtp_hub.h"
#include "ingestbin/gstmirrorringsrc.h"

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_RTP_HUB_SRC (gst_mirror_rtp_hub_src_get_type ())
G_DECLARE_FINAL_TYPE (GstMirrorRtpHubSrc, gst_mirror_rtp_hub_src, GST, MIRROR_RTP_HUB_SRC,
                      GstMirrorRingSrc)

G_END_DECLS

// Before READY->PAUSED. @rtcp_ring receives the session's RTCP; @peer names
// the sender in notes (the source address, or the URI when any source goes);
// @label names the stream in messages.
void gst_mirror_rtp_hub_src_set_hub (GstMirrorRtpHubSrc *src, const mirror::RtpHubOptions &options,
                                     uint32_t ssrc, const std::string &source,
                                     std::shared_ptr<mirror::IngestRing> rtcp_ring,
                                     const std::string &peer, const std::string &label);
