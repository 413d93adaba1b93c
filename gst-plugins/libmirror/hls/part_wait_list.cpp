// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls/part_wait_list.h"

#include <algorithm>

namespace mirror {

uint64_t
PartWaitList::add (PartPosition until, WakeFn fn)
{
  std::lock_guard<std::mutex> lock (mutex_);
  uint64_t id = next_id_++;
  by_position_[until].push_back (Waiter{ id, std::move (fn) });
  positions_by_id_.emplace (id, until);
  return id;
}

bool
PartWaitList::cancel (uint64_t id)
{
  WakeFn gone; // destroyed outside the lock: its captures may do anything
  std::lock_guard<std::mutex> lock (mutex_);
  auto it = positions_by_id_.find (id);
  if (it == positions_by_id_.end ())
    return false;
  auto group = by_position_.find (it->second);
  positions_by_id_.erase (it);
  if (group == by_position_.end ())
    return true;
  auto &waiters = group->second;
  auto w = std::find_if (waiters.begin (), waiters.end (),
                         [id] (const Waiter &x) { return x.id == id; });
  if (w != waiters.end ()) {
    gone = std::move (w->fn);
    waiters.erase (w);
  }
  if (waiters.empty ())
    by_position_.erase (group);
  return true;
}

namespace {
thread_local WakeBatch *open_batch = nullptr;
}

WakeBatch::WakeBatch () : outermost_ (open_batch == nullptr)
{
  if (outermost_)
    open_batch = this;
}

WakeBatch::~WakeBatch ()
{
  if (!outermost_)
    return;
  // A deferred function that wakes more (it should not) runs them at once.
  open_batch = nullptr;
  for (auto &[key, fn] : deferred_)
    fn ();
}

void
WakeBatch::at_close (const void *key, std::function<void ()> fn)
{
  WakeBatch *b = open_batch;
  if (!b) {
    fn ();
    return;
  }
  for (const auto &d : b->deferred_)
    if (d.first == key)
      return;
  b->deferred_.emplace_back (key, std::move (fn));
}

size_t
PartWaitList::wake_up_to (std::map<PartPosition, std::vector<Waiter>>::iterator end,
                          std::unique_lock<std::mutex> &lock)
{
  std::vector<std::vector<Waiter>> woken;
  for (auto it = by_position_.begin (); it != end;) {
    for (const Waiter &w : it->second)
      positions_by_id_.erase (w.id);
    woken.push_back (std::move (it->second));
    it = by_position_.erase (it);
  }
  lock.unlock ();
  WakeBatch batch;
  for (auto &group : woken)
    for (auto &w : group)
      if (w.fn)
        w.fn ();
  return woken.size ();
}

size_t
PartWaitList::wake (PartPosition reached)
{
  std::unique_lock<std::mutex> lock (mutex_);
  return wake_up_to (by_position_.upper_bound (reached), lock);
}

size_t
PartWaitList::wake_all ()
{
  std::unique_lock<std::mutex> lock (mutex_);
  return wake_up_to (by_position_.end (), lock);
}

size_t
PartWaitList::waiting () const
{
  std::lock_guard<std::mutex> lock (mutex_);
  return positions_by_id_.size ();
}

size_t
PartWaitList::positions () const
{
  std::lock_guard<std::mutex> lock (mutex_);
  return by_position_.size ();
}

} // namespace mirror
