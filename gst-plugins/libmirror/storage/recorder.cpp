// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage/recorder.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>

#include <glib.h>

#include "storage/rendition_file.h"
#include "storage/segment_index.h"
#include "util/file_name.h"

namespace mirror {

namespace {

// Writes all of it (EINTR and short writes retried); false with errno set.
bool
write_all (int fd, const struct iovec *iov, int count)
{
  std::vector<struct iovec> left (iov, iov + count);
  size_t first = 0;
  while (first < left.size ()) {
    ssize_t n
        = writev (fd, left.data () + first, int (std::min<size_t> (left.size () - first, IOV_MAX)));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    size_t done = size_t (n);
    while (first < left.size () && done >= left[first].iov_len)
      done -= left[first++].iov_len;
    if (first < left.size ()) {
      left[first].iov_base = static_cast<uint8_t *> (left[first].iov_base) + done;
      left[first].iov_len -= done;
    }
  }
  return true;
}

bool
read_at (int fd, uint64_t offset, size_t size, std::vector<uint8_t> *out)
{
  out->resize (size);
  size_t got = 0;
  while (got < size) {
    ssize_t n = pread (fd, out->data () + got, size - got, off_t (offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    got += size_t (n);
  }
  return true;
}

// What a segment holds in the queue: its init and its parts.
size_t
queued_size (const RecordedSegment &segment)
{
  size_t size = segment.init.size ();
  for (const Bytes &part : segment.parts)
    size += part.size ();
  return size;
}

} // namespace

// One rendition's open period.
struct Recorder::Writer {
  ~Writer ()
  {
    for (int fd : { data_fd, index_fd })
      if (fd >= 0)
        close (fd);
  }
  int64_t period_start_ns = -1;
  int data_fd = -1;
  int index_fd = -1;
  uint64_t data_end = 0;
  std::vector<uint8_t> init;          // the init segment this period holds last
  std::vector<uint8_t> previous_init; // the one before this period (none: empty)
  int64_t previous_end_ns = 0;
  // This batch's records, written once its data is durable.
  std::vector<IndexRecord> pending;
  // The recorded segment being merged (written, not yet indexed).
  std::optional<IndexRecord> merging;
  bool data_dirty = false;
  int64_t last_write_us = 0;         // monotonic
  std::optional<RenditionInfo> info; // rendition.json as last written
  std::string dir;
  std::string base; // dir/{period start}
};

std::vector<std::string>
dvr_rendition_dirs (const std::string &dir)
{
  std::vector<std::string> out;
  GDir *streams = g_dir_open (dir.c_str (), 0, nullptr);
  if (!streams)
    return out;
  while (const char *stream = g_dir_read_name (streams)) {
    const std::string sdir = dir + "/" + stream;
    GDir *renditions = g_dir_open (sdir.c_str (), 0, nullptr);
    if (!renditions)
      continue;
    while (const char *rendition = g_dir_read_name (renditions))
      if (g_file_test ((sdir + "/" + rendition).c_str (), G_FILE_TEST_IS_DIR))
        out.push_back (sdir + "/" + rendition);
    g_dir_close (renditions);
  }
  g_dir_close (streams);
  return out;
}

bool
parse_period_file_name (const char *name, int64_t *start_s, std::string *extension)
{
  char *end = nullptr;
  const gint64 start = g_ascii_strtoll (name, &end, 10);
  if (end == name || start <= 0
      || (g_strcmp0 (end, ".cmf") != 0 && g_strcmp0 (end, ".idx") != 0
          && g_strcmp0 (end, ".s3") != 0))
    return false;
  *start_s = start;
  *extension = end;
  return true;
}

std::optional<UploadMarker>
read_upload_marker (const std::string &base)
{
  gchar *text = nullptr;
  if (!g_file_get_contents ((base + ".s3").c_str (), &text, nullptr, nullptr))
    return std::nullopt;
  UploadMarker m;
  const bool ok
      = std::sscanf (text, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &m.data_size, &m.index_size)
        == 2;
  g_free (text);
  return ok ? std::optional<UploadMarker> (m) : std::nullopt;
}

bool
write_upload_marker (const std::string &base, const UploadMarker &m, std::string *error)
{
  const std::string text
      = std::to_string (m.data_size) + " " + std::to_string (m.index_size) + "\n";
  GError *err = nullptr;
  if (!g_file_set_contents ((base + ".s3").c_str (), text.c_str (), gssize (text.size ()), &err)) {
    *error = err->message;
    g_error_free (err);
    return false;
  }
  return true;
}

bool
period_uploaded (const std::string &base)
{
  auto marker = read_upload_marker (base);
  if (!marker)
    return false;
  struct stat st;
  // The data file may be gone already (evicted): then only the index counts.
  if (stat ((base + ".cmf").c_str (), &st) == 0 && uint64_t (st.st_size) != marker->data_size)
    return false;
  return stat ((base + ".idx").c_str (), &st) == 0 && uint64_t (st.st_size) == marker->index_size;
}

std::string
Recorder::rendition_dir (const std::string &dir, const std::string &stream,
                         const std::string &rendition)
{
  return dir + "/" + safe_file_name (stream) + "/" + safe_file_name (rendition);
}

Recorder::Window
Recorder::window (const std::string &dir, const std::string &stream)
{
  Window w;
  const std::string stream_dir = dir + "/" + safe_file_name (stream);
  GDir *renditions = g_dir_open (stream_dir.c_str (), 0, nullptr);
  if (!renditions)
    return w;
  while (const char *rendition = g_dir_read_name (renditions)) {
    const std::string rdir = stream_dir + "/" + rendition;
    GDir *d = g_dir_open (rdir.c_str (), 0, nullptr);
    if (!d)
      continue;
    std::vector<std::string> bases;
    while (const char *name = g_dir_read_name (d)) {
      struct stat st;
      const std::string path = rdir + "/" + name;
      if (stat (path.c_str (), &st) == 0)
        w.bytes += uint64_t (st.st_size);
      if (g_str_has_suffix (name, ".idx"))
        bases.push_back (path.substr (0, path.size () - 4));
    }
    g_dir_close (d);
    if (bases.empty ())
      continue;
    std::sort (bases.begin (), bases.end (), [] (const std::string &a, const std::string &b) {
      return a.size () != b.size () ? a.size () < b.size () : a < b; // numbers
    });
    w.periods += bases.size ();
    for (const std::string &base : bases) {
      w.uploaded += period_uploaded (base) ? 1 : 0;
      w.local += g_file_test ((base + ".cmf").c_str (), G_FILE_TEST_EXISTS) ? 1 : 0;
    }
    w.renditions.push_back (rendition);
    std::vector<IndexRecord> records;
    for (const std::string *base : { &bases.front (), &bases.back () }) {
      if (!read_index (*base + ".idx", &records))
        continue;
      for (const IndexRecord &r : records) {
        if (r.kind != IndexKind::kSegment)
          continue;
        w.start_ns = w.any ? std::min (w.start_ns, r.wallclock_ns) : r.wallclock_ns;
        w.end_ns = w.any ? std::max (w.end_ns, r.wallclock_ns + r.duration_ns)
                         : r.wallclock_ns + r.duration_ns;
        w.any = true;
      }
    }
  }
  g_dir_close (renditions);
  std::sort (w.renditions.begin (), w.renditions.end ());
  return w;
}

Recorder::Recorder (RecorderOptions options) : options_ (std::move (options))
{
  last_space_check_us_ = g_get_monotonic_time () - options_.space_check_us / 2;
  thread_ = std::thread ([this] { run (); });
}

Recorder::~Recorder ()
{
  {
    std::lock_guard lock (mutex_);
    stopping_ = true;
  }
  wake_.notify_all ();
  thread_.join ();
}

bool
Recorder::submit (RecordedSegment segment)
{
  const size_t size = queued_size (segment);
  {
    std::lock_guard lock (mutex_);
    if (stopping_ || counters_.disk_full
        || counters_.queued_bytes + size > options_.queue_limit_bytes) {
      if (counters_.dropped_segments++ % 100 == 0)
        g_warning ("recorder: dropping %s/%s segment %" G_GUINT64_FORMAT " (%s; %" G_GUINT64_FORMAT
                   " dropped so far)",
                   segment.stream.c_str (), segment.rendition.c_str (), segment.msn,
                   counters_.disk_full ? "the disk is full" : "the write queue is full",
                   counters_.dropped_segments);
      return false;
    }
    counters_.queued_bytes += size;
    queue_.push_back (std::move (segment));
    submitted_++;
  }
  wake_.notify_one ();
  return true;
}

uint64_t
Recorder::add_listener (Listener listener)
{
  std::lock_guard lock (listeners_mutex_);
  uint64_t id = next_listener_++;
  listeners_.emplace (id, std::move (listener));
  return id;
}

void
Recorder::remove_listener (uint64_t id)
{
  std::lock_guard lock (listeners_mutex_);
  listeners_.erase (id);
}

void
Recorder::flush ()
{
  std::unique_lock lock (mutex_);
  const uint64_t target = submitted_;
  drained_.wait (lock, [&] { return written_ >= target; });
}

RecorderCounters
Recorder::counters () const
{
  std::lock_guard lock (mutex_);
  RecorderCounters c = counters_;
  if (!write_seconds_.empty ()) {
    std::vector<double> sorted = write_seconds_;
    std::sort (sorted.begin (), sorted.end ());
    c.write_p99_s = sorted[std::min (sorted.size () - 1, sorted.size () * 99 / 100)];
    c.write_max_s = sorted.back ();
  }
  return c;
}

void
Recorder::run ()
{
  pthread_setname_np (pthread_self (), "recorder");
  std::vector<RecordedSegment> batch;
  for (;;) {
    {
      std::unique_lock lock (mutex_);
      const auto idle_check = std::chrono::microseconds (
          std::clamp<int64_t> (options_.idle_close_us, 1000, 5 * G_USEC_PER_SEC));
      const bool woken
          = wake_.wait_for (lock, idle_check, [&] { return stopping_ || !queue_.empty (); });
      if (stopping_ && queue_.empty ()) {
        lock.unlock ();
        // Everything is written: index what was being merged.
        for (auto &[key, w] : writers_)
          if (w) {
            end_merge (w.get ());
            commit (w.get ());
          }
        return;
      }
      if (!woken) {
        lock.unlock ();
        close_idle_writers ();
        if (g_get_monotonic_time () - last_space_check_us_ >= options_.space_check_us) {
          last_space_check_us_ = g_get_monotonic_time ();
          enforce_space ();
        }
        continue;
      }
      batch.assign (std::make_move_iterator (queue_.begin ()),
                    std::make_move_iterator (queue_.end ()));
      queue_.clear ();
    }
    write_batch (batch);
    // Before the batch counts as written, so that flush () sees its effect.
    if (g_get_monotonic_time () - last_space_check_us_ >= options_.space_check_us) {
      last_space_check_us_ = g_get_monotonic_time ();
      enforce_space ();
    }
    size_t size = 0;
    for (const RecordedSegment &s : batch)
      size += queued_size (s);
    {
      std::lock_guard lock (mutex_);
      counters_.queued_bytes -= std::min (counters_.queued_bytes, size);
      written_ += batch.size ();
    }
    drained_.notify_all ();
    batch.clear ();
  }
}

void
Recorder::fail (const std::string &what, int error)
{
  std::lock_guard lock (mutex_);
  counters_.write_errors++;
  counters_.last_error = what + ": " + std::strerror (error);
  if (error == ENOSPC && !counters_.disk_full) {
    counters_.disk_full = true;
    g_critical ("recorder: %s: the disk is full: recording stops (live delivery goes on)",
                what.c_str ());
  } else if (counters_.write_errors % 100 == 1) {
    g_warning ("recorder: %s", counters_.last_error.c_str ());
  }
}

Recorder::Writer *
Recorder::writer_for (const RecordedSegment &segment)
{
  const int64_t period
      = options_.period_ns > 0 ? options_.period_ns : 600LL * G_USEC_PER_SEC * 1000;
  const int64_t start = segment.wallclock_ns / period * period;
  auto key = std::make_pair (segment.stream, segment.rendition);
  auto &slot = writers_[key];
  if (slot && slot->period_start_ns == start)
    return slot.get ();

  // A new period (or the first, or one reopened after a restart or crash).
  // What the old one wrote becomes durable and indexed first.
  int64_t previous_end = 0;
  std::vector<uint8_t> previous_init;
  if (slot) {
    end_merge (slot.get ());
    commit (slot.get ());
    previous_end = slot->previous_end_ns;
    previous_init = slot->init.empty () ? slot->previous_init : slot->init;
    closed (slot.get ());
  }
  slot.reset ();
  const std::string dir = rendition_dir (options_.dir, segment.stream, segment.rendition);
  if (g_mkdir_with_parents (dir.c_str (), 0755) != 0) {
    fail (dir, errno);
    return nullptr;
  }
  if (options_.retention_ns > 0)
    remove_periods_before (dir, segment.wallclock_ns - options_.retention_ns);
  const std::string base = dir + "/" + std::to_string (start / 1000000000LL);
  auto w = std::make_unique<Writer> ();
  w->period_start_ns = start;
  w->dir = dir;
  w->base = base;
  // Reopened after an upload: what S3 has is no longer all of it.
  if (unlink ((base + ".s3").c_str ()) == 0)
    g_message ("recorder: %s reopened after its upload: it will be uploaded again", base.c_str ());
  w->previous_end_ns = previous_end;
  w->previous_init = std::move (previous_init);
  w->data_fd = open ((base + ".cmf").c_str (), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  w->index_fd = open ((base + ".idx").c_str (), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (w->data_fd < 0 || w->index_fd < 0) {
    fail (base, errno);
    return nullptr;
  }

  // Whatever a crash left past the last whole record goes.
  std::vector<IndexRecord> records;
  uint64_t valid = 0;
  std::string error;
  if (!read_index (base + ".idx", &records, &valid, &error)) {
    fail (error, errno);
    return nullptr;
  }
  for (const IndexRecord &r : records) {
    w->data_end = std::max (w->data_end, r.offset + r.length);
    if (r.kind == IndexKind::kSegment)
      w->previous_end_ns = std::max (w->previous_end_ns, r.wallclock_ns + r.duration_ns);
  }
  struct stat data_st, index_st;
  if (fstat (w->data_fd, &data_st) != 0 || fstat (w->index_fd, &index_st) != 0) {
    fail (base, errno);
    return nullptr;
  }
  if (uint64_t (data_st.st_size) < w->data_end) {
    // The index points past the data: only a damaged disk does that. Keep
    // the records that fit.
    while (!records.empty ()
           && records.back ().offset + records.back ().length > uint64_t (data_st.st_size))
      records.pop_back ();
    valid = records.size () * kIndexRecordSize;
    w->data_end = 0;
    for (const IndexRecord &r : records)
      w->data_end = std::max (w->data_end, r.offset + r.length);
  }
  uint64_t cut = uint64_t (data_st.st_size) - w->data_end;
  if ((cut > 0 && ftruncate (w->data_fd, off_t (w->data_end)) != 0)
      || (uint64_t (index_st.st_size) > valid && ftruncate (w->index_fd, off_t (valid)) != 0)) {
    fail (base, errno);
    return nullptr;
  }
  if (cut > 0 || uint64_t (index_st.st_size) > valid)
    g_message ("recorder: %s: cut %" G_GUINT64_FORMAT " bytes of data and %" G_GUINT64_FORMAT
               " of index that no whole record covered",
               base.c_str (), cut, uint64_t (index_st.st_size) - valid);
  for (auto it = records.rbegin (); it != records.rend (); ++it)
    if (it->kind == IndexKind::kInit) {
      if (!read_at (w->data_fd, it->offset, size_t (it->length), &w->init))
        w->init.clear ();
      break;
    }
  {
    std::lock_guard lock (mutex_);
    counters_.periods_opened++;
    counters_.recovered_bytes_cut += cut;
    open_bases_.insert (base);
  }
  slot = std::move (w);
  return slot.get ();
}

void
Recorder::remove_periods_before (const std::string &dir, int64_t before_ns)
{
  GDir *d = g_dir_open (dir.c_str (), 0, nullptr);
  if (!d)
    return;
  uint64_t removed = 0;
  while (const char *name = g_dir_read_name (d)) {
    int64_t start_s;
    std::string extension;
    if (!parse_period_file_name (name, &start_s, &extension))
      continue;
    if (start_s * 1000000000LL + options_.period_ns > before_ns)
      continue;
    const std::string path = dir + "/" + name;
    if (unlink (path.c_str ()) == 0)
      removed += extension == ".idx" ? 1 : 0;
    else
      fail (path, errno);
  }
  g_dir_close (d);
  if (removed > 0) {
    std::lock_guard lock (mutex_);
    counters_.periods_removed += removed;
  }
}

void
Recorder::close_idle_writers ()
{
  const int64_t now = g_get_monotonic_time ();
  for (auto it = writers_.begin (); it != writers_.end ();) {
    if (it->second && now - it->second->last_write_us < options_.idle_close_us) {
      ++it;
      continue;
    }
    if (it->second) {
      end_merge (it->second.get ());
      commit (it->second.get ());
      closed (it->second.get ());
    }
    it = writers_.erase (it);
  }
  std::lock_guard lock (mutex_);
  counters_.open_periods = writers_.size ();
}

void
Recorder::end_merge (Writer *w)
{
  if (w->merging)
    w->pending.push_back (*w->merging);
  w->merging.reset ();
}

void
Recorder::closed (Writer *w)
{
  {
    std::lock_guard lock (mutex_);
    open_bases_.erase (w->base);
  }
  if (on_period_closed_)
    on_period_closed_ (w->base);
}

void
Recorder::set_on_period_closed (std::function<void (const std::string &)> fn)
{
  on_period_closed_ = std::move (fn);
}

bool
Recorder::is_open (const std::string &base) const
{
  std::lock_guard lock (mutex_);
  return open_bases_.count (base) > 0;
}

void
Recorder::enforce_space ()
{
  struct Period {
    std::string base;
    int64_t start_s;
    uint64_t data = 0, index = 0; // bytes on disk
  };
  std::vector<Period> periods;
  uint64_t total = 0;
  for (const std::string &rdir : dvr_rendition_dirs (options_.dir)) {
    GDir *d = g_dir_open (rdir.c_str (), 0, nullptr);
    if (!d)
      continue;
    std::map<int64_t, Period> here;
    while (const char *name = g_dir_read_name (d)) {
      int64_t start_s;
      std::string extension;
      struct stat st;
      if (!parse_period_file_name (name, &start_s, &extension) || extension == ".s3"
          || stat ((rdir + "/" + name).c_str (), &st) != 0)
        continue;
      Period &p = here[start_s];
      p.base = rdir + "/" + std::to_string (start_s);
      p.start_s = start_s;
      (extension == ".cmf" ? p.data : p.index) = uint64_t (st.st_size);
      total += uint64_t (st.st_size);
    }
    g_dir_close (d);
    for (auto &[start, p] : here)
      periods.push_back (std::move (p));
  }
  std::sort (periods.begin (), periods.end (),
             [] (const Period &a, const Period &b) { return a.start_s < b.start_s; });

  const int64_t now_ns = g_get_real_time () * 1000;
  uint64_t removed = 0, evicted = 0;
  for (const Period &p : periods) {
    if (is_open (p.base))
      continue;
    const int64_t end_ns = p.start_s * 1000000000LL + options_.period_ns;
    if (options_.retention_ns > 0 && end_ns < now_ns - options_.retention_ns) {
      // Past the window, every stream's (one that ended included).
      for (const char *ext : { ".cmf", ".idx", ".s3" })
        unlink ((p.base + ext).c_str ());
      total -= p.data + p.index;
      removed++;
    } else if (options_.keep_until_uploaded) {
      // Only what S3 has, and only once it is older than the ttl.
      if (p.data == 0 || end_ns + options_.ttl_ns > now_ns || !period_uploaded (p.base))
        continue;
      if (unlink ((p.base + ".cmf").c_str ()) == 0) {
        total -= p.data;
        evicted++;
      }
    } else if (options_.max_bytes > 0 && total > options_.max_bytes) {
      for (const char *ext : { ".cmf", ".idx", ".s3" })
        unlink ((p.base + ext).c_str ());
      total -= p.data + p.index;
      removed++;
    }
  }
  struct statvfs fs;
  const uint64_t free_bytes
      = statvfs (options_.dir.c_str (), &fs) == 0 ? uint64_t (fs.f_bavail) * fs.f_frsize : 0;
  std::lock_guard lock (mutex_);
  counters_.periods_removed += removed;
  counters_.periods_evicted += evicted;
  counters_.cache_bytes = total;
  counters_.disk_free_bytes = free_bytes;
  if (removed > 0)
    g_message ("recorder: %" G_GUINT64_FORMAT " periods removed (past the retention time, or "
               "the oldest over the cache's %" G_GUINT64_FORMAT " bytes)",
               removed, options_.max_bytes);
  if (options_.max_bytes > 0 && total > options_.max_bytes && options_.keep_until_uploaded)
    g_warning ("recorder: the cache holds %" G_GUINT64_FORMAT " bytes, over its %" G_GUINT64_FORMAT
               ": periods leave only once uploaded to S3 and older than the ttl",
               total, options_.max_bytes);
}

void
Recorder::commit (Writer *w)
{
  if (w->pending.empty ())
    return;
  // The data first, then the records that point to it.
  if (options_.sync && w->data_dirty && fdatasync (w->data_fd) != 0)
    fail ("fdatasync", errno);
  std::vector<uint8_t> out (w->pending.size () * kIndexRecordSize);
  for (size_t i = 0; i < w->pending.size (); i++)
    encode_index_record (w->pending[i], out.data () + i * kIndexRecordSize);
  struct iovec iov = { out.data (), out.size () };
  if (!write_all (w->index_fd, &iov, 1))
    fail ("index", errno);
  else if (options_.sync && fdatasync (w->index_fd) != 0)
    fail ("fdatasync index", errno);
  w->pending.clear ();
  w->data_dirty = false;
}

void
Recorder::write_batch (std::vector<RecordedSegment> &batch)
{
  if (counters ().disk_full)
    return;
  const int64_t began_us = g_get_monotonic_time ();
  uint64_t bytes = 0, segments = 0;
  std::set<std::pair<std::string, std::string>> written;
  for (const RecordedSegment &s : batch) {
    Writer *w = writer_for (s);
    if (!w)
      continue;
    if (!s.info.name.empty () && w->info != s.info) {
      std::string error;
      if (write_rendition_info (w->dir + "/" + kRenditionFileName, s.info, &error))
        w->info = s.info;
      else
        fail (error, errno);
    }
    std::vector<struct iovec> iov;
    auto differs = [&s] (const std::vector<uint8_t> &init) {
      return init.size () != s.init.size ()
             || std::memcmp (init.data (), s.init.data (), s.init.size ()) != 0;
    };
    // Each period file holds the init its segments need; a different one
    // from the last recorded is a discontinuity.
    const bool new_init = !s.init.empty () && differs (w->init);
    const std::vector<uint8_t> &last_init = w->init.empty () ? w->previous_init : w->init;
    const bool init_changed = new_init && !last_init.empty () && differs (last_init);
    uint64_t at = w->data_end;
    IndexRecord init_record;
    if (new_init) {
      init_record.kind = IndexKind::kInit;
      init_record.init_generation = s.init_generation;
      init_record.wallclock_ns = s.wallclock_ns;
      init_record.offset = at;
      init_record.length = s.init.size ();
      iov.push_back ({ const_cast<uint8_t *> (s.init.data ()), s.init.size () });
      at += s.init.size ();
    }
    IndexRecord record;
    record.kind = IndexKind::kSegment;
    record.independent = s.independent;
    record.discontinuity = s.discontinuity || init_changed;
    record.gap
        = w->previous_end_ns > 0
          && s.wallclock_ns > w->previous_end_ns + std::max<int64_t> (s.duration_ns, 1000000000LL);
    record.init_generation = s.init_generation;
    record.msn = s.msn;
    record.wallclock_ns = s.wallclock_ns;
    record.duration_ns = s.duration_ns;
    record.offset = at;
    record.parts = uint32_t (s.parts.size ());
    for (const Bytes &part : s.parts) {
      iov.push_back ({ const_cast<uint8_t *> (part.data ()), part.size () });
      record.length += part.size ();
    }
    if (!write_all (w->data_fd, iov.data (), int (iov.size ()))) {
      // The torn tail is cut when the period is opened again.
      fail (s.stream + "/" + s.rendition + " segment " + std::to_string (s.msn), errno);
      writers_.erase ({ s.stream, s.rendition });
      continue;
    }
    // Merged into the recorded segment in progress when it continues it
    // (same init, no break, the bytes right after) and it is not long
    // enough yet.
    IndexRecord *m = w->merging ? &*w->merging : nullptr;
    const bool merge = m && !new_init && !record.discontinuity && !record.gap
                       && record.msn == m->msn + m->segments
                       && record.offset == m->offset + m->length
                       && record.init_generation == m->init_generation
                       && m->duration_ns + record.duration_ns
                              <= options_.segment_length_ns + record.duration_ns / 2;
    if (!merge)
      end_merge (w);
    if (new_init) {
      w->init.assign (s.init.data (), s.init.data () + s.init.size ());
      w->pending.push_back (init_record);
    }
    if (merge) {
      m->duration_ns += record.duration_ns;
      m->length += record.length;
      m->parts += record.parts;
      m->segments++;
    } else {
      w->merging = record;
    }
    // Whole once another like this one would overshoot by more than half.
    if (w->merging->duration_ns + record.duration_ns / 2 > options_.segment_length_ns)
      end_merge (w);
    w->data_end = at + record.length;
    w->previous_end_ns = s.wallclock_ns + s.duration_ns;
    w->data_dirty = true;
    w->last_write_us = g_get_monotonic_time ();
    bytes += record.length + (new_init ? init_record.length : 0);
    segments++;
    written.emplace (s.stream, s.rendition);
  }

  for (auto &[key, w] : writers_)
    if (w)
      commit (w.get ());
  close_idle_writers ();
  {
    std::lock_guard lock (mutex_);
    counters_.segments += segments;
    counters_.bytes += bytes;
    const double took = double (g_get_monotonic_time () - began_us) / 1e6;
    if (write_seconds_.size () < 256)
      write_seconds_.push_back (took);
    else
      write_seconds_[write_next_++ % 256] = took;
  }
  std::lock_guard lock (listeners_mutex_);
  for (const auto &[stream, rendition] : written)
    for (const auto &[id, listener] : listeners_)
      listener (stream, rendition);
}

} // namespace mirror
