#include "streams/stream_manager.h"

#include <algorithm>
#include <atomic>
#include <regex>
#include <set>

#include "config/config.h"
#include "metrics/metrics.h"
#include "origin/origin_handle.h"
#include "registry/registry_handle.h"
#include "streams/pipeline_library.h"
#include "streams/pipeline_variables.h"
#include "streams/stream_metrics.h"
#include "transcode/ladder.h"
#include "util/main_context.h"

namespace mirror::daemon {

namespace {

// How long a DELETE waits for the pipeline's EOS before tearing it down anyway
// (a shutdown gives every stream the whole server.shutdown_timeout).
constexpr int64_t kStopEosTimeoutMs = 3000;

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

const char *
gst_state_name (GstElement *pipeline)
{
  GstState state = GST_STATE_VOID_PENDING;
  gst_element_get_state (pipeline, &state, nullptr, 0);
  return gst_element_state_get_name (state);
}

} // namespace

struct Stream {
  StreamRequest request;
  std::string pipeline_name;
  GstElement *pipeline = nullptr;
  guint bus_watch = 0;
  StreamState state = StreamState::kStarting;
  std::string message;
  int64_t started_ms = 0;
  int64_t created_unix_ms = 0;
  std::string peer; // the ingest caller now connected, if any
  TranscodeView transcode;
  bool user_paused = false;
  bool transcodes = false; // holds one of transcoding.max_sessions
  bool stopping = false;
  guint stop_timer = 0;
  std::vector<StreamManager::DoneFn> stop_waiters;
};

void
read_transcode_stats (const GstStructure *s, TranscodeView *t)
{
  auto text = [s] (const char *field) {
    const gchar *v = gst_structure_get_string (s, field);
    return std::string (v ? v : "");
  };
  auto count = [s] (const char *field) -> uint64_t {
    guint64 u = 0;
    gint i = 0;
    guint ui = 0;
    if (gst_structure_get_uint64 (s, field, &u))
      return u;
    if (gst_structure_get_uint (s, field, &ui))
      return ui;
    if (gst_structure_get_int (s, field, &i))
      return (uint64_t)std::max (i, 0);
    return 0;
  };
  auto real = [s] (const char *field) {
    gdouble d = 0;
    return gst_structure_get_double (s, field, &d) ? d : 0.0;
  };
  t->present = true;
  t->decoder = text ("decoder");
  t->encoder = text ("encoder");
  t->hardware = text ("hardware");
  t->frames_in = count ("frames-in");
  t->frames_out = count ("frames-out");
  t->frames_dropped = count ("frames-dropped");
  t->latency_p50_ms = real ("latency-p50-ms");
  t->latency_p99_ms = real ("latency-p99-ms");
}

// A persistent context of @type carrying @handle (a boxed value of @gtype,
// consumed) in @field, set on @pipeline: how shared things reach elements.
void
set_boxed_context (GstElement *pipeline, const char *type, const char *field, GType gtype,
                   gpointer handle)
{
  GstContext *context = gst_context_new (type, TRUE);
  gst_structure_set (gst_context_writable_structure (context), field, gtype, handle, nullptr);
  g_boxed_free (gtype, handle);
  gst_element_set_context (pipeline, context);
  gst_context_unref (context);
}

// Whether a parsed pipeline holds a transcoding session: a
// mirrortranscodebin whose ladder decodes (anything but `source` alone).
bool
pipeline_transcodes (GstElement *pipeline)
{
  bool transcodes = false;
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipeline));
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    auto *element = GST_ELEMENT (g_value_get_object (&item));
    GstElementFactory *factory = gst_element_get_factory (element);
    if (factory && g_strcmp0 (GST_OBJECT_NAME (factory), "mirrortranscodebin") == 0) {
      gchar *spec = nullptr;
      g_object_get (element, "renditions", &spec, nullptr);
      std::string error;
      auto ladder = spec && *spec ? parse_ladder (spec, &error) : std::nullopt;
      // No ladder, or one the element will refuse: count it, to be safe.
      transcodes |= !ladder || ladder_transcodes (*ladder);
      g_free (spec);
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return transcodes;
}

