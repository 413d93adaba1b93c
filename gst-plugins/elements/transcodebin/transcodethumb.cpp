// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin's thumbnails: frames it has decoded and scaled already
// (the smallest transcoded rendition's, before its encoder), never a second
// decode. Off until an application sets thumbnail-interval; then the newest
// frame is copied at most once per interval, and only while someone reads
// last-thumbnail: after ten intervals (at least 10 s) without a read the
// copying stops by itself until the next read.
#include "transcodebin/transcodebinpriv.h"

#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

namespace transcode_bin {

namespace {

constexpr gint64 kMinIdleUs = 10 * G_USEC_PER_SEC;

bool
reader_gone (const GstMirrorTranscodeBinPrivate *priv, gint64 now_us)
{
  const gint64 idle_us = std::max<gint64> (kMinIdleUs, 10 * (gint64)(priv->thumbnail_interval / 1000));
  return now_us - priv->thumbnail_read_us > idle_us;
}

} // namespace

void
choose_thumbnail_branch (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  guint best = G_MAXUINT;
  gint64 best_area = G_MAXINT64;
  for (const auto &[index, b] : priv->branches) {
    const mirror::LadderRung &r = b->rendition;
    const gint64 area = (gint64)r.width * r.height;
    if (!r.source && b->encoder && area < best_area) {
      best = index;
      best_area = area;
    }
  }
  priv->thumbnail_branch = best;
}

// On a transcoded branch's encoder sink pad: the frame as it goes to the
// encoder, scaled already.
GstPadProbeReturn
thumbnail_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *b = static_cast<Branch *> (user_data);
  auto *priv = b->self->priv;
  // Off (nearly always): one atomic load per frame, no lock, no clock.
  if (!priv->thumbnails_on.load (std::memory_order_relaxed)
      || b->index != priv->thumbnail_branch.load (std::memory_order_relaxed))
    return GST_PAD_PROBE_OK;
  const gint64 now = g_get_monotonic_time ();
  {
    std::lock_guard<std::mutex> lk (priv->thumb_lock);
    if (!priv->thumbnail_interval || reader_gone (priv, now)
        || now - priv->thumbnail_taken_us < (gint64)(priv->thumbnail_interval / 1000))
      return GST_PAD_PROBE_OK;
    priv->thumbnail_taken_us = now; // claimed; the copy is made outside the lock
  }
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    return GST_PAD_PROBE_OK;
  // Frames in GPU memory (NVDEC and NVENC both) are not copied back for this.
  GstCapsFeatures *features = gst_caps_get_features (caps, 0);
  if (features && !gst_caps_features_is_equal (features, GST_CAPS_FEATURES_MEMORY_SYSTEM_MEMORY)) {
    gst_caps_unref (caps);
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *copy = gst_buffer_copy_deep (GST_PAD_PROBE_INFO_BUFFER (info));
  GstSample *sample = gst_sample_new (copy, caps, nullptr, nullptr);
  gst_buffer_unref (copy);
  gst_caps_unref (caps);
  GstSample *old;
  {
    std::lock_guard<std::mutex> lk (priv->thumb_lock);
    old = priv->thumbnail;
    priv->thumbnail = sample;
  }
  if (old)
    gst_sample_unref (old);
  return GST_PAD_PROBE_OK;
}

void
set_thumbnail_interval (GstMirrorTranscodeBinPrivate *priv, GstClockTime interval)
{
  std::lock_guard<std::mutex> lk (priv->thumb_lock);
  if (interval && !priv->thumbnail_interval)
    priv->thumbnail_read_us = g_get_monotonic_time ();
  priv->thumbnail_interval = interval;
  priv->thumbnails_on = interval != 0;
}

GstSample *
read_thumbnail (GstMirrorTranscodeBinPrivate *priv)
{
  std::lock_guard<std::mutex> lk (priv->thumb_lock);
  const gint64 now = g_get_monotonic_time ();
  // A frame kept from before the readers went away is stale: none until
  // the next one.
  if (reader_gone (priv, now) && priv->thumbnail) {
    gst_sample_unref (priv->thumbnail);
    priv->thumbnail = nullptr;
  }
  priv->thumbnail_read_us = now;
  return priv->thumbnail ? gst_sample_ref (priv->thumbnail) : nullptr;
}

void
clear_thumbnail (GstMirrorTranscodeBinPrivate *priv)
{
  std::lock_guard<std::mutex> lk (priv->thumb_lock);
  if (priv->thumbnail)
    gst_sample_unref (priv->thumbnail);
  priv->thumbnail = nullptr;
}

} // namespace transcode_bin
