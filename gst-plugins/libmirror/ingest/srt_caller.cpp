// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_caller.h"

#include <netdb.h>
#include <pthread.h>

#include <algorithm>
#include <exception>
#include <vector>

#include <glib.h>
#include <srt/srt.h>

#include "ingest/srt_socket_options.h"
#include "util/main_context.h"

namespace mirror {

namespace {

// How often the thread looks at stop () while it waits on libsrt.
constexpr int kTickMs = 100;
constexpr size_t kScratchBytes = 64 * 1024;
constexpr int kMaxPayload = 1500;
// A connection that lasted this long was a success: the next failure
// starts the backoff again from its first step.
constexpr int64_t kStableMs = 10000;

std::string
srt_reason (int sock, int64_t connect_timeout_ms)
{
  int reject = srt_getrejectreason (sock);
  if (reject == SRT_REJ_TIMEOUT)
    return "no answer within " + std::to_string (connect_timeout_ms) + " ms";
  if (reject != SRT_REJ_UNKNOWN)
    return std::string ("refused: ") + srt_rejectreason_str (reject);
  return srt_getlasterror_str ();
}

template <typename T>
bool
set_flag (int sock, SRT_SOCKOPT option, const T &value, const char *name, std::string *error)
{
  if (srt_setsockflag (sock, option, &value, sizeof value) == SRT_ERROR) {
    *error = std::string (name) + ": " + srt_getlasterror_str ();
    return false;
  }
  return true;
}

} // namespace

int64_t
srt_caller_backoff_ms (unsigned failures, int64_t initial_ms, int64_t max_ms)
{
  int64_t delay = std::max<int64_t> (initial_ms, 1);
  for (unsigned i = 1; i < failures && delay < max_ms; i++)
    delay *= 2;
  return std::min (delay, max_ms);
}

SrtCaller::SrtCaller (SrtCallerOptions options, std::shared_ptr<SrtStreamConsumer> consumer,
                      RetryFn on_retry)
    : options_ (std::move (options)), consumer_ (std::move (consumer)),
      on_retry_ (std::move (on_retry)),
      peer_ ((options_.host.find (':') != std::string::npos ? "[" + options_.host + "]"
                                                            : options_.host)
             + ":" + std::to_string (options_.port))
{}

SrtCaller::~SrtCaller ()
{
  stop ();
}

bool
SrtCaller::start (std::string *error)
{
  if (srt_startup () < 0) {
    *error = std::string ("libsrt failed to start: ") + srt_getlasterror_str ();
    return false;
  }
  started_ = true;
  thread_ = std::thread ([this] () { run (); });
  return true;
}

void
SrtCaller::stop ()
{
  {
    std::lock_guard lock (lock_);
    stopping_ = true;
  }
  wake_.notify_all ();
  if (thread_.joinable ())
    thread_.join ();
  if (started_) {
    srt_cleanup ();
    started_ = false;
  }
}

bool
SrtCaller::wait (int64_t ms)
{
  std::unique_lock lock (lock_);
  wake_.wait_for (lock, std::chrono::milliseconds (ms), [this] () { return stopping_; });
  return !stopping_;
}

std::optional<SrtConnectionStats>
SrtCaller::stats () const
{
  std::lock_guard lock (lock_);
  if (sock_ < 0 || !connected_at_ms_)
    return std::nullopt;
  auto out = srt_receive_stats (sock_);
  if (!out)
    return std::nullopt;
  out->connected_ms = monotonic_ms () - connected_at_ms_;
  out->peer = peer_;
  return out;
}

// One attempt: the connected socket, or -1 and *reason.
int
SrtCaller::connect_once (std::string *reason)
{
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo *found = nullptr;
  int rc = getaddrinfo (options_.host.c_str (), std::to_string (options_.port).c_str (), &hints,
                        &found);
  if (rc != 0 || !found) {
    *reason = "cannot resolve " + options_.host + ": " + gai_strerror (rc);
    return -1;
  }
  std::vector<char> address ((char *)found->ai_addr, (char *)found->ai_addr + found->ai_addrlen);
  freeaddrinfo (found);

  int sock = srt_create_socket ();
  if (sock == SRT_INVALID_SOCK) {
    *reason = std::string ("cannot create an SRT socket: ") + srt_getlasterror_str ();
    return -1;
  }
  const bool no = false;
  const int latency = (int)options_.latency_ms;
  const int connect_timeout = (int)options_.connect_timeout_ms;
  const int idle_timeout = (int)options_.peer_idle_timeout_ms;
  std::string error;
  bool ok = set_flag (sock, SRTO_RCVSYN, no, "SRTO_RCVSYN", &error)
            && set_flag (sock, SRTO_SNDSYN, no, "SRTO_SNDSYN", &error)
            && set_flag (sock, SRTO_LATENCY, latency, "SRTO_LATENCY", &error)
            && set_flag (sock, SRTO_CONNTIMEO, connect_timeout, "SRTO_CONNTIMEO", &error)
            && set_flag (sock, SRTO_PEERIDLETIMEO, idle_timeout, "SRTO_PEERIDLETIMEO", &error);
  if (ok && !options_.stream_id.empty ()
      && srt_setsockflag (sock, SRTO_STREAMID, options_.stream_id.c_str (),
                          (int)options_.stream_id.size ())
             == SRT_ERROR) {
    error = std::string ("SRTO_STREAMID: ") + srt_getlasterror_str ();
    ok = false;
  }
  if (ok && !options_.passphrase.empty ()) {
    ok = srt_setsockflag (sock, SRTO_PASSPHRASE, options_.passphrase.c_str (),
                          (int)options_.passphrase.size ())
         != SRT_ERROR;
    if (!ok)
      error = std::string ("SRTO_PASSPHRASE: ") + srt_getlasterror_str ();
    if (ok && options_.pbkeylen)
      ok = set_flag (sock, SRTO_PBKEYLEN, options_.pbkeylen, "SRTO_PBKEYLEN", &error);
  }
  if (!ok) {
    srt_close (sock);
    *reason = error;
    return -1;
  }
  {
    std::lock_guard lock (lock_);
    sock_ = sock;
  }
  if (srt_connect (sock, (sockaddr *)address.data (), (int)address.size ()) == SRT_ERROR) {
    *reason = srt_getlasterror_str ();
    return -1;
  }
  // Non-blocking: the handshake finishes (or fails) in libsrt's threads.
  const int64_t deadline = monotonic_ms () + options_.connect_timeout_ms + 1000;
  for (;;) {
    SRT_SOCKSTATUS state = srt_getsockstate (sock);
    if (state == SRTS_CONNECTED)
      return sock;
    if (state == SRTS_BROKEN || state == SRTS_CLOSED || state == SRTS_NONEXIST) {
      *reason = srt_reason (sock, options_.connect_timeout_ms);
      return -1;
    }
    if (monotonic_ms () > deadline) {
      *reason = "no answer within " + std::to_string (options_.connect_timeout_ms) + " ms";
      return -1;
    }
    if (!wait (kTickMs / 5)) {
      *reason = "stopped";
      return -1;
    }
  }
}

bool
SrtCaller::receive (int sock)
{
  int epoll = srt_epoll_create ();
  int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
  srt_epoll_add_usock (epoll, sock, &events);
  std::vector<uint8_t> scratch (kScratchBytes);
  std::string reason;
  while (reason.empty ()) {
    {
      std::lock_guard lock (lock_);
      if (stopping_)
        break;
    }
    SRT_EPOLL_EVENT ready[1];
    int n = srt_epoll_uwait (epoll, ready, 1, kTickMs);
    if (n < 0 && srt_getlasterror (nullptr) != SRT_ETIMEOUT) {
      reason = srt_getlasterror_str ();
      break;
    }
    if (n <= 0)
      continue;
    size_t filled = 0;
    for (;;) {
      int got = srt_recvmsg (sock, (char *)scratch.data () + filled, kMaxPayload);
      if (got == SRT_ERROR) {
        if (srt_getlasterror (nullptr) != SRT_EASYNCRCV)
          reason = srt_getsockstate (sock) == SRTS_BROKEN
                       ? "connection lost: the listener closed it or sent nothing for "
                             + std::to_string (options_.peer_idle_timeout_ms) + " ms"
                       : srt_getlasterror_str ();
        break;
      }
      filled += (size_t)got;
      if (filled + kMaxPayload > scratch.size ()) {
        consumer_->on_data (scratch.data (), filled);
        filled = 0;
      }
    }
    if (filled)
      consumer_->on_data (scratch.data (), filled);
  }
  srt_epoll_release (epoll);
  if (reason.empty ())
    return false; // stopped
  consumer_->on_disconnect ({ options_.stream_id, peer_ }, reason);
  return true;
}

void
SrtCaller::run ()
{
  pthread_setname_np (pthread_self (), "srt-caller");
  unsigned failures = 0;
  for (;;) {
    std::string reason;
    int sock = connect_once (&reason);
    bool lost = false;
    if (sock >= 0) {
      {
        std::lock_guard lock (lock_);
        connected_at_ms_ = monotonic_ms ();
      }
      g_info ("SRT pull from %s (stream '%s'): connected", peer_.c_str (),
              options_.stream_id.c_str ());
      consumer_->on_connect ({ options_.stream_id, peer_ });
      lost = receive (sock);
      // A connection that lasted was a success: the backoff starts over.
      if (monotonic_ms () - connected_at_ms_ >= kStableMs)
        failures = 0;
    }
    {
      std::lock_guard lock (lock_);
      if (sock_ >= 0)
        srt_close (sock_);
      sock_ = -1;
      connected_at_ms_ = 0;
      if (stopping_)
        return;
    }
    int64_t delay_ms;
    if (lost) {
      // Already told (on_disconnect); the first try again is not a failure.
      delay_ms = srt_caller_backoff_ms (failures + 1, options_.backoff_initial_ms,
                                        options_.backoff_max_ms);
    } else {
      failures++;
      SrtCallerRetry retry;
      retry.attempt = failures;
      retry.delay_ms
          = srt_caller_backoff_ms (failures, options_.backoff_initial_ms, options_.backoff_max_ms);
      retry.reason = reason;
      delay_ms = retry.delay_ms;
      g_info ("SRT pull from %s (stream '%s'): attempt %u failed (%s); next in %lld ms",
              peer_.c_str (), options_.stream_id.c_str (), failures, reason.c_str (),
              (long long)delay_ms);
      if (on_retry_)
        on_retry_ (retry);
    }
    if (!wait (delay_ms))
      return;
  }
}

} // namespace mirror
