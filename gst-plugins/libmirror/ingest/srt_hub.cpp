// SrtHub::acquire: the process-wide table of SRT hubs, one per port (one of
// the documented process-wide hubs), and the handle every user holds.
#include "ingest/srt_hub.h"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <glib.h>
#include <srt/srt.h>

#include "ingest/srt_hub_options.h"
#include "ingest/srt_port.h"

namespace mirror {

namespace {

// How long acquire () waits for the previous hub of a port to let go of it.
constexpr auto kReleaseWait = std::chrono::seconds (5);

struct HubTable {
  std::mutex mutex;
  std::condition_variable released;
  struct Entry {
    std::weak_ptr<SrtHub> hub;
    const SrtHub *identity = nullptr;
  };
  // An expired entry is a hub whose destructor is still closing its port.
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

class SrtHubHandle final : public SrtHub {
 public:
  explicit SrtHubHandle (std::shared_ptr<SrtPort> port) : port_ (std::move (port)) {}

  ~SrtHubHandle () override
  {
    port_->stop ();
    auto &t = table ();
    std::lock_guard lock (t.mutex);
    auto it = t.hubs.find (port_->port ());
    if (it != t.hubs.end () && it->second.identity == this)
      t.hubs.erase (it);
    t.released.notify_all ();
  }

  uint16_t port () const override { return port_->port (); }
  bool attach (const std::string &stream_id, std::shared_ptr<SrtStreamConsumer> consumer,
               std::string *error) override
  {
    return port_->attach (stream_id, std::move (consumer), error);
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
        if (!changes.empty ())
          g_warning ("SRT port %u is already open; the options of this user are ignored (%s)",
                     options.port, changes.c_str ());
        return hub;
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
