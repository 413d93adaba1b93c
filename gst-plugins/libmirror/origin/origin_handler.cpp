// SPDX-License-Identifier: LGPL-2.1-or-later
#include "origin/origin_handler.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <json-glib/json-glib.h>

#include "hls/blocking_reload.h"
#include "hls/url_layout.h"
#include "origin/dvr_playback.h"
#include "util/main_context.h"

namespace mirror {

namespace {

constexpr const char *kLivePrefix = "/live/";
// The CDN profile (README "Behind a CDN").
// Parts, segments and init{gen} segments: a URI never names other bytes, not
// even after the stream restarts or moves to another node (segments are
// numbered from the clock, init generations from the first segment's number).
constexpr const char *kMediaCacheControl = "public, max-age=86400, immutable";
// Playlists without delivery directives change every part: a browser asks
// again each time (max-age=0), a shared cache may answer from one fetch for
// a second (the shortest a header can say; a part is 100 ms), collapsing a
// crowd of new viewers into one request.
constexpr const char *kPlaylistCacheControl = "public, max-age=0, s-maxage=1";
constexpr const char *kPlaylistCdnCacheControl = "public, max-age=1";
// A part that was never hinted (too far ahead) or is gone: a short negative
// TTL for shared caches; a browser asks again when it needs to (max-age=0:
// "no-cache" would keep nginx from caching it at all, s-maxage or not).
constexpr const char *kMissingPartCacheControl = "public, max-age=0, s-maxage=1";
constexpr const char *kMissingPartCdnCacheControl = "public, max-age=1";

// A 404 for a part, with the negative TTL of shared caches.
OriginResponse
missing_part (OriginResponse r)
{
  r.cache_control = kMissingPartCacheControl;
  r.headers.emplace_back ("CDN-Cache-Control", kMissingPartCdnCacheControl);
  return r;
}

// A playlist answer without directives, for browsers and for shared caches.
void
set_plain_playlist_caching (OriginResponse &r)
{
  r.cache_control = kPlaylistCacheControl;
  r.headers.emplace_back ("CDN-Cache-Control", kPlaylistCdnCacheControl);
}

// The renditions of a stream that have published media: what the stream
// list and the multivariant playlist may name.
std::vector<std::string>
renditions_with_media (StreamStore &stream)
{
  std::vector<std::string> out;
  for (const std::string &name : stream.rendition_names ())
    if (auto p = stream.progress (name); p && p->has_parts)
      out.push_back (name);
  return out;
}

} // namespace

OriginResponse
OriginResponse::text (int status, std::string_view body, std::string cache_control)
{
  OriginResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.cache_control = std::move (cache_control);
  std::string line (body);
  line += '\n';
  r.body.push_back (Bytes::copy (line));
  return r;
}

OriginResponse
OriginResponse::json (int status, JsonBuilder *builder, std::string cache_control)
{
  JsonNode *root = json_builder_get_root (builder);
  gchar *text = json_to_string (root, FALSE);
  OriginResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.cache_control = std::move (cache_control);
  r.body.push_back (Bytes::copy (std::string (text) + "\n"));
  g_free (text);
  json_node_unref (root);
  g_object_unref (builder);
  return r;
}

size_t
OriginResponse::body_size () const
{
  size_t n = 0;
  for (const Bytes &b : body)
    n += b.size ();
  return n;
}

std::string_view
OriginResponse::header (std::string_view name) const
{
  for (const auto &[n, v] : headers)
    if (n == name)
      return v;
  if (common)
    for (const CommonField &f : *common)
      if (f.name == name)
        return f.value;
  return {};
}

OriginHandler::OriginHandler (MediaStore &store, GMainContext *context,
                              std::shared_ptr<Recorder> recorder, std::shared_ptr<S3Client> archive)
    : store_ (store), context_ (g_main_context_ref (context)),
      alive_ (std::make_shared<bool> (true)), woken_ (std::make_shared<Woken> ()),
      dvr_ (
          std::make_unique<DvrPlayback> (std::move (recorder), std::move (archive), store, context))
{
  add_common_header ("Access-Control-Allow-Origin", "*");
  add_common_header ("Access-Control-Expose-Headers", "Age, Date, Content-Length, Alt-Svc");
  // Made here and now: a cache in front counts its own age from zero.
  add_common_header ("Age", "0");
  // A player's page on another origin (another node of the cluster, a CDN
  // host) may see this answer's timing: the protocol, the bytes, the wait.
  add_common_header ("Timing-Allow-Origin", "*");
}

OriginHandler::~OriginHandler ()
{
  *alive_ = false;
  while (!groups_.empty ()) {
    auto it = groups_.begin ();
    for (Waiter &w : it->second->waiters)
      w.respond (OriginResponse::text (503, "the origin is shutting down"));
    it->second->waiters.clear ();
    drop_group (it);
  }
  dvr_.reset ();
  g_main_context_unref (context_);
}

void
OriginHandler::set_asset (const std::string &path, OriginAsset asset)
{
  assets_[path] = std::move (asset);
}

void
OriginHandler::add_common_header (std::string name, std::string value, bool http3)
{
  // A new list: responses already out keep the one they point at.
  auto fields = common_ ? std::make_shared<std::vector<CommonField>> (*common_)
                        : std::make_shared<std::vector<CommonField>> ();
  std::string lower (name);
  for (char &c : lower)
    c = g_ascii_tolower (c);
  fields->push_back ({ std::move (name), std::move (lower), std::move (value), http3 });
  common_ = std::move (fields);
}

void
OriginHandler::set_playback_tokens (std::shared_ptr<const PlaybackTokens> tokens)
{
  tokens_ = std::move (tokens);
}

const char *
to_string (OriginProtocol protocol)
{
  switch (protocol) {
  case OriginProtocol::kHttp1:
    return "http1";
  case OriginProtocol::kHttp2:
    return "http2";
  case OriginProtocol::kHttp3:
    return "http3";
  }
  return "http1";
}

namespace {
// How long a connection that asked for nothing more still counts, and how
// often the table is swept of older ones while requests come.
constexpr int64_t kViewerKeepUs = 10 * G_USEC_PER_SEC;
} // namespace

void
OriginHandler::note_viewer (const std::string &stream, const OriginRequest &request)
{
  if (!request.client)
    return;
  const int64_t now = g_get_monotonic_time ();
  viewers_[stream][request.client] = { now, request.protocol };
  if (now - viewers_swept_us_ > kViewerKeepUs)
    viewers (kViewerKeepUs);
}

ViewerCounts
OriginHandler::viewers (int64_t window_us)
{
  const int64_t now = g_get_monotonic_time ();
  viewers_swept_us_ = now;
  ViewerCounts out;
  for (auto s = viewers_.begin (); s != viewers_.end ();) {
    auto &counts = out[s->first];
    for (auto c = s->second.begin (); c != s->second.end ();) {
      if (now - c->second.first > std::max (window_us, kViewerKeepUs)) {
        c = s->second.erase (c);
        continue;
      }
      if (now - c->second.first <= window_us)
        counts[size_t (c->second.second)]++;
      ++c;
    }
    if (s->second.empty ()) {
      out.erase (s->first);
      s = viewers_.erase (s);
    } else {
      ++s;
    }
  }
  return out;
}

OriginHandlerStats
OriginHandler::stats () const
{
  OriginHandlerStats s = stats_;
  s.hold_groups = groups_.size ();
  s.held_now = 0;
  for (const auto &[key, g] : groups_)
    s.held_now += g->waiters.size ();
  return s;
}

OriginResponse
OriginHandler::finish (OriginResponse r) const
{
  r.common = common_;
  return r;
}

std::function<void ()>
OriginHandler::handle (const OriginRequest &request, OriginRespond respond)
{
  ++stats_.requests;
  OriginRespond out = [this, respond = std::move (respond)] (OriginResponse r) {
    respond (finish (std::move (r)));
  };
  std::function<void ()> cancel;

  if (request.method == "OPTIONS") {
    OriginResponse r;
    r.status = 204;
    r.headers = { { "Allow", "GET, HEAD, OPTIONS" },
                  { "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS" },
                  { "Access-Control-Allow-Headers", "*" },
                  { "Access-Control-Max-Age", "86400" } };
    out (std::move (r));
    return cancel;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    OriginResponse r = OriginResponse::text (405, request.method + " is not served here; use GET");
    r.headers.emplace_back ("Allow", "GET, HEAD, OPTIONS");
    out (std::move (r));
    return cancel;
  }

  const std::string &path = request.path;
  if (path == "/live/index.json" || path == "/live/") {
    // With signed URLs, which streams exist is not for anyone to list.
    out (tokens_ ? OriginResponse::text (403, "the stream list is off while playback URLs are "
                                              "signed (server.playback_token_key)")
                 : stream_index ());
  } else if (path.rfind (kLivePrefix, 0) == 0) {
    handle_live (request, std::string_view (path).substr (strlen (kLivePrefix)), out, &cancel);
  } else if (auto it = assets_.find (path == "/index.html" ? "/" : path); it != assets_.end ()) {
    OriginResponse r;
    r.content_type = it->second.content_type;
    r.cache_control = it->second.cache_control;
    r.body.push_back (it->second.bytes);
    out (std::move (r));
  } else {
    out (OriginResponse::text (404, "no such object: " + path));
  }
  return cancel;
}

void
OriginHandler::set_directory (std::shared_ptr<const ClusterDirectory> directory,
                              std::string self_url)
{
  directory_ = std::move (directory);
  self_url_ = std::move (self_url);
}

void
OriginHandler::set_relay (std::shared_ptr<OriginRelay> relay)
{
  relay_ = std::move (relay);
}

bool
OriginHandler::relay_to_owner (const std::string &id, const OriginRequest &request,
                               OriginRespond &respond, std::function<void ()> *cancel)
{
  if (!relay_ || !directory_)
    return false;
  auto owner = directory_->find (id);
  if (!owner || owner->url.empty () || owner->url == self_url_)
    return false; // redirect_to_owner says why, or it is a 404
  ++stats_.relayed;
  const std::string url = join_public_url (owner->url, request.path, request.query);
  const uint64_t ticket = relay_->fetch (
      url, owner->tls_pin, context_,
      [respond, id, node = owner->node_id, alive = alive_] (const RelayAnswer &a) {
        if (!*alive)
          return;
        if (a.status == 0) {
          respond (OriginResponse::text (502, "stream " + id + ": its owner, node " + node
                                                  + ", did not answer: " + a.error));
          return;
        }
        OriginResponse r;
        r.status = a.status;
        r.content_type = a.content_type;
        r.cache_control = a.cache_control;
        // HEAD too: the front end sends the length and not the bytes.
        r.body.push_back (a.body);
        respond (std::move (r));
      });
  *cancel = [relay = relay_, ticket] () { relay->cancel (ticket); };
  return true;
}

std::optional<OriginResponse>
OriginHandler::redirect_to_owner (const std::string &id, const OriginRequest &request)
{
  if (!directory_)
    return std::nullopt;
  auto owner = directory_->find (id);
  if (!owner)
    return std::nullopt;
  if (owner->url.empty ())
    return OriginResponse::text (404, "stream " + id + " is served by node " + owner->node_id
                                          + ", which has no server.public_url to send viewers to");
  if (owner->url == self_url_)
    return std::nullopt; // stale: it was ours
  // The whole request, query (delivery directives, token) included. A
  // player resolves what the playlist names against where it was sent, so a
  // viewer is redirected once, for the first playlist, not for each part.
  OriginResponse r = OriginResponse::text (
      302, "stream " + id + " is served by node " + owner->node_id + " (epoch "
               + std::to_string (owner->epoch) + ")");
  r.headers.emplace_back ("Location", join_public_url (owner->url, request.path, request.query));
  // Where a stream is served changes when its owner does.
  r.cache_control = "no-cache";
  ++stats_.redirected;
  return r;
}

OriginResponse
OriginHandler::stream_index () const
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "streams");
  json_builder_begin_array (b);
  std::set<std::string> listed;
  for (const std::string &id : store_.stream_ids ()) {
    auto stream = store_.find_stream (id);
    std::vector<std::string> renditions;
    if (stream)
      renditions = renditions_with_media (*stream);
    if (renditions.empty ())
      continue;
    listed.insert (id);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_string_value (b, id.c_str ());
    json_builder_set_member_name (b, "url");
    json_builder_add_string_value (b, ("/live/" + id + "/index.m3u8").c_str ());
    json_builder_set_member_name (b, "renditions");
    json_builder_begin_array (b);
    for (const std::string &name : renditions)
      json_builder_add_string_value (b, name.c_str ());
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  // Cluster playback: the other nodes' streams too, at this node's URL (one
  // redirect away); what renditions they have, their owner knows.
  if (directory_) {
    const auto owners = directory_->owners ();
    for (const auto &[id, owner] : *owners) {
      if (listed.count (id) || owner.url.empty () || owner.url == self_url_)
        continue;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, id.c_str ());
      json_builder_set_member_name (b, "url");
      json_builder_add_string_value (b, ("/live/" + id + "/index.m3u8").c_str ());
      json_builder_set_member_name (b, "node");
      json_builder_add_string_value (b, owner.node_id.c_str ());
      json_builder_end_object (b);
    }
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return OriginResponse::json (200, b);
}

