// SPDX-License-Identifier: LGPL-2.1-or-later
// The DVR recorder: every completed segment of every rendition, as the
// Origin publishes it (no re-muxing), appended to one data file per
// rendition and period (10 minutes by default) with an index beside it
// (segment_index.h):
//
//   {dir}/{stream}/{rendition}/{period start, unix s}.cmf   init + segments
//   {dir}/{stream}/{rendition}/{period start, unix s}.idx   64-byte records
//
// A period file starts with the rendition's init segment, and a new init
// (another codec or size) is appended where it changes. Segments reach the
// recorder through a bounded queue and are written by its own thread, never
// a streaming or Origin thread: a slow or full disk drops segments
// (counted) instead of stalling anything. Each batch of writes is made
// durable before its index records are written (then those), so a kill -9
// or a power loss loses at most what was queued or being written, and a
// period reopened after a crash is cut back to its last whole record.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hls/multivariant.h"
#include "util/bytes.h"

namespace mirror {

struct RecorderOptions {
  std::string dir;                                // {cache_dir}/dvr
  int64_t period_ns = 600LL * 1000 * 1000 * 1000; // one data file per 10 minutes
  // Packaged segments are merged into one recorded segment (one index
  // record) until it lasts this long (storage.dvr.segment_length); 0 or
  // less than a packaged segment: each is one. Its data is written as it
  // comes; its record once it is whole, so a crash loses at most it.
  int64_t segment_length_ns = 0;
  size_t queue_limit_bytes = 64 * 1024 * 1024; // beyond it, segments are dropped
  bool sync = true;                            // fdatasync each batch (power loss)
  // Periods that ended longer ago than this go when a rendition opens its
  // next one (storage.dvr.retention_time); 0: kept.
  int64_t retention_ns = 24LL * 3600 * 1000 * 1000 * 1000;
  // A rendition that has recorded nothing for this long (its stream ended,
  // say) has its period files closed; they open again when it records.
  int64_t idle_close_us = 30LL * 1000 * 1000;
  // The local cache (storage.local): what all period files may take
  // together (0: no cap). Beyond it the oldest closed periods go; with
  // keep_until_uploaded (S3 on), only a period's data file goes, once it is
  // uploaded (its marker says so) and ended more than ttl_ns ago, whatever
  // the cap: its index stays, so playlists still list it and its bytes are
  // read from S3.
  uint64_t max_bytes = 0;
  bool keep_until_uploaded = false;
  int64_t ttl_ns = 3600LL * 1000 * 1000 * 1000;
  // How often the cache's size is checked.
  int64_t space_check_us = 10LL * 1000 * 1000;
};

// A period's upload marker, {period}.s3 beside its files: the sizes of the
// data and index files uploaded. It counts only while the data file still
// has that size (a period reopened after a restart grows, and is uploaded
// again once closed).
struct UploadMarker {
  uint64_t data_size = 0;
  uint64_t index_size = 0;
};
// The files of a recording: every {dir}/{stream}/{rendition} folder, and
// a period file's name ("1796566200.cmf": its start, unix s, and ".cmf",
// ".idx" or ".s3"; false for any other name).
std::vector<std::string> dvr_rendition_dirs (const std::string &dir);
bool parse_period_file_name (const char *name, int64_t *start_s, std::string *extension);

std::optional<UploadMarker> read_upload_marker (const std::string &base);
bool write_upload_marker (const std::string &base, const UploadMarker &marker, std::string *error);
// Whether @base (a period's path without extension) has a marker matching
// its files as they are: uploaded, and not grown since.
bool period_uploaded (const std::string &base);

struct RecordedSegment {
  std::string stream;
  std::string rendition;
  uint64_t msn = 0;
  int64_t wallclock_ns = 0;
  int64_t duration_ns = 0;
  bool independent = false;
  bool discontinuity = false;
  uint32_t init_generation = 0;
  Bytes init; // the init segment of init_generation
  std::vector<Bytes> parts;
  // What the multivariant playlist says of the rendition; kept beside its
  // periods (rendition_file.h) when set.
  RenditionInfo info;
};

struct RecorderCounters {
  uint64_t segments = 0;         // written and indexed
  uint64_t bytes = 0;            // media and init bytes written
  uint64_t dropped_segments = 0; // queue full, or after a write error
  uint64_t write_errors = 0;
  uint64_t periods_opened = 0;
  uint64_t periods_removed = 0; // past the retention time, or over the cache's cap
  uint64_t periods_evicted = 0; // data files left to S3 (index kept)
  uint64_t cache_bytes = 0;     // period files on disk, as last checked
  uint64_t disk_free_bytes = 0; // on the DVR directory's file system, as last checked
  double write_p99_s = 0;       // a batch's writes and syncs, over the last 256
  double write_max_s = 0;
  size_t open_periods = 0;          // period files held open (closed when idle)
  uint64_t recovered_bytes_cut = 0; // torn tails cut off reopened periods
  size_t queued_bytes = 0;
  bool disk_full = false; // ENOSPC: recording stopped until restart
  std::string last_error;
};

class Recorder {
 public:
  explicit Recorder (RecorderOptions options);
  // Writes what is queued, then stops.
  ~Recorder ();
  Recorder (const Recorder &) = delete;
  Recorder &operator= (const Recorder &) = delete;

