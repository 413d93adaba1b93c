// SPDX-License-Identifier: LGPL-2.1-or-later
// What the Origin answers, independent of the transport: the TCP front end
// (HTTP/1.1 and HTTP/2) and the HTTP/3 one hand every request to one
// OriginHandler and write out the OriginResponse it produces.
//
// Everything here runs on the Origin's own GMainContext thread, except the
// store's wake-ups, which arrive on a publisher's streaming thread and only
// post to that context. Held requests (blocking playlist reloads, the hinted
// part) that wait for the same thing form one group: one store waiter, one
// hop to the context, one playlist render, however many viewers wait.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "hls/media_store.h"
#include "origin/cluster_directory.h"
#include "origin/origin_relay.h"
#include "origin/playback_token.h"
#include "storage/recorder.h"
#include "storage/s3_client.h"
#include "util/bytes.h"

namespace mirror {

// The protocol a request came over (viewer counts are kept per protocol).
enum class OriginProtocol : uint8_t { kHttp1 = 0, kHttp2 = 1, kHttp3 = 2 };
constexpr size_t kOriginProtocols = 3;
const char *to_string (OriginProtocol protocol); // "http1", "http2", "http3"

struct OriginRequest {
  std::string method; // GET, HEAD, OPTIONS...
  std::string path;   // absolute, without the query: /live/cam1/source.m3u8
  std::string query;  // without the '?'
  std::string range;  // the Range header, if any
  OriginProtocol protocol = OriginProtocol::kHttp1;
  // The connection it came on, unique in the process while it is open (its
  // address in memory); 0: unknown, not counted as a viewer.
  uint64_t client = 0;
};

// A stream's viewers: the connections that asked for its objects lately,
// per protocol.
using ViewerCounts = std::map<std::string, std::array<uint32_t, kOriginProtocols>>;

// A header field every answer of one handler carries (CORS, Alt-Svc): built
// once, its name also lowercased for HTTP/2 and HTTP/3, shared by every
// response rather than copied into each.
struct CommonField {
  std::string name;  // as HTTP/1.1 writes it: Access-Control-Allow-Origin
  std::string lower; // as HTTP/2 and HTTP/3 must: access-control-allow-origin
  std::string value;
  bool http3 = true; // Alt-Svc is not: an HTTP/3 client is where it points
};
using CommonFields = std::shared_ptr<const std::vector<CommonField>>;

struct OriginResponse {
  int status = 200;
  std::string content_type;
  std::string cache_control;
  std::vector<std::pair<std::string, std::string>> headers; // any others
  CommonFields common; // after headers; none on the front ends' own answers
  std::vector<Bytes> body; // refcounted store buffers, never copied per viewer

  static OriginResponse text (int status, std::string_view body,
                              std::string cache_control = "no-cache");
  // What @builder built (a finished object), as one line of JSON; takes
  // the builder's reference.
  static OriginResponse json (int status, JsonBuilder *builder,
                              std::string cache_control = "no-cache");
  size_t body_size () const;
  // The value of a field from headers or common (exact name), or "".
  std::string_view header (std::string_view name) const;
};

// Delivered exactly once per request, on the Origin's context.
using OriginRespond = std::function<void (OriginResponse)>;

struct OriginAsset {
  Bytes bytes;
  std::string content_type;
  std::string cache_control;
};

struct OriginHandlerStats {
  uint64_t requests = 0;
  uint64_t held = 0;          // requests that had to wait
  uint64_t held_now = 0;      // waiting at this moment
  uint64_t hold_groups = 0;   // distinct things being waited for now
  uint64_t hold_timeouts = 0; // answered 503
  // Held requests for a hinted part that was never published (404): a
  // preload hint that did not come true.
  uint64_t hint_misses = 0;
  // Refused 403 for a missing, malformed, expired or wrong playback token.
  uint64_t token_refused = 0;
  // Sent to the node that owns the stream (302, cluster playback).
  uint64_t redirected = 0;
  // Answered with the owner's answer, through the relay.
  uint64_t relayed = 0;
  // Hand-offs from publishers' threads that woke held requests here: one
  // per publication, however many groups it answered.
  uint64_t wake_posts = 0;
};

class OriginHandler {
 public:
  // @recorder: the DVR recording time-shifted playback reads; none: off.
  // @archive: where it reads what is no longer on local disk (S3).
  OriginHandler (MediaStore &store, GMainContext *context,
                 std::shared_ptr<Recorder> recorder = nullptr,
                 std::shared_ptr<S3Client> archive = nullptr);
  ~OriginHandler ();
  OriginHandler (const OriginHandler &) = delete;
  OriginHandler &operator= (const OriginHandler &) = delete;

  // Static files (the player page): exact paths.
  void set_asset (const std::string &path, OriginAsset asset);

  // Answers through respond, now or later. For a held request, returns a
  // function the front end calls if the client goes away first (respond is
  // then never called); else an empty function.
  std::function<void ()> handle (const OriginRequest &request, OriginRespond respond);

  OriginHandlerStats stats () const;
  // Per stream, the connections that asked for one of its objects within
  // the last @window_us (forgetting the older ones). On the handler's context.
  ViewerCounts viewers (int64_t window_us);

