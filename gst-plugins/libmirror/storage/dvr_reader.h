// SPDX-License-Identifier: LGPL-2.1-or-later
// Reading the DVR recording (recorder.h) back for time-shifted playback and
// clips: which renditions a stream has recorded, their recorded segments
// over a time range (from the period indexes), and the bytes of a period
// file, mapped rather than copied.
//
// The indexes of the periods read are cached (a period only grows, so a
// reload reads only the records appended since), bounded in records; any
// thread may call, one at a time per reader or under the reader's lock.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hls/dvr_playlist.h"
#include "hls/multivariant.h"
#include "storage/segment_index.h"
#include "util/bytes.h"

namespace mirror {

class DvrReader {
 public:
  // @dir and @period_ns as the recorder's options have them.
  DvrReader (std::string dir, int64_t period_ns);

  const std::string &dir () const { return dir_; }

  // The renditions of @stream with recorded periods, each with what its
  // rendition.json says (renditions without one are left out).
  std::vector<RenditionInfo> renditions (const std::string &stream);

  // The recorded segments of a rendition that overlap [from_ns, to_ns)
  // (unix ns), in time order, starting from the last independent segment
  // at or before from_ns where there is one.
  std::vector<DvrSegmentInput> segments (const std::string &stream, const std::string &rendition,
                                         int64_t from_ns, int64_t to_ns);

  // [offset, offset + length) of a period file, mapped read-only; nullopt
  // with *error (and *missing when there is no such file, or it is shorter).
  std::optional<Bytes> read (const std::string &stream, const std::string &rendition,
                             int64_t period_s, uint64_t offset, uint64_t length,
                             std::string *error);
  // The size of a period file; nullopt when it does not exist.
  std::optional<uint64_t> size (const std::string &stream, const std::string &rendition,
                                int64_t period_s);

  // Index records cached now (tests).
  size_t cached_records ();

 private:
  struct CachedIndex {
    uint64_t inode = 0;
    uint64_t valid_bytes = 0;
    std::vector<IndexRecord> records;
    std::list<std::string>::iterator lru;
  };
  // The records of @path, read or topped up; nullptr when unreadable.
  const std::vector<IndexRecord> *index_locked (const std::string &path);
  // Period starts (unix s) with an index under @dir, ascending.
  static std::vector<int64_t> periods (const std::string &dir);

  const std::string dir_;
  const int64_t period_ns_;
  std::mutex mutex_;
  std::map<std::string, CachedIndex> cache_;
  std::list<std::string> lru_; // most recent first
  size_t cached_records_ = 0;
};

} // namespace mirror
