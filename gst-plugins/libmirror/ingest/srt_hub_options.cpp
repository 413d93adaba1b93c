// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_hub_options.h"

#include <arpa/inet.h>

#include <algorithm>
#include <thread>
#include <type_traits>

#include <srt/srt.h>

namespace mirror {

namespace {

// libsrt's own bounds for SRTO_PASSPHRASE.
constexpr size_t kMinPassphrase = 10;
constexpr size_t kMaxPassphrase = 79;

bool
fail (const SrtHubOptions &options, const std::string &what, std::string *error)
{
  if (error)
    *error = "SRT port " + std::to_string (options.port) + ": " + what;
  return false;
}

bool
passphrase_ok (const std::string &passphrase)
{
  return passphrase.empty ()
         || (passphrase.size () >= kMinPassphrase && passphrase.size () <= kMaxPassphrase);
}

void
note (std::string *out, const std::string &what)
{
  if (!out->empty ())
    *out += ", ";
  *out += what;
}

template <typename T>
void
note (std::string *out, const char *name, const T &from, const T &to)
{
  if (from == to)
    return;
  if constexpr (std::is_arithmetic_v<T>)
    note (out, std::string (name) + " " + std::to_string (from) + " -> " + std::to_string (to));
  else
    note (out, std::string (name) + " '" + from + "' -> '" + to + "'");
}

} // namespace

bool
validate_srt_hub_options (const SrtHubOptions &o, std::string *error)
{
  unsigned char addr[sizeof (in6_addr)];
  if (inet_pton (AF_INET, o.bind_address.c_str (), addr) != 1
      && inet_pton (AF_INET6, o.bind_address.c_str (), addr) != 1)
    return fail (o, "bind_address '" + o.bind_address + "' is not an IPv4 or IPv6 address", error);
  if (o.latency_ms < 0 || o.latency_ms > 60000)
    return fail (o, "latency_ms " + std::to_string (o.latency_ms) + " is outside 0..60000", error);
  if (!passphrase_ok (o.passphrase))
    return fail (o,
                 "the passphrase is " + std::to_string (o.passphrase.size ())
                     + " characters long, 10 to 79 allowed",
                 error);
  for (const auto &[id, passphrase] : o.stream_passphrases) {
    if (!passphrase_ok (passphrase))
      return fail (o,
                   "the passphrase of stream '" + id + "' is " + std::to_string (passphrase.size ())
                       + " characters long, 10 to 79 allowed",
                   error);
  }
  if (o.pbkeylen != 16 && o.pbkeylen != 24 && o.pbkeylen != 32)
    return fail (o, "pbkeylen " + std::to_string (o.pbkeylen) + " is not 16, 24 or 32", error);
  if (o.max_connections < 1)
    return fail (o, "max_connections " + std::to_string (o.max_connections) + " is below 1", error);
  if (o.payload_size < 188 || o.payload_size > SRT_LIVE_MAX_PLSIZE)
    return fail (o, "payload_size " + std::to_string (o.payload_size) + " is outside 188..1456",
                 error);
  if (o.flow_control_window < 32)
    return fail (
        o, "flow_control_window " + std::to_string (o.flow_control_window) + " is below 32 packets",
        error);
  if (o.peer_idle_timeout_ms < 100)
    return fail (
        o, "peer_idle_timeout_ms " + std::to_string (o.peer_idle_timeout_ms) + " is below 100",
        error);
  if (o.receive_threads < 0 || o.receive_threads > kMaxSrtReceiveThreads)
    return fail (o,
                 "receive_threads " + std::to_string (o.receive_threads) + " is outside 0.."
                     + std::to_string (kMaxSrtReceiveThreads),
                 error);
  if (o.thread_nice < -20 || o.thread_nice > 19)
    return fail (o, "thread_nice " + std::to_string (o.thread_nice) + " is outside -20..19", error);
  if (o.input_bandwidth < 0)
    return fail (o, "input_bandwidth " + std::to_string (o.input_bandwidth) + " is negative",
                 error);
  return true;
}

int
srt_receive_threads (const SrtHubOptions &options)
{
  if (options.receive_threads > 0)
    return options.receive_threads;
  return int (std::clamp (std::thread::hardware_concurrency (), 1u, 4u));
}

std::string
describe_srt_hub_option_changes (const SrtHubOptions &a, const SrtHubOptions &b)
{
  std::string out;
  note (&out, "bind_address", a.bind_address, b.bind_address);
  note (&out, "latency_ms", a.latency_ms, b.latency_ms);
  // Never the passphrases themselves in a log.
  if (a.passphrase != b.passphrase)
    note (&out, "passphrase");
  note (&out, "pbkeylen", a.pbkeylen, b.pbkeylen);
  if (a.stream_passphrases != b.stream_passphrases)
    note (&out, "stream_passphrases");
  if (a.allow_list != b.allow_list)
    note (&out, "allow_list");
  note (&out, "max_connections", a.max_connections, b.max_connections);
  note (&out, "payload_size", a.payload_size, b.payload_size);
  note (&out, "flow_control_window", a.flow_control_window, b.flow_control_window);
  note (&out, "peer_idle_timeout_ms", a.peer_idle_timeout_ms, b.peer_idle_timeout_ms);
  note (&out, "input_bandwidth", a.input_bandwidth, b.input_bandwidth);
  note (&out, "receive_threads", a.receive_threads, b.receive_threads);
  note (&out, "thread_nice", a.thread_nice, b.thread_nice);
  note (&out, "pending_limit_bytes", a.pending_limit_bytes, b.pending_limit_bytes);
  return out;
}

} // namespace mirror
