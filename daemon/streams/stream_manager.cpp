// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/stream_manager.h"

#include <algorithm>
#include <atomic>
#include <regex>
#include <set>

#include "config/config.h"
#include "metrics/metrics.h"
#include "registry/stream_lifecycle.h"
#include "streams/pipeline_library.h"
#include "streams/pipeline_variables.h"
#include "streams/stream_metrics.h"
#include "streams/stream_pipeline.h"
#include "util/main_context.h"
#include "util/message_names.h"

namespace mirror::daemon {

namespace {

// How long a DELETE waits for the pipeline's EOS before tearing it down anyway
// (a shutdown gives every stream the whole server.shutdown_timeout).
constexpr int64_t kStopEosTimeoutMs = 3000;
// How long an ended feed's pipeline gets to finish its playlists.
constexpr int64_t kEndDrainTimeoutMs = 3000;

bool
valid_stream_id (const std::string &id)
{
  static const std::regex pattern ("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  return std::regex_match (id, pattern);
}

ApiError
from_registry (const RegistryStatus &status, const std::string &id)
{
  switch (status.code) {
  case RegistryErrc::kOk:
    return {};
  case RegistryErrc::kAlreadyExists:
    return { ApiErrc::kAlreadyExists, "stream \"" + id + "\" already exists: " + status.message };
  case RegistryErrc::kNotFound:
    return { ApiErrc::kNotFound, "no stream \"" + id + "\"" };
  case RegistryErrc::kNotOwner:
    return { ApiErrc::kNotFound,
             "stream \"" + id + "\" is owned by another node: " + status.message };
  case RegistryErrc::kUnavailable:
    return { ApiErrc::kServiceUnavailable, "registry unavailable: " + status.message };
  case RegistryErrc::kInvalid:
    return { ApiErrc::kInvalidInput, status.message };
  case RegistryErrc::kInternal:
    break;
  }
  return { ApiErrc::kInternal, "registry: " + status.message };
}

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
  TranscodeView transcode;
  bool transcodes = false; // holds one of transcoding.max_sessions while it runs
  guint retention_timer = 0;
  std::vector<StreamManager::DoneFn> stop_waiters;
};

} // namespace

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
  StreamMetrics stream_metrics;
  std::map<unsigned, Listener> listeners;
  unsigned next_listener = 1;
  guint heartbeat_timer = 0;
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

  std::string route (const std::string &id) const
  {
    for (const auto &[glob, name] : config.ingestion.routes)
      if (g_pattern_match_simple (glob.c_str (), id.c_str ()))
        return name;
    return "default";
  }

  StreamView view_of (const std::string &id, const Stream &stream) const
  {
    StreamView view;
    view.entry.id = id;
    view.entry.node_id = registry->node_id ();
    view.entry.state = stream.lifecycle.state ();
    view.entry.source = stream.request.source;
    view.entry.message = stream.lifecycle.message ();
    view.entry.created_unix_ms = stream.created_unix_ms;
    view.local = true;
    view.pipeline = stream.pipeline_name;
    view.pipeline_state = stream.pipeline ? stream.pipeline->state_name () : "NULL";
    view.peer = stream.peer;
    view.transcode = stream.transcode;
    view.uptime_ms = monotonic_ms () - stream.started_ms;
    return view;
  }

  // Local facts win over the registry's copy for streams this node runs.
  StreamView merge (const StreamEntry &entry) const
  {
    auto it = streams.find (entry.id);
    if (it == streams.end ()) {
      StreamView view;
      view.entry = entry;
      return view;
    }
    StreamView view = view_of (entry.id, *it->second);
    view.entry.stats = entry.stats;
    view.entry.updated_unix_ms = entry.updated_unix_ms;
    if (entry.created_unix_ms)
      view.entry.created_unix_ms = entry.created_unix_ms;
    return view;
  }

