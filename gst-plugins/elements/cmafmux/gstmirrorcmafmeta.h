// SPDX-License-Identifier: LGPL-2.1-or-later
// GstMirrorCmafMeta: what mirrorcmafmux says about each buffer it pushes, so
// that a sink can publish init segments and parts without parsing boxes.
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  GST_MIRROR_CMAF_KIND_INIT,
  GST_MIRROR_CMAF_KIND_PART,
} GstMirrorCmafKind;

typedef struct {
  GstMeta meta;
  GstMirrorCmafKind kind;
  // Segment index (EXT-X-MEDIA-SEQUENCE numbering); for an init segment, the
  // first segment it applies to.
  guint64 media_sequence;
  // Part index within its segment (0 for an init segment).
  guint part_index;
  // Media duration of the part, in nanoseconds (0 for an init segment).
  GstClockTime duration;
  // The part starts with a keyframe.
  gboolean independent;
  // The part starts a segment (a styp precedes its moof).
  gboolean segment_start;
  // The part ends its segment: the next one starts a new segment.
  gboolean last_in_segment;
  // Its last sample was cut short to keep the part within the part target
  // (a gap in the input's timestamps followed it).
  gboolean shortened;
  // Unix time of the part's first frame, in nanoseconds (capture time from a
  // timestamp/x-unix GstReferenceTimestampMeta, else arrival time).
  guint64 wallclock;
} GstMirrorCmafMeta;

GType gst_mirror_cmaf_meta_api_get_type (void);
#define GST_MIRROR_CMAF_META_API_TYPE (gst_mirror_cmaf_meta_api_get_type ())
const GstMetaInfo *gst_mirror_cmaf_meta_get_info (void);
#define GST_MIRROR_CMAF_META_INFO (gst_mirror_cmaf_meta_get_info ())

#define gst_buffer_get_mirror_cmaf_meta(b)                                                         \
  ((GstMirrorCmafMeta *)gst_buffer_get_meta ((b), GST_MIRROR_CMAF_META_API_TYPE))

GstMirrorCmafMeta *gst_buffer_add_mirror_cmaf_meta (GstBuffer *buffer, GstMirrorCmafKind kind);

G_END_DECLS