  // Never blocks on the disk. False when the segment was dropped.
  bool submit (RecordedSegment segment);
  // Returns once everything submitted before the call is written (tests).
  void flush ();
  // Called on the recorder's thread after segments of a rendition were
  // written and indexed (time-shifted playlists that grow wait for it).
  // Must not block; returns an id for remove_listener.
  using Listener = std::function<void (const std::string &stream, const std::string &rendition)>;
  uint64_t add_listener (Listener listener);
  // Once it returns, the listener is not running and will not run again.
  void remove_listener (uint64_t id);
  // Called on the recorder's thread when a period is closed (the next one
  // opened, or idle): @base is its path without extension. Set before
  // anything is submitted.
  void set_on_period_closed (std::function<void (const std::string &base)> fn);
  // Whether the period at @base is open for writing now (any thread).
  bool is_open (const std::string &base) const;
  RecorderCounters counters () const;
  const RecorderOptions &options () const { return options_; }

  // Where a rendition's periods are kept (names made safe for a path).
  static std::string rendition_dir (const std::string &dir, const std::string &stream,
                                    const std::string &rendition);

  // What is recorded of @stream under @dir, read from its files (a few
  // stat calls and index reads per rendition, none of the media).
  struct Window {
    bool any = false;
    int64_t start_ns = 0; // unix ns of the oldest recorded segment
    int64_t end_ns = 0;   // and the end of the newest
    uint64_t bytes = 0;   // period files and their indexes
    size_t periods = 0;   // period files, every rendition
    size_t uploaded = 0;  // periods with a valid upload marker
    size_t local = 0;     // periods whose data file is on local disk
    std::vector<std::string> renditions;
  };
  static Window window (const std::string &dir, const std::string &stream);

 private:
  struct Writer;
  void run ();
  void write_batch (std::vector<RecordedSegment> &batch);
  Writer *writer_for (const RecordedSegment &segment);
  // Makes @w's data durable, then writes the index records that point to it.
  void commit (Writer *w);
  void close_idle_writers ();
  void fail (const std::string &what, int error);
  // Removes @dir's periods that ended before @before_ns (unix ns).
  void remove_periods_before (const std::string &dir, int64_t before_ns);
  // Keeps the cache under max_bytes and evicts uploaded data past the ttl.
  void enforce_space ();
  void closed (Writer *w);
  // The recorded segment being merged is whole: its record is pending.
  void end_merge (Writer *w);
  int64_t last_space_check_us_ = 0;
  std::function<void (const std::string &)> on_period_closed_;
  std::set<std::string> open_bases_;  // under mutex_
  std::vector<double> write_seconds_; // the last 256 batches', a ring (under mutex_)
  size_t write_next_ = 0;

  const RecorderOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<RecordedSegment> queue_;
  uint64_t submitted_ = 0, written_ = 0; // segments taken off the queue and done
  bool stopping_ = false;
  RecorderCounters counters_;
  // The writer thread's alone.
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Writer>> writers_;
  // Held while listeners run, so that removing one waits for them.
  std::mutex listeners_mutex_;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;
  std::thread thread_;
};

} // namespace mirror