  template <typename Fn> void notify (Fn fn)
  {
    // A listener may add or remove listeners.
    auto copy = listeners;
    for (auto &[lid, l] : copy)
      fn (l);
  }

  size_t transcode_sessions () const
  {
    size_t n = pending_transcodes.size ();
    for (const auto &[sid, s] : streams)
      n += s->transcodes && s->lifecycle.running () ? 1 : 0;
    return n;
  }

  void recount ()
  {
    size_t running = 0;
    for (const auto &[id, s] : streams)
      running += s->lifecycle.running () ? 1 : 0;
    occupied = running + pending.size ();
  }

  void update_gauges ()
  {
    if (!metrics)
      return;
    std::map<StreamState, int> counts;
    for (auto state : { StreamState::kStarting, StreamState::kLive, StreamState::kPaused,
                        StreamState::kStalled, StreamState::kReconnecting, StreamState::kEnded,
                        StreamState::kError, StreamState::kStopping })
      counts[state] = 0;
    for (const auto &[id, stream] : streams)
      counts[stream->lifecycle.state ()]++;
    for (const auto &[state, n] : counts)
      metrics->streams.Add ({ { "state", to_string (state) } }).Set (n);
  }

  // The one way a stream's state changes: through its lifecycle, then out
  // to the registry, the listeners (D-Bus) and /metrics.
  bool apply (const std::string &id, Stream &stream, StreamEvent event,
              const std::string &detail = {})
  {
    StreamState before = stream.lifecycle.state ();
    if (!stream.lifecycle.apply (event, detail))
      return false;
    StreamState after = stream.lifecycle.state ();
    if (after != before)
      g_message ("stream %s: %s -> %s%s%s", id.c_str (), to_string (before), to_string (after),
                 detail.empty () ? "" : ": ", detail.c_str ());
    registry->update_state (id, after, stream.lifecycle.message ());
    auto view = view_of (id, stream);
    notify ([&view] (Listener &l) {
      if (l.state_changed)
        l.state_changed (view);
    });
    recount ();
    update_gauges ();
    return true;
  }

  // Stops the stream's pipeline and lets it go. Called from the pipeline's
  // own callbacks too, so the object itself goes from the main loop.
  void drop_pipeline (Stream &stream)
  {
    if (!stream.pipeline)
      return;
    stream.pipeline->release ();
    timeout_add (0, [doomed = std::move (stream.pipeline)] () { return false; });
    stream.pipeline.reset ();
  }

  // Ended or failed: the pipeline goes now, the listing after the retention.
  void retire (const std::string &id, Stream &stream)
  {
    drop_pipeline (stream);
    if (stream.retention_timer)
      return;
    stream.retention_timer
        = timeout_add ((unsigned)config.ingestion.ended_retention_ms, [this, id] () {
            if (Stream *s = find (id)) {
              s->retention_timer = 0;
              remove (id);
            }
            return false;
          });
  }

  // Tears the stream down, unregisters it and answers everyone waiting.
  void remove (const std::string &id)
  {
    auto it = streams.find (id);
    if (it == streams.end ())
      return;
    std::unique_ptr<Stream> stream = std::move (it->second);
    streams.erase (it);
    if (stream->retention_timer)
      g_source_remove (stream->retention_timer);
    drop_pipeline (*stream);
    stream_metrics.forget (id);
    registry->unregister_stream (id, nullptr);
    if (stream->lifecycle.state () == StreamState::kStopping)
      g_message ("stream %s: stopped", id.c_str ());
    else
      g_message ("stream %s: removed (%s)", id.c_str (), to_string (stream->lifecycle.state ()));
    recount ();
    notify ([&id] (Listener &l) {
      if (l.removed)
        l.removed (id);
    });
    update_gauges ();
    for (auto &waiter : stream->stop_waiters)
      if (waiter)
        waiter (ApiError::none ());
  }

