// SPDX-License-Identifier: LGPL-2.1-or-later
// The libsrt options of a hub's listener. Accepted sockets inherit them, so
// every caller of the port gets the same live-mode receiver.
#pragma once

#include <optional>
#include <string>

#include <srt/srt.h>

#include "ingest/srt_hub.h"

namespace mirror {

// SRTO_RCVBUF for one caller (bytes, as libsrt takes it): a 50 Mbps feed,
// bursting to twice that on keyframes, for the latency plus the round trips
// that retransmissions need. Capped by the flow control window, which libsrt
// requires to hold the whole buffer.
int srt_receive_buffer_bytes (int64_t latency_ms, int payload_size, int flow_control_window);

// SRTO_UDP_RCVBUF of each of the port's sockets (receive_threads of them,
// which the callers share): room for 25 callers at 50 Mbps while libsrt's
// receiving threads are held up.
int srt_udp_receive_buffer_bytes (int receive_threads);

// A connection's receive figures from libsrt (srt_bstats without clearing:
// the totals run from the start of the connection); nullopt when libsrt has
// none for sock. peer, connected_ms and held_bytes are the caller's to set.
std::optional<SrtConnectionStats> srt_receive_stats (SRTSOCKET sock);

// Sets the options on a listener that is not bound yet; false and *error
// naming the option and libsrt's reason.
bool configure_srt_listener (SRTSOCKET listener, const SrtHubOptions &options, bool ipv6,
                             std::string *error);

} // namespace mirror
