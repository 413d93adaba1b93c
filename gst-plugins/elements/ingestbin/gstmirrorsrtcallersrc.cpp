// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingestbin/gstmirrorsrtcallersrc.h"

#include <memory>
#include <mutex>

#include "ingestbin/srtringfeed.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_srt_caller_src_debug);
#define GST_CAT_DEFAULT gst_mirror_srt_caller_src_debug

struct GstMirrorSrtCallerSrcPrivate {
  std::mutex lock;
  mirror::SrtCallerOptions options;
  std::string label;
  std::unique_ptr<mirror::SrtCaller> caller;
};

struct _GstMirrorSrtCallerSrc {
  GstMirrorRingSrc parent;
  GstMirrorSrtCallerSrcPrivate *priv;
};

#define gst_mirror_srt_caller_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorSrtCallerSrc, gst_mirror_srt_caller_src, GST_TYPE_MIRROR_RING_SRC,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_srt_caller_src_debug,
                                                  "mirrorsrtcallersrc", 0,
                                                  "Mirror ingest SRT pull source"));

void
gst_mirror_srt_caller_src_set_options (GstMirrorSrtCallerSrc *src,
                                       const mirror::SrtCallerOptions &options,
                                       const std::string &label)
{
  std::lock_guard<std::mutex> lk (src->priv->lock);
  src->priv->options = options;
  src->priv->label = label;
}

std::optional<mirror::SrtConnectionStats>
gst_mirror_srt_caller_src_stats (GstMirrorSrtCallerSrc *src)
{
  std::lock_guard<std::mutex> lk (src->priv->lock);
  return src->priv->caller ? src->priv->caller->stats () : std::nullopt;
}

static gboolean
gst_mirror_srt_caller_src_start (GstBaseSrc *bsrc)
{
  auto *src = GST_MIRROR_SRT_CALLER_SRC (bsrc);
  auto *priv = src->priv;
  if (!GST_BASE_SRC_CLASS (parent_class)->start (bsrc))
    return FALSE;
  mirror::SrtCallerOptions options;
  std::string label;
  {
    std::lock_guard<std::mutex> lk (priv->lock);
    options = priv->options;
    label = priv->label;
  }
  auto ring = gst_mirror_ring_src_get_ring (GST_MIRROR_RING_SRC (src));
  auto feed = std::make_shared<mirror::SrtRingFeed> (ring);
  auto caller = std::make_unique<mirror::SrtCaller> (
      options, feed,
      [ring, peer = options.host + ":"
                    + std::to_string (options.port)] (const mirror::SrtCallerRetry &retry) {
        mirror::IngestNote note;
        note.kind = mirror::IngestNote::Kind::kRetrying;
        note.peer = peer;
        note.reason = retry.reason;
        note.at_us = g_get_monotonic_time ();
        note.attempt = retry.attempt;
        note.delay_ms = retry.delay_ms;
        ring->note (note);
      });
  std::string error;
  if (!caller->start (&error)) {
    GST_ELEMENT_ERROR (src, RESOURCE, OPEN_READ,
                       ("stream %s: cannot pull SRT from %s:%u: %s", label.c_str (),
                        options.host.c_str (), (guint)options.port, error.c_str ()),
                       (nullptr));
    return FALSE;
  }
  GST_INFO_OBJECT (src, "pulling SRT from %s:%u", options.host.c_str (), (guint)options.port);
  std::lock_guard<std::mutex> lk (priv->lock);
  priv->caller = std::move (caller);
  return TRUE;
}

static gboolean
gst_mirror_srt_caller_src_stop (GstBaseSrc *bsrc)
{
  auto *priv = GST_MIRROR_SRT_CALLER_SRC (bsrc)->priv;
  std::unique_ptr<mirror::SrtCaller> caller;
  {
    std::lock_guard<std::mutex> lk (priv->lock);
    caller = std::move (priv->caller);
  }
  caller.reset (); // closes the connection, joins its thread
  return GST_BASE_SRC_CLASS (parent_class)->stop (bsrc);
}

static void
gst_mirror_srt_caller_src_finalize (GObject *object)
{
  delete GST_MIRROR_SRT_CALLER_SRC (object)->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_srt_caller_src_class_init (GstMirrorSrtCallerSrcClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto *basesrc_class = GST_BASE_SRC_CLASS (klass);

  object_class->finalize = gst_mirror_srt_caller_src_finalize;
  gst_element_class_set_static_metadata (
      element_class, "Mirror SRT pull source", "Source/Network",
      "Internal to mirroringestbin: MPEG-TS pulled from a remote SRT listener, reconnecting "
      "with backoff",
      "Mirror developers");
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_mirror_srt_caller_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_mirror_srt_caller_src_stop);
}

static void
gst_mirror_srt_caller_src_init (GstMirrorSrtCallerSrc *src)
{
  src->priv = new GstMirrorSrtCallerSrcPrivate ();
}