void
OriginHandler::handle_live (const OriginRequest &request, std::string_view rest,
                            OriginRespond respond, std::function<void ()> *cancel)
{
  auto slash = rest.find ('/');
  if (slash == std::string_view::npos || slash == 0) {
    respond (OriginResponse::text (404, "no such object: " + request.path));
    return;
  }
  std::string id (rest.substr (0, slash));
  if (tokens_) {
    // Before anything is held or read: a refusal costs nothing else.
    const std::string_view token = playback_token_in (request.query);
    const auto verdict = tokens_->check (id, token, g_get_real_time () / G_USEC_PER_SEC);
    if (verdict != PlaybackTokens::Verdict::kOk) {
      ++stats_.token_refused;
      respond (OriginResponse::text (403, "stream " + id + ": " + PlaybackTokens::why (verdict)));
      return;
    }
    // Every URI of the playlists it gets carries the token on.
    respond = [respond = std::move (respond), token = std::string (token)] (OriginResponse r) {
      if (r.status == 200 && r.content_type == hls_content_type (HlsObjectKind::kMediaPlaylist)) {
        std::string text;
        for (const Bytes &b : r.body)
          text.append (reinterpret_cast<const char *> (b.data ()), b.size ());
        r.body.clear ();
        r.body.push_back (Bytes::copy (add_token_to_playlist (text, token)));
      }
      respond (std::move (r));
    };
  }
  auto ref = parse_hls_object_path (rest.substr (slash + 1));
  if (!ref) {
    respond (OriginResponse::text (404, "no such object in stream " + id + ": " + request.path));
    return;
  }
  auto stream = store_.find_stream (id);
  if (stream) {
    note_viewer (id, request);
  } else if (relay_to_owner (id, request, respond, cancel)) {
    return;
  } else if (auto elsewhere = redirect_to_owner (id, request)) {
    respond (std::move (*elsewhere));
    return;
  }
  // Time-shifted playback: from the recording, live or not.
  if (DvrPlayback::wants (*ref, request)) {
    *cancel = dvr_->handle (id, *ref, request, std::move (respond));
    return;
  }
  if (!stream) {
    respond (OriginResponse::text (404, "no live stream named " + id));
    return;
  }
  auto missing = [&] () {
    respond (OriginResponse::text (404, "stream " + id + " has no " + request.path));
  };

  switch (ref->kind) {
  case HlsObjectKind::kMultivariant: {
    if (renditions_with_media (*stream).empty ()) {
      respond (OriginResponse::text (404, "stream " + id + " has no media yet"));
      return;
    }
    OriginResponse r;
    r.content_type = hls_content_type (ref->kind);
    set_plain_playlist_caching (r);
    r.body.push_back (Bytes::copy (*stream->multivariant_playlist ()));
    respond (std::move (r));
    return;
  }
  case HlsObjectKind::kMediaPlaylist:
    handle_media_playlist (stream, ref->rendition, request, respond, cancel);
    return;
  case HlsObjectKind::kInit: {
    auto init = stream->init (ref->rendition, ref->init_generation);
    if (!init)
      return missing ();
    OriginResponse r;
    r.content_type = hls_content_type (ref->kind);
    // The alias init.mp4 follows caps changes; init{gen}.mp4 never changes.
    r.cache_control = ref->init_generation ? kMediaCacheControl : "no-cache";
    r.body.push_back (*init);
    respond (std::move (r));
    return;
  }
  case HlsObjectKind::kSegment: {
    auto parts = stream->segment (ref->rendition, ref->msn);
    if (!parts)
      return missing ();
    OriginResponse r;
    r.content_type = hls_content_type (ref->kind);
    r.cache_control = kMediaCacheControl;
    r.body = std::move (*parts);
    respond (std::move (r));
    return;
  }
  case HlsObjectKind::kPart:
    handle_part (stream, ref->rendition, PartPosition{ ref->msn, ref->part }, respond, cancel);
    return;
  case HlsObjectKind::kDvrData:
  case HlsObjectKind::kClip:
  case HlsObjectKind::kDvrWindow:
    break; // DvrPlayback's
  }
}

