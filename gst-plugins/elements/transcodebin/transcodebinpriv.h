// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin's inside, shared by its files: gstmirrortranscodebin.cpp
// (the element: properties, pads, states), transcodechoice.cpp (which
// decoder and encoder), transcodegraph.cpp (the decode, the branches,
// keyframes), transcodestats.cpp (frame counts, latency, the stats
// message). Not an interface.
#pragma once

#include "transcodebin/gstmirrortranscodebin.h"
#include "transcodebin/transcodeenums.h"

#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/gstmirrorclocktimer.h"
#include "gstmirrorelements.h"
#include "transcode/frame_latency.h"
#include "transcode/gpu_sessions.h"
#include "transcode/keyframe_slots.h"
#include "transcode/ladder.h"
#include "transcode/shed_policy.h"
#include "util/message_names.h"

GST_DEBUG_CATEGORY_EXTERN (gst_mirror_transcode_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

#define DEFAULT_DECODER "auto"
#define DEFAULT_ENCODER "auto"
#define DEFAULT_RENDITIONS nullptr
#define DEFAULT_WIDTH 640
#define DEFAULT_HEIGHT 360
#define DEFAULT_BITRATE 400000
#define DEFAULT_KEYFRAME_INTERVAL (500 * GST_MSECOND)
#define DEFAULT_PROFILE "main"
#define DEFAULT_X264_PRESET "veryfast"
#define DEFAULT_X264_TUNE "zerolatency"
#define DEFAULT_BFRAMES 0
#define DEFAULT_STATS_INTERVAL GST_SECOND
#define DEFAULT_MAX_LAG GST_SECOND

// Raw frames queued per encode branch: enough to keep decoder and encoder
// busy in parallel, few enough to keep 1080p frames (3 MB each) off the RSS.
inline constexpr guint kRawQueueFrames = 3;

// One requested src_N pad and, once built, its branch.
struct Branch {
  GstMirrorTranscodeBin *self = nullptr;
  guint index = 0;
  mirror::LadderRung rendition;
  GstPad *ghost = nullptr;   // owned by the element
  GstPad *tee_pad = nullptr; // request pad on the input or decoded tee
  GstElement *tee = nullptr;
  std::vector<GstElement *> elements;
  GstElement *encoder = nullptr;
  GstClockTime keyframe_interval = DEFAULT_KEYFRAME_INTERVAL;
  mirror::KeyframeSlots slots; // streaming thread only
};

struct GstMirrorTranscodeBinPrivate {
  std::mutex settings_lock;
  std::string decoder = DEFAULT_DECODER;
  std::string encoder = DEFAULT_ENCODER;
  std::string renditions;
  gint width = DEFAULT_WIDTH;
  gint height = DEFAULT_HEIGHT;
  guint bitrate = DEFAULT_BITRATE; // bit/s
  GstClockTime keyframe_interval = DEFAULT_KEYFRAME_INTERVAL;
  std::string profile = DEFAULT_PROFILE;
  std::string x264_preset = DEFAULT_X264_PRESET;
  std::string x264_tune = DEFAULT_X264_TUNE;
  guint bframes = DEFAULT_BFRAMES;
  guint max_gpu_sessions = 0; // 0: no limit
  mirror::GpuSession gpu_session;
  GstClockTime stats_interval = DEFAULT_STATS_INTERVAL;
  std::string active_decoder;
  std::string active_encoder;

  // Graph state, guarded by build_lock (taken by streaming threads in the
  // caps probes and by the application in request/release pad).
  std::recursive_mutex build_lock;
  GstElement *input_tee = nullptr; // static: the sink ghost pad's target
  GstCaps *video_caps = nullptr;   // caps the video graph was built for
  bool video_built = false;
  bool fallback_warned_decoder = false;
  bool fallback_warned_encoder = false;
  std::vector<mirror::LadderRung> ladder;
  std::vector<GstElement *> decode_elements; // queue, decoder, ... decoded tee
  GstElement *decoded_tee = nullptr;
  bool gpu_frames = false; // decoded frames are in CUDA memory
  std::map<guint, std::unique_ptr<Branch>> branches;

  // Keyframe slots count from the first frame PTS any encoder of this run
  // saw, so every rendition (one requested late too) cuts at the same
  // instants. Not absolute PTS multiples: encoders shift their output PTS by
  // (1000 h - first PTS), so only distances survive to the muxer.
  mirror::KeyframeEpoch keyframe_epoch;

  // Statistics. Frames are matched by the running time of their PTS, not
  // the PTS: an encoder may shift timestamps (x264enc adds 1000 h to PTS
  // near 0 so DTS cannot go negative) and moves its segment to match.
  mirror::FrameLatency latency;
  GstSegment sink_segment; // upstream streaming thread only
  GstSegment src0_segment; // src_0 streaming thread only
  GstMirrorClockTimer stats_timer;

  // Overload shedding (transcodeshed.cpp). A frame's lag is the wall time
  // since it entered `sink` (its timestamp/x-unix reference meta).
  GstClockTime max_lag = DEFAULT_MAX_LAG; // settings_lock
  // Upstream is live (its latency query says so): only then is there a
  // "behind live" to shed for; a file is transcoded whole, at its own pace.
  std::atomic<bool> live{ false };
  std::mutex shed_lock; // the policy: decode threads
  mirror::ShedPolicy shed;
  GstElement *decoder_element = nullptr; // while built (build_lock)
  // What reaches the decoder: 0 unknown, 1 H.264, 2 H.265, and its NAL
  // length field's size (0: byte stream), for telling non-reference frames.
  // Decoder thread only.
  int decode_codec = 0;
  int decode_nal_length = 0;
  // The decoder's input segment, and whether it was sent to the decoder
  // flagged TRICKMODE_KEY_UNITS (keyframes only: a decoder then outputs each
  // keyframe at once instead of holding it for its reorder delay, which at
  // two keyframes a second is a second). Decoder thread only.
  GstSegment decode_segment;
  bool decode_trickmode = false;
  std::atomic<int> shed_step{ 0 };
  std::atomic<gint64> decoded_lag_ns{ 0 };
  std::atomic<guint64> shed_encoder_drops{ 0 };  // frames dropped before an encoder
  std::atomic<guint64> shed_nonref_drops{ 0 };   // non-reference frames kept from the decoder
  std::atomic<guint64> shed_keyframe_drops{ 0 }; // delta frames kept from the decoder
  std::atomic<guint64> shed_catchup_drops{ 0 };  // late frames dropped to catch up

  // Thumbnails (transcodethumb.cpp): the newest scaled frame of the
  // smallest transcoded rendition, copied at most once per interval while
  // someone reads them. Under thumb_lock.
  std::mutex thumb_lock;
  GstClockTime thumbnail_interval = 0; // 0: off
  GstSample *thumbnail = nullptr;
  gint64 thumbnail_taken_us = 0; // monotonic
  gint64 thumbnail_read_us = 0;  // the last read of last-thumbnail (or enabling)
  std::atomic<guint> thumbnail_branch{ G_MAXUINT }; // the branch index it comes from
  std::atomic<bool> thumbnails_on{ false }; // thumbnail_interval != 0, read per frame
};

struct _GstMirrorTranscodeBin {
  GstBin parent;
  GstMirrorTranscodeBinPrivate *priv;
  GstPad *sinkpad;
};

namespace transcode_bin {

bool current_ladder (GstMirrorTranscodeBin *self, std::vector<mirror::LadderRung> &out,
                     std::string &error);
bool check_settings (GstMirrorTranscodeBin *self, std::string &error);
bool factory_exists (const gchar *name);
bool is_gpu_factory (const std::string &name);
GstElement *make_checked (const std::string &name, const GstCaps *sink_caps, std::string &why);
std::string hardware_of (const std::string &dec, const std::string &enc);
GstElement *make_cpu_decoder (const GstCaps *caps, const gchar *preferred, std::string &chosen);
GstElement *choose_decoder (GstMirrorTranscodeBin *self, const GstCaps *caps);
std::string choose_encoder_name (GstMirrorTranscodeBin *self);
void set_if_exists (GstElement *e, const gchar *prop, const gchar *value);
void configure_encoder (GstMirrorTranscodeBin *self, GstElement *enc, const std::string &name,
                        int64_t bitrate);
GstClockTime running_time (const GstSegment &segment, GstBuffer *buf);
void note_input (GstMirrorTranscodeBinPrivate *priv, GstBuffer *buf);
void note_output (GstMirrorTranscodeBinPrivate *priv, GstBuffer *buf);
GstPadProbeReturn sink_data_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data);
GstPadProbeReturn src0_data_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data);
GstElement *add_element (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner,
                         const gchar *factory, const gchar *name = nullptr);
