// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_port.h"

#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <glib.h>

#include "ingest/srt_address.h"
#include "ingest/srt_hub_options.h"
#include "ingest/srt_socket_options.h"
#include "ingest/udp_socket.h"
#include "util/main_context.h"
#include "util/thread_priority.h"

namespace mirror {

namespace {

// libsrt closes a listener's UDP socket from its collector thread, a second
// or two after srt_close. A port this process has just let go may still be
// held by it, and is waited for rather than refused.
constexpr int64_t kReleaseWaitMs = 6000;
constexpr int64_t kReleasePollMs = 50;
// How long a keep_caller () waits for its detach.
constexpr int64_t kKeepCallerMs = 10000;

std::mutex released_mu;
std::map<std::pair<std::string, uint16_t>, int64_t> released_at; // -> monotonic ms

void
note_released (const std::string &address, uint16_t port)
{
  std::lock_guard lock (released_mu);
  const int64_t now = monotonic_ms ();
  std::erase_if (released_at,
                 [now] (const auto &entry) { return now - entry.second > kReleaseWaitMs; });
  released_at[{ address, port }] = now;
}

// When this process let address:port go, or -1.
int64_t
released_ms (const std::string &address, uint16_t port)
{
  std::lock_guard lock (released_mu);
  auto it = released_at.find ({ address, port });
  return it == released_at.end () ? -1 : it->second;
}

} // namespace

SrtPort::SrtPort (const SrtHubOptions &options) : options_ (options), port_ (options.port)
{
  for (auto reason : { SrtRejectReason::kMalformedStreamId, SrtRejectReason::kNotAllowed,
                       SrtRejectReason::kBadPassphrase, SrtRejectReason::kAlreadyLive,
                       SrtRejectReason::kTooManyConnections, SrtRejectReason::kNoConsumer })
    reject_counts_[reason] = 0;
}

std::shared_ptr<SrtPort>
SrtPort::open (const SrtHubOptions &options, std::string *error)
{
  std::shared_ptr<SrtPort> port (new SrtPort (options));
  if (!port->start (error))
    return nullptr;
  return port;
}

bool
SrtPort::start (std::string *error)
{
  // Every thread of the port inherits this one's priority: libsrt starts
  // its receive and send workers for each socket in srt_bind_acquire, its
  // TSBPD threads from the receive worker, and the receive thread starts
  // below.
  ScopedThreadNice priority (options_.thread_nice);
  thread_nice_ = priority.nice ();
  sockaddr_storage address;
  int address_length = 0;
  make_srt_bind_address (options_.bind_address, options_.port, &address, &address_length);
  const bool ipv6 = address.ss_family == AF_INET6;
  const std::string where
      = "SRT port " + std::to_string (options_.port) + " (" + options_.bind_address + "): ";
  const int count = srt_receive_threads (options_);

  std::string what;
  int error_number = 0;
  std::vector<int> fds
      = open_shared_udp_sockets (reinterpret_cast<sockaddr *> (&address),
                                 socklen_t (address_length), count, &what, &error_number);
  const int64_t released = options_.port ? released_ms (options_.bind_address, options_.port) : -1;
  while (fds.empty () && error_number == EADDRINUSE && released >= 0
         && monotonic_ms () < released + kReleaseWaitMs) {
    std::this_thread::sleep_for (std::chrono::milliseconds (kReleasePollMs));
    fds = open_shared_udp_sockets (reinterpret_cast<sockaddr *> (&address),
                                   socklen_t (address_length), count, &what, &error_number);
  }
  bool ok = !fds.empty ();
  if (ok) {
    // Port 0 asks for any free port; the hub then goes by the real one.
    sockaddr_storage bound;
    socklen_t bound_length = sizeof bound;
    if (getsockname (fds[0], reinterpret_cast<sockaddr *> (&bound), &bound_length) == 0)
      port_ = ntohs (ipv6 ? reinterpret_cast<sockaddr_in6 *> (&bound)->sin6_port
                          : reinterpret_cast<sockaddr_in *> (&bound)->sin_port);
  }
  const int buffer_wanted = srt_udp_receive_buffer_bytes (count);
  int buffer_got = 0;
  for (size_t i = 0; ok && i < fds.size (); ++i) {
    SRTSOCKET listener = srt_create_socket ();
    if (listener == SRT_INVALID_SOCK) {
      what = std::string ("cannot create a socket: ") + srt_getlasterror_str ();
      ok = false;
      break;
    }
    listeners_.push_back (listener);
    if (!configure_srt_listener (listener, options_, ipv6, &what)) {
      ok = false;
      break;
    }
    const int fd = fds[i];
    if (srt_bind_acquire (listener, fd) == SRT_ERROR) {
      what = std::string ("cannot bind: ") + srt_getlasterror_str ();
      ok = false;
      break;
    }
    // libsrt owns the UDP socket from here (and closes it with the listener).
    fds[i] = -1;
    // libsrt set SO_RCVBUF from SRTO_UDP_RCVBUF, which the kernel clamps to
    // net.core.rmem_max; with CAP_NET_ADMIN the buffer may be had whole.
    buffer_got = raise_udp_receive_buffer (fd, buffer_wanted);
    // The callback goes in before srt_listen: no caller may slip past it.
    if (ok && srt_listen_callback (listener, &SrtPort::on_listen, this) == SRT_ERROR) {
      what = std::string ("cannot install the listen callback: ") + srt_getlasterror_str ();
      ok = false;
    }
    // The backlog only holds callers between handshake and srt_accept.
    if (ok && srt_listen (listener, std::max (options_.max_connections, 16)) == SRT_ERROR) {
      what = std::string ("cannot listen: ") + srt_getlasterror_str ();
      ok = false;
    }
  }
  for (int fd : fds)
    if (fd >= 0)
      close (fd);
  if (ok) {
    epoll_ = srt_epoll_create ();
    int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
    // Empty once stop () closed the listeners; waiting must still work.
    ok = epoll_ >= 0 && srt_epoll_set (epoll_, SRT_EPOLL_ENABLE_EMPTY) != SRT_ERROR;
    for (size_t i = 0; ok && i < listeners_.size (); ++i)
      ok = srt_epoll_add_usock (epoll_, listeners_[i], &events) != SRT_ERROR;
    if (!ok)
      what = std::string ("cannot set up an SRT epoll: ") + srt_getlasterror_str ();
  }
  if (!ok) {
    *error = where + what;
    for (SRTSOCKET listener : listeners_)
      srt_close (listener);
    // libsrt frees the sockets it was given only later.
    if (!listeners_.empty ())
      note_released (options_.bind_address, port_);
    listeners_.clear ();
    return false;
  }
  thread_ = std::thread ([self = shared_from_this ()] { self->run (); });
  g_info ("SRT port %u: listening on %s, latency %" G_GINT64_FORMAT
          " ms, %d receive thread%s, UDP receive buffer %d KiB each",
          port_, options_.bind_address.c_str (), options_.latency_ms, count, count == 1 ? "" : "s",
          buffer_got / 2 / 1024);
  if (!priority.applied ())
    g_warning ("SRT port %u: its threads keep the process's priority: nice %d needs "
               "CAP_SYS_NICE or RLIMIT_NICE (%s); on a busy box the kernel may then drop "
               "callers' packets",
               port_, options_.thread_nice, priority.error ().c_str ());
  if (buffer_got / 2 < buffer_wanted)
    g_warning ("SRT port %u: the kernel granted a UDP receive buffer of %d KiB of the %d KiB "
               "wanted; raise net.core.rmem_max (or run with CAP_NET_ADMIN) so that a busy box "
               "does not drop callers' packets",
               port_, buffer_got / 2 / 1024, buffer_wanted / 1024);
  return true;
}

void
SrtPort::stop ()
{
  std::call_once (stopped_, [this] {
    stopping_.store (true);
    // Outside mu_: closing waits for a listen callback in progress.
    for (SRTSOCKET listener : listeners_)
      srt_close (listener);
    if (!thread_.joinable ())
      return;
    if (on_receive_thread ())
      thread_.detach ();
    else
      thread_.join ();
  });
}

void
SrtPort::park (int64_t until_ms, std::function<void ()> on_expired)
{
  std::vector<SRTSOCKET> to_close;
  {
    std::unique_lock lock (mu_);
    consumers_.clear ();
    new_stream_handler_ = nullptr;
    held_stream_handler_ = nullptr;
    reject_observer_ = nullptr;
    // Reaped by the receive thread, as after detach ().
    for (auto &[sock, c] : connections_) {
      if (!c->closing) {
        c->closing = true;
        c->consumer.reset ();
        to_close.push_back (sock);
      }
    }
    for (auto &[id, ended] : ended_while_held_) {
      ended.connection->closing = true; // forgotten by the receive thread
      ended.connection->consumer.reset ();
    }
    for (auto &[sock, handshake] : handshakes_)
      to_close.push_back (sock);
    handshakes_.clear ();
    claims_.clear ();
    superseded_.clear ();
    parked_until_ms_ = until_ms;
    on_parked_expired_ = std::move (on_expired);
    if (!on_receive_thread ()) {
      ++detach_waiters_;
      callback_done_.wait (lock, [&] { return in_callback_.load () == nullptr; });
      --detach_waiters_;
    }
  }
  for (SRTSOCKET sock : to_close)
    srt_close (sock);
  g_info ("SRT port %u: released, closed %zu caller%s; the port stays bound a few seconds", port_,
          to_close.size (), to_close.size () == 1 ? "" : "s");
}

void
SrtPort::unpark ()
{
  std::lock_guard lock (mu_);
  parked_until_ms_ = 0;
  on_parked_expired_ = nullptr;
}

bool
SrtPort::parked () const
{
  std::lock_guard lock (mu_);
  return parked_until_ms_ != 0;
}

bool
SrtPort::is_listener (SRTSOCKET sock) const
{
  return std::find (listeners_.begin (), listeners_.end (), sock) != listeners_.end ();
}

SrtPort::~SrtPort ()
{
  // Only after the receive thread returned (it holds a reference), so
  // nothing reads these any more.
  for (auto &[sock, connection] : connections_)
    srt_close (sock);
  for (auto &[sock, handshake] : handshakes_)
    srt_close (sock);
  if (epoll_ >= 0)
    srt_epoll_release (epoll_);
  if (!listeners_.empty ())
    note_released (options_.bind_address, port_);
}

bool
SrtPort::on_receive_thread () const
{
  return std::this_thread::get_id () == receive_thread_id_.load ();
}

bool
SrtPort::attach (const std::string &stream_id, std::shared_ptr<SrtStreamConsumer> consumer,
                 std::string *error)
{
  if (!consumer) {
    if (error)
      *error = "SRT port " + std::to_string (port_) + ": no consumer given for stream '" + stream_id
               + "'";
    return false;
  }
  std::lock_guard lock (mu_);
  auto [it, inserted] = consumers_.try_emplace (stream_id, consumer);
  if (!inserted) {
    if (error)
      *error = "SRT port " + std::to_string (port_) + ": stream '" + stream_id
               + "' already has a consumer";
    return false;
  }
  // A held caller: the receive thread announces it and hands over its held
  // data before anything newer (on the next batch, or within a tick). One
  // that has ended already is announced with its end (within a tick).
  Connection *held = live_caller_locked (stream_id);
  if (!held) {
    auto ended = ended_while_held_.find (stream_id);
    if (ended != ended_while_held_.end () && !ended->second.connection->closing)
      held = ended->second.connection.get ();
  }
  if (held) {
    held->consumer = std::move (consumer);
    ++held->consumer_generation;
  }
  return true;
}

void
SrtPort::keep_caller (const std::string &stream_id)
{
  const int64_t now = monotonic_ms ();
  std::lock_guard lock (mu_);
  std::erase_if (keep_on_detach_, [now] (const auto &entry) { return entry.second <= now; });
  keep_on_detach_[stream_id] = now + kKeepCallerMs;
}

void
SrtPort::detach (const std::string &stream_id, const SrtStreamConsumer *consumer)
{
  std::shared_ptr<SrtStreamConsumer> released;
  SRTSOCKET to_close = SRT_INVALID_SOCK;
  if (!consumer) {
    // A held caller let go of: nobody is to attach (its stream was refused).
    {
      std::lock_guard lock (mu_);
      if (consumers_.count (stream_id))
        return; // a consumer took it meanwhile
      if (auto ended = ended_while_held_.find (stream_id); ended != ended_while_held_.end ())
        ended->second.connection->closing = true;
      Connection *held = live_caller_locked (stream_id);
      if (!held)
        return;
      held->closing = true; // reaped by the receive thread
      to_close = held->sock;
      claims_.erase (stream_id);
    }
    g_info ("SRT port %u: stream '%s': closing its held caller, no consumer is to attach", port_,
            stream_id.c_str ());
    srt_close (to_close);
    return;
  }
  {
    std::unique_lock lock (mu_);
    auto it = consumers_.find (stream_id);
    if (it == consumers_.end () || it->second.get () != consumer)
      return;
    released = std::move (it->second);
    consumers_.erase (it);
    auto keep = keep_on_detach_.find (stream_id);
    const bool keeping = keep != keep_on_detach_.end () && monotonic_ms () < keep->second;
    if (keep != keep_on_detach_.end ())
      keep_on_detach_.erase (keep);
    if (auto ended = ended_while_held_.find (stream_id); ended != ended_while_held_.end ())
      ended->second.connection->consumer.reset (); // not told now, nor later
    auto claim = claims_.find (stream_id);
    if (claim != claims_.end ()) {
      auto connection = connections_.find (claim->second);
      if (connection != connections_.end () && keeping) {
        // Held again, claim and all, for the next consumer of the id.
        connection->second->consumer.reset ();
        connection->second->held_since_ms = monotonic_ms ();
        g_info ("SRT port %u: stream '%s' detached, holding its caller %s for the next consumer",
                port_, stream_id.c_str (), connection->second->peer.address.c_str ());
      } else if (connection != connections_.end ()) {
        // The receive thread reaps it; the id is free for a new caller now.
        connection->second->closing = true;
        connection->second->consumer.reset ();
        to_close = claim->second;
        claims_.erase (claim);
      }
    }
    // No callback of this consumer runs once detach () returned, unless
    // detach () was called from that very callback.
    if (!on_receive_thread ()) {
      ++detach_waiters_;
      callback_done_.wait (lock, [&] { return in_callback_.load () != consumer; });
      --detach_waiters_;
    }
  }
  if (to_close != SRT_INVALID_SOCK) {
    g_info ("SRT port %u: stream '%s' detached, closing its caller", port_, stream_id.c_str ());
    srt_close (to_close);
  }
}

void
SrtPort::set_new_stream_handler (SrtHub::NewStreamFn fn)
{
  std::lock_guard lock (mu_);
  new_stream_handler_ = std::move (fn);
}

void
SrtPort::set_held_stream_handler (SrtHub::HeldStreamFn fn)
{
  std::lock_guard lock (mu_);
  held_stream_handler_ = std::move (fn);
}

void
SrtPort::set_reject_observer (SrtHub::RejectFn fn)
{
  std::lock_guard lock (mu_);
  reject_observer_ = std::move (fn);
}

SrtPort::Connection *
SrtPort::live_caller_locked (const std::string &stream_id) const
{
  auto claim = claims_.find (stream_id);
  if (claim == claims_.end ())
    return nullptr;
  auto connection = connections_.find (claim->second);
  if (connection == connections_.end () || connection->second->closing)
    return nullptr;
  return connection->second.get ();
}

std::optional<SrtConnectionStats>
SrtPort::stats (const std::string &stream_id) const
{
  SRTSOCKET sock = SRT_INVALID_SOCK;
  SrtConnectionStats out;
  int64_t accepted_ms = 0;
  {
    std::lock_guard lock (mu_);
    const Connection *c = live_caller_locked (stream_id);
    if (!c)
      return std::nullopt;
    sock = c->sock;
    out.peer = c->peer.address;
    accepted_ms = c->accepted_ms;
    out.held_bytes = c->held_bytes.load ();
  }
  auto figures = srt_receive_stats (sock);
  if (!figures)
    return std::nullopt;
  figures->peer = out.peer;
  figures->held_bytes = out.held_bytes;
  figures->connected_ms = monotonic_ms () - accepted_ms;
  return figures;
}

std::map<SrtRejectReason, uint64_t>
SrtPort::reject_counts () const
{
  std::lock_guard lock (mu_);
  return reject_counts_;
}

size_t
SrtPort::connection_count () const
{
  std::lock_guard lock (mu_);
  size_t count = 0;
  for (const auto &[sock, connection] : connections_)
    count += connection->closing ? 0 : 1;
  return count;
}

} // namespace mirror