OriginResponse
OriginHandler::playlist_response (StreamStore &stream, const std::string &rendition, bool delta,
                                  int64_t max_age_s)
{
  auto text = stream.media_playlist (rendition, delta);
  if (!text)
    return OriginResponse::text (404, "stream " + stream.id () + " has no rendition " + rendition);
  OriginResponse r;
  r.content_type = hls_content_type (HlsObjectKind::kMediaPlaylist);
  if (max_age_s > 0)
    r.cache_control = "public, max-age=" + std::to_string (max_age_s);
  else
    set_plain_playlist_caching (r);
  // The text is shared by every viewer of this update: keep it, not a copy.
  r.body.push_back (
      Bytes::wrap (reinterpret_cast<const uint8_t *> (text->data ()), text->size (), [text] () {}));
  return r;
}

void
OriginHandler::handle_media_playlist (const std::shared_ptr<StreamStore> &stream,
                                      const std::string &rendition, const OriginRequest &request,
                                      OriginRespond &respond, std::function<void ()> *cancel)
{
  ReloadDirectives d;
  std::string why;
  if (!parse_reload_directives (request.query, &d, &why)) {
    respond (OriginResponse::text (400, "stream " + stream->id () + ": " + why));
    return;
  }
  auto progress = stream->progress (rendition);
  if (!progress) {
    respond (
        OriginResponse::text (404, "stream " + stream->id () + " has no rendition " + rendition));
    return;
  }
  if (!progress->has_parts && !d.msn && !d.part) {
    respond (OriginResponse::text (404, "stream " + stream->id () + " has no media in rendition "
                                            + rendition + " yet"));
    return;
  }
  // A response to "at least this part" stays right as the playlist grows, so
  // caches may keep it for a while (6 target durations, as Apple's LL-HLS
  // guidance has it); a plain reload must stay fresh (0: the plain profile).
  StreamTiming timing = stream->timing ();
  int64_t max_age_s = d.msn ? timing.target_duration_s * 6 : 0;

  HoldKind kind = d.skip ? HoldKind::kDeltaPlaylist : HoldKind::kPlaylist;
  auto key = std::make_shared<HoldKey> ();
  auto hold = stream->hold_playlist (rendition, d, wake_fn (key));
  if (!hold) {
    respond (
        OriginResponse::text (404, "stream " + stream->id () + " has no rendition " + rendition));
    return;
  }
  switch (hold->decision.verdict) {
  case ReloadVerdict::kBadRequest:
    respond (OriginResponse::text (400, "stream " + stream->id () + ": " + hold->decision.why));
    return;
  case ReloadVerdict::kAnswerNow:
    respond (playlist_response (*stream, rendition, d.skip, max_age_s));
    return;
  case ReloadVerdict::kHold:
    break;
  }
  PartPosition until = hold->decision.hold_until;
  // The wake-up only posts to this thread, so filling the key now is in time.
  *key = HoldKey ((uintptr_t)stream.get (), rendition, (int)kind, until.msn, until.part);
  *cancel = join_group (*key, stream, rendition, kind, until, hold->wait_id, max_age_s,
                        std::move (respond));
}

