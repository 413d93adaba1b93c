// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/rtp_hub_core.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

#include <glib.h>

namespace mirror {

namespace {

// A 50 Mbps stream is ~4,500 datagrams/s and a port may carry 25 of them:
// read many per system call, and give the kernel seconds of slack.
constexpr size_t kRtpBatch = 64;
constexpr size_t kRtcpBatch = 16;
// Jumbo frames; larger datagrams are cut and counted as not RTP.
constexpr size_t kSlotSize = 9216;
constexpr int kRtpReceiveBuffer = 8 * 1024 * 1024;
constexpr int kRtcpReceiveBuffer = 256 * 1024;
// Batches read before looking at the other sockets and the clock again.
constexpr int kBatchesPerWakeup = 16;
// A flood of invented SSRCs must not grow the refusal memory without bound.
constexpr size_t kMaxRefusals = 4096;

std::string
ssrc_text (uint32_t ssrc)
{
  char text[16];
  g_snprintf (text, sizeof text, "0x%08x", ssrc);
  return text;
}

// The payload-type map as the hub will use it; nullopt and *error naming the
// offending entry.
std::optional<std::map<int, RtpEncoding>>
parse_payload_types (const RtpHubOptions &options, std::string *error)
{
  std::map<int, RtpEncoding> encodings;
  for (const auto &[payload_type, mapping] : options.payload_types) {
    const std::string where = "RTP hub on port " + std::to_string (options.port) + ": payload type "
                              + std::to_string (payload_type) + " ('" + mapping + "')";
    if (payload_type < 0 || payload_type > 127) {
      *error = where + " is outside 0..127";
      return std::nullopt;
    }
    // With the marker bit these look like RTCP (RFC 5761) and are dropped.
    if (payload_type >= 72 && payload_type <= 76) {
      *error = where + " collides with RTCP packet types (72..76 are not allowed)";
      return std::nullopt;
    }
    auto encoding = parse_rtp_encoding (mapping);
    if (!encoding || encoding->name.empty ()) {
      *error = where + " is not NAME or NAME/CLOCKRATE (e.g. H265, AAC/44100)";
      return std::nullopt;
    }
    encodings[payload_type] = *encoding;
  }
  return encodings;
}

} // namespace

std::shared_ptr<RtpHubCore>
RtpHubCore::open (const RtpHubOptions &options, std::string *error)
{
  std::string ignored;
  if (!error)
    error = &ignored;
  const std::string port_text = std::to_string (options.port);
  if (options.port == 0 || options.port == 65535) {
    *error = "RTP hub: port " + port_text + " is not usable: RTCP needs port + 1 (1..65534)";
    return nullptr;
  }
  if (options.session_timeout_ms <= 0) {
    *error = "RTP hub on port " + port_text + ": session_timeout_ms "
             + std::to_string (options.session_timeout_ms) + " must be positive";
    return nullptr;
  }
  auto encodings = parse_payload_types (options, error);
  if (!encodings)
    return nullptr;

  std::shared_ptr<RtpHubCore> core (new RtpHubCore (options, std::move (*encodings)));
  int rtp_buffer = 0, rtcp_buffer = 0;
  core->rtp_fd_
      = open_rtp_socket (options.bind_address, options.port, kRtpReceiveBuffer, &rtp_buffer, error);
  if (core->rtp_fd_ < 0)
    return nullptr;
  core->rtcp_fd_ = open_rtp_socket (options.bind_address, options.port + 1, kRtcpReceiveBuffer,
                                    &rtcp_buffer, error);
  if (core->rtcp_fd_ < 0) {
    *error += " (RTCP for RTP port " + port_text + ")";
    return nullptr;
  }
  core->wake_fd_ = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (core->wake_fd_ < 0) {
    *error = "RTP hub on port " + port_text + ": eventfd: " + std::strerror (errno);
    return nullptr;
  }

  // Linux reports twice what it books for payload: compare like with like.
  if (rtp_buffer / 2 < kRtpReceiveBuffer) {
    g_warning ("rtp hub: port %u: receive buffer is %d KiB, asked for %d KiB: bursts may be "
               "lost; raise net.core.rmem_max or grant CAP_NET_ADMIN",
               options.port, rtp_buffer / 2048, kRtpReceiveBuffer / 1024);
  } else {
    g_message ("rtp hub: listening on %s (RTCP %u), receive buffer %d KiB",
               describe_udp_endpoint (options.bind_address, options.port).c_str (),
               options.port + 1, rtp_buffer / 2048);
  }
  return core;
}

RtpHubCore::RtpHubCore (const RtpHubOptions &options, std::map<int, RtpEncoding> encodings)
    : options_ (options), encodings_ (std::move (encodings)), rtp_batch_ (kRtpBatch, kSlotSize),
      rtcp_batch_ (kRtcpBatch, kSlotSize)
{}

RtpHubCore::~RtpHubCore ()
{
  for (int fd : { rtp_fd_, rtcp_fd_, wake_fd_ }) {
    if (fd >= 0)
      close (fd);
  }
}

void
RtpHubCore::wake ()
{
  uint64_t one = 1;
  // A full counter still wakes the thread: nothing to do on EAGAIN.
  if (write (wake_fd_, &one, sizeof one) < 0 && errno != EAGAIN)
    g_warning ("rtp hub: port %u: cannot wake the receive thread: %s", options_.port,
               std::strerror (errno));
}

void
RtpHubCore::stop ()
{
  stopping_ = true;
  wake ();
}

int64_t
RtpHubCore::sweep_interval_ms () const
{
  return std::clamp<int64_t> (options_.session_timeout_ms / 4, 5, 250);
}

void
RtpHubCore::run ()
{
  thread_id_ = std::this_thread::get_id ();
  // Named so that top -H and gdb show which port a busy thread serves.
  char name[16];
  g_snprintf (name, sizeof name, "rtp-hub:%u", options_.port);
  pthread_setname_np (pthread_self (), name);
  pollfd fds[3] = { { rtp_fd_, POLLIN, 0 }, { rtcp_fd_, POLLIN, 0 }, { wake_fd_, POLLIN, 0 } };
  int64_t next_sweep = g_get_monotonic_time () / 1000 + sweep_interval_ms ();

  // When the last pass read RTP: the earliest time of the next one (us).
  int64_t hold_until_us = 0;

  while (!stopping_) {
    // At 50 Mbps a stream sends a datagram every ~200 us: reading each as it
    // comes woke the hub and every stream's thread per datagram (in the RTP
    // bench, 1.3x the reference's CPU, most of it in futex wake-ups). Only
    // a stop interrupts the hold.
    int64_t now_us = g_get_monotonic_time ();
    if (hold_until_us > now_us) {
      const int64_t left_us = hold_until_us - now_us;
      const timespec hold = { static_cast<time_t> (left_us / 1000000),
                              static_cast<long> (left_us % 1000000) * 1000 };
      ppoll (&fds[2], 1, &hold, nullptr);
      if (stopping_)
        break;
    }
    int64_t now = g_get_monotonic_time () / 1000;
    int timeout = static_cast<int> (std::max<int64_t> (0, next_sweep - now));
    if (poll (fds, 3, timeout) < 0 && errno != EINTR) {
      g_warning ("rtp hub: port %u: poll failed: %s", options_.port, std::strerror (errno));
      g_usleep (10000); // never spin on a persistent error
    }
    if (stopping_)
      break;

    std::lock_guard delivery (delivery_mutex_);
    if (fds[2].revents & POLLIN) {
      uint64_t count;
      if (read (wake_fd_, &count, sizeof count) < 0 && errno != EAGAIN)
        g_warning ("rtp hub: port %u: wake-up read failed: %s", options_.port,
                   std::strerror (errno));
      deliver_held ();
    }
    hold_until_us = 0;
    if (fds[0].revents & (POLLIN | POLLERR)) {
      const int64_t pass_us = g_get_monotonic_time ();
      receive_rtp ();
      if (options_.read_interval_us > 0)
        hold_until_us = pass_us + options_.read_interval_us;
    }
    if (fds[1].revents & (POLLIN | POLLERR))
      receive_rtcp ();

    now = g_get_monotonic_time () / 1000;
    if (now >= next_sweep) {
      expire_sessions (now);
      next_sweep = now + sweep_interval_ms ();
    }
  }
}

void
RtpHubCore::warn_receive_error (const char *socket_name)
{
  int64_t now = g_get_monotonic_time () / 1000;
  if (now - last_receive_warning_ms_ < 10000)
    return;
  last_receive_warning_ms_ = now;
  g_warning ("rtp hub: port %u: receiving on the %s socket failed: %s", options_.port, socket_name,
             std::strerror (errno));
}

void
RtpHubCore::receive_rtp ()
{
  for (int round = 0; round < kBatchesPerWakeup && !stopping_; round++) {
    int n = rtp_batch_.receive (rtp_fd_);
    if (n < 0)
      warn_receive_error ("RTP");
    if (n <= 0)
      return;
    int64_t now = g_get_monotonic_time () / 1000;
    for (int i = 0; i < n; i++) {
      if (rtp_batch_.truncated (i)) {
        counters_.packets++;
        counters_.not_rtp++;
        if (!warned_truncated_) {
          warned_truncated_ = true;
          g_warning ("rtp hub: port %u: dropping datagrams from %s larger than %zu bytes "
                     "(lower the sender's MTU)",
                     options_.port,
                     RtpPeerAddress::from_sockaddr (rtp_batch_.peer (i)).to_string ().c_str (),
                     kSlotSize);
        }
        continue;
      }
      handle_rtp (rtp_batch_.data (i), rtp_batch_.size (i), rtp_batch_.peer (i), now);
    }
    end_batch ();
    if (static_cast<size_t> (n) < rtp_batch_.capacity ())
      return;
  }
}

void
RtpHubCore::receive_rtcp ()
{
  for (int round = 0; round < kBatchesPerWakeup && !stopping_; round++) {
    int n = rtcp_batch_.receive (rtcp_fd_);
    if (n < 0)
      warn_receive_error ("RTCP");
    if (n <= 0)
      return;
    for (int i = 0; i < n; i++) {
      if (rtcp_batch_.truncated (i)) {
        counters_.rtcp_packets++;
        counters_.rtcp_unrouted++;
        continue;
      }
      handle_rtcp (rtcp_batch_.data (i), rtcp_batch_.size (i), rtcp_batch_.peer (i));
    }
    if (static_cast<size_t> (n) < rtcp_batch_.capacity ())
      return;
  }
}

void
RtpHubCore::handle_rtp (const uint8_t *data, size_t size, const sockaddr_storage &from, int64_t now)
{
  counters_.packets.fetch_add (1, std::memory_order_relaxed);
  counters_.bytes.fetch_add (size, std::memory_order_relaxed);

  int payload_type = 0;
  uint32_t ssrc = 0;
  if (!parse_rtp_header (data, size, &payload_type, &ssrc)) {
    counters_.not_rtp.fetch_add (1, std::memory_order_relaxed);
    return;
  }
  if (encodings_.find (payload_type) == encodings_.end ()) {
    counters_.unmapped_payload_type.fetch_add (1, std::memory_order_relaxed);
    return;
  }

  const RtpSessionKey key{ RtpPeerAddress::from_sockaddr (from), ssrc };
  std::unique_lock lock (mutex_);
  auto found = sessions_.find (key);
  RtpSession *session = found != sessions_.end () ? found->second.get ()
                                                  : start_session (key, payload_type, now, lock);
  if (!session)
    return;
  session->last_rtp_ms = now;
  if (!session->consumer) {
    uint64_t dropped = session->held.push (data, size, options_.pending_limit_bytes);
    counters_.held_dropped.fetch_add (dropped, std::memory_order_relaxed);
    return;
  }

  // Whatever was held goes first, so the consumer sees arrival order.
  std::shared_ptr<RtpSessionConsumer> consumer = session->consumer;
  std::deque<std::vector<uint8_t>> held;
  if (!session->held.empty ())
    held = session->held.take ();
  lock.unlock ();
  for (const auto &packet : held)
    consumer->on_rtp (packet.data (), packet.size ());
  consumer->on_rtp (data, size);
  note_batch_consumer (std::move (consumer));
}

void
RtpHubCore::note_batch_consumer (std::shared_ptr<RtpSessionConsumer> &&consumer)
{
  // A batch holds a few sessions' datagrams, mostly in runs: a short scan.
  for (const auto &seen : batch_consumers_)
    if (seen == consumer)
      return;
  batch_consumers_.push_back (std::move (consumer));
}

void
RtpHubCore::end_batch ()
{
  for (const auto &consumer : batch_consumers_)
    consumer->on_batch_end ();
  batch_consumers_.clear ();
}

RtpSession *
RtpHubCore::start_session (const RtpSessionKey &key, int payload_type, int64_t now,
                           std::unique_lock<std::mutex> &lock)
{
  RtpSessionInfo info;
  info.source_address = key.source.to_string ();
  info.ssrc = key.ssrc;
  info.payload_type = payload_type;
  const RtpEncoding &encoding = encodings_.at (payload_type);
  info.encoding = encoding.name;
  info.clock_rate = encoding.clock_rate;

  std::shared_ptr<RtpSessionConsumer> consumer = take_waiting (key);
  if (!consumer) {
    auto refused = refusals_.find (key);
    if (refused != refusals_.end () && refused->second > now)
      return nullptr;

    // Only this thread creates sessions, so none can appear while unlocked.
    bool accepted = false;
    if (RtpHub::NewSessionFn handler = new_session_) {
      lock.unlock ();
      try {
        accepted = handler (info);
      } catch (const std::exception &e) {
        g_warning ("rtp hub: port %u: new-session handler failed for %s SSRC %s: %s", options_.port,
                   info.source_address.c_str (), ssrc_text (key.ssrc).c_str (), e.what ());
      } catch (...) {
        g_warning ("rtp hub: port %u: new-session handler failed for %s SSRC %s", options_.port,
                   info.source_address.c_str (), ssrc_text (key.ssrc).c_str ());
      }
      lock.lock ();
    }
    // The handler may have attached a consumer itself.
    consumer = take_waiting (key);
    if (!accepted && !consumer) {
      if (refusals_.size () >= kMaxRefusals)
        std::erase_if (refusals_, [now] (const auto &entry) { return entry.second <= now; });
      if (refusals_.size () < kMaxRefusals)
        refusals_[key] = now + options_.session_timeout_ms;
      g_message ("rtp hub: port %u: refused session from %s SSRC %s (PT %d, %s); dropping its "
                 "packets",
                 options_.port, info.source_address.c_str (), ssrc_text (key.ssrc).c_str (),
                 payload_type, info.encoding.c_str ());
      return nullptr;
    }
  }

  refusals_.erase (key);
  auto session = std::make_unique<RtpSession> ();
  session->key = key;
  session->info = info;
  session->consumer = std::move (consumer);
  session->last_rtp_ms = now;
  RtpSession *raw = session.get ();
  sessions_.emplace (key, std::move (session));
  counters_.sessions_started.fetch_add (1, std::memory_order_relaxed);
  g_message ("rtp hub: port %u: session from %s SSRC %s started (PT %d, %s/%d)", options_.port,
             info.source_address.c_str (), ssrc_text (key.ssrc).c_str (), payload_type,
             info.encoding.c_str (), info.clock_rate);
  return raw;
}

std::shared_ptr<RtpSessionConsumer>
RtpHubCore::take_waiting (const RtpSessionKey &key)
{
  for (auto it = waiting_.begin (); it != waiting_.end (); ++it) {
    if (it->ssrc == key.ssrc && (!it->source || *it->source == key.source)) {
      auto consumer = std::move (it->consumer);
      waiting_.erase (it);
      return consumer;
    }
  }
  return nullptr;
}

void
RtpHubCore::handle_rtcp (const uint8_t *data, size_t size, const sockaddr_storage &from)
{
  counters_.rtcp_packets.fetch_add (1, std::memory_order_relaxed);
  std::optional<uint32_t> ssrc = rtcp_sender_ssrc (data, size);
  if (!ssrc) {
    counters_.rtcp_unrouted.fetch_add (1, std::memory_order_relaxed);
    return;
  }

  std::unique_lock lock (mutex_);
  RtpSession *session = nullptr;
  auto found = sessions_.find (RtpSessionKey{ RtpPeerAddress::from_sockaddr (from), *ssrc });
  if (found != sessions_.end ()) {
    session = found->second.get ();
  } else {
    // A multi-homed sender may report from another address: the SSRC alone
    // still names one session when it is unique.
    for (auto &[key, candidate] : sessions_) {
      if (key.ssrc != *ssrc)
        continue;
      if (session) {
        session = nullptr;
        break;
      }
      session = candidate.get ();
    }
  }
  if (!session) {
    counters_.rtcp_unrouted.fetch_add (1, std::memory_order_relaxed);
    return;
  }
  // Reports for a session nobody consumes yet are not worth holding: the
  // next one comes within seconds.
  std::shared_ptr<RtpSessionConsumer> consumer = session->consumer;
  lock.unlock ();
  if (consumer)
    consumer->on_rtcp (data, size);
}

void
RtpHubCore::deliver_held ()
{
  std::vector<std::pair<std::shared_ptr<RtpSessionConsumer>, std::deque<std::vector<uint8_t>>>>
      work;
  {
    std::lock_guard lock (mutex_);
    for (auto &[key, session] : sessions_) {
      if (session->consumer && !session->held.empty ())
        work.emplace_back (session->consumer, session->held.take ());
    }
  }
  for (auto &[consumer, packets] : work) {
    for (const auto &packet : packets)
      consumer->on_rtp (packet.data (), packet.size ());
    consumer->on_batch_end ();
  }
}

void
RtpHubCore::expire_sessions (int64_t now)
{
  std::vector<std::shared_ptr<RtpSessionConsumer>> timed_out;
  {
    std::lock_guard lock (mutex_);
    for (auto it = sessions_.begin (); it != sessions_.end ();) {
      RtpSession &session = *it->second;
      if (now - session.last_rtp_ms < options_.session_timeout_ms) {
        ++it;
        continue;
      }
      g_message ("rtp hub: port %u: session from %s SSRC %s timed out: no RTP for %" G_GINT64_FORMAT
                 " ms%s",
                 options_.port, session.info.source_address.c_str (),
                 ssrc_text (session.key.ssrc).c_str (), now - session.last_rtp_ms,
                 session.consumer ? "" : " (nobody attached; held packets dropped)");
      if (session.consumer)
        timed_out.push_back (std::move (session.consumer));
      counters_.sessions_timed_out.fetch_add (1, std::memory_order_relaxed);
      it = sessions_.erase (it);
    }
    std::erase_if (refusals_, [now] (const auto &entry) { return entry.second <= now; });
  }
  for (auto &consumer : timed_out)
    consumer->on_timeout ();
}

bool
RtpHubCore::attach (uint32_t ssrc, const std::string &source_address,
                    std::shared_ptr<RtpSessionConsumer> consumer, std::string *error)
{
  std::string ignored;
  if (!error)
    error = &ignored;
  const std::string where
      = "RTP hub on port " + std::to_string (options_.port) + ": SSRC " + ssrc_text (ssrc);
  if (!consumer) {
    *error = where + ": no consumer given";
    return false;
  }
  std::optional<RtpPeerAddress> source;
  if (!source_address.empty ()) {
    source = RtpPeerAddress::parse (source_address);
    if (!source) {
      *error = where + ": source '" + source_address + "' is not an IP address";
      return false;
    }
  }

  bool wake_needed = false;
  {
    std::lock_guard lock (mutex_);
    std::vector<RtpSession *> matches;
    for (auto &[key, session] : sessions_) {
      if (key.ssrc == ssrc && (!source || key.source == *source))
        matches.push_back (session.get ());
    }
    if (matches.size () > 1) {
      *error = where + " is live from several sources (";
      for (size_t i = 0; i < matches.size (); i++)
        *error += (i ? ", " : "") + matches[i]->info.source_address;
      *error += "): name one";
      return false;
    }
    if (matches.size () == 1) {
      RtpSession *session = matches[0];
      if (session->consumer && session->consumer != consumer) {
        *error
            = where + " from " + session->info.source_address + " already has a consumer attached";
        return false;
      }
      session->consumer = std::move (consumer);
      wake_needed = !session->held.empty ();
    } else {
      for (const auto &waiting : waiting_) {
        if (waiting.ssrc == ssrc && waiting.source == source && waiting.consumer != consumer) {
          *error = where + " from " + (source ? source_address : std::string ("any source"))
                   + " is already awaited by another consumer";
          return false;
        }
      }
      std::erase_if (waiting_, [&] (const WaitingConsumer &w) { return w.consumer == consumer; });
      waiting_.push_back ({ ssrc, source, std::move (consumer) });
    }
  }
  // Held packets are delivered by the receive thread, so they cannot
  // interleave with live ones.
  if (wake_needed)
    wake ();
  return true;
}

void
RtpHubCore::detach (uint32_t ssrc, const RtpSessionConsumer *consumer)
{
  // Released after the lock: a consumer's destructor may call back into us.
  std::vector<std::shared_ptr<RtpSessionConsumer>> released;
  {
    std::lock_guard lock (mutex_);
    for (auto &[key, session] : sessions_) {
      if (key.ssrc == ssrc && session->consumer.get () == consumer)
        released.push_back (std::move (session->consumer));
    }
    for (auto it = waiting_.begin (); it != waiting_.end ();) {
      if (it->ssrc == ssrc && it->consumer.get () == consumer) {
        released.push_back (std::move (it->consumer));
        it = waiting_.erase (it);
      } else {
        ++it;
      }
    }
  }
  // Wait out a callback in flight on the receive thread, unless this is it.
  if (std::this_thread::get_id () != thread_id_.load ())
    std::lock_guard delivery (delivery_mutex_);
}

void
RtpHubCore::set_new_session_handler (RtpHub::NewSessionFn fn)
{
  std::lock_guard lock (mutex_);
  new_session_ = std::move (fn);
}

RtpHubCounters
RtpHubCore::counters () const
{
  RtpHubCounters c;
  c.packets = counters_.packets.load ();
  c.bytes = counters_.bytes.load ();
  c.not_rtp = counters_.not_rtp.load ();
  c.unmapped_payload_type = counters_.unmapped_payload_type.load ();
  c.sessions_started = counters_.sessions_started.load ();
  c.sessions_timed_out = counters_.sessions_timed_out.load ();
  c.rtcp_packets = counters_.rtcp_packets.load ();
  c.rtcp_unrouted = counters_.rtcp_unrouted.load ();
  c.held_dropped = counters_.held_dropped.load ();
  return c;
}

} // namespace mirror
