// SPDX-License-Identifier: LGPL-2.1-or-later
// Linux threads inherit the nice value of the thread that creates them. A
// ScopedThreadNice lowers the calling thread's nice value (raises its
// priority) for its lifetime, so that the threads started meanwhile (by
// libsrt, say, which starts its own) run at that priority; then it puts the
// caller's back. Lowering a nice value needs CAP_SYS_NICE or an RLIMIT_NICE
// that allows it; without, nothing changes and applied () says so.
//
// set_thread_nice () does the same for good: for a thread that should run
// at a hub's priority from then on (a streaming thread taking its data).
#pragma once

#include <string>

namespace mirror {

class ScopedThreadNice {
 public:
  // @nice: -20 (first) .. 19 (last); one not below the current value is
  // left alone (applied () true: the threads get at least that priority).
  explicit ScopedThreadNice (int nice);
  ~ScopedThreadNice ();
  ScopedThreadNice (const ScopedThreadNice &) = delete;
  ScopedThreadNice &operator= (const ScopedThreadNice &) = delete;

  bool applied () const { return applied_; }
  // The calling thread's nice value inside the scope.
  int nice () const { return nice_; }
  // Why not, when !applied () ("Permission denied", ...).
  const std::string &error () const { return error_; }

 private:
  int previous_ = 0;
  int nice_ = 0;
  bool changed_ = false;
  bool applied_ = false;
  std::string error_;
};

// A hub's one thread that drains a socket for every stream (the SRT port's
// receive thread, the RTP hub's) runs this far above the hub's other threads
// and the streaming threads that take its data: at equal priority, with one
// of it against 25 of them, it gets one share in 26 on a saturated box and
// the socket overflows.
constexpr int kDrainNiceStep = 5;

// The nice value for such a thread of a hub running at @thread_nice.
inline int
drain_thread_nice (int thread_nice)
{
  return thread_nice - kDrainNiceStep < -20 ? -20 : thread_nice - kDrainNiceStep;
}

// Lowers the calling thread's nice value to @nice for good (false, nothing
// changed, when not permitted; true when it is already that low).
bool set_thread_nice (int nice);

} // namespace mirror
