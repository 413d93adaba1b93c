// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingestbin/gstmirrorrtphubsrc.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_mirror_rtp_hub_src_debug);
#define GST_CAT_DEFAULT gst_mirror_rtp_hub_src_debug

namespace {

GstBuffer *
copy_datagram (const uint8_t *data, size_t size)
{
  GstBuffer *buffer = gst_buffer_new_allocate (nullptr, size, nullptr);
  if (buffer)
    gst_buffer_fill (buffer, 0, data, size);
  return buffer;
}

// The hub's view of this session; runs on the hub's receive thread and never
// touches the element.
class RtpRingFeed final : public mirror::RtpSessionConsumer {
 public:
  RtpRingFeed (std::shared_ptr<mirror::IngestRing> rtp, std::shared_ptr<mirror::IngestRing> rtcp,
               std::string peer, int64_t timeout_ms)
      : rtp_ (std::move (rtp)), rtcp_ (std::move (rtcp)), peer_ (std::move (peer)),
        timeout_ms_ (timeout_ms)
  {}

  ~RtpRingFeed () override
  {
    for (GstBuffer *buffer : batch_)
      gst_buffer_unref (buffer);
  }

  void on_rtp (const uint8_t *data, size_t size) override
  {
    if (!seen_) {
      seen_ = true;
      rtp_->note ({ mirror::IngestNote::Kind::kConnected, peer_, {}, g_get_monotonic_time () });
    }
    // Handed to the ring at the batch's end: one lock and one wake-up of the
    // streaming thread per batch rather than per datagram.
    if (GstBuffer *buffer = copy_datagram (data, size))
      batch_.push_back (buffer);
    if (batch_.size () >= kMaxBatch)
      on_batch_end ();
  }

  void on_batch_end () override
  {
    rtp_->push_all (batch_.data (), batch_.size ());
    batch_.clear ();
  }

  void on_rtcp (const uint8_t *data, size_t size) override
  {
    if (rtcp_)
      if (GstBuffer *buffer = copy_datagram (data, size))
        rtcp_->push (buffer);
  }

  void on_timeout () override
  {
    on_batch_end ();
    gint64 now = g_get_monotonic_time ();
    std::string reason = "no RTP packet for " + std::to_string (timeout_ms_) + " ms";
    rtp_->note ({ mirror::IngestNote::Kind::kDisconnected, peer_, reason, now });
    rtp_->note ({ mirror::IngestNote::Kind::kEnded, peer_, reason, now });
    if (rtcp_)
      rtcp_->note ({ mirror::IngestNote::Kind::kEnded, peer_, reason, now });
  }

 private:
  std::shared_ptr<mirror::IngestRing> rtp_;
  std::shared_ptr<mirror::IngestRing> rtcp_;
  const std::string peer_;
  const int64_t timeout_ms_;
  bool seen_ = false; // hub thread only
  // Datagrams of the hub's current batch (hub thread only).
  static constexpr size_t kMaxBatch = 256;
  std::vector<GstBuffer *> batch_;
};

} // namespace

struct GstMirrorRtpHubSrcPrivate {
  std::mutex lock;
  mirror::RtpHubOptions options;
  uint32_t ssrc = 0;
  std::string source;
  std::string peer;
  std::string label;
  std::shared_ptr<mirror::IngestRing> rtcp_ring;
  std::shared_ptr<mirror::RtpHub> hub;
  std::shared_ptr<RtpRingFeed> feed;
};

struct _GstMirrorRtpHubSrc {
  GstMirrorRingSrc parent;
  GstMirrorRtpHubSrcPrivate *priv;
};

#define gst_mirror_rtp_hub_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstMirrorRtpHubSrc, gst_mirror_rtp_hub_src, GST_TYPE_MIRROR_RING_SRC,
                         GST_DEBUG_CATEGORY_INIT (gst_mirror_rtp_hub_src_debug, "mirrorrtphubsrc",
                                                  0, "Mirror ingest RTP hub source"));

void
gst_mirror_rtp_hub_src_set_hub (GstMirrorRtpHubSrc *src, const mirror::RtpHubOptions &options,
                                uint32_t ssrc, const std::string &source,
                                std::shared_ptr<mirror::IngestRing> rtcp_ring,
                                const std::string &peer, const std::string &label)
{
  auto *priv = src->priv;
  std::lock_guard<std::mutex> lk (priv->lock);
  priv->options = options;
  priv->ssrc = ssrc;
  priv->source = source;
  priv->rtcp_ring = std::move (rtcp_ring);
  priv->peer = peer;
  priv->label = label;
}

