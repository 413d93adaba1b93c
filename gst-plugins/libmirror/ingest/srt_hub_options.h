// SPDX-License-Identifier: LGPL-2.1-or-later
// Checks on SrtHubOptions, done once in acquire () so that nothing libsrt
// would refuse later (a 5-character passphrase, a payload over 1456 bytes)
// reaches a listen callback.
#pragma once

#include <string>

#include "ingest/srt_hub.h"

namespace mirror {

constexpr int kMaxSrtReceiveThreads = 64;

// options.receive_threads with 0 resolved: one per CPU core, at most 4.
int srt_receive_threads (const SrtHubOptions &options);

// False and *error naming the port, the option and the value.
bool validate_srt_hub_options (const SrtHubOptions &options, std::string *error);

// "latency_ms 120 -> 200, allow_list" for a log line; empty when equal.
std::string describe_srt_hub_option_changes (const SrtHubOptions &from, const SrtHubOptions &to);

} // namespace mirror
