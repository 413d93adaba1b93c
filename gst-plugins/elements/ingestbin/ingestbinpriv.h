// SPDX-License-Identifier: LGPL-2.1-or-later
// mirroringestbin's inside, shared by its files: gstmirroringestbin.cpp (the
// element: properties, the transports, pads, registration) and
// ingestbintransports.cpp (SRT listener, SRT caller, RTP), ingestbinpads.cpp
// (the exposed streams and the registration) and
// ingestbinstats.cpp (the mirror-ingest-stats tick). Not an interface.
#pragma once

#include "ingestbin/gstmirroringestbin.h"

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/gstmirrorclocktimer.h"
#include "common/gstmirrorcontext.h"
#include "gstmirrorelements.h"
#include "ingest/ingest_registration.h"
#include "ingest/ingest_uri.h"
#include "ingestbin/gstmirrorringsrc.h"
#include "ingestbin/gstmirrorrtphubsrc.h"
#include "ingestbin/gstmirrorsrtcallersrc.h"
#include "ingestbin/gstmirrorsrthubsrc.h"
#include "ingestbin/ingestcodecs.h"
#include "ingestbin/ingestring.h"
#include "ingestbin/ingesttransport.h"
#include "util/message_names.h"

GST_DEBUG_CATEGORY_EXTERN (gst_mirror_ingest_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_ingest_bin_debug

#define DEFAULT_URI nullptr
#define DEFAULT_STREAM_ID nullptr
#define DEFAULT_REGISTRY "memory://"
#define DEFAULT_RING_SIZE (4 * 1024 * 1024)
#define MIN_RING_SIZE (64 * 1024)
#define DEFAULT_RECONNECT_WINDOW (5 * GST_SECOND)

// How often mirror-ingest-stats is posted.
#define STATS_INTERVAL GST_SECOND
// SRT data for this long without a single elementary stream: not MPEG-TS.
#define NO_TS_TIMEOUT_US (5 * G_USEC_PER_SEC)
// rtpbin's jitter buffer.
#define RTP_LATENCY_MS 200
// RTCP is small; its ring only has to absorb a stalled rtpbin.
#define RTCP_RING_SIZE (64 * 1024)
// At most this many RTP datagrams per GstBufferList.
#define RTP_MAX_LIST 64

// One elementary stream exposed on a ghost pad.
struct ExposedStream {
  GstElement *parser = nullptr; // a child of the bin
  GstPad *ghost = nullptr;      // ref held
  mirror::IngestCodec codec;
  // The parser of the new program's stream of this kind (tsdemux switched
  // programs: a caller back with another codec or other PIDs): the ghost
  // moves to it when the old one's EOS comes out. A child of the bin.
  GstElement *successor = nullptr;
  mirror::IngestCodec successor_codec;
};

struct GstMirrorIngestBinPrivate {
  // Properties.
  std::mutex settings_lock;
  std::string uri;
  std::string stream_id;
  std::string registry_uri = DEFAULT_REGISTRY;
  guint ring_size = DEFAULT_RING_SIZE;
  GstClockTime reconnect_window = DEFAULT_RECONNECT_WINDOW;

  GstMirrorRegistrySlot registry;

  // The running feed, from READY->PAUSED to PAUSED->READY. Streaming
  // threads, the stats timer and state changes meet here; never held while
  // posting, pushing or changing a child's state.
  std::mutex state_lock;
  bool running = false;
  mirror::IngestUri feed;
  std::string label;       // the stream's name in messages
  std::string registry_id; // stream-id; empty: not registered
  std::shared_ptr<mirror::IngestRing> ring;
  std::shared_ptr<mirror::IngestRing> rtcp_ring;
  std::vector<GstElement *> children; // every element this bin added
  GstElement *src = nullptr;          // the ring source (not reffed: a child)
  GstElement *rtpbin = nullptr;
  GstElement *jitterbuffer = nullptr; // ref held
  GstCaps *rtp_caps = nullptr;
  std::vector<ExposedStream> streams;
  guint n_video = 0;
  guint n_audio = 0;
  bool saw_elementary_stream = false;
  bool no_more_pads = false;
  // The ring source sent its EOS: the feed is over, and so is every stream.
  // Before that an EOS from tsdemux ends one program's stream only.
  bool feed_ended = false;
  std::atomic<guint> successors{ 0 }; // names the parsers of program switches
  bool no_ts_error_posted = false;
  gint64 playing_since_us = 0;
  std::string peer;
  std::shared_ptr<mirror::IngestRegistration> registration;

  // Stats timer, on the system clock's thread.
  GstMirrorClockTimer stats_timer;
  gint64 last_stats_us = 0;
  guint64 last_stats_bytes = 0;
};

struct _GstMirrorIngestBin {
  GstBin parent;
  GstMirrorIngestBinPrivate *priv;
};

// Posts an element message @s from the bin.
void gst_mirror_ingest_bin_post (GstMirrorIngestBin *self, GstStructure *s);
// Children: added to the bin (and remembered for teardown), or made from a
// factory and added (an error naming it when it is missing).
GstElement *gst_mirror_ingest_bin_add (GstMirrorIngestBin *self, GstElement *element);
GstElement *gst_mirror_ingest_bin_make (GstMirrorIngestBin *self, const char *factory,
                                        const char *name, const std::string &label);
// An error saying which GStreamer element is missing, for stream @label.
void gst_mirror_ingest_bin_fail_missing (GstMirrorIngestBin *self, const char *factory,
                                         const std::string &label);
// On the ring source's pad: the feed's EOS releases the registration.
GstPadProbeReturn gst_mirror_ingest_bin_on_src_event (GstPad *pad, GstPadProbeInfo *info,
                                                      gpointer user_data);
// Where demuxed and depayloaded streams come out (ingestbinpads.cpp).
void gst_mirror_ingest_bin_on_demux_pad_added (GstElement *demux, GstPad *pad, gpointer user_data);
void gst_mirror_ingest_bin_on_demux_no_more_pads (GstElement *demux, gpointer user_data);
void gst_mirror_ingest_bin_on_rtpbin_pad_added (GstElement *rtpbin, GstPad *pad,
                                                gpointer user_data);
GstCaps *gst_mirror_ingest_bin_on_request_pt_map (GstElement *rtpbin, guint session, guint pt,
                                                  gpointer user_data);
void gst_mirror_ingest_bin_on_new_jitterbuffer (GstElement *rtpbin, GstElement *jitterbuffer,
                                                guint session, guint ssrc, gpointer user_data);
// The transports (ingestbintransports.cpp): each returns the ring source it
// built (a child now), or nullptr after posting an error.
GstElement *gst_mirror_ingest_bin_build_srt_listener (GstMirrorIngestBin *self,
                                                      const mirror::IngestUri &feed,
                                                      const std::string &label,
                                                      GstMirrorRingSrcConfig config);
GstElement *gst_mirror_ingest_bin_build_srt_caller (GstMirrorIngestBin *self,
                                                    const mirror::IngestUri &feed,
                                                    const std::string &label,
                                                    GstMirrorRingSrcConfig config);
GstElement *gst_mirror_ingest_bin_build_rtp (GstMirrorIngestBin *self,
                                             const mirror::IngestUri &feed,
                                             const std::string &label,
                                             GstMirrorRingSrcConfig config);
// The periodic mirror-ingest-stats message (ingestbinstats.cpp).
void gst_mirror_ingest_bin_start_stats (GstMirrorIngestBin *self);
void gst_mirror_ingest_bin_stop_stats (GstMirrorIngestBin *self);
