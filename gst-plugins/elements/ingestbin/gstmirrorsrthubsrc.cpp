// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingestbin/gstmirrorsrthubsrc.h"

#include <exception>
#include <memory>
#include <mutex>

#include "ingestbin/srtringfeed.h"

GST_DEBUG_CATEGORY_STATIC (gst_mirror_srt_hub_src_debug);
#define GST_CAT_DEFAULT gst_mirror_srt_hub_src_debug

struct GstMirrorSrtHubSrcPrivate {
  std::mutex lock;
  mirror::SrtHubOptions options;
  std::string stream_id;
  std::string label;
  std::shared_ptr<mirror::SrtHub> hub;
  std::shared_ptr<mirror::SrtRingFeed> feed;
};

struct _GstMirrorSrtHubSrc {
  GstMirrorRingSrc parent;
  GstMirrorSrtHubSrcPrivate *priv;
};

#define gst_mirror_srt_hub_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorSrtHubSrc, gst_mirror_srt_hub_src, GST_TYPE_MIRROR_RING_SRC,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_srt_hub_src_debug, "mirrorsrthubsrc",
                                                  0, "Mirror ingest SRT hub source"));

void
gst_mirror_srt_hub_src_set_hub (GstMirrorSrtHubSrc *src, const mirror::SrtHubOptions &options,
                                const std::string &stream_id, const std::string &label)
{
  std::lock_guard<std::mutex> lk (src->priv->lock);
  src->priv->options = options;
  src->priv->stream_id = stream_id;
  src->priv->label = label;
}

std::optional<mirror::SrtConnectionStats>
gst_mirror_srt_hub_src_stats (GstMirrorSrtHubSrc *src)
{
  std::shared_ptr<mirror::SrtHub> hub;
  std::string stream_id;
  {
    std::lock_guard<std::mutex> lk (src->priv->lock);
    hub = src->priv->hub;
    stream_id = src->priv->stream_id;
  }
  if (!hub)
    return std::nullopt;
  try {
    return hub->stats (stream_id);
  } catch (const std::exception &e) {
    GST_WARNING_OBJECT (src, "SRT hub stats for %s failed: %s", stream_id.c_str (), e.what ());
    return std::nullopt;
  }
}

static gboolean
gst_mirror_srt_hub_src_start (GstBaseSrc *bsrc)
{
  auto *src = GST_MIRROR_SRT_HUB_SRC (bsrc);
  auto *priv = src->priv;
  if (!GST_BASE_SRC_CLASS (parent_class)->start (bsrc))
    return FALSE;

  mirror::SrtHubOptions options;
  std::string stream_id, label;
  {
    std::lock_guard<std::mutex> lk (priv->lock);
    options = priv->options;
    stream_id = priv->stream_id;
    label = priv->label;
  }
  auto feed = std::make_shared<mirror::SrtRingFeed> (
      gst_mirror_ring_src_get_ring (GST_MIRROR_RING_SRC (src)));

  std::string error;
  std::shared_ptr<mirror::SrtHub> hub;
  try {
    hub = mirror::SrtHub::acquire (options, &error);
  } catch (const std::exception &e) {
    error = e.what ();
    hub.reset ();
  }
  if (!hub) {
    GST_ELEMENT_ERROR (src, RESOURCE, OPEN_READ,
                       ("stream %s: cannot listen for SRT on port %u: %s", label.c_str (),
                        (guint)options.port, error.empty () ? "unknown error" : error.c_str ()),
                       ("SrtHub::acquire (port %u) failed", (guint)options.port));
    return FALSE;
  }

  bool attached = false;
  try {
    gst_mirror_ring_src_set_thread_nice (GST_MIRROR_RING_SRC (src), hub->thread_nice ());
    attached = hub->attach (stream_id, feed, &error);
  } catch (const std::exception &e) {
    error = e.what ();
  }
  if (!attached) {
    GST_ELEMENT_ERROR (src, RESOURCE, BUSY,
                       ("stream %s: cannot receive SRT stream id \"%s\" on port %u: %s",
                        label.c_str (), stream_id.c_str (), (guint)options.port,
                        error.empty () ? "unknown error" : error.c_str ()),
                       ("SrtHub::attach failed"));
    return FALSE;
  }
  GST_INFO_OBJECT (src, "receiving SRT stream id %s through the hub on port %u", stream_id.c_str (),
                   (guint)hub->port ());

  std::lock_guard<std::mutex> lk (priv->lock);
  priv->hub = std::move (hub);
  priv->feed = std::move (feed);
  return TRUE;
}

static gboolean
gst_mirror_srt_hub_src_stop (GstBaseSrc *bsrc)
{
  auto *priv = GST_MIRROR_SRT_HUB_SRC (bsrc)->priv;
  std::shared_ptr<mirror::SrtHub> hub;
  std::shared_ptr<mirror::SrtRingFeed> feed;
  std::string stream_id;
  {
    std::lock_guard<std::mutex> lk (priv->lock);
    hub = std::move (priv->hub);
    feed = std::move (priv->feed);
    stream_id = priv->stream_id;
  }
  if (hub && feed) {
    try {
      hub->detach (stream_id, feed.get ());
    } catch (const std::exception &e) {
      GST_WARNING_OBJECT (bsrc, "SRT hub detach of %s failed: %s", stream_id.c_str (), e.what ());
    }
  }
  // The hub (and its listener, if this was its last user) goes here.
  hub.reset ();
  return GST_BASE_SRC_CLASS (parent_class)->stop (bsrc);
}

static void
gst_mirror_srt_hub_src_finalize (GObject *object)
{
  delete GST_MIRROR_SRT_HUB_SRC (object)->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_srt_hub_src_class_init (GstMirrorSrtHubSrcClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto *basesrc_class = GST_BASE_SRC_CLASS (klass);

  object_class->finalize = gst_mirror_srt_hub_src_finalize;
  gst_element_class_set_static_metadata (
      element_class, "Mirror SRT hub source", "Source/Network",
      "Internal to mirroringestbin: one stream id's MPEG-TS from the process-wide SRT hub",
      "Mirror developers");
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_mirror_srt_hub_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_mirror_srt_hub_src_stop);
}

static void
gst_mirror_srt_hub_src_init (GstMirrorSrtHubSrc *src)
{
  src->priv = new GstMirrorSrtHubSrcPrivate ();
}
