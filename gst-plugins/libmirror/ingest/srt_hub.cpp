// SPDX-License-Identifier: LGPL-2.1-or-later
// SrtHub::acquire: the process-wide table of SRT hubs, one per port (one of
// the documented process-wide hubs), and the handle every user holds.
#include "ingest/srt_hub.h"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <vector>

#include <glib.h>
#include <srt/srt.h>

#include "ingest/srt_hub_options.h"
#include "ingest/srt_port.h"
#include "util/main_context.h"

namespace mirror {

namespace {

// How long acquire () waits for the previous hub of a port to let go of it.
constexpr auto kReleaseWait = std::chrono::seconds (5);
// How long a released port stays parked, ready to be taken back.
constexpr int64_t kParkMs = 5000;

struct HubTable {
  std::mutex mutex;
  std::condition_variable released;
  struct Entry {
    std::weak_ptr<SrtHub> hub;
    const SrtHub *identity = nullptr;
    std::shared_ptr<SrtPort> parked; // released by its last user, still bound
  };
  // An expired entry without a parked port is a hub whose destructor is
  // still parking its port.
  std::map<uint16_t, Entry> hubs;
  bool srt_started = false;
};

// Never destroyed: a hub released from a static destructor still finds it.
HubTable &
table ()
{
  static auto *table = new HubTable;
  return *table;
}

// At exit, before libsrt's own static teardown (registered after it was
// built, so run before): a parked port's threads must not outlive libsrt.
void
stop_parked_ports ()
{
  std::vector<std::shared_ptr<SrtPort>> parked;
  auto &t = table ();
  {
    std::lock_guard lock (t.mutex);
    for (auto it = t.hubs.begin (); it != t.hubs.end ();) {
      if (it->second.parked) {
        parked.push_back (std::move (it->second.parked));
        it = t.hubs.erase (it);
      } else {
        ++it;
      }
    }
  }
  // Outside the lock: a receive thread may be waiting for it.
  for (auto &port : parked)
    port->stop ();
}

class SrtHubHandle final : public SrtHub {
 public:
  explicit SrtHubHandle (std::shared_ptr<SrtPort> port) : port_ (std::move (port)) {}

  ~SrtHubHandle () override
  {
    // Parked outside the table's lock: parking waits for a consumer callback
    // in progress, which may itself acquire a hub.
    const uint16_t number = port_->port ();
    std::weak_ptr<SrtPort> weak = port_;
    port_->park (monotonic_ms () + kParkMs, [weak, number] { close_parked (weak, number); });
    auto &t = table ();
    std::lock_guard lock (t.mutex);
    auto it = t.hubs.find (number);
    if (it != t.hubs.end () && it->second.identity == this) {
      it->second.identity = nullptr;
      it->second.parked = port_;
      static std::once_flag at_exit;
      std::call_once (at_exit, [] { std::atexit (stop_parked_ports); });
    } else {
      port_->stop ();
    }
    t.released.notify_all ();
  }

  // On the port's receive thread once its parking ran out, unless acquire ()
  // took it back meanwhile.
  static void close_parked (const std::weak_ptr<SrtPort> &weak, uint16_t number)
  {
    std::shared_ptr<SrtPort> port;
    auto &t = table ();
    {
      std::lock_guard lock (t.mutex);
      auto it = t.hubs.find (number);
      if (it == t.hubs.end () || !it->second.parked || it->second.parked != weak.lock ()
          || !it->second.parked->parked ())
        return;
      port = std::move (it->second.parked);
      t.hubs.erase (it);
      t.released.notify_all ();
    }
    port->stop ();
  }

