// SPDX-License-Identifier: LGPL-2.1-or-later
// A pull: one SRT caller connected to a remote listener, handing what it
// receives to a SrtStreamConsumer (the interface the hub feeds), and
// connecting again whenever the connection fails or breaks, waiting longer
// after each failure (srt_caller_backoff_ms), until it is stopped. Callbacks
// run on the caller's own thread, in order; they must not block.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "ingest/srt_hub.h"

namespace mirror {

struct SrtCallerOptions {
  std::string host;
  uint16_t port = 0;
  std::string stream_id; // SRTO_STREAMID; empty: none
  int64_t latency_ms = 120;
  std::string passphrase;
  int pbkeylen = 0; // 0: libsrt's default
  int64_t connect_timeout_ms = 3000;
  int64_t peer_idle_timeout_ms = 5000;
  int64_t backoff_initial_ms = 1000;
  int64_t backoff_max_ms = 30000;
};

// How long to wait before attempt failures + 1: backoff_initial_ms doubled
// per failure after the first, at most backoff_max_ms.
int64_t srt_caller_backoff_ms (unsigned failures, int64_t initial_ms, int64_t max_ms);

struct SrtCallerRetry {
  unsigned attempt = 0; // the attempt that failed (1, 2, ...; since the last lasting connection)
  int64_t delay_ms = 0; // until the next one
  std::string reason;
};

class SrtCaller {
 public:
  using RetryFn = std::function<void (const SrtCallerRetry &retry)>;

  SrtCaller (SrtCallerOptions options, std::shared_ptr<SrtStreamConsumer> consumer,
             RetryFn on_retry);
  ~SrtCaller (); // stop ()
  SrtCaller (const SrtCaller &) = delete;
  SrtCaller &operator= (const SrtCaller &) = delete;

  // false and *error when libsrt cannot start.
  bool start (std::string *error);
  // Closes the connection and joins the thread; no callback runs after it.
  void stop ();

  // The connection now, if there is one.
  std::optional<SrtConnectionStats> stats () const;
  // "host:port"
  const std::string &peer () const { return peer_; }

 private:
  void run ();
  // Waits ms, or until stop (); false when stopping.
  bool wait (int64_t ms);
  int connect_once (std::string *reason);
  // Reads until the connection breaks (true, on_disconnect told) or stop ().
  bool receive (int sock);

  const SrtCallerOptions options_;
  const std::shared_ptr<SrtStreamConsumer> consumer_;
  const RetryFn on_retry_;
  const std::string peer_;
  std::thread thread_;
  mutable std::mutex lock_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  int sock_ = -1; // SRTSOCKET of the attempt or connection now
  int64_t connected_at_ms_ = 0;
};

} // namespace mirror
