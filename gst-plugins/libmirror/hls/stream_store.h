// SPDX-License-Identifier: LGPL-2.1-or-later
// One stream's LL-HLS media: its renditions, their windows, the playlists
// rendered from them and the requests held on them.
//
// Thread-safe: publishers call in from streaming threads, the HTTP front end
// from its own thread. One lock covers all renditions because a media playlist
// reports on its siblings. Playlists are rendered at most once per update
// (per rendition and full/delta) and shared by every request that asks.
// Wake-up callbacks run on the publishing thread, outside the lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hls/blocking_reload.h"
#include "hls/hls_timing.h"
#include "hls/multivariant.h"
#include "hls/part_wait_list.h"
#include "hls/rendition_window.h"
#include "storage/recorder.h"

namespace mirror {

// Where a stream's timeline is kept beyond this node (mirrord: the
// cluster's registry): a store starts past the discontinuity sequence it
// holds and tells it each one the store reaches, so that the next node to
// take the stream on starts past those too.
class TimelineLedger {
 public:
  virtual ~TimelineLedger () = default;
  // The next discontinuity sequence number stream id may use; 0: none known.
  virtual uint64_t next_discontinuity_sequence (const std::string &id) = 0;
  // Called on a publishing thread, only when the number grew: must not block.
  virtual void record (const std::string &id, uint64_t next) = 0;
};

struct StreamConfig {
  int64_t part_target_ns = 100000000;             // packaging.part_duration
  int64_t segment_target_ns = 500000000;          // packaging.segment_duration
  int64_t playlist_length_ns = 10 * kNsPerSecond; // playlist-length
  // Numbering from the clock: EXT-X-MEDIA-SEQUENCE starts at the time since
  // 2026 over half a segment duration, and the first segment is a
  // discontinuity. A stream opened again later (mirrord restarted,
  // upgraded, the stream moved to another node) so never numbers its
  // segments backwards, and a player that knew the old one resets its
  // timeline (EXT-X-DISCONTINUITY-SEQUENCE: see numbering_dir). -1: the
  // time the store is opened; 0: numbering from 0 (tests).
  int64_t numbering_clock_ns = -1;
  // A directory where each stream's next discontinuity sequence number is
  // kept (a file named after it), so that a store opened again after a
  // restart starts past every discontinuity the old one announced (players
  // tell timelines apart by it); empty: starts at 0.
  std::string numbering_dir;
  // The cluster-wide ledger beside numbering_dir (the higher of the two
  // wins); none: this node's alone.
  std::shared_ptr<TimelineLedger> shared_timeline;
  // The DVR recorder each completed segment goes to; none: not recorded.
  std::shared_ptr<Recorder> recorder;
};

// 2026-01-01T00:00:00Z: where clock numbering counts from.
inline constexpr int64_t kNumberingEpochNs = 1767225600LL * kNsPerSecond;

// Where a store opened at @clock_ns starts numbering.
struct StreamNumbering {
  uint64_t first_msn = 0;
  uint64_t first_discontinuity_sequence = 0;
  bool starts_with_discontinuity = false;
};
StreamNumbering numbering_from_clock (int64_t clock_ns, int64_t segment_target_ns);

enum class PartAvailability {
  kReady,   // here are the bytes
  kHeld,    // it is the hinted part: the callback runs once it exists (or never will)
  kMissing, // 404
};

class StreamStore {
 public:
  StreamStore (std::string id, StreamConfig config);
  ~StreamStore ();

  const std::string &id () const { return id_; }
  const StreamConfig &config () const { return config_; }

  // Publishing. A rendition must be added before media is published to it;
  // adding it again updates what the multivariant playlist says about it.
  bool add_rendition (const RenditionInfo &info);
  bool set_init (const std::string &rendition, Bytes init);
  // Publishes one part. The stream's renditions start together: until a
  // video rendition publishes its first part, audio parts are held (an
  // empty position says so), and then those that ended before the video's
  // first frame are dropped (counted as parts_before_start) and the rest
  // published. Audio arrives first (the video waits for a keyframe, up to a
  // GOP), and a player lines renditions up by where their first segment in
  // a discontinuity starts: hls.js 1.7.4, starting on a new stream whose
  // audio began 0.8 s before its video, stopped appending audio for good.
  // Audio goes alone after kAudioAloneNs without a video rendition, or
  // kVideoWaitNs with one that has not published.
  static constexpr int64_t kAudioAloneNs = 2 * kNsPerSecond;
  static constexpr int64_t kVideoWaitNs = 5 * kNsPerSecond;
  std::optional<PartPosition> add_part (const std::string &rendition, const PartInput &part);
  void mark_discontinuity (const std::string &rendition);
  // EXT-X-ENDLIST on one rendition; held requests on it are answered.
  void finish (const std::string &rendition);
  // The stream is going away: answer every held request.
  void close ();