  void on_pipeline_event (const std::string &id, StreamEvent event, const std::string &detail)
  {
    Stream *stream = find (id);
    if (!stream)
      return;
    if (event == StreamEvent::kFailed) {
      g_warning ("stream %s: pipeline error from %s", id.c_str (), detail.c_str ());
      if (metrics)
        metrics->stream_errors_total.Add ({ { "stream", id } }).Increment ();
      if (stream->lifecycle.state () == StreamState::kStopping) {
        remove (id);
        return;
      }
    }
    if (!apply (id, *stream, event, detail))
      return;
    if (stream->lifecycle.state () == StreamState::kError)
      retire (id, *stream);
    else if (stream->lifecycle.state () == StreamState::kEnded && stream->pipeline)
      stream->pipeline->drain (kEndDrainTimeoutMs, false);
  }

  void on_drained (const std::string &id, bool in_time)
  {
    Stream *stream = find (id);
    if (!stream)
      return;
    if (stream->lifecycle.state () == StreamState::kStopping) {
      remove (id);
      return;
    }
    // The input ended by itself (a file, a test source), or an ended feed
    // finished its playlists.
    if (stream->lifecycle.running ())
      apply (id, *stream, StreamEvent::kFeedEnded, "the input ended");
    if (!in_time)
      g_warning ("stream %s: its pipeline did not drain in time", id.c_str ());
    retire (id, *stream);
  }

  void on_element_message (const std::string &id, const GstStructure *s)
  {
    Stream *stream = find (id);
    if (!stream)
      return;
    std::string peer = stream_metrics.on_message (id, s);
    if (!peer.empty ())
      stream->peer = peer;
    if (gst_structure_has_name (s, msg::kTranscodeStats))
      read_transcode_stats (s, &stream->transcode);
    if (gst_structure_has_name (s, msg::kIngestReconnected))
      g_message ("stream %s: caller %s reconnected", id.c_str (), peer.c_str ());
  }

  void start (const std::string &id, GstElement *element)
  {
    Stream &stream = *streams.at (id);
    StreamPipeline::Callbacks callbacks;
    callbacks.on_event = [this, id] (StreamEvent event, const std::string &detail) {
      on_pipeline_event (id, event, detail);
    };
    callbacks.on_element_message
        = [this, id] (const GstStructure *s) { on_element_message (id, s); };
    callbacks.on_drained = [this, id] (bool in_time) { on_drained (id, in_time); };
    stream.pipeline = std::make_shared<StreamPipeline> (id, element, std::move (callbacks));
    stream.pipeline->set_contexts (registry, origin);
    std::string error;
    if (!stream.pipeline->start (&error))
      on_pipeline_event (id, StreamEvent::kFailed, error);
  }

  void begin_stop (const std::string &id, int64_t eos_timeout_ms, DoneFn done)
  {
    Stream *stream = find (id);
    if (!stream) {
      if (done)
        done ({ ApiErrc::kNotFound, "no stream \"" + id + "\" on this node" });
      return;
    }
    stream->stop_waiters.push_back (std::move (done));
    if (!stream->pipeline || stream->lifecycle.finished ()) {
      remove (id);
      return;
    }
    if (stream->lifecycle.state () == StreamState::kStopping)
      return;
    apply (id, *stream, StreamEvent::kStopping);
    stream->pipeline->drain (eos_timeout_ms, true);
  }

  ApiError set_paused (const std::string &id, bool paused)
  {
    Stream *stream = find (id);
    if (!stream)
      return { ApiErrc::kNotFound, "no stream \"" + id + "\" on this node" };
    const StreamState state = stream->lifecycle.state ();
    if (state == StreamState::kStopping)
      return { ApiErrc::kInvalidInput, "stream \"" + id + "\" is stopping" };
    if (!stream->lifecycle.running () || !stream->pipeline)
      return { ApiErrc::kInvalidInput, "stream \"" + id + "\" is " + to_string (state) + ": "
                                           + stream->lifecycle.message () };
    if (!stream->pipeline->set_paused (paused))
      return { ApiErrc::kInternal,
               "stream \"" + id + "\" could not " + (paused ? "pause" : "resume") };
    apply (id, *stream, paused ? StreamEvent::kPaused : StreamEvent::kResumed);
    g_message ("stream %s: %s", id.c_str (), paused ? "paused" : "resumed");
    return {};
  }
};

