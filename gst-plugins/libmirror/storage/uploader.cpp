// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage/uploader.h"

#include <pthread.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>

#include <glib.h>

#include "storage/rendition_file.h"

namespace mirror {

namespace {

std::optional<uint64_t>
file_size (const std::string &path)
{
  struct stat st;
  if (stat (path.c_str (), &st) != 0)
    return std::nullopt;
  return uint64_t (st.st_size);
}

// The unix second a period's base path ends with.
int64_t
period_start_s (const std::string &base)
{
  const size_t slash = base.rfind ('/');
  return g_ascii_strtoll (base.c_str () + (slash == std::string::npos ? 0 : slash + 1), nullptr,
                          10);
}

int64_t
jittered (int64_t base_us, int failures, int64_t max_us)
{
  static thread_local std::mt19937_64 random (std::random_device{}());
  const int64_t ceiling = std::min<int64_t> (max_us, base_us << std::min (failures, 20));
  return std::uniform_int_distribution<int64_t> (ceiling / 2, ceiling) (random);
}

} // namespace

std::string
Uploader::object_key (const std::string &dir, const std::string &path)
{
  return path.rfind (dir + "/", 0) == 0 ? path.substr (dir.size () + 1) : path;
}

Uploader::Uploader (UploaderOptions options, std::shared_ptr<S3Client> s3,
                    std::shared_ptr<Recorder> recorder)
    : options_ (std::move (options)), s3_ (std::move (s3)), recorder_ (std::move (recorder))
{
  for (int i = 0; i < std::max (1, options_.workers); i++)
    workers_.emplace_back ([this] { work (); });
  scheduler_ = std::thread ([this] { schedule (); });
}

Uploader::~Uploader ()
{
  {
    std::lock_guard lock (mutex_);
    stopping_ = true;
  }
  wake_.notify_all ();
  idle_.notify_all ();
  scheduler_.join ();
  for (std::thread &t : workers_)
    t.join ();
}

void
Uploader::enqueue (const std::string &base)
{
  {
    std::lock_guard lock (mutex_);
    if (stopping_ || !known_.insert (base).second)
      return;
    queue_.push_back ({ base, 0, 0 });
  }
  wake_.notify_one ();
}

void
Uploader::rescan ()
{
  // Every closed period without a valid marker.
  for (const std::string &rdir : dvr_rendition_dirs (options_.dir)) {
    GDir *d = g_dir_open (rdir.c_str (), 0, nullptr);
    if (!d)
      continue;
    while (const char *name = g_dir_read_name (d)) {
      int64_t start_s;
      std::string extension;
      if (!parse_period_file_name (name, &start_s, &extension) || extension != ".cmf")
        continue;
      const std::string base = rdir + "/" + std::to_string (start_s);
      if ((recorder_ && recorder_->is_open (base)) || period_uploaded (base))
        continue;
      enqueue (base);
    }
    g_dir_close (d);
  }
}

bool
Uploader::wait_idle (int64_t timeout_us)
{
  std::unique_lock lock (mutex_);
  return idle_.wait_for (lock, std::chrono::microseconds (timeout_us),
                         [&] { return stopping_ || (scanned_ && known_.empty ()); })
         && scanned_ && known_.empty ();
}

UploaderCounters
Uploader::counters () const
{
  std::lock_guard lock (mutex_);
  UploaderCounters c = counters_;
  c.backlog = known_.size ();
  const int64_t now_s = g_get_real_time () / G_USEC_PER_SEC;
  c.oldest_waiting_s = 0;
  for (const std::string &base : known_)
    c.oldest_waiting_s = std::max<int64_t> (
        c.oldest_waiting_s, now_s - (period_start_s (base) + options_.period_ns / 1000000000LL));
  return c;
}

void
Uploader::schedule ()
{
  pthread_setname_np (pthread_self (), "s3-schedule");
  int64_t next_rescan = 0, next_sweep = 0;
  std::unique_lock lock (mutex_);
  while (!stopping_) {
    const int64_t now = g_get_monotonic_time ();
    if (now >= next_sweep) {
      lock.unlock ();
      sweep ();
      lock.lock ();
      next_sweep = g_get_monotonic_time () + options_.sweep_us;
    }
    if (now >= next_rescan) {
      lock.unlock ();
      rescan ();
      lock.lock ();
      next_rescan = g_get_monotonic_time () + options_.rescan_us;
      scanned_ = true;
      if (known_.empty ())
        idle_.notify_all ();
    }
    wake_.wait_for (lock, std::chrono::microseconds (std::clamp<int64_t> (
                              std::min (next_rescan, next_sweep) - now, 1000, G_USEC_PER_SEC)));
  }
}

void
Uploader::work ()
{
  pthread_setname_np (pthread_self (), "s3-upload");
  std::unique_lock lock (mutex_);
  for (;;) {
    if (stopping_)
      return;
    // The first job whose backoff is over.
    const int64_t now = g_get_monotonic_time ();
    auto it = std::find_if (queue_.begin (), queue_.end (),
                            [now] (const Job &j) { return j.not_before_us <= now; });
    if (it == queue_.end ()) {
      int64_t wait_us = G_USEC_PER_SEC;
      for (const Job &j : queue_)
        wait_us = std::min (wait_us, j.not_before_us - now);
      wake_.wait_for (lock, std::chrono::microseconds (std::max<int64_t> (wait_us, 1000)));
      continue;
    }
    Job job = *it;
    queue_.erase (it);
    in_flight_++;
    lock.unlock ();
    std::string error;
    const bool ok = upload_period (job.base, &error);
    lock.lock ();
    in_flight_--;
    if (ok) {
      counters_.uploads_ok++;
      counters_.failing = false;
      known_.erase (job.base);
    } else if (error.empty ()) {
      known_.erase (job.base); // nothing to do now (written to again, or gone)
    } else {
      counters_.uploads_failed++;
      counters_.failing = true;
      counters_.last_error = error;
      job.failures++;
      job.not_before_us
          = g_get_monotonic_time ()
            + jittered (options_.retry_base_us, job.failures - 1, options_.retry_max_us);
      if (counters_.uploads_failed % 20 == 1)
        g_warning ("s3: %s (will try again; %" G_GUINT64_FORMAT " failed attempts so far)",
                   error.c_str (), counters_.uploads_failed);
      queue_.push_back (job);
    }
    if (known_.empty ())
      idle_.notify_all ();
  }
}

bool
Uploader::upload_file (const std::string &path, uint64_t size, const std::string &content_type,
                       std::string *error)
{
  const std::string key = object_key (options_.dir, path);
  if (size <= options_.part_size) {
    S3Result r = s3_->put_object (key, path, 0, size, content_type);
    if (!r.ok)
      *error = r.message;
    return r.ok;
  }
  std::string upload_id;
  S3Result r = s3_->create_multipart_upload (key, content_type, &upload_id);
  if (!r.ok) {
    *error = r.message;
    return false;
  }
  std::vector<std::string> etags;
  for (uint64_t offset = 0; offset < size; offset += options_.part_size) {
    {
      std::lock_guard lock (mutex_);
      if (stopping_) {
        r.ok = false;
        r.message = "PUT " + key + ": stopped";
        break;
      }
    }
    r = s3_->upload_part (key, upload_id, int (etags.size () + 1), path, offset,
                          std::min (options_.part_size, size - offset));
    if (!r.ok)
      break;
    etags.push_back (r.etag);
  }
  if (r.ok)
    r = s3_->complete_multipart_upload (key, upload_id, etags);
  if (!r.ok) {
    *error = r.message;
    // No half object left behind; a failed abort is the sweep's.
    s3_->abort_multipart_upload (key, upload_id);
    return false;
  }
  return true;
}

bool
Uploader::upload_period (const std::string &base, std::string *error)
{
  if (recorder_ && recorder_->is_open (base))
    return false; // its close brings it back
  auto data = file_size (base + ".cmf");
  auto index = file_size (base + ".idx");
  if (!data || !index || period_uploaded (base))
    return false;
  // The data, then the index that finds ranges in it, then what the
  // rendition is (for a multivariant playlist from S3 alone).
  if (!upload_file (base + ".cmf", *data, "video/mp4", error)
      || !upload_file (base + ".idx", *index, "application/octet-stream", error))
    return false;
  const std::string info = base.substr (0, base.rfind ('/')) + "/" + kRenditionFileName;
  if (auto size = file_size (info); size && !upload_file (info, *size, "application/json", error))
    return false;
  // Written to meanwhile (reopened): this copy is already stale.
  if (file_size (base + ".cmf") != data || file_size (base + ".idx") != index)
    return false;
  if (!write_upload_marker (base, { *data, *index }, error))
    return false;
  std::lock_guard lock (mutex_);
  counters_.bytes_uploaded += *data + *index;
  return true;
}

void
Uploader::sweep ()
{
  std::vector<S3Client::Upload> uploads;
  const int64_t now_s = g_get_real_time () / G_USEC_PER_SEC;
  uint64_t aborted = 0, expired = 0;
  if (s3_->list_multipart_uploads ("", &uploads).ok) {
    for (const S3Client::Upload &u : uploads)
      if (u.initiated_unix_s < now_s - options_.stale_upload_s
          && s3_->abort_multipart_upload (u.key, u.upload_id).ok)
        aborted++;
  }
  if (options_.retention_ns > 0) {
    std::vector<S3Client::Object> objects;
    if (s3_->list_objects ("", &objects).ok) {
      const int64_t before_s = now_s - options_.retention_ns / 1000000000LL;
      for (const S3Client::Object &o : objects) {
        const std::string &k = o.key;
        if (!g_str_has_suffix (k.c_str (), ".cmf") && !g_str_has_suffix (k.c_str (), ".idx"))
          continue;
        const int64_t start_s = period_start_s (k.substr (0, k.size () - 4));
        if (start_s > 0 && start_s * 1000000000LL + options_.period_ns < before_s * 1000000000LL
            && s3_->delete_object (k).ok)
          expired++;
      }
    }
  }
  std::lock_guard lock (mutex_);
  counters_.stale_aborted += aborted;
  counters_.objects_expired += expired;
}

} // namespace mirror
