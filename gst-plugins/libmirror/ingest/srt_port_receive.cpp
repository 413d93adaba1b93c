// SPDX-License-Identifier: LGPL-2.1-or-later
// The receive path: one thread per port waits on one SRT epoll holding the
// listeners and every connection, reads each ready socket until libsrt says it
// would block, and hands consecutive payloads of one socket to its consumer in
// one on_data call (a scratch batch of up to 64 KiB), taking the routing lock
// once per batch. Nothing is allocated per packet.
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include <glib.h>

#include "ingest/srt_address.h"
#include "ingest/srt_port.h"
#include "util/main_context.h"
#include "util/thread_priority.h"

namespace mirror {

namespace {

constexpr int kMaxEvents = 128;
// How often the thread looks at handshakes, attaches and held callers when
// no packet wakes it.
constexpr int64_t kTickMs = 50;
constexpr size_t kScratchBytes = 64 * 1024;
// An accepted caller whose consumer never attached (mirrord failed to start
// the pipeline) is closed after this long.
constexpr int64_t kHoldTimeoutMs = 10000;

template <typename Fn>
void
guarded (uint16_t port, const SrtPeer &peer, const char *what, Fn &&fn)
{
  try {
    fn ();
  } catch (const std::exception &e) {
    g_critical ("SRT port %u: consumer of stream '%s' (caller %s) threw from %s: %s", port,
                peer.stream_id.c_str (), peer.address.c_str (), what, e.what ());
  } catch (...) {
    g_critical ("SRT port %u: consumer of stream '%s' (caller %s) threw from %s", port,
                peer.stream_id.c_str (), peer.address.c_str (), what);
  }
}

} // namespace

void
SrtPort::run ()
{
  receive_thread_id_.store (std::this_thread::get_id ());
  std::string name = "srt-hub-" + std::to_string (port_);
  pthread_setname_np (pthread_self (), name.substr (0, 15).c_str ());
  // The one thread that drains every caller's libsrt buffer: above the
  // port's other threads, or a box short of CPU lets those buffers overflow.
  set_thread_nice (drain_thread_nice (options_.thread_nice));

  SRT_EPOLL_EVENT events[kMaxEvents];
  int64_t next_housekeeping = 0;
  while (!stopping_.load ()) {
    try {
      int n = srt_epoll_uwait (epoll_, events, kMaxEvents, kTickMs);
      if (n < 0 && srt_getlasterror (nullptr) != SRT_ETIMEOUT) {
        g_warning ("SRT port %u: waiting on the SRT epoll failed: %s", port_,
                   srt_getlasterror_str ());
        // Not a busy loop on a persistent error.
        std::this_thread::sleep_for (std::chrono::milliseconds (kTickMs));
      }
      for (int i = 0; i < n; ++i) {
        if (is_listener (events[i].fd)) {
          accept_callers (events[i].fd);
          continue;
        }
        auto it = connections_.find (events[i].fd);
        if (it != connections_.end ())
          receive (*it->second);
      }
      int64_t now = monotonic_ms ();
      if (now >= next_housekeeping) {
        housekeeping (now);
        next_housekeeping = now + kTickMs;
      }
    } catch (const std::exception &e) {
      g_critical ("SRT port %u: receive thread: %s", port_, e.what ());
    }
  }
}

// One caller per readiness event: the listener stays ready while more are
// queued, and an srt_accept that would block makes libsrt log an error.
void
SrtPort::accept_callers (SRTSOCKET listener)
{
  if (!stopping_.load ()) {
    sockaddr_storage address;
    int length = sizeof address;
    SRTSOCKET sock = srt_accept (listener, reinterpret_cast<sockaddr *> (&address), &length);
    if (sock == SRT_INVALID_SOCK)
      return; // none left (SRT_EASYNCRCV), or the listener closed

    // The silent caller this one was admitted in place of ends first, so
    // that the consumer hears of its end before of this one.
    SRTSOCKET superseded = SRT_INVALID_SOCK;
    {
      std::lock_guard lock (mu_);
      auto handshake = handshakes_.find (sock);
      auto old = handshake == handshakes_.end ()
                     ? superseded_.end ()
                     : superseded_.find (handshake->second.peer.stream_id);
      if (old != superseded_.end ()) {
        superseded = old->second;
        superseded_.erase (old);
      }
    }
    if (auto old = connections_.find (superseded); old != connections_.end ())
      end_connection (*old->second, "it sent nothing, and a new caller took its place");

    auto connection = std::make_unique<Connection> (options_.pending_limit_bytes);
    connection->sock = sock;
    connection->scratch = std::make_unique_for_overwrite<uint8_t[]> (kScratchBytes);
    connection->accepted_ms = monotonic_ms ();
    connection->last_data_ms.store (connection->accepted_ms);
    connection->held_since_ms = connection->accepted_ms;
    Connection *c = connection.get ();
    bool admitted = false;
    SrtHub::HeldStreamFn held_handler;
    {
      std::lock_guard lock (mu_);
      auto handshake = handshakes_.find (sock);
      if (handshake != handshakes_.end ()) {
        admitted = true;
        c->peer = handshake->second.peer;
        auto consumer = consumers_.find (c->peer.stream_id);
        if (consumer != consumers_.end ()) {
          c->consumer = consumer->second;
          ++c->consumer_generation;
        } else
          held_handler = held_stream_handler_;
        handshakes_.erase (handshake);
        connections_.emplace (sock, std::move (connection));
      }
    }
    if (!admitted) {
      // Only when its handshake was given up as stale.
      g_warning ("SRT port %u: closing caller %s, accepted after its handshake timed out", port_,
                 format_srt_peer (reinterpret_cast<sockaddr *> (&address)).c_str ());
      srt_close (sock);
      return;
    }
    int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    if (srt_epoll_add_usock (epoll_, sock, &events) == SRT_ERROR) {
      g_warning ("SRT port %u: cannot watch caller %s of stream '%s': %s", port_,
                 c->peer.address.c_str (), c->peer.stream_id.c_str (), srt_getlasterror_str ());
      end_connection (*c, "cannot be watched");
      return;
    }
    g_info ("SRT port %u: stream '%s' connected from %s%s", port_, c->peer.stream_id.c_str (),
            c->peer.address.c_str (), c->consumer ? "" : " (held until a consumer attaches)");
    if (held_handler) {
      try {
        held_handler (c->peer);
      } catch (...) {
        g_critical ("SRT port %u: the held-stream handler threw for stream '%s'", port_,
                    c->peer.stream_id.c_str ());
      }
    }
    deliver (*c, nullptr, 0);
  }
}

void
SrtPort::receive (Connection &c)
{
  uint8_t *scratch = c.scratch.get ();
  size_t used = 0;
  bool lost = false;
  std::string error;
  while (true) {
    // A live-mode message is at most SRT_LIVE_MAX_PLSIZE bytes and must fit
    // whole.
    if (kScratchBytes - used < size_t (SRT_LIVE_MAX_PLSIZE)) {
      c.last_data_ms.store (monotonic_ms (), std::memory_order_relaxed);
      deliver (c, scratch, used);
      used = 0;
    }
    int n = srt_recvmsg (c.sock, reinterpret_cast<char *> (scratch + used),
                         int (kScratchBytes - used));
    if (n > 0) {
      used += size_t (n);
      continue;
    }
    if (n == SRT_ERROR && srt_getlasterror (nullptr) != SRT_EASYNCRCV) {
      lost = true;
      error = srt_getlasterror_str ();
    }
    break;
  }
  if (used) {
    c.last_data_ms.store (monotonic_ms (), std::memory_order_relaxed);
    deliver (c, scratch, used);
  }
  if (lost)
    end_connection (c, std::string ("connection lost: the caller closed it or sent nothing for ")
                           + std::to_string (options_.peer_idle_timeout_ms)
                           + " ms (libsrt: " + error + ")");
}

void
SrtPort::deliver (Connection &c, const uint8_t *data, size_t size)
{
  std::shared_ptr<SrtStreamConsumer> consumer;
  uint64_t generation = 0;
  {
    std::lock_guard lock (mu_);
    if (c.closing)
      return;
    consumer = c.consumer;
    generation = c.consumer_generation;
    if (consumer)
      in_callback_.store (consumer.get ());
  }
  if (!consumer) {
    if (size) {
      c.held.append (data, size);
      c.held_bytes.store (c.held.size_bytes ());
    }
    return;
  }
  // A consumer new to this caller: the first, or the next one after a
  // detach that kept the caller (keep_caller).
  if (c.announced_generation != generation) {
    c.announced_generation = generation;
    if (c.held.dropped_bytes ())
      g_warning ("SRT port %u: stream '%s' from %s: %" G_GUINT64_FORMAT
                 " bytes dropped while waiting for a consumer (pending limit %zu bytes)",
                 port_, c.peer.stream_id.c_str (), c.peer.address.c_str (), c.held.dropped_bytes (),
                 options_.pending_limit_bytes);
    guarded (port_, c.peer, "on_connect", [&] { consumer->on_connect (c.peer); });
    guarded (port_, c.peer, "on_data", [&] {
      c.held.drain (
          [&] (const uint8_t *held, size_t held_size) { consumer->on_data (held, held_size); });
    });
    c.held_bytes.store (0);
  }
  if (size)
    guarded (port_, c.peer, "on_data", [&] { consumer->on_data (data, size); });
  end_callback ();
}

void
SrtPort::end_callback ()
{
  in_callback_.store (nullptr);
  if (detach_waiters_.load () > 0) {
    std::lock_guard lock (mu_);
    callback_done_.notify_all ();
  }
}

void
SrtPort::end_connection (Connection &c, const std::string &reason)
{
  const SRTSOCKET sock = c.sock;
  bool closed_by_detach;
  {
    std::lock_guard lock (mu_);
    closed_by_detach = c.closing;
  }
  // Closing also takes it out of the epoll.
  if (!closed_by_detach)
    srt_close (sock);
  // A consumer that attached since the last batch still gets on_connect and
  // the held data before on_disconnect.
  deliver (c, nullptr, 0);

  const SrtPeer peer = c.peer;
  std::shared_ptr<SrtStreamConsumer> consumer;
  std::unique_ptr<Connection> ended;
  bool detached = false;
  {
    std::lock_guard lock (mu_);
    detached = c.closing;
    if (!detached && c.consumer && c.announced_generation == c.consumer_generation) {
      consumer = c.consumer;
      in_callback_.store (consumer.get ());
    }
    auto claim = claims_.find (c.peer.stream_id);
    if (claim != claims_.end () && claim->second == sock)
      claims_.erase (claim);
    auto it = connections_.find (sock);
    ended = std::move (it->second);
    connections_.erase (it);
    if (!detached && !consumer) {
      // Nobody was told of this caller: the next consumer of the id (or one
      // that attached since its last batch) is, connect, held data and end.
      // An older ended caller of the id is forgotten. In the same lock, so
      // that an attach () finds it either here or there.
      const std::string id = peer.stream_id;
      ended_while_held_[id] = { std::move (ended), reason, monotonic_ms () + kHoldTimeoutMs };
    }
  }
  if (!detached)
    g_info ("SRT port %u: stream '%s' from %s ended: %s", port_, peer.stream_id.c_str (),
            peer.address.c_str (), reason.c_str ());
  if (consumer) {
    guarded (port_, peer, "on_disconnect", [&] { consumer->on_disconnect (peer, reason); });
    end_callback ();
  }
}

void
SrtPort::housekeeping (int64_t now_ms)
{
  std::function<void ()> expired_park;
  {
    std::lock_guard lock (mu_);
    if (parked_until_ms_ && now_ms >= parked_until_ms_)
      expired_park = std::move (on_parked_expired_);
  }
  if (expired_park)
    expired_park ();
  check_handshakes (now_ms);
  deliver_ended_while_held (now_ms);
  std::vector<Connection *> announce, expired, detached, silent, dropped;
  // libsrt drops a silent peer only once its expiry timer has also fired
  // 16 times, which at a long RTT is seconds after SRTO_PEERIDLETIMEO: the
  // timeout is kept here too, from the last payload received. Never under
  // the latency plus a second, in which a recovering receiver may
  // legitimately deliver nothing.
  const int64_t silent_ms = std::max (options_.peer_idle_timeout_ms, options_.latency_ms + 1000);
  {
    std::lock_guard lock (mu_);
    for (auto &[sock, c] : connections_) {
      if (c->closing)
        detached.push_back (c.get ());
      else if (c->drop)
        dropped.push_back (c.get ());
      else if (c->consumer && c->announced_generation != c->consumer_generation)
        announce.push_back (c.get ());
      else if (!c->consumer && now_ms - c->held_since_ms > kHoldTimeoutMs)
        expired.push_back (c.get ());
      else if (c->consumer && now_ms - c->last_data_ms.load (std::memory_order_relaxed) > silent_ms)
        silent.push_back (c.get ());
    }
  }
  // Handles an attach () to an idle caller; a busy one was served by its
  // next batch already.
  for (Connection *c : announce)
    deliver (*c, nullptr, 0);
  for (Connection *c : expired) {
    g_warning ("SRT port %u: closing caller %s of stream '%s': no consumer attached within %d s",
               port_, c->peer.address.c_str (), c->peer.stream_id.c_str (),
               int (kHoldTimeoutMs / 1000));
    end_connection (*c, "no consumer attached");
  }
  for (Connection *c : detached)
    end_connection (*c, "detached");
  for (Connection *c : dropped) {
    g_message ("SRT port %u: closing caller %s of stream '%s': dropped by the operator", port_,
               c->peer.address.c_str (), c->peer.stream_id.c_str ());
    end_connection (*c, "dropped by the operator");
  }
  for (Connection *c : silent) {
    g_info ("SRT port %u: closing caller %s of stream '%s': it has sent nothing for %" G_GINT64_FORMAT
            " ms (ingestion.srt.peer_idle_timeout)",
            port_, c->peer.address.c_str (), c->peer.stream_id.c_str (),
            now_ms - c->last_data_ms.load (std::memory_order_relaxed));
    end_connection (*c, "connection lost: the caller sent nothing for " + std::to_string (silent_ms)
                            + " ms");
  }
}

void
SrtPort::deliver_ended_while_held (int64_t now_ms)
{
  std::vector<std::pair<std::string, Connection *>> due;
  {
    std::lock_guard lock (mu_);
    if (ended_while_held_.empty ())
      return;
    std::erase_if (ended_while_held_, [&] (const auto &entry) {
      const EndedWhileHeld &e = entry.second;
      // Past the hold timeout, let go by park (), or replaced by a new
      // caller of the id: nothing to tell.
      return now_ms >= e.until_ms || e.connection->closing || live_caller_locked (entry.first);
    });
    for (auto &[id, e] : ended_while_held_)
      if (e.connection->consumer)
        due.emplace_back (id, e.connection.get ());
  }
  for (const auto &entry : due) {
    // Named, not a structured binding: clang 14 (the fuzzing build) lets no
    // lambda capture one.
    const std::string &id = entry.first;
    Connection *c = entry.second;
    std::string reason = ended_while_held_.at (id).reason;
    g_info ("SRT port %u: stream '%s': its caller %s had ended before a consumer attached (%s)",
            port_, id.c_str (), c->peer.address.c_str (), reason.c_str ());
    // on_connect and the held data, as to a consumer that attached in time;
    deliver (*c, nullptr, 0);
    // then the end, unless the consumer detached meanwhile.
    std::shared_ptr<SrtStreamConsumer> consumer;
    {
      std::lock_guard lock (mu_);
      if (!c->closing && c->consumer && c->announced_generation == c->consumer_generation) {
        consumer = c->consumer;
        in_callback_.store (consumer.get ());
      }
    }
    if (consumer) {
      guarded (port_, c->peer, "on_disconnect", [&] { consumer->on_disconnect (c->peer, reason); });
      end_callback ();
    }
    std::lock_guard lock (mu_);
    ended_while_held_.erase (id);
  }
}

} // namespace mirror
