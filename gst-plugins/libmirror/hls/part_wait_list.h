// SPDX-License-Identifier: LGPL-2.1-or-later
// Requests held until a rendition reaches a part: blocking playlist reloads
// (_HLS_msn/_HLS_part) and requests for the hinted part. Waiters for the same
// position share one entry, so an update wakes them with one wake-up and they
// all take the same cached playlist render.
//
// Thread-safe. Callbacks run on the publisher's thread (a streaming thread),
// outside every lock; an HTTP front end hops to its own context from there.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "hls/part_position.h"

namespace mirror {

// Wake-ups that one publication sets off, handed on together. While a batch
// is open on a thread, at_close () defers its function to the batch's close
// (once per key, in order of first call); with none open it runs at once.
// PartWaitList opens one around its callbacks, StreamStore around a
// publication's renditions, so that a front end's context is posted once
// and answers every request the publication woke in one pass (HTTP/2: the
// playlist's and the part's answers in one TLS flush, not two when its
// thread ran between the posts). Batches nest: the outermost delivers.
class WakeBatch {
 public:
  WakeBatch ();
  ~WakeBatch ();
  WakeBatch (const WakeBatch &) = delete;
  WakeBatch &operator= (const WakeBatch &) = delete;

  static void at_close (const void *key, std::function<void ()> fn);

 private:
  bool outermost_;
  std::vector<std::pair<const void *, std::function<void ()>>> deferred_;
};

class PartWaitList {
 public:
  using WakeFn = std::function<void ()>;

  // Returns an id for cancel (); never 0.
  uint64_t add (PartPosition until, WakeFn fn);
  // The caller's 503 timer fired or the client went away. False when it was
  // already woken (its callback has run or is about to).
  bool cancel (uint64_t id);
  // Wakes every waiter at or before reached; returns how many positions woke.
  size_t wake (PartPosition reached);
  // Wakes everyone: the rendition ended or is going away.
  size_t wake_all ();

  size_t waiting () const;
  size_t positions () const;

 private:
  struct Waiter {
    uint64_t id;
    WakeFn fn;
  };
  size_t wake_up_to (std::map<PartPosition, std::vector<Waiter>>::iterator end,
                     std::unique_lock<std::mutex> &lock);

  mutable std::mutex mutex_;
  std::map<PartPosition, std::vector<Waiter>> by_position_;
  std::unordered_map<uint64_t, PartPosition> positions_by_id_;
  uint64_t next_id_ = 1;
};

} // namespace mirror