  // Reading. nullptr for an unknown rendition.
  std::shared_ptr<const std::string> media_playlist (const std::string &rendition, bool delta);
  std::shared_ptr<const std::string> multivariant_playlist ();
  std::optional<Bytes> init (const std::string &rendition, std::optional<uint32_t> generation);
  std::optional<std::vector<Bytes>> segment (const std::string &rendition, uint64_t msn);
  // A part, or a hold on the hinted one. On kHeld, *wait_id is for cancel_wait ()
  // and on_ready runs when it is time to call fetch_part again.
  PartAvailability fetch_part (const std::string &rendition, PartPosition pos, Bytes *out,
                               PartWaitList::WakeFn on_ready = nullptr,
                               uint64_t *wait_id = nullptr);

  // Blocking reload: decides, and on kHold registers on_ready in the same
  // step, so no update can slip between the two. The caller answers with
  // media_playlist () when on_ready runs, or 503 when its timer fires first
  // (then cancel_wait ()). Unknown rendition: nullopt (404).
  struct Hold {
    ReloadDecision decision;
    uint64_t wait_id = 0;
  };
  std::optional<Hold> hold_playlist (const std::string &rendition, const ReloadDirectives &d,
                                     PartWaitList::WakeFn on_ready);
  bool cancel_wait (const std::string &rendition, uint64_t wait_id);

  std::optional<RenditionProgress> progress (const std::string &rendition);
  StreamTiming timing ();
  std::vector<std::string> rendition_names ();
  // What each rendition announced (codecs, size, bandwidth), in that order.
  std::vector<RenditionInfo> renditions ();
  std::optional<RenditionCounters> counters (const std::string &rendition);
  // The live edge of the rendition furthest behind: the oldest of the
  // renditions' newest parts (unix ns of its first frame), over those that
  // have parts and have not ended. What a viewer's distance to live starts
  // from; nothing when no rendition is live.
  std::optional<int64_t> live_edge_wallclock_ns ();
  // Renders done so far (tests: one per update, not one per viewer).
  uint64_t render_count ();

 private:
  struct Rendition;
  // Parts published under the lock whose waiters are woken after it.
  struct Published {
    std::vector<std::pair<PartWaitList *, PartPosition>> wakes;
    uint64_t next_sequence = 0;
    std::vector<RecordedSegment> recorded; // for the recorder, once unlocked
  };
  // Segments of @r completed since the last call go to published->recorded.
  void collect_completed_locked (Rendition *r, Published *published);
  Rendition *find (const std::string &name);
  std::optional<PartPosition> publish_locked (Rendition *r, const PartInput &part,
                                              Published *published);
  // The stream's start is known (@video_start: its video's first frame, unix
  // ns; none: audio goes alone): held parts are dropped or published.
  void settle_start_locked (std::optional<int64_t> video_start, Published *published);
  void wake (const Published &published);
  RenditionProgress progress_locked (const Rendition &r) const;
  void update_timing (const RenditionWindow &w);
  // The stream's timing with the rendition's own PART-TARGET.
  StreamTiming timing_of (const Rendition &r) const;

  const std::string id_;
  const StreamConfig config_;
  const StreamNumbering numbering_;
  // The discontinuity sequence numbering_dir holds for this stream: past the
  // last discontinuity any rendition announced.
  std::mutex ledger_mutex_;
  uint64_t ledger_ = 0;
  void record_discontinuities (uint64_t next);
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Rendition>> renditions_;
  std::vector<std::string> order_; // as added: the multivariant playlist's order
  StreamTiming timing_;
  uint64_t version_ = 1; // any change to any rendition
  uint64_t renders_ = 0;
  uint64_t multivariant_version_ = 0;
  std::shared_ptr<const std::string> multivariant_;
  bool closed_ = false;
  bool start_settled_ = false;
};

} // namespace mirror