void
OriginHandler::handle_part (const std::shared_ptr<StreamStore> &stream,
                            const std::string &rendition, PartPosition pos, OriginRespond &respond,
                            std::function<void ()> *cancel)
{
  auto key = std::make_shared<HoldKey> ();
  Bytes bytes;
  uint64_t wait_id = 0;
  switch (stream->fetch_part (rendition, pos, &bytes, wake_fn (key), &wait_id)) {
  case PartAvailability::kReady: {
    OriginResponse r;
    r.content_type = hls_content_type (HlsObjectKind::kPart);
    r.cache_control = kMediaCacheControl;
    r.body.push_back (std::move (bytes));
    respond (std::move (r));
    return;
  }
  case PartAvailability::kMissing:
    respond (missing_part (OriginResponse::text (
        404, "stream " + stream->id () + " has no part " + std::to_string (pos.msn) + "."
                 + std::to_string (pos.part) + " in rendition " + rendition)));
    return;
  case PartAvailability::kHeld:
    break;
  }
  *key = HoldKey ((uintptr_t)stream.get (), rendition, (int)HoldKind::kPart, pos.msn, pos.part);
  *cancel
      = join_group (*key, stream, rendition, HoldKind::kPart, pos, wait_id, 0, std::move (respond));
}

PartWaitList::WakeFn
OriginHandler::wake_fn (std::shared_ptr<HoldKey> key)
{
  // Runs on the publisher's streaming thread: only post, and only once for
  // what this publication wakes here.
  return [this, key, alive = alive_, woken = woken_, context = context_] () {
    {
      std::lock_guard<std::mutex> lock (woken->mutex);
      woken->keys.push_back (*key);
      if (woken->posted)
        return;
      woken->posted = true;
    }
    WakeBatch::at_close (woken.get (), [this, alive, context] () {
      invoke_on (context, [this, alive] () {
        if (*alive)
          on_woken ();
      });
    });
  };
}

