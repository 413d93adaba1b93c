// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry/watch_list.h"

#include <utility>
#include <vector>

namespace mirror {

unsigned
WatchList::add (StreamRegistry::EventFn fn)
{
  std::lock_guard<std::mutex> lock (mutex_);
  unsigned id = next_id_++;
  if (next_id_ == 0)
    next_id_ = 1; // 0 is never a valid watch id
  watches_.emplace (id, std::make_shared<StreamRegistry::EventFn> (std::move (fn)));
  return id;
}

void
WatchList::remove (unsigned watch_id)
{
  std::shared_ptr<StreamRegistry::EventFn> gone;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    auto it = watches_.find (watch_id);
    if (it == watches_.end ())
      return;
    gone = std::move (it->second);
    watches_.erase (it);
  }
  // gone is released outside the lock: its captures may do anything.
}

void
WatchList::notify (const RegistryEvent &event)
{
  std::vector<std::pair<unsigned, std::shared_ptr<StreamRegistry::EventFn>>> snapshot;
  {
    std::lock_guard<std::mutex> lock (mutex_);
    if (closed_)
      return;
    snapshot.assign (watches_.begin (), watches_.end ());
  }
  for (auto &[id, fn] : snapshot) {
    {
      std::lock_guard<std::mutex> lock (mutex_);
      if (closed_)
        return;
      if (!watches_.count (id))
        continue;
    }
    if (*fn)
      (*fn) (event);
  }
}

void
WatchList::close ()
{
  std::map<unsigned, std::shared_ptr<StreamRegistry::EventFn>> gone;
  std::lock_guard<std::mutex> lock (mutex_);
  closed_ = true;
  gone.swap (watches_);
}

} // namespace mirror
