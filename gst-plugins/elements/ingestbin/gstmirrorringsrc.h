// SPDX-License-Identifier: LGPL-2.1-or-later
// GstMirrorRingSrc: the ingest bin's internal live source. It pops what a
// network thread left in an IngestRing and pushes it downstream, timestamped
// with its arrival time (running time), and turns the ring's connection notes
// into events for the bin, including the reconnect window: once a feed has
// connected, a disconnection ends the stream (EOS) unless a caller comes back
// within the window (GST_CLOCK_TIME_NONE: wait for it forever, as a pull
// does). Not a public factory: the bin makes it with
// g_object_new. Subclasses attach the ring to a hub in start().
#pragma once

#include <gst/base/gstpushsrc.h>
#include <gst/gst.h>

#include <functional>
#include <memory>
#include <string>

#include "ingestbin/ingestring.h"

G_BEGIN_DECLS

#define GST_TYPE_MIRROR_RING_SRC (gst_mirror_ring_src_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstMirrorRingSrc, gst_mirror_ring_src, GST, MIRROR_RING_SRC, GstPushSrc)

struct _GstMirrorRingSrcClass {
  GstPushSrcClass parent_class;
};

G_END_DECLS

// What the source's streaming thread saw happen to the feed.
struct GstMirrorIngestEvent {
  enum class Kind {
    kConnected,     // the first caller (or the first RTP packet)
    kReconnected,   // a caller came back within the window and its data flows; gap set
    kDisconnected,  // the caller left (or the RTP session timed out)
    kWindowExpired, // no caller came back in time: EOS follows
    kEnded,         // the feed ended (RTP timeout, upstream EOS): EOS follows
    kRetrying,      // a pull's attempt failed; attempt, delay and reason set
  };
  Kind kind = Kind::kConnected;
  std::string peer;
  std::string reason;
  GstClockTime gap = GST_CLOCK_TIME_NONE;
  unsigned attempt = 0;
  GstClockTime delay = GST_CLOCK_TIME_NONE;
};

// Called on the source's streaming thread, no lock held.
using GstMirrorIngestEventFn = std::function<void (const GstMirrorIngestEvent &event)>;

struct GstMirrorRingSrcConfig {
  std::shared_ptr<mirror::IngestRing> ring;
  GstCaps *caps = nullptr;                        // borrowed; the source keeps a ref
  GstClockTime reconnect_window = 5 * GST_SECOND; // NONE: forever
  guint max_chunks_per_push = 1;                  // > 1: a GstBufferList of what is queued
  GstMirrorIngestEventFn on_event;
};

// Before READY->PAUSED.
void gst_mirror_ring_src_configure (GstMirrorRingSrc *src, const GstMirrorRingSrcConfig &config);
std::shared_ptr<mirror::IngestRing> gst_mirror_ring_src_get_ring (GstMirrorRingSrc *src);
// The streaming thread's priority, from that of the hub whose data it takes
// (@hub_nice): the same. In start (), before the streaming thread runs.
void gst_mirror_ring_src_set_thread_nice (GstMirrorRingSrc *src, int hub_nice);