void
OriginHandler::on_woken ()
{
  std::vector<HoldKey> keys;
  {
    std::lock_guard<std::mutex> lock (woken_->mutex);
    keys.swap (woken_->keys);
    woken_->posted = false;
  }
  ++stats_.wake_posts;
  for (const HoldKey &key : keys)
    on_group_woken (key);
}

std::function<void ()>
OriginHandler::join_group (const HoldKey &key, const std::shared_ptr<StreamStore> &stream,
                           const std::string &rendition, HoldKind kind, PartPosition until,
                           uint64_t store_wait_id, int64_t max_age_s, OriginRespond respond)
{
  ++stats_.held;
  auto it = groups_.find (key);
  if (it == groups_.end ()) {
    auto g = std::make_unique<HoldGroup> ();
    g->key = key;
    g->stream = stream;
    g->rendition = rendition;
    g->kind = kind;
    g->until = until;
    g->store_wait_id = store_wait_id;
    g->max_age_s = max_age_s;
    it = groups_.emplace (key, std::move (g)).first;
  } else {
    // One store waiter per group. If this one already fired, its wake-up is
    // on its way here and finds the group, which is what we want anyway.
    stream->cancel_wait (rendition, store_wait_id);
  }
  HoldGroup &g = *it->second;
  int64_t timeout_us = blocking_reload_timeout_ns (stream->timing ().target_duration_s) / 1000;
  uint64_t id = next_waiter_id_++;
  g.waiters.push_back ({ id, g_get_monotonic_time () + timeout_us, std::move (respond) });
  if (!g.timer)
    arm_timer (g);

  return [this, key, id, alive = alive_] () {
    if (!*alive)
      return;
    auto it = groups_.find (key);
    if (it == groups_.end ())
      return;
    auto &waiters = it->second->waiters;
    waiters.erase (std::remove_if (waiters.begin (), waiters.end (),
                                   [id] (const Waiter &w) { return w.id == id; }),
                   waiters.end ());
    if (waiters.empty ())
      drop_group (it);
  };
}

