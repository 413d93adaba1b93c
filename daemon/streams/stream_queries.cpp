// SPDX-License-Identifier: LGPL-2.1-or-later
// What the APIs (REST, D-Bus, the admin page) see of the streams: this
// node's facts merged over the registry's cluster-wide entries.
#include <algorithm>

#include "streams/stream_manager_impl.h"

namespace mirror::daemon {

std::string
mask_secrets (const std::string &description)
{
  static GRegex *secret = g_regex_new (
      "(\\b(?:passphrase|password|passwd|token|secret|secret-key|access-key|"
      "api-key)\\s*[=:]\\s*)(\"[^\"]*\"|'[^']*'|[^\\s&\"'!]+)",
      (GRegexCompileFlags)(G_REGEX_CASELESS | G_REGEX_OPTIMIZE), (GRegexMatchFlags)0, nullptr);
  gchar *out = g_regex_replace (secret, description.c_str (), -1, 0, "\\1***", (GRegexMatchFlags)0,
                                nullptr);
  std::string masked = out ? out : "";
  g_free (out);
  return masked;
}

StreamView
StreamManager::Impl::view_of (const std::string &id, const Stream &stream) const
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
  view.description = mask_secrets (stream.description);
  view.pipeline_state = stream.pipeline ? stream.pipeline->state_name () : "NULL";
  view.peer = stream.peer;
  view.rtt_ms = stream.peer.empty () ? -1 : stream.rtt_ms;
  view.pipeline_restarts = stream.restarts;
  view.transcode = stream.transcode;
  view.uptime_ms = monotonic_ms () - stream.started_ms;
  return view;
}

// Local facts win over the registry's copy for streams this node runs.
StreamView
StreamManager::Impl::merge (const StreamEntry &entry) const
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
  view.entry.owner_url = entry.owner_url;
  view.entry.epoch = entry.epoch;
  view.entry.owner_load = entry.owner_load;
  if (entry.created_unix_ms)
    view.entry.created_unix_ms = entry.created_unix_ms;
  return view;
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

ApiError
StreamManager::thumbnail (const std::string &id, GstSample **sample)
{
  *sample = nullptr;
  auto it = impl_->streams.find (id);
  if (it == impl_->streams.end ())
    return { ApiErrc::kNotFound, "no stream \"" + id + "\" on this node" };
  bool transcodes = false;
  if (it->second->pipeline)
    *sample = it->second->pipeline->thumbnail (&transcodes);
  if (!transcodes)
    return { ApiErrc::kConflict,
             "stream \"" + id + "\" is not transcoded: thumbnails come from the transcoder's frames" };
  return {};
}

size_t
StreamManager::local_count () const
{
  return impl_->streams.size ();
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

std::vector<std::pair<std::string, std::string>>
StreamManager::in_state (StreamState state) const
{
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto &[id, stream] : impl_->streams)
    if (stream->lifecycle.state () == state)
      out.emplace_back (id, stream->lifecycle.message ());
  return out;
}

} // namespace mirror::daemon
