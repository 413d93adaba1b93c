// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingestbin/ingestring.h"

#include <chrono>

namespace mirror {

IngestRing::~IngestRing ()
{
  clear ();
}

void
IngestRing::push (GstBuffer *buffer)
{
  push_all (&buffer, 1);
}

void
IngestRing::push_all (GstBuffer *const *buffers, size_t count)
{
  if (count == 0)
    return;
  const gint64 now = g_get_monotonic_time ();
  // Unreffed outside the lock: freeing memory is not the network thread's
  // critical path, but holding the lock while doing it would be.
  std::vector<GstBuffer *> dropped;
  {
    std::lock_guard<std::mutex> lk (lock_);
    if (counters_.first_data_us == 0)
      counters_.first_data_us = now;
    for (size_t i = 0; i < count; i++) {
      GstBuffer *buffer = buffers[i];
      const size_t size = gst_buffer_get_size (buffer);
      counters_.bytes_in += size;
      counters_.chunks_in++;

      bool gap = discont_next_;
      discont_next_ = false;
      // Oldest first, until the new chunk fits; a chunk larger than the whole
      // ring is still kept on its own.
      while (!entries_.empty () && counters_.bytes_queued + size > limit_) {
        Entry &old = entries_.front ();
        size_t old_size = gst_buffer_get_size (old.buffer);
        counters_.bytes_queued -= old_size;
        counters_.chunks_queued--;
        counters_.drops++;
        counters_.dropped_bytes += old_size;
        dropped.push_back (old.buffer);
        entries_.pop_front ();
        if (entries_.empty ())
          gap = true;
        else
          entries_.front ().discont = true;
      }
      entries_.push_back (Entry{ buffer, now, gap });
      counters_.bytes_queued += size;
      counters_.chunks_queued++;
    }
  }
  // One wake-up for the lot.
  cond_.notify_one ();
  for (GstBuffer *b : dropped)
    gst_buffer_unref (b);
}

void
IngestRing::note (IngestNote note)
{
  {
    std::lock_guard<std::mutex> lk (lock_);
    notes_.push_back (std::move (note));
  }
  cond_.notify_one ();
}

void
IngestRing::mark_discont ()
{
  std::lock_guard<std::mutex> lk (lock_);
  discont_next_ = true;
}

IngestRing::Wait
IngestRing::pop (gint64 deadline_us, size_t max, std::vector<Item> *out, IngestNote *note)
{
  std::unique_lock<std::mutex> lk (lock_);
  for (;;) {
    if (flushing_)
      return Wait::kFlushing;
    if (!notes_.empty ()) {
      *note = std::move (notes_.front ());
      notes_.pop_front ();
      return Wait::kNote;
    }
    if (!entries_.empty ())
      break;
    if (deadline_us < 0) {
      cond_.wait (lk);
      continue;
    }
    gint64 left = deadline_us - g_get_monotonic_time ();
    if (left <= 0)
      return Wait::kTimeout;
    cond_.wait_for (lk, std::chrono::microseconds (left));
  }

  const gint64 now = g_get_monotonic_time ();
  for (size_t n = 0; n < max && !entries_.empty (); n++) {
    Entry e = entries_.front ();
    counters_.latency.observe_us (now - e.arrival_us);
    entries_.pop_front ();
    size_t size = gst_buffer_get_size (e.buffer);
    counters_.bytes_queued -= size;
    counters_.chunks_queued--;
    if (e.discont) {
      e.buffer = gst_buffer_make_writable (e.buffer);
      GST_BUFFER_FLAG_SET (e.buffer, GST_BUFFER_FLAG_DISCONT);
    }
    out->push_back (Item{ e.buffer, e.arrival_us });
  }
  return Wait::kData;
}

void
IngestRing::set_flushing (bool flushing)
{
  {
    std::lock_guard<std::mutex> lk (lock_);
    flushing_ = flushing;
  }
  cond_.notify_all ();
}

void
IngestRing::clear ()
{
  std::deque<Entry> entries;
  {
    std::lock_guard<std::mutex> lk (lock_);
    entries.swap (entries_);
    notes_.clear ();
    counters_.bytes_queued = 0;
    counters_.chunks_queued = 0;
    discont_next_ = false;
  }
  for (Entry &e : entries)
    gst_buffer_unref (e.buffer);
}

IngestRingCounters
IngestRing::counters () const
{
  std::lock_guard<std::mutex> lk (lock_);
  return counters_;
}

} // namespace mirror