void
StreamManager::set_origin (std::shared_ptr<Origin> origin)
{
  impl_->origin = std::move (origin);
}

StreamManager::StreamManager (const Config &config, std::shared_ptr<StreamRegistry> registry,
                              std::shared_ptr<PipelineLibrary> pipelines, Metrics *metrics)
    : impl_ (std::make_unique<Impl> (config, std::move (registry), std::move (pipelines), metrics))
{
  impl_->update_gauges ();
  // Another node may have claimed one of our ids while the registry was
  // unreachable; the registry reports it as an error and the stream stops here.
  Impl *impl = impl_.get ();
  impl_->registry_watch = impl_->registry->add_watch ([impl] (const RegistryEvent &event) {
    if (event.kind != RegistryEvent::Kind::kStateChanged
        || event.entry.state != StreamState::kError)
      return;
    impl->back_on_main ([impl, entry = event.entry] () {
      Stream *stream = impl->find (entry.id);
      if (!stream || !stream->lifecycle.running ())
        return;
      g_warning ("stream %s: registry: %s; stopping it here", entry.id.c_str (),
                 entry.message.c_str ());
      if (impl->apply (entry.id, *stream, StreamEvent::kFailed, entry.message))
        impl->retire (entry.id, *stream);
    });
  });
  impl_->heartbeat_timer = timeout_add (
      (unsigned)std::max<int64_t> (100, config.registry.heartbeat_interval_ms), [impl] () {
        for (const auto &[id, stream] : impl->streams)
          impl->registry->heartbeat (id);
        impl->update_gauges ();
        return true;
      });
}

StreamManager::~StreamManager () = default;

