// SPDX-License-Identifier: LGPL-2.1-or-later
// Each stream's lifecycle: its StreamPipeline's events through the
// StreamLifecycle out to the registry, the listeners and /metrics; ended and
// failed streams released at once and removed after the retention; stop,
// pause and resume; shutdown.
#include <algorithm>

#include "log.h"
#include "streams/stream_manager_impl.h"

#include "metrics/metrics.h"
#include "origin/origin.h"
#include "util/message_names.h"

namespace mirror::daemon {

namespace {

// How long a DELETE waits for the pipeline's EOS before tearing it down anyway
// (a shutdown gives every stream the whole server.shutdown_timeout).
constexpr int64_t kStopEosTimeoutMs = 3000;
// How long an ended feed's pipeline gets to finish its playlists.
constexpr int64_t kEndDrainTimeoutMs = 3000;
// Restarts in a row without output before the stream is failed.
constexpr int kMaxFruitlessRestarts = 5;
// How long a wedged pipeline gets to stop before the stream is failed.
constexpr unsigned kRestartStopTimeoutMs = 10000;

} // namespace

void
StreamManager::Impl::recount ()
{
  size_t running = 0;
  for (const auto &[id, s] : streams)
    running += s->lifecycle.running () ? 1 : 0;
  occupied = running + pending.size ();
}

void
StreamManager::Impl::update_gauges ()
{
  if (!metrics)
    return;
  std::map<StreamState, int> counts;
  for (auto state : { StreamState::kStarting, StreamState::kLive, StreamState::kPaused,
                      StreamState::kStalled, StreamState::kReconnecting, StreamState::kEnded,
                      StreamState::kError, StreamState::kStopping, StreamState::kDegraded })
    counts[state] = 0;
  for (const auto &[id, stream] : streams)
    counts[stream->lifecycle.state ()]++;
  for (const auto &[state, n] : counts)
    metrics->streams.Add ({ { "state", to_string (state) } }).Set (n);
}

// The one way a stream's state changes: through its lifecycle, then out
// to the registry, the listeners (D-Bus) and /metrics.
bool
StreamManager::Impl::apply (const std::string &id, Stream &stream, StreamEvent event,
                            const std::string &detail)
{
  StreamState before = stream.lifecycle.state ();
  if (!stream.lifecycle.apply (event, detail))
    return false;
  StreamState after = stream.lifecycle.state ();
  if (after != before)
    log_info ("stream %s: %s -> %s%s%s", id.c_str (), to_string (before), to_string (after),
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
void
StreamManager::Impl::drop_pipeline (Stream &stream)
{
  stream.restarting = 0;
  stream.origin_hold.reset ();
  if (!stream.pipeline)
    return;
  stream.pipeline->release ();
  timeout_add (0, [doomed = std::move (stream.pipeline)] () { return false; });
  stream.pipeline.reset ();
}

// Ended or failed: the pipeline goes now, the listing after the retention.
void
StreamManager::Impl::retire (const std::string &id, Stream &stream)
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
void
StreamManager::Impl::remove (const std::string &id)
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
    log_info ("stream %s: stopped", id.c_str ());
  else
    log_info ("stream %s: removed (%s)", id.c_str (), to_string (stream->lifecycle.state ()));
  forget_stream_log (id);
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

void
StreamManager::Impl::on_pipeline_event (const std::string &id, StreamEvent event,
                                        const std::string &detail)
{
  Stream *stream = find (id);
  if (!stream)
    return;
  if (event == StreamEvent::kFailed) {
    log_warn ("stream %s: pipeline error from %s", id.c_str (), detail.c_str ());
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

void
StreamManager::Impl::on_drained (const std::string &id, bool in_time)
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
    log_warn ("stream %s: its pipeline did not drain in time", id.c_str ());
  retire (id, *stream);
}

void
StreamManager::Impl::on_element_message (const std::string &id, const GstStructure *s)
{
  Stream *stream = find (id);
  if (!stream)
    return;
  std::string peer = stream_metrics.on_message (id, s);
  if (!peer.empty ())
    stream->peer = peer;
  if (gst_structure_has_name (s, msg::kIngestStats)) {
    double rtt = -1;
    if (g_strcmp0 (gst_structure_get_string (s, "transport"), "srt") == 0
        && gst_structure_get_double (s, "rtt-ms", &rtt))
      stream->rtt_ms = rtt;
  }
  if (gst_structure_has_name (s, msg::kTranscodeStats)) {
    read_transcode_stats (s, &stream->transcode);
    const TranscodeView &t = stream->transcode;
    const bool was_degraded = stream->shed_health.degraded ();
    const ShedStep step = shed_step_from_name (t.shed_step);
    if (stream->shed_health.update (
            { t.shed_encoder, t.shed_nonref, t.shed_keyframes, t.shed_catch_up }, step))
      apply (id, *stream, StreamEvent::kBehind, stream->shed_health.message ());
    else if (was_degraded)
      apply (id, *stream, StreamEvent::kCaughtUp, "");
  }
  if (gst_structure_has_name (s, msg::kIngestReconnected))
    log_info ("stream %s: caller %s reconnected", id.c_str (), peer.c_str ());
}

void
StreamManager::Impl::start (const std::string &id, GstElement *element)
{
  Stream &stream = *streams.at (id);
  StreamPipeline::Callbacks callbacks;
  callbacks.on_event = [this, id] (StreamEvent event, const std::string &detail) {
    on_pipeline_event (id, event, detail);
  };
  callbacks.on_element_message = [this, id] (const GstStructure *s) { on_element_message (id, s); };
  callbacks.on_drained = [this, id] (bool in_time) { on_drained (id, in_time); };
  stream.pipeline = std::make_shared<StreamPipeline> (id, element, std::move (callbacks));
  stream.pipeline->set_contexts (registry, origin);
  std::string error;
  if (!stream.pipeline->start (&error))
    on_pipeline_event (id, StreamEvent::kFailed, error);
}

void
StreamManager::Impl::watch_progress ()
{
  const int64_t timeout_us = config.ingestion.pipeline_stall_timeout_ms * 1000;
  const int64_t now = g_get_monotonic_time ();
  std::vector<std::pair<std::string, std::string>> wedged;
  std::vector<std::string> flowing;
  for (const auto &[id, s] : streams) {
    Stream &stream = *s;
    if (!stream.pipeline || stream.pipeline->draining ())
      continue;
    const StreamState state = stream.lifecycle.state ();
    if (state != StreamState::kStarting && state != StreamState::kLive
        && state != StreamState::kDegraded && state != StreamState::kStalled)
      continue;
    const StreamPipeline::Progress p = stream.pipeline->progress ();
    if (p.output_us) {
      // This pipeline (a restarted one included) delivers: the playlists'
      // publishers are back.
      stream.fruitless_restarts = 0;
      stream.origin_hold.reset ();
      // A feed with no video (audio only) never wakes the heartbeat: its
      // first output is its sign of life.
      if (state == StreamState::kStarting)
        flowing.push_back (id);
    }
    // Silence with no input is the feed's, not the pipeline's; and input
    // back after a gap (a caller back, media after a stall) gets the whole
    // timeout to come out again.
    if (!p.input_us || now - p.input_us > StreamPipeline::kInputGapUs)
      continue;
    const int64_t quiet_since = std::max ({ p.output_us, p.started_us, p.input_since_us });
    if (!p.started_us || now - quiet_since < timeout_us)
      continue;
    wedged.emplace_back (id, "no output for " + std::to_string ((now - quiet_since) / 1000000)
                                 + " s while its input arrives");
  }
  for (const auto &id : flowing)
    if (Stream *stream = find (id))
      apply (id, *stream, StreamEvent::kMediaFlowing, "");
  for (const auto &[id, why] : wedged)
    if (Stream *stream = find (id))
      restart (id, *stream, why);
}

void
StreamManager::Impl::restart (const std::string &id, Stream &stream, const std::string &why)
{
  if (stream.fruitless_restarts >= kMaxFruitlessRestarts) {
    on_pipeline_event (id, StreamEvent::kFailed,
                       why + ", after " + std::to_string (stream.fruitless_restarts)
                           + " restarts in a row (ingestion.pipeline_stall_timeout)");
    return;
  }
  std::string error;
  GstElement *element = StreamPipeline::parse (id, stream.description, &error);
  if (!element) {
    on_pipeline_event (id, StreamEvent::kFailed, "restarting its wedged pipeline: " + error);
    return;
  }
  ++stream.fruitless_restarts;
  ++stream.restarts;
  if (metrics)
    metrics->pipeline_restarts_total.Add ({ { "stream", id } }).Increment ();
  const std::string message
      = why + "; pipeline restarted (restart " + std::to_string (stream.restarts) + ")";
  log_warn ("stream %s: %s", id.c_str (), message.c_str ());
  apply (id, stream, StreamEvent::kNoProgress, message);
  // The caller stays connected, its data held for the new pipeline, and
  // the playlists go on, after a discontinuity.
  if (before_restart)
    before_restart (id);
  if (origin && !stream.origin_hold) {
    origin->hold (id);
    stream.origin_hold
        = std::shared_ptr<void> (nullptr, [o = origin, id] (void *) { o->detach (id); });
  }
  stream.transcode = {};
  stream.shed_health = {};
  const uint64_t generation = stream.restarts;
  stream.restarting = generation;
  std::shared_ptr<StreamPipeline> old = std::move (stream.pipeline);
  std::weak_ptr<bool> weak = alive;
  old->release_async ([this, weak, id, element, generation, old] () {
    auto guard = weak.lock ();
    Stream *s = guard && *guard ? find (id) : nullptr;
    if (!s || s->restarting != generation || !s->lifecycle.running ()) {
      gst_object_unref (element);
      return;
    }
    s->restarting = 0;
    // The new sinks publish after a discontinuity (mirrorh3sink).
    start (id, element);
  });
  timeout_add (kRestartStopTimeoutMs, [this, weak, id, generation] () {
    auto guard = weak.lock ();
    Stream *s = guard && *guard ? find (id) : nullptr;
    if (s && s->restarting == generation)
      on_pipeline_event (id, StreamEvent::kFailed,
                         "its wedged pipeline did not stop within "
                             + std::to_string (kRestartStopTimeoutMs / 1000) + " s");
    return false;
  });
}

void
StreamManager::Impl::begin_stop (const std::string &id, int64_t eos_timeout_ms, DoneFn done)
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

ApiError
StreamManager::Impl::set_paused (const std::string &id, bool paused)
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
  log_info ("stream %s: %s", id.c_str (), paused ? "paused" : "resumed");
  return {};
}

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
      log_warn ("stream %s: registry: %s; stopping it here", entry.id.c_str (),
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
  if (config.ingestion.pipeline_stall_timeout_ms > 0)
    impl_->watchdog_timer = timeout_add (1000, [impl] () {
      impl->watch_progress ();
      return true;
    });
}

StreamManager::~StreamManager () = default;

void
StreamManager::set_restart_hook (std::function<void (const std::string &id)> hook)
{
  impl_->before_restart = std::move (hook);
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
      log_warn ("shutdown: %zu streams did not drain in time, tearing them down", left.size ());
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
