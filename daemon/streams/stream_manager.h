// SPDX-License-Identifier: LGPL-2.1-or-later
// The stream manager: admission (stream ids, ingestion.max_streams,
// transcoding.max_sessions), the registry's view of every local stream and
// each stream's lifecycle (registry/stream_lifecycle.h). Each stream's
// pipeline is a StreamPipeline, built from a description in pipelines/. A
// stream whose feed is over, or whose pipeline failed, releases its pipeline
// at once and stays listed for ingestion.ended_retention, then goes.
// It lives on mirrord's main context: every method must be called there, and
// every callback runs there.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gst/gst.h>

#include "registry/stream_registry.h"
#include "streams/api_error.h"
#include "streams/stream_view.h"

namespace mirror {
class Metrics;
class Origin;
}

namespace mirror::daemon {

struct Config;
class PipelineLibrary;

struct StreamRequest {
  std::string id;
  std::string pipeline;                         // description name; empty: chosen by routing
  std::string source;                           // ingest URI (for ${uri}); may be empty
  std::map<std::string, std::string> variables; // extra ${name} values
};

// 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit.
bool valid_stream_id (const std::string &id);

class StreamManager {
 public:
  using DoneFn = std::function<void (const ApiError &)>; // ok() on success
  using ViewFn = std::function<void (const ApiError &, const StreamView &)>;
  using ListFn = std::function<void (const ApiError &, const std::vector<StreamView> &)>;

  struct Listener {
    std::function<void (const StreamView &)> added;
    std::function<void (const std::string &id)> removed;
    std::function<void (const StreamView &)> state_changed;
  };

  StreamManager (const Config &config, std::shared_ptr<StreamRegistry> registry,
                 std::shared_ptr<PipelineLibrary> pipelines, Metrics *metrics);
  ~StreamManager ();
  StreamManager (const StreamManager &) = delete;
  StreamManager &operator= (const StreamManager &) = delete;

  // The Origin every pipeline publishes into ("mirror.origin" context); set
  // before the first stream starts.
  void set_origin (std::shared_ptr<Origin> origin);

  // Registers the id cluster-wide, builds and starts the pipeline.
  // ALREADY_EXISTS, CAPACITY_FULL, INVALID_INPUT (bad id, unknown pipeline,
  // pipeline that does not parse), SERVICE_UNAVAILABLE (registry down).
  void create (const StreamRequest &request, DoneFn done);

  // Local streams only; NOT_FOUND for ids this node does not own.
  ApiError pause (const std::string &id);
  ApiError resume (const std::string &id);
  // The stream's newest thumbnail (*sample, which the caller unrefs; null
  // when none is at hand yet: the transcoder starts taking them now).
  // NOT_FOUND off this node; CONFLICT when it does not transcode.
  ApiError thumbnail (const std::string &id, GstSample **sample);
  // Sends EOS, waits for it (bounded), tears the pipeline down, unregisters.
  // An ended or failed stream is removed at once.
  void stop (const std::string &id, DoneFn done);

  void get (const std::string &id, ViewFn done) const;
  void list (ListFn done) const;
  std::vector<StreamView> local_streams () const;
  std::optional<StreamView> local_stream (const std::string &id) const;
  size_t local_count () const; // listed, ended and failed ones included
  size_t error_count () const; // local streams whose pipeline failed
  // Local streams in @state (degraded: their transcode sheds work; stalled:
  // no media, or a wedged pipeline restarted), with why.
  std::vector<std::pair<std::string, std::string>> in_state (StreamState state) const;
  // Whether a new stream would fit (ingestion.max_streams, counting streams
  // that run a pipeline and the room reserved for callers) and mirrord is
  // not shutting down. Callable from any thread (the hubs ask it in a
  // handshake).
  bool has_room () const;
  // has_room (), and if so the room is kept for @id's stream (create ()
  // takes it) for kRoomReservedMs, so that a caller admitted at its
  // handshake is not refused when its stream is created moments later.
  // Callable from any thread. release_room () gives it back (the caller's
  // handshake failed).
  bool reserve_room (const std::string &id);
  void release_room (const std::string &id);
  static constexpr int64_t kRoomReservedMs = 10000;

  // Called just before the watchdog restarts a stream's pipeline: mirrord
  // tells the SRT hub to keep the stream's caller connected across it.
  void set_restart_hook (std::function<void (const std::string &id)> hook);

  unsigned add_listener (Listener listener);
  void remove_listener (unsigned listener_id);

  // Graceful shutdown: EOS to every pipeline, wait up to timeout_ms, then
  // tear down and unregister everything. done runs once.
  void shutdown (int64_t timeout_ms, std::function<void ()> done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace mirror::daemon
