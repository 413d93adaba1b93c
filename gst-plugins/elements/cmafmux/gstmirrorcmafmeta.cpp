// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmafmux/gstmirrorcmafmeta.h"

GType
gst_mirror_cmaf_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { nullptr };
  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstMirrorCmafMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
gst_mirror_cmaf_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  auto *m = (GstMirrorCmafMeta *)meta;
  m->kind = GST_MIRROR_CMAF_KIND_PART;
  m->media_sequence = 0;
  m->part_index = 0;
  m->duration = 0;
  m->independent = FALSE;
  m->segment_start = FALSE;
  m->last_in_segment = FALSE;
  m->shortened = FALSE;
  m->wallclock = 0;
  return TRUE;
}

static gboolean
gst_mirror_cmaf_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type,
                                gpointer data)
{
  auto *src = (GstMirrorCmafMeta *)meta;
  // Only whole copies keep the meta: a region of a chunk is not a part.
  if (!GST_META_TRANSFORM_IS_COPY (type))
    return FALSE;
  auto *m = gst_buffer_add_mirror_cmaf_meta (dest, src->kind);
  if (!m)
    return FALSE;
  m->media_sequence = src->media_sequence;
  m->part_index = src->part_index;
  m->duration = src->duration;
  m->independent = src->independent;
  m->segment_start = src->segment_start;
  m->last_in_segment = src->last_in_segment;
  m->shortened = src->shortened;
  m->wallclock = src->wallclock;
  return TRUE;
}

const GstMetaInfo *
gst_mirror_cmaf_meta_get_info (void)
{
  static const GstMetaInfo *info = nullptr;
  if (g_once_init_enter ((GstMetaInfo **)&info)) {
    const GstMetaInfo *mi = gst_meta_register (
        GST_MIRROR_CMAF_META_API_TYPE, "GstMirrorCmafMeta", sizeof (GstMirrorCmafMeta),
        gst_mirror_cmaf_meta_init, nullptr, gst_mirror_cmaf_meta_transform);
    g_once_init_leave ((GstMetaInfo **)&info, (GstMetaInfo *)mi);
  }
  return info;
}

GstMirrorCmafMeta *
gst_buffer_add_mirror_cmaf_meta (GstBuffer *buffer, GstMirrorCmafKind kind)
{
  auto *m = (GstMirrorCmafMeta *)gst_buffer_add_meta (buffer, GST_MIRROR_CMAF_META_INFO, nullptr);
  if (m)
    m->kind = kind;
  return m;
}
