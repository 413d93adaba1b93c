// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/stream_pipeline.h"
#include "log.h"

#include <pthread.h>

#include <optional>
#include <thread>

#include "origin/origin_handle.h"
#include "registry/registry_handle.h"
#include "streams/pipeline_branches.h"
#include "streams/pipeline_library.h"
#include "transcode/ladder.h"
#include "util/main_context.h"
#include "util/message_names.h"

namespace mirror::daemon {

namespace {

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

// Calls fn for every element of @bin, recursively.
template <typename Fn>
void
for_each_element (GstBin *bin, Fn fn)
{
  GstIterator *it = gst_bin_iterate_recurse (bin);
  GValue item = G_VALUE_INIT;
  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    fn (GST_ELEMENT (g_value_get_object (&item)));
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

bool
made_by (GstElement *element, const char *factory_name)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  return factory && g_strcmp0 (GST_OBJECT_NAME (factory), factory_name) == 0;
}

std::string
text_field (const GstStructure *s, const char *field)
{
  const char *value = gst_structure_get_string (s, field);
  return value ? value : "";
}

// "element: message (the debug string's last line, which usually names the
// value at fault)".
std::string
error_text (GstMessage *msg)
{
  GError *err = nullptr;
  char *debug = nullptr;
  gst_message_parse_error (msg, &err, &debug);
  std::string text = std::string (GST_OBJECT_NAME (GST_MESSAGE_SRC (msg))) + ": "
                     + (err ? err->message : "unknown error");
  if (debug) {
    std::string details = g_strstrip (debug);
    size_t nl = details.rfind ('\n');
    text += " (" + (nl == std::string::npos ? details : details.substr (nl + 1)) + ")";
  }
  g_clear_error (&err);
  g_free (debug);
  return text;
}

// The lifecycle event an element message stands for, if any.
std::optional<std::pair<StreamEvent, std::string>>
lifecycle_event (const GstStructure *s)
{
  if (gst_structure_has_name (s, msg::kFlowing) || gst_structure_has_name (s, msg::kRecovered))
    return std::pair (StreamEvent::kMediaFlowing, std::string ());
  if (gst_structure_has_name (s, msg::kStalled)) {
    guint64 age = 0;
    gst_structure_get_uint64 (s, "last-buffer-age", &age);
    char text[64];
    g_snprintf (text, sizeof text, "no media for %.1f s", age / 1e9);
    return std::pair (StreamEvent::kMediaStalled, std::string (text));
  }
  if (gst_structure_has_name (s, msg::kIngestDisconnected)) {
    std::string peer = text_field (s, "peer"), reason = text_field (s, "reason");
    return std::pair (StreamEvent::kFeedLost, "feed from " + (peer.empty () ? "?" : peer) + " lost"
                                                  + (reason.empty () ? "" : ": " + reason)
                                                  + "; waiting for it to come back");
  }
  if (gst_structure_has_name (s, msg::kIngestRetrying)) {
    guint attempt = 0;
    guint64 delay = 0;
    gst_structure_get_uint (s, "attempt", &attempt);
    gst_structure_get_uint64 (s, "delay", &delay);
    char text[96];
    g_snprintf (text, sizeof text, "attempt %u failed; next in %.1f s", attempt, delay / 1e9);
    std::string reason = text_field (s, "reason");
    return std::pair (StreamEvent::kFeedLost, "pulling from " + text_field (s, "peer") + ": " + text
                                                  + (reason.empty () ? "" : " (" + reason + ")"));
  }
  if (gst_structure_has_name (s, msg::kIngestReconnected))
    return std::pair (StreamEvent::kFeedBack, std::string ());
  if (gst_structure_has_name (s, msg::kIngestEnded))
    return std::pair (StreamEvent::kFeedEnded, text_field (s, "reason"));
  return std::nullopt;
}

} // namespace

std::string
StreamPipeline::missing_element (const std::string &description)
{
  for (const std::string &name : PipelineLibrary::element_names (description)) {
    GstElementFactory *factory = gst_element_factory_find (name.c_str ());
    if (!factory)
      return name;
    gst_object_unref (factory);
  }
  return {};
}

GstElement *
StreamPipeline::parse (const std::string &id, const std::string &description, std::string *error)
{
  // GStreamer 1.22 can crash parsing a description whose named elements are
  // missing: look them up first.
  std::string missing = missing_element (description);
  if (!missing.empty ()) {
    *error = "GStreamer has no element \"" + missing + "\" (install the plugin that provides it)";
    return nullptr;
  }
  PipelineLibrary::Parts parts = PipelineLibrary::split (description);
  GError *err = nullptr;
  GstElement *pipeline
      = gst_parse_launch_full (parts.pipeline.c_str (), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!pipeline) {
    *error = err ? err->message : "unknown error";
    g_clear_error (&err);
    return nullptr;
  }
  g_clear_error (&err);
  if (!GST_IS_PIPELINE (pipeline)) {
    GstElement *wrapper = gst_pipeline_new (nullptr);
    gst_bin_add (GST_BIN (wrapper), pipeline);
    pipeline = wrapper;
  }
  gst_object_set_name (GST_OBJECT (pipeline), id.c_str ());
  // A plain reference from here on, whoever takes it.
  if (g_object_is_floating (pipeline))
    gst_object_ref_sink (pipeline);
  if (!set_up_branches (pipeline, parts, error)) {
    gst_object_unref (pipeline);
    return nullptr;
  }
  return pipeline;
}

bool
StreamPipeline::transcodes (GstElement *pipeline)
{
  bool transcodes = false;
  for_each_element (GST_BIN (pipeline), [&transcodes] (GstElement *element) {
    if (!made_by (element, "mirrortranscodebin"))
      return;
    gchar *spec = nullptr;
    g_object_get (element, "renditions", &spec, nullptr);
    std::string error;
    auto ladder = spec && *spec ? parse_ladder (spec, &error) : std::nullopt;
    // No ladder, or one the element will refuse: count it, to be safe.
    transcodes |= !ladder || ladder_transcodes (*ladder);
    g_free (spec);
  });
  return transcodes;
}

StreamPipeline::StreamPipeline (std::string id, GstElement *pipeline, Callbacks callbacks)
    : id_ (std::move (id)), pipeline_ (pipeline), callbacks_ (std::move (callbacks))
{
  for_each_element (GST_BIN (pipeline_), [this] (GstElement *element) {
    has_heartbeat_ |= made_by (element, "mirrorheartbeat");
    watch_sink (element, sinks_lock_, sinks_);
  });
  // Branches are built when their pads appear: their sinks are watched then.
  struct Watch {
    std::shared_ptr<std::mutex> lock;
    std::shared_ptr<std::vector<std::shared_ptr<SinkClock>>> sinks;
  };
  deep_added_ = g_signal_connect_data (
      pipeline_, "deep-element-added",
      G_CALLBACK (+[] (GstBin *, GstBin *, GstElement *element, gpointer data) {
        auto *watch = static_cast<Watch *> (data);
        watch_sink (element, watch->lock, watch->sinks);
      }),
      new Watch{ sinks_lock_, sinks_ },
      [] (gpointer data, GClosure *) { delete static_cast<Watch *> (data); }, GConnectFlags (0));
  GstBus *bus = gst_element_get_bus (pipeline_);
  bus_watch_ = gst_bus_add_watch_full (
      bus, G_PRIORITY_DEFAULT,
      [] (GstBus *, GstMessage *msg, gpointer self) -> gboolean {
        return static_cast<StreamPipeline *> (self)->on_bus_message (msg) ? G_SOURCE_CONTINUE
                                                                          : G_SOURCE_REMOVE;
      },
      this, nullptr);
  gst_object_unref (bus);
}

StreamPipeline::~StreamPipeline ()
{
  release ();
}

void
StreamPipeline::watch_sink (GstElement *element, std::shared_ptr<std::mutex> lock,
                            std::shared_ptr<std::vector<std::shared_ptr<SinkClock>>> sinks)
{
  // A bin holding a sink is flagged as one too: its sink is watched itself.
  if (GST_IS_BIN (element) || !GST_OBJECT_FLAG_IS_SET (element, GST_ELEMENT_FLAG_SINK))
    return;
  GstPad *pad = gst_element_get_static_pad (element, "sink");
  if (!pad)
    return;
  auto clock = std::make_shared<SinkClock> ();
  {
    std::lock_guard guard (*lock);
    sinks->push_back (clock);
  }
  gst_pad_add_probe (
      pad, GstPadProbeType (GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
      [] (GstPad *, GstPadProbeInfo *, gpointer data) {
        (*static_cast<std::shared_ptr<SinkClock> *> (data))
            ->last_us.store (g_get_monotonic_time (), std::memory_order_relaxed);
        return GST_PAD_PROBE_OK;
      },
      new std::shared_ptr<SinkClock> (clock),
      [] (gpointer data) { delete static_cast<std::shared_ptr<SinkClock> *> (data); });
  gst_object_unref (pad);
}

StreamPipeline::Progress
StreamPipeline::progress () const
{
  Progress p;
  p.started_us = started_us_;
  p.input_since_us = input_since_us_;
  p.input_us = input_us_;
  std::lock_guard guard (*sinks_lock_);
  for (const auto &sink : *sinks_) {
    const int64_t last = sink->last_us.load (std::memory_order_relaxed);
    if (last && (!p.output_us || last < p.output_us))
      p.output_us = last;
  }
  return p;
}

void
StreamPipeline::note_input (const GstStructure *s)
{
  // Totals: growth is input, a smaller one a restarted element.
  const char *field = nullptr;
  uint64_t *last = nullptr;
  if (gst_structure_has_name (s, msg::kIngestStats)) {
    field = "bytes-received";
    last = &input_bytes_;
  } else if (gst_structure_has_name (s, msg::kHeartbeat)) {
    field = "buffers";
    last = &input_buffers_;
  }
  guint64 total = 0;
  if (!field || !gst_structure_get_uint64 (s, field, &total))
    return;
  if (total > *last) {
    const int64_t now = g_get_monotonic_time ();
    if (!input_us_ || now - input_us_ > kInputGapUs)
      input_since_us_ = now;
    input_us_ = now;
  }
  *last = total;
}

void
StreamPipeline::set_contexts (const std::shared_ptr<StreamRegistry> &registry,
                              const std::shared_ptr<Origin> &origin)
{
  if (registry)
    set_boxed_context (pipeline_, MIRROR_REGISTRY_CONTEXT_TYPE, MIRROR_REGISTRY_CONTEXT_FIELD,
                       MIRROR_TYPE_REGISTRY_HANDLE, registry_handle_new (registry));
  if (origin)
    set_boxed_context (pipeline_, MIRROR_ORIGIN_CONTEXT_TYPE, MIRROR_ORIGIN_CONTEXT_FIELD,
                       MIRROR_TYPE_ORIGIN_HANDLE, origin_handle_new (origin));
}

bool
StreamPipeline::start (std::string *error)
{
  if (!pipeline_)
    return false;
  started_us_ = g_get_monotonic_time ();
  if (gst_element_set_state (pipeline_, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE)
    return true;
  // The reason is on the bus already: take it now, the caller lets the
  // pipeline go before the watch would see it.
  *error = "pipeline refused to start";
  GstBus *bus = gst_element_get_bus (pipeline_);
  if (GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) {
    *error = error_text (msg);
    gst_message_unref (msg);
  }
  gst_object_unref (bus);
  return false;
}

bool
StreamPipeline::set_paused (bool paused)
{
  // The watchdog counts a resumed pipeline's silence from here.
  if (!paused)
    started_us_ = g_get_monotonic_time ();
  return pipeline_
         && gst_element_set_state (pipeline_, paused ? GST_STATE_PAUSED : GST_STATE_PLAYING)
                != GST_STATE_CHANGE_FAILURE;
}

GstSample *
StreamPipeline::thumbnail (bool *transcodes)
{
  *transcodes = false;
  GstSample *sample = nullptr;
  if (!pipeline_)
    return nullptr;
  for_each_element (GST_BIN (pipeline_), [&] (GstElement *element) {
    if (*transcodes || !made_by (element, "mirrortranscodebin"))
      return;
    *transcodes = true;
    guint64 interval = 0;
    g_object_get (element, "thumbnail-interval", &interval, nullptr);
    if (!interval)
      g_object_set (element, "thumbnail-interval", (guint64)GST_SECOND, nullptr);
    g_object_get (element, "last-thumbnail", &sample, nullptr);
  });
  return sample;
}

void
StreamPipeline::drain (int64_t timeout_ms, bool send_eos)
{
  if (!pipeline_ || drain_started_)
    return;
  drain_started_ = true;
  // EOS already came out by itself, or it never will: EOS only drains a
  // pipeline that is PLAYING. One still prerolling, or paused, would hold it
  // behind a blocked streaming thread (and sending it would take the
  // pipeline's state lock until then). And before the first media there is
  // nothing to finish: the branches after the demuxer are not even linked
  // yet, so no EOS would reach their sinks. Answered from the main loop,
  // never from inside this call.
  if (drained_ || !playing () || !media_seen_) {
    drain_timer_ = timeout_add (0, [this, in_time = drained_ || !media_seen_] () {
      drain_timer_ = 0;
      callbacks_.on_drained (in_time);
      return false;
    });
    return;
  }
  // Sending EOS can block while a source holds its lock, so never on the
  // main loop.
  if (send_eos)
    gst_element_call_async (
        pipeline_,
        [] (GstElement *pipeline, gpointer) {
          gst_element_send_event (pipeline, gst_event_new_eos ());
        },
        nullptr, nullptr);
  drain_timer_ = timeout_add ((unsigned)std::max<int64_t> (timeout_ms, 1), [this] () {
    drain_timer_ = 0;
    log_warn ("stream %s: no EOS within the drain timeout; tearing it down", id_.c_str ());
    callbacks_.on_drained (false);
    return false;
  });
}

void
StreamPipeline::release ()
{
  if (drain_timer_) {
    g_source_remove (drain_timer_);
    drain_timer_ = 0;
  }
  if (bus_watch_) {
    g_source_remove (bus_watch_);
    bus_watch_ = 0;
  }
  if (pipeline_) {
    g_signal_handler_disconnect (pipeline_, deep_added_);
    gst_element_set_state (pipeline_, GST_STATE_NULL);
    gst_object_unref (pipeline_);
    pipeline_ = nullptr;
  }
}

void
StreamPipeline::release_async (std::function<void ()> done)
{
  GstElement *pipeline = pipeline_;
  pipeline_ = nullptr;
  release ();
  if (!pipeline) {
    invoke_on (g_main_context_default (), std::move (done));
    return;
  }
  g_signal_handler_disconnect (pipeline, deep_added_);
  const std::string name = "stop-" + id_;
  std::thread ([pipeline, done = std::move (done), name] () mutable {
    pthread_setname_np (pthread_self (), name.substr (0, 15).c_str ());
    gst_element_set_state (pipeline, GST_STATE_NULL);
    gst_object_unref (pipeline);
    invoke_on (g_main_context_default (), std::move (done));
  }).detach ();
}

std::string
StreamPipeline::state_name () const
{
  if (!pipeline_)
    return "NULL";
  GstState state = GST_STATE_VOID_PENDING;
  gst_element_get_state (pipeline_, &state, nullptr, 0);
  return gst_element_state_get_name (state);
}

bool
StreamPipeline::playing () const
{
  if (!pipeline_)
    return false;
  GstState state = GST_STATE_NULL;
  gst_element_get_state (pipeline_, &state, nullptr, 0);
  return state == GST_STATE_PLAYING;
}

bool
StreamPipeline::on_bus_message (GstMessage *msg)
{
  switch (GST_MESSAGE_TYPE (msg)) {
  case GST_MESSAGE_ERROR:
    callbacks_.on_event (StreamEvent::kFailed, error_text (msg));
    break;
  case GST_MESSAGE_EOS:
    drained_ = true;
    if (drain_timer_) {
      g_source_remove (drain_timer_);
      drain_timer_ = 0;
    }
    callbacks_.on_drained (true);
    break;
  case GST_MESSAGE_STATE_CHANGED: {
    if (has_heartbeat_ || GST_MESSAGE_SRC (msg) != GST_OBJECT (pipeline_))
      break;
    GstState old_state, new_state, pending;
    gst_message_parse_state_changed (msg, &old_state, &new_state, &pending);
    if (new_state == GST_STATE_PLAYING) {
      media_seen_ = true;
      callbacks_.on_event (StreamEvent::kMediaFlowing, "");
    }
    break;
  }
  case GST_MESSAGE_ELEMENT:
    on_element_message (gst_message_get_structure (msg));
    break;
  default:
    break;
  }
  // A callback may have released the pipeline (and removed this watch).
  return bus_watch_ != 0;
}

void
StreamPipeline::on_element_message (const GstStructure *s)
{
  if (!s)
    return;
  note_input (s);
  if (auto event = lifecycle_event (s)) {
    if (gst_structure_has_name (s, msg::kFlowing))
      video_seen_ = true;
    // A heartbeat that never saw video (the feed has none: audio only)
    // says stalled while the pipeline delivers what the feed has.
    if (event->first == StreamEvent::kMediaStalled && !video_seen_) {
      const int64_t output_us = progress ().output_us;
      if (output_us && g_get_monotonic_time () - output_us < kInputGapUs)
        return;
    }
    media_seen_ |= event->first == StreamEvent::kMediaFlowing;
    callbacks_.on_event (event->first, event->second);
  }
  if (pipeline_ && callbacks_.on_element_message)
    callbacks_.on_element_message (s);
}

} // namespace mirror::daemon
