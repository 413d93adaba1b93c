// SPDX-License-Identifier: LGPL-2.1-or-later
// What may start: stream ids, ingestion.max_streams (streams that run a
// pipeline), transcoding.max_sessions, routing, and the registry's claim.
#include <regex>

#include "log.h"
#include "metrics/metrics.h"
#include "streams/pipeline_library.h"
#include "streams/pipeline_variables.h"
#include "streams/stream_manager_impl.h"

namespace mirror::daemon {

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

std::string
StreamManager::Impl::route (const std::string &id) const
{
  for (const auto &[glob, name] : config.ingestion.routes)
    if (g_pattern_match_simple (glob.c_str (), id.c_str ()))
      return name;
  return "default";
}

size_t
StreamManager::Impl::transcode_sessions () const
{
  size_t n = pending_transcodes.size ();
  for (const auto &[sid, s] : streams)
    n += s->transcodes && s->lifecycle.running () ? 1 : 0;
  return n;
}

std::optional<std::pair<std::string, std::string>>
StreamManager::Impl::shedding_stream () const
{
  for (const auto &[sid, s] : streams)
    if (s->lifecycle.state () == StreamState::kDegraded)
      return std::pair{ sid, s->lifecycle.message () };
  return std::nullopt;
}

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
  // The room reserved for this id's caller, if any, is taken now, whatever
  // the answer (a stream that already runs here has the caller).
  size_t reserved_for_others;
  {
    std::lock_guard lock (impl.reserved_mu);
    reserved_for_others = impl.reserved_besides_locked (id);
    impl.reserved.erase (id);
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
  if ((int)(impl.occupied + reserved_for_others) >= max_streams) {
    log_warn ("stream %s: refused, %d streams already (ingestion.max_streams)", id.c_str (),
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

  // What the stream runs, rebuilt from the same text if it is restarted.
  std::string rendered = *description;
  // Parse before claiming the id, so a bad description never half-starts.
  GstElement *pipeline = StreamPipeline::parse (id, rendered, &error);
  if (!pipeline) {
    done ({ ApiErrc::kInvalidInput,
            "stream \"" + id + "\": pipeline \"" + name + "\" does not build: " + error });
    return;
  }

  // Transcoding sessions: a pipeline with a mirrortranscodebin whose ladder
  // decodes holds one.
  bool transcodes = StreamPipeline::transcodes (pipeline);
  // The configured cap first: a fixed fact, whatever the load.
  const int max_sessions = impl.config.transcoding.max_sessions;
  if (transcodes && (int)impl.transcode_sessions () >= max_sessions) {
    gst_object_unref (pipeline);
    log_warn ("stream %s: refused, %d transcoding sessions already (transcoding.max_sessions)",
              id.c_str (), max_sessions);
    done ({ ApiErrc::kCapacityFull,
            "stream \"" + id + "\" refused: this node runs its maximum of "
                + std::to_string (max_sessions)
                + " transcoding sessions (transcoding.max_sessions); a pipeline that only "
                  "packages the feed (renditions \"source\") needs none" });
    return;
  }

  // Admission by what the box does now: while a running transcode sheds
  // work to stay live, the box is past real time, and one more transcode
  // would only make every stream shed more.
  if (transcodes) {
    if (auto shedding = impl.shedding_stream ()) {
      const std::string why
          = "stream \"" + shedding->first + "\" sheds work to stay live (" + shedding->second + ")";
      gst_object_unref (pipeline);
      pipeline = nullptr;
      if (impl.config.transcoding.when_overloaded == "source") {
        Config source_only = impl.config;
        source_only.transcoding.enabled = false;
        auto plain = impl.pipelines->render (
            name, pipeline_variables (source_only, id, request.source, request.variables), &error);
        pipeline = plain ? StreamPipeline::parse (id, *plain, &error) : nullptr;
        if (pipeline) {
          rendered = *plain;
          transcodes = StreamPipeline::transcodes (pipeline);
          log_warn ("stream %s: served as source only, not transcoded: %s "
                    "(transcoding.when_overloaded)",
                    id.c_str (), why.c_str ());
        }
      }
      if (!pipeline || transcodes) {
        if (pipeline)
          gst_object_unref (pipeline);
        log_warn ("stream %s: refused, this node is past real time: %s", id.c_str (), why.c_str ());
        done ({ ApiErrc::kCapacityFull,
                "stream \"" + id + "\" refused: this node cannot transcode more in real time: "
                    + why + " (transcoding.when_overloaded: "
                    + impl.config.transcoding.when_overloaded + ")" });
        return;
      }
    }
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
      entry, [&impl, request, name, rendered, pipeline, done] (const RegistryStatus &status) {
        impl.back_on_main ([&impl, request, name, rendered, pipeline, done, status] () {
          const std::string &id = request.id;
          impl.pending.erase (id);
          const bool transcodes = impl.pending_transcodes.erase (id) > 0;
          impl.recount ();
          if (!status.ok ()) {
            gst_object_unref (pipeline);
            log_info ("stream %s: not started: %s", id.c_str (), status.message.c_str ());
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
          stream->description = rendered;
          stream->started_ms = monotonic_ms ();
          stream->created_unix_ms = unix_ms ();
          impl.streams[id] = std::move (stream);
          impl.recount ();
          if (impl.metrics)
            impl.metrics->streams_created_total.Add ({}).Increment ();
          log_info ("stream %s: starting pipeline \"%s\"%s%s", id.c_str (), name.c_str (),
                    request.source.empty () ? "" : " from ", mask_secrets (request.source).c_str ());
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

size_t
StreamManager::Impl::reserved_besides_locked (const std::string &id)
{
  const int64_t now = g_get_monotonic_time ();
  std::erase_if (reserved, [now] (const auto &entry) { return entry.second <= now; });
  return reserved.size () - reserved.count (id);
}

bool
StreamManager::Impl::fits_locked (const std::string &id)
{
  return !shutting_down
         && occupied + reserved_besides_locked (id) < (size_t)config.ingestion.max_streams;
}

bool
StreamManager::has_room () const
{
  std::lock_guard lock (impl_->reserved_mu);
  return impl_->fits_locked ({});
}

bool
StreamManager::reserve_room (const std::string &id)
{
  std::lock_guard lock (impl_->reserved_mu);
  if (!impl_->fits_locked (id))
    return false;
  impl_->reserved[id] = g_get_monotonic_time () + kRoomReservedMs * 1000;
  return true;
}

void
StreamManager::release_room (const std::string &id)
{
  std::lock_guard lock (impl_->reserved_mu);
  impl_->reserved.erase (id);
}

} // namespace mirror::daemon
