// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/media_store.h"

namespace mirror {

std::shared_ptr<StreamStore>
MediaStore::open_stream (const std::string &id)
{
  return open_stream (id, defaults_);
}

std::shared_ptr<StreamStore>
MediaStore::open_stream (const std::string &id, const StreamConfig &config)
{
  std::lock_guard<std::mutex> lock (mutex_);
  auto &slot = streams_[id];
  if (!slot)
    slot = std::make_shared<StreamStore> (id, config);
  return slot;
}

std::shared_ptr<StreamStore>
MediaStore::find_stream (const std::string &id) const
{
  std::lock_guard<std::mutex> lock (mutex_);
  auto it = streams_.find (id);
  return it == streams_.end () ? nullptr : it->second;
}

void
MediaStore::remove_stream (const std::string &id)
{
  std::shared_ptr<StreamStore> gone;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    auto it = streams_.find (id);
    if (it == streams_.end ())
      return;
    gone = std::move (it->second);
    streams_.erase (it);
  }
  // Outside the lock: wake-ups may call back into the media store.
  gone->close ();
}

std::vector<std::string>
MediaStore::stream_ids () const
{
  std::lock_guard<std::mutex> lock (mutex_);
  std::vector<std::string> ids;
  for (const auto &[id, s] : streams_)
    ids.push_back (id);
  return ids;
}

} // namespace mirror