void
OriginHandler::arm_timer (HoldGroup &g)
{
  if (g.timer) {
    g_source_destroy (g.timer);
    g_source_unref (g.timer);
    g.timer = nullptr;
  }
  if (g.waiters.empty ())
    return;
  int64_t wait_us = std::max<int64_t> (0, g.waiters.front ().deadline_us - g_get_monotonic_time ());
  g.timer = g_timeout_source_new ((guint)((wait_us + 999) / 1000));
  struct TimerData {
    OriginHandler *self;
    HoldKey key;
  };
  g_source_set_callback (
      g.timer,
      [] (gpointer data) -> gboolean {
        auto *t = static_cast<TimerData *> (data);
        t->self->on_group_timer (t->key);
        return G_SOURCE_REMOVE;
      },
      new TimerData{ this, g.key }, [] (gpointer data) { delete static_cast<TimerData *> (data); });
  g_source_attach (g.timer, context_);
}

void
OriginHandler::on_group_timer (const HoldKey &key)
{
  auto it = groups_.find (key);
  if (it == groups_.end ())
    return;
  HoldGroup &g = *it->second;
  // The source fired and is being removed: forget it without destroying.
  g_source_unref (g.timer);
  g.timer = nullptr;
  int64_t now = g_get_monotonic_time ();
  std::vector<OriginRespond> expired;
  while (!g.waiters.empty () && g.waiters.front ().deadline_us <= now + 500) {
    expired.push_back (std::move (g.waiters.front ().respond));
    g.waiters.pop_front ();
  }
  std::string why = "stream " + g.stream->id () + ": part " + std::to_string (g.until.msn) + "."
                    + std::to_string (g.until.part) + " of rendition " + g.rendition
                    + " did not appear within three target durations";
  if (g.waiters.empty ())
    drop_group (it);
  else
    arm_timer (g);
  for (OriginRespond &respond : expired) {
    ++stats_.hold_timeouts;
    respond (OriginResponse::text (503, why));
  }
}

