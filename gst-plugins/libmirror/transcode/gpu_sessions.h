// SPDX-License-Identifier: LGPL-2.1-or-later
// The process's GPU decode sessions, against a limit: NVDEC has a fixed
// number of engines, and past them every stream slows down, so the streams
// beyond the limit decode on the CPU instead. Thread-safe.
#pragma once

#include <atomic>

namespace mirror {

class GpuSessionPool {
 public:
  // The pool every transcode of this process shares.
  static GpuSessionPool &process ();

  // Takes a session unless limit (> 0) are taken already; 0: no limit.
  bool take (unsigned limit);
  void release ();
  unsigned in_use () const { return in_use_.load (); }

 private:
  std::atomic<unsigned> in_use_{ 0 };
};

// A session held by one transcode, given back when it goes.
class GpuSession {
 public:
  explicit GpuSession (GpuSessionPool &pool = GpuSessionPool::process ()) : pool_ (pool) {}
  ~GpuSession () { release (); }
  GpuSession (const GpuSession &) = delete;
  GpuSession &operator= (const GpuSession &) = delete;

  bool take (unsigned limit) { return held_ || (held_ = pool_.take (limit)); }
  void release ()
  {
    if (held_)
      pool_.release ();
    held_ = false;
  }
  bool held () const { return held_; }

 private:
  GpuSessionPool &pool_;
  bool held_ = false;
};

} // namespace mirror
