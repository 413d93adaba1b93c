// SPDX-License-Identifier: LGPL-2.1-or-later
// Timers of the elements (statistics ticks, the heartbeat, its stall check)
// on a GstClock's thread: a callback after a delay, once or every interval.
// A pending wait holds a ref on its owner, dropped when the clock lets the
// entry go; a wait the clock refuses is logged and reported, never ignored.
// Thread-safe; the callback runs on the clock's thread, without the timer's
// lock, and must not block.
#pragma once

#include <gst/gst.h>

#include <functional>
#include <mutex>

class GstMirrorClockTimer {
 public:
  GstMirrorClockTimer () = default;
  GstMirrorClockTimer (const GstMirrorClockTimer &) = delete;
  GstMirrorClockTimer &operator= (const GstMirrorClockTimer &) = delete;
  ~GstMirrorClockTimer () { stop (); }

  // Calls fn at clock time @at, then every @interval when it is non-zero,
  // until stop () (or the next start (), which replaces it). False when the
  // clock refused the wait (a warning on @owner says so).
  bool start (GstObject *owner, GstClock *clock, GstClockTime at, GstClockTime interval,
              std::function<void ()> fn);
  // Every @interval from now on the system clock.
  bool start_periodic (GstObject *owner, GstClockTime interval, std::function<void ()> fn);
  void stop ();
  bool running () const;

 private:
  struct Entry;
  static gboolean on_fire (GstClock *clock, GstClockTime time, GstClockID id, gpointer data);

  mutable std::mutex lock_;
  GstClockID id_ = nullptr;
};
