// SPDX-License-Identifier: LGPL-2.1-or-later
// Cluster playback by relay: a node answers a viewer of a stream that another
// node owns by fetching the owner's answer itself, through one cache shared
// by every viewer worker, with single flight: however many viewers ask for
// the same URL (the same part, the same blocking reload) while it is being
// fetched, one request goes to the owner and every one of them gets its
// answer. What the owner said may be kept (its Cache-Control: s-maxage, else
// max-age) is answered from the cache until then.
//
// One thread of its own runs the HTTP client (libsoup); answers reach each
// viewer on the context it asked from.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <glib.h>

#include "util/bytes.h"

namespace mirror {

struct RelayAnswer {
  int status = 0; // 0: the owner could not be reached (error says why)
  std::string content_type;
  std::string cache_control;
  std::string age;   // the owner's Age, if any
  Bytes body;
  std::string error;
};

struct OriginRelayStats {
  uint64_t requests = 0;   // fetches asked for
  uint64_t upstream = 0;   // requests sent to owners
  uint64_t coalesced = 0;  // joined a request already in flight
  uint64_t cached = 0;     // answered from the cache
  uint64_t failures = 0;   // owner unreachable or timed out
  uint64_t cache_bytes = 0;
};

class OriginRelay {
 public:
  using Done = std::function<void (const RelayAnswer &)>;

  // @max_cache_bytes: what the cache may hold (bodies); @timeout_s: how long
  // one upstream request may take (a held reload takes up to 3 target
  // durations).
  explicit OriginRelay (size_t max_cache_bytes = 64 << 20, unsigned timeout_s = 10);
  ~OriginRelay ();
  OriginRelay (const OriginRelay &) = delete;
  OriginRelay &operator= (const OriginRelay &) = delete;

  // Any thread whose thread-default context is @context: @done runs there,
  // once, later (never inside this call). Returns a ticket for cancel ().
  // @tls_pin: over HTTPS, a certificate with this SPKI pin (base64 SHA-256,
  // TlsIdentity::spki_pin) is trusted as well as any the system trusts
  // (the owner's self-signed one, as the directory tells it).
  uint64_t fetch (const std::string &url, const std::string &tls_pin, GMainContext *context,
                  Done done);
  // The viewer went away: its @done is never called (the fetch goes on for
  // the others, and for the cache).
  void cancel (uint64_t ticket);

  OriginRelayStats stats () const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Seconds a shared cache may keep an answer with this Cache-Control:
// s-maxage, else max-age; 0 for no-cache, no-store, private or neither.
int64_t shared_cache_seconds (const std::string &cache_control);

} // namespace mirror