void
StreamManager::create (const StreamRequest &request, DoneFn done)
{
  Impl &impl = *impl_;
  const std::string &id = request.id;

  if (!valid_stream_id (id)) {
    done ({ ApiErrc::kInvalidInput, "stream id \"" + id
                                        + "\" is not valid (allowed: 1 to 128 letters, digits, "
                                          "'.', '_' or '-', starting with a letter or digit)" });
    return;
  }
  if (impl.shutting_down) {
    done ({ ApiErrc::kServiceUnavailable, "mirrord is shutting down" });
    return;
  }
  Stream *existing = impl.find (id);
  if ((existing && !existing->lifecycle.finished ()) || impl.pending.count (id)) {
    done ({ ApiErrc::kAlreadyExists, "stream \"" + id + "\" already exists on this node" });
    return;
  }
  const int max_streams = impl.config.ingestion.max_streams;
  if ((int)impl.occupied >= max_streams) {
    g_warning ("stream %s: refused, %d streams already (ingestion.max_streams)", id.c_str (),
               max_streams);
    done ({ ApiErrc::kCapacityFull, "stream \"" + id + "\" refused: this node runs its maximum of "
                                        + std::to_string (max_streams)
                                        + " streams (ingestion.max_streams)" });
    return;
  }

  std::string name = request.pipeline.empty () ? impl.route (id) : request.pipeline;
  auto vars = pipeline_variables (impl.config, id, request.source, request.variables);
  std::string error;
  auto description = impl.pipelines->render (name, vars, &error);
  if (!description) {
    done ({ ApiErrc::kInvalidInput, "stream \"" + id + "\": " + error });
    return;
  }

  // Parse before claiming the id, so a bad description never half-starts.
  GstElement *pipeline = StreamPipeline::parse (id, *description, &error);
  if (!pipeline) {
    done ({ ApiErrc::kInvalidInput,
            "stream \"" + id + "\": pipeline \"" + name + "\" does not build: " + error });
    return;
  }

  // Transcoding sessions: a pipeline with a mirrortranscodebin whose ladder
  // decodes holds one.
  const bool transcodes = StreamPipeline::transcodes (pipeline);
  const int max_sessions = impl.config.transcoding.max_sessions;
  if (transcodes && (int)impl.transcode_sessions () >= max_sessions) {
    gst_object_unref (pipeline);
    g_warning ("stream %s: refused, %d transcoding sessions already (transcoding.max_sessions)",
               id.c_str (), max_sessions);
    done ({ ApiErrc::kCapacityFull,
            "stream \"" + id + "\" refused: this node runs its maximum of "
                + std::to_string (max_sessions)
                + " transcoding sessions (transcoding.max_sessions); a pipeline that only "
                  "packages the feed (renditions \"source\") needs none" });
    return;
  }

  // A new feed for an id whose last one ended (or failed) replaces it.
  if (existing)
    impl.remove (id);

  impl.pending.insert (id);
  if (transcodes)
    impl.pending_transcodes.insert (id);
  impl.recount ();
  StreamEntry entry;
  entry.id = id;
  entry.state = StreamState::kStarting;
  entry.source = request.source;
  impl.registry->register_stream (
      entry, [&impl, request, name, pipeline, done] (const RegistryStatus &status) {
        impl.back_on_main ([&impl, request, name, pipeline, done, status] () {
          const std::string &id = request.id;
          impl.pending.erase (id);
          const bool transcodes = impl.pending_transcodes.erase (id) > 0;
          impl.recount ();
          if (!status.ok ()) {
            gst_object_unref (pipeline);
            g_message ("stream %s: not started: %s", id.c_str (), status.message.c_str ());
            done (from_registry (status, id));
            return;
          }
          if (impl.shutting_down) {
            gst_object_unref (pipeline);
            impl.registry->unregister_stream (id, nullptr);
            done ({ ApiErrc::kServiceUnavailable, "mirrord is shutting down" });
            return;
          }
          auto stream = std::make_unique<Stream> ();
          stream->request = request;
          stream->transcodes = transcodes;
          stream->pipeline_name = name;
          stream->started_ms = monotonic_ms ();
          stream->created_unix_ms = unix_ms ();
          impl.streams[id] = std::move (stream);
          impl.recount ();
          if (impl.metrics)
            impl.metrics->streams_created_total.Add ({}).Increment ();
          g_message ("stream %s: starting pipeline \"%s\"%s%s", id.c_str (), name.c_str (),
                     request.source.empty () ? "" : " from ", request.source.c_str ());
          auto view = impl.view_of (id, *impl.streams.at (id));
          impl.notify ([&view] (Listener &l) {
            if (l.added)
              l.added (view);
          });
          impl.start (id, pipeline);
          impl.update_gauges ();
          done (ApiError::none ());
        });
      });
}

ApiError
StreamManager::pause (const std::string &id)
{
  return impl_->set_paused (id, true);
}

ApiError
StreamManager::resume (const std::string &id)
{
  return impl_->set_paused (id, false);
}

void
StreamManager::stop (const std::string &id, DoneFn done)
{
  impl_->begin_stop (id, kStopEosTimeoutMs, std::move (done));
}

void
StreamManager::get (const std::string &id, ViewFn done) const
{
  Impl &impl = *impl_;
  impl.registry->get_stream (id, [&impl, id, done] (const RegistryStatus &status,
                                                    const std::optional<StreamEntry> &entry) {
    impl.back_on_main ([&impl, id, done, status, entry] () {
      auto local = impl.streams.find (id);
      if (status.ok () && entry) {
        done ({}, impl.merge (*entry));
      } else if (local != impl.streams.end ()) {
        // Registry down or lagging: what this node knows is still true.
        done ({}, impl.view_of (id, *local->second));
      } else if (status.code == RegistryErrc::kUnavailable) {
        done (from_registry (status, id), {});
      } else {
        done ({ ApiErrc::kNotFound, "no stream \"" + id + "\"" }, {});
      }
    });
  });
}

