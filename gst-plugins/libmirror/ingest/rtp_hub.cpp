// SPDX-License-Identifier: LGPL-2.1-or-later
// RtpHub::acquire and the process-wide hub map (the documented hub: one per
// port, shared by every element and by mirrord).
#include "ingest/rtp_hub.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <semaphore>
#include <thread>

#include <glib.h>

#include "ingest/rtp_hub_core.h"
#include "util/thread_priority.h"

namespace mirror {

namespace {

struct HubMap {
  std::mutex mutex;
  std::condition_variable released; // an entry left the map
  std::map<uint16_t, std::weak_ptr<RtpHub>> hubs;
};

HubMap &
hub_map ()
{
  // Leaked on purpose: hubs may be released from static destructors.
  static HubMap *map = new HubMap;
  return *map;
}

class RtpHubHandle final : public RtpHub {
 public:
  explicit RtpHubHandle (std::shared_ptr<RtpHubCore> core)
      : core_ (core), thread_ ([core, this] {
          // Its own priority, raised where permitted (see SrtHubOptions):
          // above the streaming threads that take its data, which run at
          // thread_nice (), since this one thread drains every session's
          // socket.
          const int nice = core->options ().thread_nice;
          thread_nice_ = set_thread_nice (nice) ? nice : 0;
          if (thread_nice_ == nice)
            set_thread_nice (drain_thread_nice (nice));
          nice_known_.release ();
          core->run ();
        })
  {
    nice_known_.acquire ();
    if (thread_nice_ != core_->options ().thread_nice)
      g_warning ("RTP hub on port %u: its thread keeps the process's priority: nice %d needs "
                 "CAP_SYS_NICE or RLIMIT_NICE",
                 (unsigned)core_->options ().port, core_->options ().thread_nice);
  }

  ~RtpHubHandle () override
  {
    core_->stop ();
    // The last reference can drop inside a consumer callback, on the receive
    // thread itself: it cannot join itself, and its own reference keeps the
    // core (and the sockets) alive until it returns.
    if (thread_.get_id () == std::this_thread::get_id ())
      thread_.detach ();
    else
      thread_.join ();
  }

  uint16_t port () const override { return core_->options ().port; }
  int thread_nice () const override { return thread_nice_; }

  bool attach (uint32_t ssrc, const std::string &source_address,
               std::shared_ptr<RtpSessionConsumer> consumer, std::string *error) override
  {
    return core_->attach (ssrc, source_address, std::move (consumer), error);
  }

  void detach (uint32_t ssrc, const RtpSessionConsumer *consumer) override
  {
    core_->detach (ssrc, consumer);
  }

  void set_new_session_handler (NewSessionFn fn) override
  {
    core_->set_new_session_handler (std::move (fn));
  }

  RtpHubCounters counters () const override { return core_->counters (); }

  const RtpHubOptions &options () const { return core_->options (); }

 private:
  std::shared_ptr<RtpHubCore> core_;
  int thread_nice_ = 0;
  std::binary_semaphore nice_known_{ 0 };
  std::thread thread_; // last: it starts once the members above exist
};

void
log_option_differences (const RtpHubOptions &hub, const RtpHubOptions &asked)
{
  if (asked.join_open_port) {
    for (const auto &[type, encoding] : asked.payload_types) {
      auto it = hub.payload_types.find (type);
      if (it == hub.payload_types.end () || it->second != encoding)
        g_warning ("rtp hub: port %u does not map payload type %d to %s; its packets are dropped",
                   hub.port, type, encoding.c_str ());
    }
    return;
  }
  if (hub.bind_address != asked.bind_address)
    g_warning ("rtp hub: port %u is already bound to %s; ignoring bind address %s", hub.port,
               hub.bind_address.c_str (), asked.bind_address.c_str ());
  if (hub.payload_types != asked.payload_types)
    g_warning ("rtp hub: port %u already runs with another payload-type map; ignoring the new one",
               hub.port);
  if (hub.session_timeout_ms != asked.session_timeout_ms
      || hub.pending_limit_bytes != asked.pending_limit_bytes)
    g_warning ("rtp hub: port %u already runs with session timeout %" G_GINT64_FORMAT
               " ms and hold limit %zu bytes; ignoring %" G_GINT64_FORMAT " ms and %zu bytes",
               hub.port, hub.session_timeout_ms, hub.pending_limit_bytes, asked.session_timeout_ms,
               asked.pending_limit_bytes);
}

} // namespace

std::shared_ptr<RtpHub>
RtpHub::acquire (const RtpHubOptions &options, std::string *error)
{
  HubMap &map = hub_map ();
  std::unique_lock lock (map.mutex);

  // A hub whose last reference just dropped may still be closing its
  // sockets: wait for it to leave the map rather than fail to bind.
  const auto deadline = std::chrono::steady_clock::now () + std::chrono::seconds (5);
  for (;;) {
    auto found = map.hubs.find (options.port);
    if (found == map.hubs.end ())
      break;
    if (auto hub = found->second.lock ()) {
      log_option_differences (static_cast<RtpHubHandle &> (*hub).options (), options);
      return hub;
    }
    if (map.released.wait_until (lock, deadline) == std::cv_status::timeout) {
      map.hubs.erase (options.port);
      break;
    }
  }

  auto core = RtpHubCore::open (options, error);
  if (!core)
    return nullptr;

  const uint16_t port = options.port;
  auto *handle = new RtpHubHandle (std::move (core));
  std::shared_ptr<RtpHub> hub (handle, [port] (RtpHub *dying) {
    delete dying; // joins the thread; the sockets close with the core
    HubMap &map = hub_map ();
    std::lock_guard lock (map.mutex);
    auto found = map.hubs.find (port);
    if (found != map.hubs.end () && found->second.expired ())
      map.hubs.erase (found);
    map.released.notify_all ();
  });
  map.hubs[port] = hub;
  return hub;
}

} // namespace mirror
