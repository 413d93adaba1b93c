// SPDX-License-Identifier: LGPL-2.1-or-later
// One stream's pipeline: the GstElement built from its description, its bus
// watch and shared contexts, start, pause/resume, drain-with-timeout and
// release. It translates what the pipeline reports (errors, EOS, the
// heartbeat's and the ingest bin's element messages) into lifecycle events;
// deciding what they mean for the stream is the stream manager's job.
//
// Main context only: every method must be called on mirrord's main context
// and every callback runs there.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gst/gst.h>

#include "registry/stream_lifecycle.h"

namespace mirror {
class Origin;
class StreamRegistry;
} // namespace mirror

namespace mirror::daemon {

class StreamPipeline {
 public:
  struct Callbacks {
    // What the pipeline says about the stream's lifecycle.
    std::function<void (StreamEvent event, const std::string &detail)> on_event;
    // Every element message (statistics), after on_event for that message.
    std::function<void (const GstStructure *s)> on_element_message;
    // EOS came out of every sink (in_time), or a drain's timeout passed
    // first (!in_time). Also when the input ends by itself.
    std::function<void (bool in_time)> on_drained;
  };

  // Builds a pipeline from a rendered description (PipelineLibrary: its
  // branches are linked when their pads appear), named @id; nullptr and
  // *error (GStreamer's reason) when it does not build. Nothing runs yet.
  static GstElement *parse (const std::string &id, const std::string &description,
                            std::string *error);
  // The first element @description names that GStreamer does not have, or
  // "" when it has them all.
  static std::string missing_element (const std::string &description);
  // Whether @pipeline holds a transcoding session: a mirrortranscodebin whose
  // ladder decodes (anything but `source` alone).
  static bool transcodes (GstElement *pipeline);

  // Takes @pipeline (from parse ()).
  StreamPipeline (std::string id, GstElement *pipeline, Callbacks callbacks);
  ~StreamPipeline ();
  StreamPipeline (const StreamPipeline &) = delete;
  StreamPipeline &operator= (const StreamPipeline &) = delete;

  // The shared registry and Origin reach the elements as GstContexts.
  void set_contexts (const std::shared_ptr<StreamRegistry> &registry,
                     const std::shared_ptr<Origin> &origin);

  // PLAYING; false and *error (the pipeline's own reason) when it refused.
  bool start (std::string *error);
  bool set_paused (bool paused);

  // The newest thumbnail of the pipeline's mirrortranscodebin (a scaled
  // frame it made anyway), asking it to take them once a second from now
  // on; nullptr when none is at hand yet. *transcodes: whether there is a
  // transcodebin to ask.
  GstSample *thumbnail (bool *transcodes);

  // Ends the stream's media: EOS into the pipeline (send_eos; a feed that
  // ended sends its own), so the sinks finish their playlists. Then
  // on_drained, once: true when EOS came out (or there was nothing to drain:
  // no media yet), false after timeout_ms.
  void drain (int64_t timeout_ms, bool send_eos);
  bool draining () const { return drain_timer_ != 0 || drain_started_; }

  // Stops the pipeline and lets it go: its threads, sockets and buffers are
  // released. Idempotent; no callback runs afterwards.
  void release ();
  // The same, with the stop on a thread of its own, for a pipeline that may
  // be wedged (a streaming thread that never returns would hold the main
  // loop): no callback runs once this returns, and done runs on the main
  // context when the pipeline has stopped, if it ever does.
  void release_async (std::function<void ()> done);
  bool released () const { return pipeline_ == nullptr; }

  // "PLAYING", "PAUSED", ...; "NULL" once released.
  std::string state_name () const;
  bool playing () const;

  // Input that stops for longer than this (the ingest bin reports every
  // second) has a gap: what comes after it starts a new run.
  static constexpr int64_t kInputGapUs = 3000000;

  // What the watchdog goes by, in monotonic microseconds (0: never).
  struct Progress {
    int64_t started_us = 0; // start () or a resume
    // Input arrived: the ingest bin's received bytes or the heartbeat's
    // buffers grew (their messages); the first of the current run, after
    // the start or a gap (a feed back, media again after a stall), and the
    // last.
    int64_t input_since_us = 0;
    int64_t input_us = 0;
    // Output: of the sinks that ever had a buffer, the one that waited
    // longest since its last (a wedged branch stops its own sink only).
    int64_t output_us = 0;
  };
  Progress progress () const;

 private:
  // One sink's last buffer, written from its streaming thread.
  struct SinkClock {
    std::atomic<int64_t> last_us{ 0 };
  };

  bool on_bus_message (GstMessage *msg);
  void on_element_message (const GstStructure *s);
  void note_input (const GstStructure *s);
  static void watch_sink (GstElement *element, std::shared_ptr<std::mutex> lock,
                          std::shared_ptr<std::vector<std::shared_ptr<SinkClock>>> sinks);

  const std::string id_;
  GstElement *pipeline_ = nullptr;
  Callbacks callbacks_;
  guint bus_watch_ = 0;
  guint drain_timer_ = 0;
  bool drain_started_ = false;
  bool drained_ = false;
  // Pipelines without mirrorheartbeat have nothing that reports media: for
  // them PLAYING has to stand for it.
  bool has_heartbeat_ = false;
  // Media came out of the pipeline (kMediaFlowing once at least).
  bool media_seen_ = false;
  bool video_seen_ = false; // the heartbeat said flowing at least once

  int64_t started_us_ = 0;
  int64_t input_since_us_ = 0, input_us_ = 0;
  uint64_t input_bytes_ = 0, input_buffers_ = 0; // last seen in messages
  // Sinks appear with the branches, on streaming threads.
  std::shared_ptr<std::mutex> sinks_lock_ = std::make_shared<std::mutex> ();
  std::shared_ptr<std::vector<std::shared_ptr<SinkClock>>> sinks_
      = std::make_shared<std::vector<std::shared_ptr<SinkClock>>> ();
  gulong deep_added_ = 0;
};

} // namespace mirror::daemon