  // Headers every response carries (CORS; Alt-Svc once HTTP/3 listens);
  // with @http3 false, not HTTP/3's (Alt-Svc: that client is there already).
  void add_common_header (std::string name, std::string value, bool http3 = true);
  // Signed playback URLs: from now on every /live/<stream>/ request needs a
  // token from @tokens (playback_token.h); none: open (the default).
  void set_playback_tokens (std::shared_ptr<const PlaybackTokens> tokens);
  // Cluster playback: a request for a stream this node does not have, which
  // @directory says another node owns, is redirected (302) to that node's
  // public URL; @self_url is this node's (a directory naming it for a stream
  // not here is stale: 404). None: 404 as on a single node.
  void set_directory (std::shared_ptr<const ClusterDirectory> directory, std::string self_url);
  // Relay instead of redirect: the owner's answer is fetched through @relay
  // (shared by every worker: one upstream request per object however many
  // viewers ask) and answered from here. None: redirect.
  void set_relay (std::shared_ptr<OriginRelay> relay);

 private:
  void note_viewer (const std::string &stream, const OriginRequest &request);
  // stream -> connection -> (last request, monotonic us; its protocol)
  std::map<std::string, std::unordered_map<uint64_t, std::pair<int64_t, OriginProtocol>>> viewers_;
  int64_t viewers_swept_us_ = 0;
  struct Waiter {
    uint64_t id;
    int64_t deadline_us; // monotonic
    OriginRespond respond;
  };
  enum class HoldKind { kPlaylist, kDeltaPlaylist, kPart };
  // The stream (by identity: a re-created stream is another), rendition,
  // kind and position waited for.
  using HoldKey = std::tuple<uintptr_t, std::string, int, uint64_t, uint32_t>;
  struct HoldGroup {
    HoldKey key;
    std::shared_ptr<StreamStore> stream;
    std::string rendition;
    HoldKind kind;
    PartPosition until;
    uint64_t store_wait_id = 0;
    int64_t max_age_s = 1;
    std::deque<Waiter> waiters; // in arrival order, so deadlines ascend
    GSource *timer = nullptr;
    bool woken = false;
  };

  void handle_live (const OriginRequest &request, std::string_view rest, OriginRespond respond,
                    std::function<void ()> *cancel);
  void handle_media_playlist (const std::shared_ptr<StreamStore> &stream,
                              const std::string &rendition, const OriginRequest &request,
                              OriginRespond &respond, std::function<void ()> *cancel);
  void handle_part (const std::shared_ptr<StreamStore> &stream, const std::string &rendition,
                    PartPosition pos, OriginRespond &respond, std::function<void ()> *cancel);
  OriginResponse stream_index () const;
  // The redirect to the owner of a stream this node does not have, if the
  // directory names one.
  // Or relays it (set_relay): then returns true and answers through respond.
  std::optional<OriginResponse> redirect_to_owner (const std::string &id,
                                                   const OriginRequest &request);
  bool relay_to_owner (const std::string &id, const OriginRequest &request,
                       OriginRespond &respond, std::function<void ()> *cancel);

  // Joins (or starts) the group waiting for key; the store waiter is
  // registered by start_store_wait when the group is new.
  std::function<void ()> join_group (const HoldKey &key, const std::shared_ptr<StreamStore> &stream,
                                     const std::string &rendition, HoldKind kind,
                                     PartPosition until, uint64_t store_wait_id, int64_t max_age_s,
                                     OriginRespond respond);
  void on_group_woken (const HoldKey &key);
  void on_group_timer (const HoldKey &key);
  void arm_timer (HoldGroup &group);
  void drop_group (std::map<HoldKey, std::unique_ptr<HoldGroup>>::iterator it);
  PartWaitList::WakeFn wake_fn (std::shared_ptr<HoldKey> key);
  bool reached (StreamStore &stream, const std::string &rendition, PartPosition until);
  OriginResponse playlist_response (StreamStore &stream, const std::string &rendition, bool delta,
                                    int64_t max_age_s);
  OriginResponse finish (OriginResponse r) const;

  MediaStore &store_;
  GMainContext *context_;
  std::shared_ptr<bool> alive_; // wake-ups posted after destruction see false
  // Groups whose part came, posted from publishers' threads; one post to
  // context_ at a time takes them all (see WakeBatch).
  struct Woken {
    std::mutex mutex;
    std::vector<HoldKey> keys;
    bool posted = false;
  };
  std::shared_ptr<Woken> woken_;
  void on_woken ();
  std::map<std::string, OriginAsset> assets_;
  CommonFields common_;
  std::map<HoldKey, std::unique_ptr<HoldGroup>> groups_;
  std::unique_ptr<class DvrPlayback> dvr_;
  uint64_t next_waiter_id_ = 1;
  OriginHandlerStats stats_;
  std::shared_ptr<const PlaybackTokens> tokens_;
  std::shared_ptr<const ClusterDirectory> directory_;
  std::string self_url_;
  std::shared_ptr<OriginRelay> relay_;
};

} // namespace mirror