void
StreamManager::list (ListFn done) const
{
  Impl &impl = *impl_;
  impl.registry->list_streams ([&impl, done] (const RegistryStatus &status,
                                              const std::vector<StreamEntry> &entries) {
    impl.back_on_main ([&impl, done, status, entries] () {
      std::vector<StreamView> views;
      std::set<std::string> seen;
      for (const auto &entry : entries) {
        views.push_back (impl.merge (entry));
        seen.insert (entry.id);
      }
      // Local streams the registry has not (yet, or while down) listed.
      for (const auto &[id, stream] : impl.streams)
        if (!seen.count (id))
          views.push_back (impl.view_of (id, *stream));
      std::sort (views.begin (), views.end (),
                 [] (const StreamView &a, const StreamView &b) { return a.entry.id < b.entry.id; });
      done ({}, views);
    });
  });
}

std::vector<StreamView>
StreamManager::local_streams () const
{
  std::vector<StreamView> out;
  for (const auto &[id, stream] : impl_->streams)
    out.push_back (impl_->view_of (id, *stream));
  return out;
}

std::optional<StreamView>
StreamManager::local_stream (const std::string &id) const
{
  auto it = impl_->streams.find (id);
  if (it == impl_->streams.end ())
    return std::nullopt;
  return impl_->view_of (id, *it->second);
}

size_t
StreamManager::local_count () const
{
  return impl_->streams.size ();
}

bool
StreamManager::has_room () const
{
  return !impl_->shutting_down && impl_->occupied < (size_t)impl_->config.ingestion.max_streams;
}

size_t
StreamManager::error_count () const
{
  size_t n = 0;
  for (const auto &[id, stream] : impl_->streams)
    if (stream->lifecycle.state () == StreamState::kError)
      n++;
  return n;
}

unsigned
StreamManager::add_listener (Listener listener)
{
  unsigned id = impl_->next_listener++;
  impl_->listeners[id] = std::move (listener);
  return id;
}

void
StreamManager::remove_listener (unsigned listener_id)
{
  impl_->listeners.erase (listener_id);
}

void
StreamManager::shutdown (int64_t timeout_ms, std::function<void ()> done)
{
  Impl &impl = *impl_;
  impl.shutting_down = true;

  struct Shutdown {
    size_t remaining = 0;
    std::function<void ()> done;
    guint timer = 0;
    void finish ()
    {
      if (timer)
        g_source_remove (timer);
      timer = 0;
      if (done) {
        auto fn = std::move (done);
        done = nullptr;
        fn ();
      }
    }
  };
  auto state = std::make_shared<Shutdown> ();
  state->done = std::move (done);
  std::vector<std::string> ids;
  for (const auto &[id, stream] : impl.streams)
    ids.push_back (id);
  state->remaining = ids.size ();
  if (ids.empty ()) {
    timeout_add (0, [state] () {
      state->finish ();
      return false;
    });
    return;
  }

  // Past the timeout, whatever has not drained is torn down. Each drain has
  // the same timeout, so this is the backstop.
  state->timer = timeout_add ((unsigned)std::max<int64_t> (1, timeout_ms) + 100, [&impl, state] () {
    state->timer = 0;
    std::vector<std::string> left;
    for (const auto &[id, stream] : impl.streams)
      left.push_back (id);
    if (!left.empty ())
      g_warning ("shutdown: %zu streams did not drain in time, tearing them down", left.size ());
    for (const auto &id : left)
      impl.remove (id);
    state->finish ();
    return false;
  });
  for (const auto &id : ids)
    impl.begin_stop (id, timeout_ms, [state] (const ApiError &) {
      if (--state->remaining == 0)
        state->finish ();
    });
}

} // namespace mirror::daemon
