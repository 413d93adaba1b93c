// SPDX-License-Identifier: LGPL-2.1-or-later
// The Origin's media: every live stream's StreamStore, by stream id. Streams
// are shared_ptrs so a request in flight keeps its stream alive after removal.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hls/stream_store.h"

namespace mirror {

class MediaStore {
 public:
  explicit MediaStore (StreamConfig defaults = {}) : defaults_ (defaults) {}

  // The stream's store, created with the defaults (or config) on first use.
  std::shared_ptr<StreamStore> open_stream (const std::string &id);
  std::shared_ptr<StreamStore> open_stream (const std::string &id, const StreamConfig &config);
  std::shared_ptr<StreamStore> find_stream (const std::string &id) const;
  // Closes it (held requests are answered) and forgets it.
  void remove_stream (const std::string &id);
  std::vector<std::string> stream_ids () const;

 private:
  const StreamConfig defaults_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<StreamStore>> streams_;
};

} // namespace mirror
