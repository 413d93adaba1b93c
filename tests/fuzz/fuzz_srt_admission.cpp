// SPDX-License-Identifier: LGPL-2.1-or-later
// SRT admission end to end: a libsrt caller on loopback offers the input's
// streamid to an SrtHub, whose listen callback parses it and decides (allow
// list, per-stream passphrase, claims, max_connections, the new-stream
// handler) before libsrt accepts. The decision must follow the parser: an
// id it refuses is rejected as malformed, one outside the allow list as not
// allowed, and an accepted caller carries the parsed id. Input: a flag byte
// (the handler's answer, whether the caller sets a passphrase), then the
// streamid.
#include <arpa/inet.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <syslog.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <glib.h>
#include <srt/srt.h>

#include "fuzz_check.h"
#include "ingest/srt_hub.h"
#include "ingest/srt_stream_id.h"

namespace {

const std::vector<std::string> kAllowList = { "cam*", "studio.?", "news-[0-9]*", "secure1" };

std::shared_ptr<mirror::SrtHub> hub;
std::mutex mu;
std::condition_variable reported;
bool handler_says = false;
// Refusals as the hub reports them (the raw streamid when malformed, else
// the id), which may come after the caller has already seen its rejection.
std::vector<std::pair<std::string, mirror::SrtRejectReason>> refusals;
std::optional<std::string> handed; // the id the new-stream handler was asked about

// The hub's reason for refusing @stream_id, waiting a little for its report.
std::optional<mirror::SrtRejectReason>
refusal_of (const std::string &stream_id, std::unique_lock<std::mutex> &lock)
{
  std::optional<mirror::SrtRejectReason> reason;
  reported.wait_for (lock, std::chrono::seconds (2), [&] {
    for (const auto &[id, why] : refusals)
      if (id == stream_id)
        reason = why;
    return reason.has_value ();
  });
  return reason;
}

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  g_log_set_always_fatal (GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  std::string error;
  for (int i = 0; i < 200 && !hub; ++i) {
    mirror::SrtHubOptions options;
    options.bind_address = "127.0.0.1";
    options.port = uint16_t (20000 + g_random_int_range (0, 20000));
    options.latency_ms = 20;
    options.allow_list = kAllowList;
    options.stream_passphrases = { { "secure1", "fuzzing-passphrase" } };
    options.max_connections = 4;
    options.receive_threads = 1;
    options.thread_nice = 0;
    hub = mirror::SrtHub::acquire (options, &error);
  }
  FUZZ_CHECK (hub, error);
  // Released at exit before libsrt's own teardown (registered after libsrt
  // started, so run before it): a hub let go by a static destructor would
  // park its port in a libsrt already gone.
  std::atexit ([] { hub.reset (); });
  // Every refusal is a libsrt warning: keep the fuzzer's log readable.
  srt_setloglevel (LOG_CRIT);
  hub->set_new_stream_handler ([] (const mirror::SrtPeer &peer) {
    std::lock_guard lock (mu);
    handed = peer.stream_id;
    return handler_says;
  });
  hub->set_reject_observer (
      [] (const mirror::SrtPeer &peer, mirror::SrtRejectReason reason, const std::string &message) {
        FUZZ_CHECK (!message.empty (), "a refusal without a message");
        std::lock_guard lock (mu);
        refusals.emplace_back (peer.stream_id, reason);
        reported.notify_all ();
      });
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const uint8_t flags = data[0];
  std::string raw (reinterpret_cast<const char *> (data + 1), size - 1);
  raw = raw.substr (0, raw.find ('\0')); // a C string in libsrt's callback
  if (raw.size () > 512)
    raw.resize (512); // libsrt's own limit on SRTO_STREAMID
  {
    std::lock_guard lock (mu);
    handler_says = flags & 1;
    refusals.clear ();
    handed.reset ();
  }

  SRTSOCKET caller = srt_create_socket ();
  FUZZ_CHECK (caller != SRT_INVALID_SOCK, srt_getlasterror_str ());
  const int timeout_ms = 1000;
  srt_setsockflag (caller, SRTO_CONNTIMEO, &timeout_ms, sizeof timeout_ms);
  const int latency = 20;
  srt_setsockflag (caller, SRTO_LATENCY, &latency, sizeof latency);
  if (!raw.empty ())
    srt_setsockflag (caller, SRTO_STREAMID, raw.data (), int (raw.size ()));
  if (flags & 2) {
    const std::string passphrase = "fuzzing-passphrase";
    srt_setsockflag (caller, SRTO_PASSPHRASE, passphrase.data (), int (passphrase.size ()));
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons (hub->port ());
  to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  const bool connected
      = srt_connect (caller, reinterpret_cast<sockaddr *> (&to), sizeof to) != SRT_ERROR;
  srt_close (caller);

  std::string id, why;
  const bool parses = mirror::parse_srt_stream_id_checked (raw, &id, &why);
  std::unique_lock lock (mu);
  if (!parses) {
    FUZZ_CHECK (!connected, "'" + raw + "' is malformed (" + why + ") but was admitted");
    FUZZ_CHECK (refusal_of (raw, lock) == mirror::SrtRejectReason::kMalformedStreamId,
                "'" + raw + "' is malformed but refused otherwise");
    return 0;
  }
  bool allowed = false;
  for (const auto &pattern : kAllowList)
    allowed = allowed || fnmatch (pattern.c_str (), id.c_str (), 0) == 0;
  if (!allowed) {
    FUZZ_CHECK (!connected, "'" + id + "' is outside the allow list but was admitted");
    FUZZ_CHECK (refusal_of (id, lock) == mirror::SrtRejectReason::kNotAllowed,
                "'" + id + "' is outside the allow list but refused otherwise");
    return 0;
  }
  if (handed)
    FUZZ_CHECK (*handed == id, "the handler was asked about '" + *handed + "', not '" + id + "'");
  return 0;
}
