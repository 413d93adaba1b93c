// SPDX-License-Identifier: LGPL-2.1-or-later
// The stream manager's inside, shared by its files (stream_manager.cpp: the
// lifecycle of each stream; stream_admission.cpp: what may start;
// stream_queries.cpp: what the APIs see). Not an interface: only those files
// include it. Main context only, as the manager itself.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gst/gst.h>

#include "config/config.h"
#include "registry/stream_lifecycle.h"
#include "streams/stream_manager.h"
#include "streams/stream_metrics.h"
#include "streams/stream_pipeline.h"
#include "transcode/shed_policy.h"
#include "util/main_context.h"

namespace mirror::daemon {

struct Stream {
  StreamRequest request;
  std::string pipeline_name;
  // Shared so that letting it go from inside one of its own callbacks can
  // wait for the main loop (see Impl::drop_pipeline).
  std::shared_ptr<StreamPipeline> pipeline;
  StreamLifecycle lifecycle;
  int64_t started_ms = 0;
  int64_t created_unix_ms = 0;
  std::string peer; // the ingest caller now connected, if any
  double rtt_ms = -1; // SRT round trip to that caller; -1: unknown, not SRT
  TranscodeView transcode;
  ShedHealth shed_health;  // degraded while the transcode sheds work
  bool transcodes = false; // holds one of transcoding.max_sessions while it runs
  // The rendered description it runs: a restart builds it again.
  std::string description;
  // The watchdog's restarts: all of them, those in a row without output,
  // and which one is under way (the old pipeline stopping; 0: none).
  uint64_t restarts = 0;
  int fruitless_restarts = 0;
  uint64_t restarting = 0;
  // Counts as a publisher in the Origin across a restart, so that the
  // playlists go on instead of ending.
  std::shared_ptr<void> origin_hold;
  guint retention_timer = 0;
  std::vector<StreamManager::DoneFn> stop_waiters;
};

// The registry's answer as the APIs' error.
ApiError from_registry (const RegistryStatus &status, const std::string &id);

struct StreamManager::Impl {
  const Config &config;
  std::shared_ptr<StreamRegistry> registry;
  std::shared_ptr<PipelineLibrary> pipelines;
  Metrics *metrics;
  std::shared_ptr<Origin> origin;
  std::map<std::string, std::unique_ptr<Stream>> streams;
  std::set<std::string> pending;            // ids being registered
  std::set<std::string> pending_transcodes; // those of them that will transcode
  // Running streams + pending ones, readable from the hubs' threads.
  std::atomic<size_t> occupied{ 0 };
  // Room promised to SRT callers at their handshake (reserve_room), by
  // stream id, until their stream is created or the promise lapses
  // (monotonic µs): what a caller was admitted with, a REST call or another
  // caller cannot take before its pipeline starts. Guarded by reserved_mu.
  std::mutex reserved_mu;
  std::map<std::string, int64_t> reserved;
  // Under reserved_mu: forgets lapsed promises; how many others are left.
  size_t reserved_besides_locked (const std::string &id);
  // Under reserved_mu: whether a stream for @id would fit (not shutting
  // down; running, pending and others' reserved streams under the cap).
  bool fits_locked (const std::string &id);
  StreamMetrics stream_metrics;
  std::map<unsigned, Listener> listeners;
  unsigned next_listener = 1;
  guint heartbeat_timer = 0;
  guint watchdog_timer = 0;
  std::function<void (const std::string &id)> before_restart;
  unsigned registry_watch = 0;
  std::atomic<bool> shutting_down{ false };
  // Callbacks that come back from the registry thread check this first.
  std::shared_ptr<bool> alive = std::make_shared<bool> (true);

  Impl (const Config &c, std::shared_ptr<StreamRegistry> r, std::shared_ptr<PipelineLibrary> p,
        Metrics *m)
      : config (c), registry (std::move (r)), pipelines (std::move (p)), metrics (m),
        stream_metrics (m)
  {}

  ~Impl ()
  {
    *alive = false;
    registry->remove_watch (registry_watch);
    if (heartbeat_timer)
      g_source_remove (heartbeat_timer);
    if (watchdog_timer)
      g_source_remove (watchdog_timer);
    for (auto &[id, stream] : streams) {
      if (stream->retention_timer)
        g_source_remove (stream->retention_timer);
      if (stream->pipeline)
        stream->pipeline->release ();
    }
  }

  // Runs fn on the main context if the manager still exists then.
  void back_on_main (std::function<void ()> fn)
  {
    std::weak_ptr<bool> weak = alive;
    invoke_on (g_main_context_default (), [weak, fn = std::move (fn)] () {
      auto guard = weak.lock ();
      if (guard && *guard)
        fn ();
    });
  }

  Stream *find (const std::string &id)
  {
    auto it = streams.find (id);
    return it == streams.end () ? nullptr : it->second.get ();
  }

  template <typename Fn> void notify (Fn fn)
  {
    // A listener may add or remove listeners.
    auto copy = listeners;
    for (auto &[lid, l] : copy)
      fn (l);
  }

  std::string route (const std::string &id) const;
  StreamView view_of (const std::string &id, const Stream &stream) const;
  // Local facts win over the registry's copy for streams this node runs.
  StreamView merge (const StreamEntry &entry) const;
  size_t transcode_sessions () const;
  // A local stream that says degraded (its transcode sheds work): id and why.
  std::optional<std::pair<std::string, std::string>> shedding_stream () const;
  void recount ();
  void update_gauges ();
  // The one way a stream's state changes: through its lifecycle, then out
  // to the registry, the listeners (D-Bus) and /metrics.
  bool apply (const std::string &id, Stream &stream, StreamEvent event,
              const std::string &detail = {});
  // Stops the stream's pipeline and lets it go. Called from the pipeline's
  // own callbacks too, so the object itself goes from the main loop.
  void drop_pipeline (Stream &stream);
  // Ended or failed: the pipeline goes now, the listing after the retention.
  void retire (const std::string &id, Stream &stream);
  // Tears the stream down, unregisters it and answers everyone waiting.
  void remove (const std::string &id);
  void on_pipeline_event (const std::string &id, StreamEvent event, const std::string &detail);
  void on_drained (const std::string &id, bool in_time);
  void on_element_message (const std::string &id, const GstStructure *s);
  void start (const std::string &id, GstElement *element);
  // The watchdog, once a second: a pipeline whose input arrives while its
  // sinks get nothing for ingestion.pipeline_stall_timeout is restarted.
  void watch_progress ();
  void restart (const std::string &id, Stream &stream, const std::string &why);
  void begin_stop (const std::string &id, int64_t eos_timeout_ms, DoneFn done);
  ApiError set_paused (const std::string &id, bool paused);
};

} // namespace mirror::daemon