namespace {

// A branch the feed never fed (the audio one of a video-only feed: its
// sometimes pad never came, so nothing links into it) would never see the
// pipeline's EOS, and the pipeline would not drain until its timeout. EOS
// goes straight into every unlinked sink pad of the top-level elements.
void
end_unfed_branches (GstBin *pipeline)
{
  GstIterator *elements = gst_bin_iterate_elements (pipeline);
  GValue element_value = G_VALUE_INIT;
  while (gst_iterator_next (elements, &element_value) == GST_ITERATOR_OK) {
    auto *element = GST_ELEMENT (g_value_get_object (&element_value));
    GstIterator *pads = gst_element_iterate_sink_pads (element);
    GValue pad_value = G_VALUE_INIT;
    while (gst_iterator_next (pads, &pad_value) == GST_ITERATOR_OK) {
      auto *pad = GST_PAD (g_value_get_object (&pad_value));
      if (!gst_pad_is_linked (pad)) {
        gst_pad_send_event (pad, gst_event_new_eos ());
      }
      g_value_reset (&pad_value);
    }
    g_value_unset (&pad_value);
    gst_iterator_free (pads);
    g_value_reset (&element_value);
  }
  g_value_unset (&element_value);
  gst_iterator_free (elements);
}

} // namespace

struct StreamManager::Impl {
  const Config &config;
  std::shared_ptr<StreamRegistry> registry;
  std::shared_ptr<PipelineLibrary> pipelines;
  Metrics *metrics;
  std::shared_ptr<Origin> origin;
  GMainContext *context;
  std::map<std::string, std::unique_ptr<Stream>> streams;
  std::set<std::string> pending;            // ids being registered
  std::set<std::string> pending_transcodes; // those of them that will transcode
  // streams.size () + pending.size (), readable from the hubs' threads.
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
        context (g_main_context_ref_thread_default ()), stream_metrics (m)
  {}

  ~Impl ()
  {
    *alive = false;
    registry->remove_watch (registry_watch);
    if (heartbeat_timer)
      g_source_remove (heartbeat_timer);
    for (auto &[id, stream] : streams)
      destroy_pipeline (*stream);
    g_main_context_unref (context);
  }

