// SPDX-License-Identifier: LGPL-2.1-or-later
#include "storage/dvr_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <glib.h>

#include "storage/recorder.h"
#include "storage/rendition_file.h"
#include "util/file_name.h"

namespace mirror {

namespace {

// About 64 MiB of cached index records (a day of 500 ms segments is 172,800
// per rendition).
constexpr size_t kMaxCachedRecords = 1000000;

} // namespace

DvrReader::DvrReader (std::string dir, int64_t period_ns)
    : dir_ (std::move (dir)), period_ns_ (period_ns > 0 ? period_ns : 600LL * 1000000000)
{}

std::vector<int64_t>
DvrReader::periods (const std::string &dir)
{
  std::vector<int64_t> out;
  GDir *d = g_dir_open (dir.c_str (), 0, nullptr);
  if (!d)
    return out;
  while (const char *name = g_dir_read_name (d)) {
    int64_t start_s;
    std::string extension;
    if (parse_period_file_name (name, &start_s, &extension) && extension == ".idx")
      out.push_back (start_s);
  }
  g_dir_close (d);
  std::sort (out.begin (), out.end ());
  return out;
}

std::vector<RenditionInfo>
DvrReader::renditions (const std::string &stream)
{
  std::vector<RenditionInfo> out;
  const std::string stream_dir = dir_ + "/" + safe_file_name (stream);
  GDir *d = g_dir_open (stream_dir.c_str (), 0, nullptr);
  if (!d)
    return out;
  while (const char *name = g_dir_read_name (d)) {
    const std::string rdir = stream_dir + "/" + name;
    if (periods (rdir).empty ())
      continue;
    if (auto info = read_rendition_info (rdir + "/" + kRenditionFileName);
        info && info->name == name)
      out.push_back (*info);
  }
  g_dir_close (d);
  std::sort (out.begin (), out.end (),
             [] (const RenditionInfo &a, const RenditionInfo &b) { return a.name < b.name; });
  return out;
}

const std::vector<IndexRecord> *
DvrReader::index_locked (const std::string &path)
{
  struct stat st;
  if (stat (path.c_str (), &st) != 0) {
    if (auto it = cache_.find (path); it != cache_.end ()) {
      cached_records_ -= it->second.records.size ();
      lru_.erase (it->second.lru);
      cache_.erase (it);
    }
    return nullptr;
  }
  auto it = cache_.find (path);
  if (it != cache_.end ()
      && (it->second.inode != uint64_t (st.st_ino)
          || uint64_t (st.st_size) < it->second.valid_bytes)) {
    // Another file by that name (cut after a crash, or made again).
    cached_records_ -= it->second.records.size ();
    lru_.erase (it->second.lru);
    cache_.erase (it);
    it = cache_.end ();
  }
  if (it == cache_.end ()) {
    lru_.push_front (path);
    it = cache_.emplace (path, CachedIndex{}).first;
    it->second.inode = uint64_t (st.st_ino);
    it->second.lru = lru_.begin ();
  } else {
    lru_.splice (lru_.begin (), lru_, it->second.lru);
  }
  CachedIndex &c = it->second;
  if (uint64_t (st.st_size) >= c.valid_bytes + kIndexRecordSize) {
    std::vector<IndexRecord> more;
    uint64_t valid = c.valid_bytes;
    if (read_index (path, &more, &valid, nullptr, c.valid_bytes)) {
      c.records.insert (c.records.end (), more.begin (), more.end ());
      c.valid_bytes = valid;
      cached_records_ += more.size ();
    }
  }
  // Evict the least recently used, never the one just read.
  while (cached_records_ > kMaxCachedRecords && lru_.size () > 1) {
    auto victim = cache_.find (lru_.back ());
    cached_records_ -= victim->second.records.size ();
    cache_.erase (victim);
    lru_.pop_back ();
  }
  return &c.records;
}

std::vector<DvrSegmentInput>
DvrReader::segments (const std::string &stream, const std::string &rendition, int64_t from_ns,
                     int64_t to_ns)
{
  std::vector<DvrSegmentInput> out;
  const std::string dir = Recorder::rendition_dir (dir_, stream, rendition);
  const std::vector<int64_t> starts = periods (dir);
  std::lock_guard lock (mutex_);
  // The period holding from_ns, and the one before in case its independent
  // segment is there.
  size_t first = 0;
  for (size_t i = 0; i < starts.size (); i++)
    if (starts[i] * 1000000000 + period_ns_ <= from_ns)
      first = i;
  bool started = false;
  for (size_t i = first; i < starts.size (); i++) {
    if (starts[i] * 1000000000 >= to_ns)
      break;
    const std::vector<IndexRecord> *records
        = index_locked (dir + "/" + std::to_string (starts[i]) + ".idx");
    if (!records)
      continue;
    const IndexRecord *init = nullptr;
    for (const IndexRecord &r : *records) {
      if (r.kind == IndexKind::kInit) {
        init = &r;
        continue;
      }
      if (!init || r.wallclock_ns >= to_ns)
        continue;
      // Up to from_ns, only the last independent segment that starts
      // there (and what follows it) is kept: where playback starts.
      const bool before = r.wallclock_ns <= from_ns;
      if (before && !r.independent && !started)
        continue;
      DvrSegmentInput s;
      s.period_s = starts[i];
      s.msn = r.msn;
      s.merged = r.segments;
      s.wallclock_ns = r.wallclock_ns;
      s.duration_ns = r.duration_ns;
      s.offset = r.offset;
      s.length = r.length;
      s.init_offset = init->offset;
      s.init_length = init->length;
      s.independent = r.independent;
      s.discontinuity = r.discontinuity;
      s.gap = r.gap;
      if (before && r.independent)
        out.clear ();
      started = true;
      out.push_back (s);
    }
  }
  // A range that starts in a hole begins at the first segment after it.
  return out;
}

std::optional<uint64_t>
DvrReader::size (const std::string &stream, const std::string &rendition, int64_t period_s)
{
  struct stat st;
  const std::string path = Recorder::rendition_dir (dir_, stream, rendition) + "/"
                           + std::to_string (period_s) + ".cmf";
  if (stat (path.c_str (), &st) != 0)
    return std::nullopt;
  return uint64_t (st.st_size);
}

std::optional<Bytes>
DvrReader::read (const std::string &stream, const std::string &rendition, int64_t period_s,
                 uint64_t offset, uint64_t length, std::string *error)
{
  const std::string path = Recorder::rendition_dir (dir_, stream, rendition) + "/"
                           + std::to_string (period_s) + ".cmf";
  int fd = open (path.c_str (), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": " + std::strerror (errno);
    return std::nullopt;
  }
  struct stat st;
  if (fstat (fd, &st) != 0 || offset + length > uint64_t (st.st_size)) {
    *error = path + ": shorter than " + std::to_string (offset + length) + " bytes";
    close (fd);
    return std::nullopt;
  }
  if (length == 0) {
    close (fd);
    return Bytes ();
  }
  // The mapping starts on a page; the view starts where asked.
  const uint64_t page = uint64_t (sysconf (_SC_PAGESIZE));
  const uint64_t base = offset / page * page;
  const size_t map_size = size_t (offset + length - base);
  void *map = mmap (nullptr, map_size, PROT_READ, MAP_SHARED, fd, off_t (base));
  const int mmap_errno = errno;
  close (fd);
  if (map == MAP_FAILED) {
    *error = path + ": mmap: " + std::strerror (mmap_errno);
    return std::nullopt;
  }
  return Bytes::wrap (static_cast<const uint8_t *> (map) + (offset - base), size_t (length),
                      [map, map_size] () { munmap (map, map_size); });
}

size_t
DvrReader::cached_records ()
{
  std::lock_guard lock (mutex_);
  return cached_records_;
}

} // namespace mirror