static gboolean
gst_mirror_rtp_hub_src_start (GstBaseSrc *bsrc)
{
  auto *src = GST_MIRROR_RTP_HUB_SRC (bsrc);
  auto *priv = src->priv;
  if (!GST_BASE_SRC_CLASS (parent_class)->start (bsrc))
    return FALSE;

  mirror::RtpHubOptions options;
  uint32_t ssrc;
  std::string source, peer, label;
  std::shared_ptr<mirror::IngestRing> rtcp_ring;
  {
    std::lock_guard<std::mutex> lk (priv->lock);
    options = priv->options;
    ssrc = priv->ssrc;
    source = priv->source;
    peer = priv->peer;
    label = priv->label;
    rtcp_ring = priv->rtcp_ring;
  }
  auto feed
      = std::make_shared<RtpRingFeed> (gst_mirror_ring_src_get_ring (GST_MIRROR_RING_SRC (src)),
                                       rtcp_ring, peer, options.session_timeout_ms);

  std::string error;
  std::shared_ptr<mirror::RtpHub> hub;
  try {
    hub = mirror::RtpHub::acquire (options, &error);
  } catch (const std::exception &e) {
    error = e.what ();
    hub.reset ();
  }
  if (!hub) {
    GST_ELEMENT_ERROR (src, RESOURCE, OPEN_READ,
                       ("stream %s: cannot listen for RTP on port %u (RTCP %u): %s", label.c_str (),
                        (guint)options.port, (guint)options.port + 1,
                        error.empty () ? "unknown error" : error.c_str ()),
                       ("RtpHub::acquire (port %u) failed", (guint)options.port));
    return FALSE;
  }

  bool attached = false;
  try {
    gst_mirror_ring_src_set_thread_nice (GST_MIRROR_RING_SRC (src), hub->thread_nice ());
    attached = hub->attach (ssrc, source, feed, &error);
  } catch (const std::exception &e) {
    error = e.what ();
  }
  if (!attached) {
    GST_ELEMENT_ERROR (src, RESOURCE, BUSY,
                       ("stream %s: cannot receive RTP SSRC %u on port %u: %s", label.c_str (),
                        ssrc, (guint)options.port,
                        error.empty () ? "unknown error" : error.c_str ()),
                       ("RtpHub::attach failed"));
    return FALSE;
  }
  GST_INFO_OBJECT (src, "receiving RTP SSRC %u%s%s through the hub on port %u", ssrc,
                   source.empty () ? "" : " from ", source.c_str (), (guint)hub->port ());

  std::lock_guard<std::mutex> lk (priv->lock);
  priv->hub = std::move (hub);
  priv->feed = std::move (feed);
  return TRUE;
}

static gboolean
gst_mirror_rtp_hub_src_stop (GstBaseSrc *bsrc)
{
  auto *priv = GST_MIRROR_RTP_HUB_SRC (bsrc)->priv;
  std::shared_ptr<mirror::RtpHub> hub;
  std::shared_ptr<RtpRingFeed> feed;
  uint32_t ssrc;
  {
    std::lock_guard<std::mutex> lk (priv->lock);
    hub = std::move (priv->hub);
    feed = std::move (priv->feed);
    ssrc = priv->ssrc;
  }
  if (hub && feed) {
    try {
      hub->detach (ssrc, feed.get ());
    } catch (const std::exception &e) {
      GST_WARNING_OBJECT (bsrc, "RTP hub detach of SSRC %u failed: %s", ssrc, e.what ());
    }
  }
  hub.reset ();
  return GST_BASE_SRC_CLASS (parent_class)->stop (bsrc);
}

static void
gst_mirror_rtp_hub_src_finalize (GObject *object)
{
  delete GST_MIRROR_RTP_HUB_SRC (object)->priv;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_mirror_rtp_hub_src_class_init (GstMirrorRtpHubSrcClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  auto *basesrc_class = GST_BASE_SRC_CLASS (klass);

  object_class->finalize = gst_mirror_rtp_hub_src_finalize;
  gst_element_class_set_static_metadata (
      element_class, "Mirror RTP hub source", "Source/Network",
      "Internal to mirroringestbin: one RTP session's packets from the process-wide RTP hub",
      "Mirror developers");
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_mirror_rtp_hub_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_mirror_rtp_hub_src_stop);
}

static void
gst_mirror_rtp_hub_src_init (GstMirrorRtpHubSrc *src)
{
  src->priv = new GstMirrorRtpHubSrcPrivate ();
}