bool
OriginHandler::reached (StreamStore &stream, const std::string &rendition, PartPosition until)
{
  auto p = stream.progress (rendition);
  return !p || p->ended || (p->has_parts && p->reached >= until);
}

void
OriginHandler::on_group_woken (const HoldKey &key)
{
  auto it = groups_.find (key);
  if (it == groups_.end ())
    return;
  HoldGroup &g = *it->second;
  // A stale wake-up (a cancelled waiter's, from an earlier group with this
  // key) must not answer before the part exists.
  if (!reached (*g.stream, g.rendition, g.until))
    return;

  OriginResponse r;
  if (g.kind == HoldKind::kPart) {
    Bytes bytes;
    if (g.stream->fetch_part (g.rendition, g.until, &bytes) == PartAvailability::kReady) {
      r.content_type = hls_content_type (HlsObjectKind::kPart);
      r.cache_control = kMediaCacheControl;
      r.body.push_back (std::move (bytes));
    } else {
      stats_.hint_misses += g.waiters.size ();
      r = missing_part (OriginResponse::text (
          404, "stream " + g.stream->id () + ": hinted part " + std::to_string (g.until.msn) + "."
                   + std::to_string (g.until.part)
                   + " was never published (the stream ended, or its segment closed before it)"));
    }
  } else {
    // One render for every viewer waiting for this update.
    r = playlist_response (*g.stream, g.rendition, g.kind == HoldKind::kDeltaPlaylist, g.max_age_s);
  }
  std::deque<Waiter> waiters = std::move (g.waiters);
  g.waiters.clear ();
  drop_group (it);
  for (Waiter &w : waiters)
    w.respond (r);
}

void
OriginHandler::drop_group (std::map<HoldKey, std::unique_ptr<HoldGroup>>::iterator it)
{
  HoldGroup &g = *it->second;
  if (g.timer) {
    g_source_destroy (g.timer);
    g_source_unref (g.timer);
  }
  g.stream->cancel_wait (g.rendition, g.store_wait_id);
  groups_.erase (it);
}

} // namespace mirror
