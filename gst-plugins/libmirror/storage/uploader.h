// SPDX-License-Identifier: LGPL-2.1-or-later
// The S3 archive: every closed DVR period (data file, then its index, and
// the rendition's rendition.json) uploaded to S3 under the same names
// ({prefix}{stream}/{rendition}/{period}.cmf, .idx), by a few worker
// threads, in multipart uploads for large files. What is waiting is read
// from the disk, not kept in memory: a period without a valid upload marker
// (recorder.h) is not yet archived, so the queue survives any restart, and
// a rescan finds what a callback missed. A failed upload is aborted (S3 then
// holds no half object), counted, raises the alarm, and is tried again
// later with exponential backoff and jitter; local data is never removed
// before its marker is written (the recorder checks it). Multipart uploads
// left by a crash are aborted by a sweep at start-up and every hour; objects
// past the retention time are deleted by the same sweep.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/recorder.h"
#include "storage/s3_client.h"

namespace mirror {

struct UploaderOptions {
  std::string dir; // the recorder's ({cache_dir}/dvr)
  int workers = 4;
  uint64_t part_size = 8 * 1024 * 1024; // multipart above this (S3's minimum part is 5 MiB)
  int64_t rescan_us = 30LL * 1000 * 1000;
  int64_t retry_base_us = 1000 * 1000; // a failed period's first wait; doubles, with jitter
  int64_t retry_max_us = 120LL * 1000 * 1000;
  int64_t sweep_us = 3600LL * 1000 * 1000;
  // Multipart uploads older than this are a crash's leftovers.
  int64_t stale_upload_s = 3600;
  int64_t retention_ns = 24LL * 3600 * 1000 * 1000 * 1000; // 0: objects kept
  int64_t period_ns = 600LL * 1000 * 1000 * 1000;
};

struct UploaderCounters {
  uint64_t uploads_ok = 0;     // periods archived
  uint64_t uploads_failed = 0; // attempts at a period that failed (it is tried again)
  uint64_t bytes_uploaded = 0;
  uint64_t stale_aborted = 0;   // multipart uploads a sweep aborted
  uint64_t objects_expired = 0; // deleted past the retention time
  size_t backlog = 0;           // periods waiting or being uploaded
  int64_t oldest_waiting_s = 0; // how long the oldest of them has been closed
  bool failing = false;         // the last attempt failed and none has succeeded since
  std::string last_error;
};

class Uploader {
 public:
  // @recorder (optional) tells which periods are still being written.
  Uploader (UploaderOptions options, std::shared_ptr<S3Client> s3,
            std::shared_ptr<Recorder> recorder);
  // Stops after the uploads in flight (each aborted if it cannot finish).
  ~Uploader ();
  Uploader (const Uploader &) = delete;
  Uploader &operator= (const Uploader &) = delete;

  // A period was closed (the recorder's callback): upload it soon. Any thread.
  void enqueue (const std::string &base);
  // Looks for periods to upload now (tests; also runs every rescan_us).
  void rescan ();
  // Waits until the first rescan is done and nothing is waiting or being
  // uploaded, or @timeout_us; true when idle (tests, benches).
  bool wait_idle (int64_t timeout_us);
  UploaderCounters counters () const;
  const std::shared_ptr<S3Client> &s3 () const { return s3_; }

  // The object key of a period file: its path under the DVR directory.
  static std::string object_key (const std::string &dir, const std::string &path);

 private:
  struct Job {
    std::string base;
    int64_t not_before_us = 0; // monotonic
    int failures = 0;
  };
  void work ();
  void schedule ();
  bool upload_period (const std::string &base, std::string *error);
  bool upload_file (const std::string &path, uint64_t size, const std::string &content_type,
                    std::string *error);
  void sweep ();

  const UploaderOptions options_;
  const std::shared_ptr<S3Client> s3_;
  const std::shared_ptr<Recorder> recorder_;
  mutable std::mutex mutex_;
  std::condition_variable wake_, idle_;
  std::deque<Job> queue_;
  std::set<std::string> known_; // queued or in flight
  size_t in_flight_ = 0;
  bool stopping_ = false;
  bool scanned_ = false; // the first rescan is done (what a restart left is queued)
  UploaderCounters counters_;
  std::vector<std::thread> workers_;
  std::thread scheduler_;
};

} // namespace mirror