void adopt_element (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner, GstElement *e,
                    const gchar *name);
GstElement *make_caps_filter (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner,
                              const gchar *caps_str, const gchar *name);
void sync_elements (const std::vector<GstElement *> &elements, size_t from = 0);
void remove_elements (GstMirrorTranscodeBin *self, std::vector<GstElement *> &elements);
bool link_chain (const std::vector<GstElement *> &elements, size_t from = 0);
bool build_decode (GstMirrorTranscodeBin *self, const GstCaps *caps);
bool build_branch (GstMirrorTranscodeBin *self, Branch *b);
void teardown_branch (GstMirrorTranscodeBin *self, Branch *b);
void build_video (GstMirrorTranscodeBin *self, GstCaps *caps);
GstPadProbeReturn sink_caps_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data);
GstPadProbeReturn sink_query_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data);
GstPadProbeReturn keyframe_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data);
GstPadProbeReturn thumbnail_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data);
void choose_thumbnail_branch (GstMirrorTranscodeBin *self);
void set_thumbnail_interval (GstMirrorTranscodeBinPrivate *priv, GstClockTime interval);
GstSample *read_thumbnail (GstMirrorTranscodeBinPrivate *priv);
void clear_thumbnail (GstMirrorTranscodeBinPrivate *priv);
void decodebin_pad_added (GstElement *, GstPad *pad, gpointer user_data);
bool is_passable_aac (const GstStructure *s);
void teardown_all (GstMirrorTranscodeBin *self);
GstPadProbeReturn stamp_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data);
GstPadProbeReturn decode_gate_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data);
GstPadProbeReturn decoded_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data);
GstPadProbeReturn encoder_queue_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data);
void watch_decode (GstMirrorTranscodeBin *self, GstElement *queue, GstElement *decoder);
void reset_shedding (GstMirrorTranscodeBinPrivate *priv);
GstStructure *make_stats (GstMirrorTranscodeBin *self);
void start_stats (GstMirrorTranscodeBin *self);
void stop_stats (GstMirrorTranscodeBin *self);
void reset_stats (GstMirrorTranscodeBinPrivate *priv);

} // namespace transcode_bin