  // Runs fn on the main context if the manager still exists then.
  void back_on_main (std::function<void ()> fn)
  {
    std::weak_ptr<bool> weak = alive;
    invoke_on (context, [weak, fn = std::move (fn)] () {
      auto guard = weak.lock ();
      if (guard && *guard)
        fn ();
    });
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
    view.entry.state = stream.state;
    view.entry.source = stream.request.source;
    view.entry.message = stream.message;
    view.entry.created_unix_ms = stream.created_unix_ms;
    view.local = true;
    view.pipeline = stream.pipeline_name;
    view.pipeline_state = stream.pipeline ? gst_state_name (stream.pipeline) : "NULL";
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

  void notify_added (const std::string &id)
  {
    auto view = view_of (id, *streams.at (id));
    for (auto &[lid, l] : listeners)
      if (l.added)
        l.added (view);
  }

  void notify_removed (const std::string &id)
  {
    for (auto &[lid, l] : listeners)
      if (l.removed)
        l.removed (id);
  }

  void set_state (const std::string &id, Stream &stream, StreamState state,
                  const std::string &message)
  {
    if (stream.state == state && stream.message == message)
      return;
    stream.state = state;
    stream.message = message;
    registry->update_state (id, state, message);
    auto view = view_of (id, stream);
    for (auto &[lid, l] : listeners)
      if (l.state_changed)
        l.state_changed (view);
  }

  void destroy_pipeline (Stream &stream)
  {
    if (stream.stop_timer) {
      g_source_remove (stream.stop_timer);
      stream.stop_timer = 0;
    }
    if (stream.bus_watch) {
      g_source_remove (stream.bus_watch);
      stream.bus_watch = 0;
    }
    if (stream.pipeline) {
      gst_element_set_state (stream.pipeline, GST_STATE_NULL);
      gst_object_unref (stream.pipeline);
      stream.pipeline = nullptr;
    }
  }

  // Tears the stream down, unregisters it and answers everyone waiting.
  void finish_stop (std::string id)
  {
    auto it = streams.find (id);
    if (it == streams.end ())
      return;
    std::unique_ptr<Stream> stream = std::move (it->second);
    streams.erase (it);
    recount ();
    stream_metrics.forget (id);
    destroy_pipeline (*stream);
    registry->unregister_stream (id, nullptr);
    g_message ("stream %s: stopped", id.c_str ());
    notify_removed (id);
    update_gauges ();
    for (auto &waiter : stream->stop_waiters)
      if (waiter)
        waiter (ApiError::none ());
  }

  void begin_stop (const std::string &id, int64_t eos_timeout_ms, DoneFn done)
  {
    auto it = streams.find (id);
    if (it == streams.end ()) {
      if (done)
        done ({ ApiErrc::kNotFound, "no stream \"" + id + "\" on this node" });
      return;
    }
    Stream &stream = *it->second;
    stream.stop_waiters.push_back (std::move (done));
    if (stream.stopping)
      return;
    stream.stopping = true;
    stream.state = StreamState::kStopping;
    registry->update_state (id, StreamState::kStopping, "");

    // EOS only drains a pipeline that is PLAYING. One still prerolling would
    // hold it behind a blocked streaming thread (and sending it would take
    // the pipeline's state lock until then), so that one is torn down.
    GstState current = GST_STATE_NULL;
    if (stream.pipeline)
      gst_element_get_state (stream.pipeline, &current, nullptr, 0);
    if (current != GST_STATE_PLAYING) {
      // Nothing flows, so no EOS would ever come out.
      finish_stop (id);
      return;
    }
    // Sending EOS can block while a source holds its lock, so never do it on
    // the main loop.
    gst_element_call_async (
        stream.pipeline,
        [] (GstElement *pipeline, gpointer) {
          gst_element_send_event (pipeline, gst_event_new_eos ());
          end_unfed_branches (GST_BIN (pipeline));
        },
        nullptr, nullptr);
    stream.stop_timer = g_timeout_add_full (
        G_PRIORITY_DEFAULT, (guint)eos_timeout_ms,
        [] (gpointer data) -> gboolean {
          auto *ctx = static_cast<std::pair<Impl *, std::string> *> (data);
          auto it = ctx->first->streams.find (ctx->second);
          if (it != ctx->first->streams.end ()) {
            g_warning ("stream %s: no EOS in time, tearing down", ctx->second.c_str ());
            it->second->stop_timer = 0;
            ctx->first->finish_stop (ctx->second);
          }
          return G_SOURCE_REMOVE;
        },
        new std::pair<Impl *, std::string> (this, id),
        [] (gpointer data) { delete static_cast<std::pair<Impl *, std::string> *> (data); });
  }

  gboolean on_bus_message (std::string id, GstMessage *msg)
  {
    auto it = streams.find (id);
    if (it == streams.end ())
      return G_SOURCE_REMOVE;
    Stream &stream = *it->second;

    switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR: {
      GError *err = nullptr;
      char *debug = nullptr;
      gst_message_parse_error (msg, &err, &debug);
      std::string text = std::string (GST_OBJECT_NAME (GST_MESSAGE_SRC (msg))) + ": "
                         + (err ? err->message : "unknown error");
      // The debug string's last line usually names the value at fault.
      if (debug) {
        std::string details = g_strstrip (debug);
        size_t nl = details.rfind ('\n');
        text += " (" + (nl == std::string::npos ? details : details.substr (nl + 1)) + ")";
      }
      g_warning ("stream %s: pipeline error from %s", id.c_str (), text.c_str ());
      g_clear_error (&err);
      g_free (debug);
      if (metrics)
        metrics->stream_errors_total.Add ({ { "stream", id } }).Increment ();
      if (stream.stopping) {
        finish_stop (id);
        return G_SOURCE_REMOVE;
      }
      // The failed stream stops alone; it stays listed, in error, until deleted.
      gst_element_set_state (stream.pipeline, GST_STATE_NULL);
      set_state (id, stream, StreamState::kError, text);
      update_gauges ();
      break;
    }
    case GST_MESSAGE_EOS:
      if (!stream.stopping)
        g_message ("stream %s: input ended", id.c_str ());
      finish_stop (id);
      return G_SOURCE_REMOVE;
    case GST_MESSAGE_STATE_CHANGED: {
      if (GST_MESSAGE_SRC (msg) != GST_OBJECT (stream.pipeline) || stream.stopping)
        break;
      GstState old_state, new_state, pending;
      gst_message_parse_state_changed (msg, &old_state, &new_state, &pending);
      if (new_state == GST_STATE_PLAYING && stream.state != StreamState::kStalled)
        set_state (id, stream, StreamState::kLive, "");
      else if (new_state == GST_STATE_PAUSED && stream.user_paused)
        set_state (id, stream, StreamState::kPaused, "");
      update_gauges ();
      break;
    }
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);
      std::string peer = stream_metrics.on_message (id, s);
      if (!peer.empty ())
        stream.peer = peer;
      if (gst_structure_has_name (s, "mirror-transcode-stats"))
        read_transcode_stats (s, &stream.transcode);
      if (gst_structure_has_name (s, "mirror-ingest-reconnected"))
        g_message ("stream %s: caller %s reconnected", id.c_str (), peer.c_str ());
      if (stream.stopping || stream.user_paused)
        break;
      if (gst_structure_has_name (s, "mirror-stalled"))
        set_state (id, stream, StreamState::kStalled, "no data");
      else if (gst_structure_has_name (s, "mirror-recovered"))
        set_state (id, stream, StreamState::kLive, "");
      break;
    }
    default:
      break;
    }
    return G_SOURCE_CONTINUE;
  }

  void start (const std::string &id, GstElement *pipeline)
  {
    Stream &stream = *streams.at (id);
    stream.pipeline = pipeline;

    set_boxed_context (pipeline, MIRROR_REGISTRY_CONTEXT_TYPE, MIRROR_REGISTRY_CONTEXT_FIELD,
                       MIRROR_TYPE_REGISTRY_HANDLE, registry_handle_new (registry));
    if (origin)
      set_boxed_context (pipeline, MIRROR_ORIGIN_CONTEXT_TYPE, MIRROR_ORIGIN_CONTEXT_FIELD,
                         MIRROR_TYPE_ORIGIN_HANDLE, origin_handle_new (origin));

    GstBus *bus = gst_element_get_bus (pipeline);
    stream.bus_watch = gst_bus_add_watch_full (
        bus, G_PRIORITY_DEFAULT,
        [] (GstBus *, GstMessage *msg, gpointer data) -> gboolean {
          auto *ctx = static_cast<std::pair<Impl *, std::string> *> (data);
          return ctx->first->on_bus_message (ctx->second, msg);
        },
        new std::pair<Impl *, std::string> (this, id),
        [] (gpointer data) { delete static_cast<std::pair<Impl *, std::string> *> (data); });
    gst_object_unref (bus);

    if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      // The bus carries the reason; on_bus_message marks the stream as failed.
      g_warning ("stream %s: pipeline refused to start", id.c_str ());
      if (stream.state != StreamState::kError)
        set_state (id, stream, StreamState::kError, "pipeline refused to start");
    }
  }

  ApiError set_paused (const std::string &id, bool paused)
  {
    auto it = streams.find (id);
    if (it == streams.end ())
      return { ApiErrc::kNotFound, "no stream \"" + id + "\" on this node" };
    Stream &stream = *it->second;
    if (stream.stopping)
      return { ApiErrc::kInvalidInput, "stream \"" + id + "\" is stopping" };
    if (stream.state == StreamState::kError)
      return { ApiErrc::kInvalidInput, "stream \"" + id + "\" is in error: " + stream.message };
    stream.user_paused = paused;
    GstState target = paused ? GST_STATE_PAUSED : GST_STATE_PLAYING;
    if (gst_element_set_state (stream.pipeline, target) == GST_STATE_CHANGE_FAILURE)
      return { ApiErrc::kInternal,
               "stream \"" + id + "\" could not " + (paused ? "pause" : "resume") };
    set_state (id, stream, paused ? StreamState::kPaused : StreamState::kLive, "");
    update_gauges ();
    g_message ("stream %s: %s", id.c_str (), paused ? "paused" : "resumed");
    return {};
  }

  void recount () { occupied = streams.size () + pending.size (); }

  void update_gauges ()
  {
    if (!metrics)
      return;
    std::map<StreamState, int> counts;
    for (auto state : { StreamState::kStarting, StreamState::kLive, StreamState::kPaused,
                        StreamState::kStalled, StreamState::kError, StreamState::kStopping })
      counts[state] = 0;
    for (const auto &[id, stream] : streams)
      counts[stream->state]++;
    for (const auto &[state, n] : counts)
      metrics->streams.Add ({ { "state", to_string (state) } }).Set (n);
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
      auto it = impl->streams.find (entry.id);
      if (it == impl->streams.end () || it->second->state == StreamState::kError)
        return;
      g_warning ("stream %s: registry: %s; stopping it here", entry.id.c_str (),
                 entry.message.c_str ());
      if (it->second->pipeline)
        gst_element_set_state (it->second->pipeline, GST_STATE_NULL);
      impl->set_state (entry.id, *it->second, StreamState::kError, entry.message);
    });
  });
  impl_->heartbeat_timer = g_timeout_add_full (
      G_PRIORITY_DEFAULT, (guint)std::max<int64_t> (100, config.registry.heartbeat_interval_ms),
      [] (gpointer data) -> gboolean {
        auto *impl = static_cast<Impl *> (data);
        for (const auto &[id, stream] : impl->streams)
          impl->registry->heartbeat (id);
        impl->update_gauges ();
        return G_SOURCE_CONTINUE;
      },
      impl_.get (), nullptr);
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
  if (impl.streams.count (id) || impl.pending.count (id)) {
    done ({ ApiErrc::kAlreadyExists, "stream \"" + id + "\" already exists on this node" });
    return;
  }
  const int max_streams = impl.config.ingestion.max_streams;
  if ((int)(impl.streams.size () + impl.pending.size ()) >= max_streams) {
    g_warning ("stream %s: refused, %d streams already (ingestion.max_streams)", id.c_str (),
               max_streams);
    done ({ ApiErrc::kCapacityFull, "stream \"" + id + "\" refused: this node runs its maximum of "
                                        + std::to_string (max_streams)
                                        + " streams (ingestion.max_streams)" });
    return;
  }

  // Transcoding sessions: a pipeline with a mirrortranscodebin whose ladder
  // decodes holds one.
  auto transcode_sessions = [&impl] () {
    size_t n = impl.pending_transcodes.size ();
    for (const auto &[sid, s] : impl.streams)
      n += s->transcodes ? 1 : 0;
    return n;
  };

  std::string name = request.pipeline.empty () ? impl.route (id) : request.pipeline;
  auto vars = pipeline_variables (impl.config, id, request.source, request.variables);
  std::string error;
  auto description = impl.pipelines->render (name, vars, &error);
  if (!description) {
    done ({ ApiErrc::kInvalidInput, "stream \"" + id + "\": " + error });
    return;
  }

  // Parse before claiming the id, so a bad description never half-starts.
  GError *err = nullptr;
  GstElement *pipeline
      = gst_parse_launch_full (description->c_str (), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!pipeline) {
    std::string msg = "stream \"" + id + "\": pipeline \"" + name
                      + "\" does not build: " + (err ? err->message : "unknown error");
    g_clear_error (&err);
    done ({ ApiErrc::kInvalidInput, msg });
    return;
  }
  if (!GST_IS_PIPELINE (pipeline)) {
    GstElement *wrapper = gst_pipeline_new (nullptr);
    gst_bin_add (GST_BIN (wrapper), pipeline);
    pipeline = wrapper;
  }
  gst_object_set_name (GST_OBJECT (pipeline), id.c_str ());

  const bool transcodes = pipeline_transcodes (pipeline);
  const int max_sessions = impl.config.transcoding.max_sessions;
  if (transcodes && (int)transcode_sessions () >= max_sessions) {
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
          impl.start (id, pipeline);
          impl.notify_added (id);
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
    if (stream->state == StreamState::kError)
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
    size_t remaining;
    std::function<void ()> done;
    guint timer = 0;
    void finish ()
    {
      if (done) {
        auto fn = std::move (done);
        done = nullptr;
        fn ();
      }
    }
  };
  auto state = std::make_shared<Shutdown> ();
  state->remaining = impl.streams.size ();
  state->done = std::move (done);

  if (state->remaining == 0) {
    impl.back_on_main ([state] () { state->finish (); });
    return;
  }

  // Past the timeout, whatever has not drained is torn down.
  std::weak_ptr<bool> weak = impl.alive;
  state->timer = g_timeout_add_full (
      G_PRIORITY_DEFAULT, (guint)std::max<int64_t> (1, timeout_ms),
      [] (gpointer data) -> gboolean {
        auto *ctx = static_cast<std::pair<Impl *, std::shared_ptr<Shutdown>> *> (data);
        ctx->second->timer = 0;
        std::vector<std::string> ids;
        for (const auto &[id, stream] : ctx->first->streams)
          ids.push_back (id);
        if (!ids.empty ())
          g_warning ("shutdown: %zu streams did not drain in time, tearing them down", ids.size ());
        for (const auto &id : ids)
          ctx->first->finish_stop (id);
        ctx->second->finish ();
        return G_SOURCE_REMOVE;
      },
      new std::pair<Impl *, std::shared_ptr<Shutdown>> (&impl, state),
      [] (gpointer data) {
        delete static_cast<std::pair<Impl *, std::shared_ptr<Shutdown>> *> (data);
      });

  std::vector<std::string> ids;
  for (const auto &[id, stream] : impl.streams)
    ids.push_back (id);
  for (const auto &id : ids) {
    impl.begin_stop (id, timeout_ms, [state] (const ApiError &) {
      if (--state->remaining == 0) {
        if (state->timer)
          g_source_remove (state->timer);
        state->timer = 0;
        state->finish ();
      }
    });
  }
}

} // namespace mirror::daemon
