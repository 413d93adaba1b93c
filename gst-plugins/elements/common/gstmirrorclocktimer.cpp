// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common/gstmirrorclocktimer.h"

struct GstMirrorClockTimer::Entry {
  GstMirrorClockTimer *timer;
  GstObject *owner; // ref held while the clock holds the entry
  std::function<void ()> fn;
};

gboolean
GstMirrorClockTimer::on_fire (GstClock *, GstClockTime, GstClockID id, gpointer data)
{
  auto *entry = static_cast<Entry *> (data);
  {
    // A fire that raced with stop () or a new start (): not ours any more.
    std::lock_guard<std::mutex> lk (entry->timer->lock_);
    if (entry->timer->id_ != id)
      return TRUE;
  }
  entry->fn ();
  return TRUE;
}

bool
GstMirrorClockTimer::start (GstObject *owner, GstClock *clock, GstClockTime at,
                            GstClockTime interval, std::function<void ()> fn)
{
  stop ();
  GstClockID id = interval > 0 ? gst_clock_new_periodic_id (clock, at, interval)
                               : gst_clock_new_single_shot_id (clock, at);
  {
    std::lock_guard<std::mutex> lk (lock_);
    id_ = id;
  }
  auto *entry = new Entry{ this, GST_OBJECT (gst_object_ref (owner)), std::move (fn) };
  GstClockReturn ret = gst_clock_id_wait_async (id, on_fire, entry, [] (gpointer data) {
    auto *entry = static_cast<Entry *> (data);
    gst_object_unref (entry->owner);
    delete entry;
  });
  if (ret != GST_CLOCK_OK) {
    // The clock never took the entry: it is ours to free.
    gst_object_unref (entry->owner);
    delete entry;
    GST_WARNING_OBJECT (owner, "cannot schedule a timer on the clock: %d", ret);
    std::lock_guard<std::mutex> lk (lock_);
    if (id_ == id) {
      gst_clock_id_unref (id_);
      id_ = nullptr;
    }
    return false;
  }
  return true;
}

bool
GstMirrorClockTimer::start_periodic (GstObject *owner, GstClockTime interval,
                                     std::function<void ()> fn)
{
  GstClock *clock = gst_system_clock_obtain ();
  bool ok = start (owner, clock, gst_clock_get_time (clock) + interval, interval, std::move (fn));
  gst_object_unref (clock);
  return ok;
}

void
GstMirrorClockTimer::stop ()
{
  GstClockID id;
  {
    std::lock_guard<std::mutex> lk (lock_);
    id = id_;
    id_ = nullptr;
  }
  if (id) {
    gst_clock_id_unschedule (id);
    gst_clock_id_unref (id);
  }
}

bool
GstMirrorClockTimer::running () const
{
  std::lock_guard<std::mutex> lk (lock_);
  return id_ != nullptr;
}