  uint16_t port () const override { return port_->port (); }
  int thread_nice () const override { return port_->thread_nice (); }
  bool attach (const std::string &stream_id, std::shared_ptr<SrtStreamConsumer> consumer,
               std::string *error) override
  {
    return port_->attach (stream_id, std::move (consumer), error);
  }
  void keep_caller (const std::string &stream_id) override { port_->keep_caller (stream_id); }
  void set_stream_passphrase (const std::string &stream_id,
                              std::optional<std::string> passphrase) override
  {
    port_->set_stream_passphrase (stream_id, std::move (passphrase));
  }
  std::optional<std::string> drop_caller (const std::string &stream_id) override
  {
    return port_->drop_caller (stream_id);
  }

  void detach (const std::string &stream_id, const SrtStreamConsumer *consumer) override
  {
    port_->detach (stream_id, consumer);
  }
  void set_new_stream_handler (NewStreamFn fn) override
  {
    port_->set_new_stream_handler (std::move (fn));
  }
  void set_held_stream_handler (HeldStreamFn fn) override
  {
    port_->set_held_stream_handler (std::move (fn));
  }
  void set_reject_observer (RejectFn fn) override { port_->set_reject_observer (std::move (fn)); }
  std::optional<SrtConnectionStats> stats (const std::string &stream_id) const override
  {
    return port_->stats (stream_id);
  }
  std::map<SrtRejectReason, uint64_t> reject_counts () const override
  {
    return port_->reject_counts ();
  }
  size_t connection_count () const override { return port_->connection_count (); }

  const SrtHubOptions &options () const { return port_->options (); }

 private:
  std::shared_ptr<SrtPort> port_;
};

} // namespace

std::shared_ptr<SrtHub>
SrtHub::acquire (const SrtHubOptions &options, std::string *error)
{
  std::string why;
  if (!validate_srt_hub_options (options, &why)) {
    if (error)
      *error = why;
    return nullptr;
  }
  auto &t = table ();
  std::unique_lock lock (t.mutex);
  if (!t.srt_started) {
    // libsrt counts startups; GStreamer's srt plugin in the same process
    // makes its own.
    if (srt_startup () < 0) {
      if (error)
        *error = std::string ("SRT port ") + std::to_string (options.port)
                 + ": libsrt failed to start: " + srt_getlasterror_str ();
      return nullptr;
    }
    t.srt_started = true;
  }
  if (options.port != 0) {
    const auto deadline = std::chrono::steady_clock::now () + kReleaseWait;
    while (true) {
      auto it = t.hubs.find (options.port);
      if (it == t.hubs.end ())
        break;
      if (auto hub = it->second.hub.lock ()) {
        auto *handle = static_cast<SrtHubHandle *> (hub.get ());
        std::string changes = describe_srt_hub_option_changes (handle->options (), options);
        if (!changes.empty () && !options.join_open_port)
          g_warning ("SRT port %u is already open; the options of this user are ignored (%s)",
                     options.port, changes.c_str ());
        return hub;
      }
      if (auto parked = it->second.parked) {
        if (describe_srt_hub_option_changes (parked->options (), options).empty ()) {
          parked->unpark ();
          auto hub = std::make_shared<SrtHubHandle> (std::move (parked));
          it->second = HubTable::Entry{ hub, hub.get (), nullptr };
          g_info ("SRT port %u: taken back by a new user", options.port);
          return hub;
        }
        // Other options: this port closes, and the new one waits for libsrt
        // to let go of its sockets (SrtPort::open).
        it->second.parked.reset ();
        t.hubs.erase (it);
        lock.unlock ();
        parked->stop ();
        parked.reset ();
        lock.lock ();
        continue;
      }
      if (t.released.wait_until (lock, deadline) == std::cv_status::timeout) {
        if (error)
          *error = "SRT port " + std::to_string (options.port)
                   + ": the previous hub of this port is still closing";
        return nullptr;
      }
    }
  }
  auto port = SrtPort::open (options, error);
  if (!port)
    return nullptr;
  auto hub = std::make_shared<SrtHubHandle> (std::move (port));
  t.hubs[hub->port ()] = HubTable::Entry{ hub, hub.get () };
  return hub;
}

} // namespace mirror
