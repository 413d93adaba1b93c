// SPDX-License-Identifier: LGPL-2.1-or-later
// The ring: the bounded, leaky hand-over between a network thread (a hub's
// receive thread, or stock srtsrc's streaming thread) and the ingest source's
// streaming thread. It holds whole chunks (GstBuffers) up to a byte limit;
// when a new chunk does not fit, the OLDEST chunks are dropped and counted,
// so a slow consumer loses old data rather than stalling the network side.
// The chunk after a gap (drop, reconnect) is flagged DISCONT so that the
// demuxer or jitter buffer resynchronises.
//
// Connection notes (connected, disconnected, ended) travel beside the data,
// are never dropped and are handed out before data.
#pragma once

#include <gst/gst.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "ingest/buffer_latency.h"

namespace mirror {

struct IngestNote {
  // kRetrying: a pull's attempt failed and the next one waits (attempt,
  // delay_ms, reason).
  enum class Kind { kConnected, kDisconnected, kEnded, kRetrying };
  Kind kind = Kind::kConnected;
  std::string peer;
  std::string reason;
  gint64 at_us = 0; // g_get_monotonic_time () when it happened
  unsigned attempt = 0;
  gint64 delay_ms = 0;
};

struct IngestRingCounters {
  guint64 bytes_in = 0; // every byte pushed, dropped ones included
  guint64 chunks_in = 0;
  guint64 bytes_queued = 0; // held now
  guint64 chunks_queued = 0;
  guint64 drops = 0; // chunks dropped because the ring was full
  guint64 dropped_bytes = 0;
  gint64 first_data_us = 0; // monotonic time of the first chunk; 0: none yet
  // How long each chunk handed out waited in the ring (push to pop).
  BufferLatencyCounts latency;
};

class IngestRing {
 public:
  struct Item {
    GstBuffer *buffer = nullptr; // owned by whoever holds the Item
    gint64 arrival_us = 0;       // g_get_monotonic_time () at push
  };
  enum class Wait { kData, kNote, kFlushing, kTimeout };

  explicit IngestRing (size_t limit_bytes) : limit_ (limit_bytes) {}
  ~IngestRing ();
  IngestRing (const IngestRing &) = delete;
  IngestRing &operator= (const IngestRing &) = delete;

  // Network side: any thread, never waits for the consumer.
  void push (GstBuffer *buffer); // takes ownership
  // Several chunks in order, under one lock and with one wake-up of the
  // streaming side (a hub's receive batch); takes ownership of each.
  void push_all (GstBuffer *const *buffers, size_t count);
  void note (IngestNote note);
  void mark_discont (); // the next pushed chunk follows a gap

  // Streaming side. Waits until there is a note or data, the ring is flushing
  // or @deadline_us (monotonic; -1: none) has passed. A note comes first
  // (kNote, *note filled); else up to @max chunks are moved into @out (kData).
  Wait pop (gint64 deadline_us, size_t max, std::vector<Item> *out, IngestNote *note);
  void set_flushing (bool flushing);
  // Drops everything held (not counted as ring drops) and the notes.
  void clear ();

  IngestRingCounters counters () const;
  size_t limit () const { return limit_; }

 private:
  struct Entry {
    GstBuffer *buffer;
    gint64 arrival_us;
    bool discont;
  };

  const size_t limit_;
  mutable std::mutex lock_;
  std::condition_variable cond_;
  std::deque<Entry> entries_;
  std::deque<IngestNote> notes_;
  IngestRingCounters counters_;
  bool flushing_ = false;
  bool discont_next_ = false;
};

} // namespace mirror
