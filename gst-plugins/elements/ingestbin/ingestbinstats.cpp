// SPDX-License-Identifier: LGPL-2.1-or-later
// mirroringestbin's statistics: every second, what the transport and the
// ring say (mirror-ingest-stats), the registry's transport figures, and the
// check that SRT data is MPEG-TS at all.
#include "ingestbin/ingestbinpriv.h"

#define GST_CAT_DEFAULT gst_mirror_ingest_bin_debug

static void
gst_mirror_ingest_bin_on_stats_tick (GstMirrorIngestBin *self)
{
  auto *priv = self->priv;

  mirror::IngestUri feed;
  std::string label;
  std::shared_ptr<mirror::IngestRing> ring;
  std::shared_ptr<mirror::IngestRegistration> registration;
  GstElement *src = nullptr, *rtpbin = nullptr, *jitterbuffer = nullptr;
  bool saw_es, error_posted;
  gint64 playing_since;
  mirror::TransportFigures f;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!priv->running)
      return;
    feed = priv->feed;
    label = priv->label;
    ring = priv->ring;
    registration = priv->registration;
    f.peer = priv->peer;
    saw_es = priv->saw_elementary_stream;
    error_posted = priv->no_ts_error_posted;
    playing_since = priv->playing_since_us;
    if (priv->src)
      src = GST_ELEMENT (gst_object_ref (priv->src));
    if (priv->rtpbin)
      rtpbin = GST_ELEMENT (gst_object_ref (priv->rtpbin));
    if (priv->jitterbuffer)
      jitterbuffer = GST_ELEMENT (gst_object_ref (priv->jitterbuffer));
  }

  mirror::IngestRingCounters ring_counters
      = ring ? ring->counters () : mirror::IngestRingCounters{};
  f.bytes = ring_counters.bytes_in;
  switch (feed.kind) {
  case mirror::IngestUri::Kind::kSrtListener:
    if (src && GST_IS_MIRROR_SRT_HUB_SRC (src)) {
      if (auto s = gst_mirror_srt_hub_src_stats (GST_MIRROR_SRT_HUB_SRC (src)))
        mirror::transport_figures_from_srt_hub (*s, &f);
    }
    break;
  case mirror::IngestUri::Kind::kSrtCaller:
    if (src && GST_IS_MIRROR_SRT_CALLER_SRC (src)) {
      if (auto s = gst_mirror_srt_caller_src_stats (GST_MIRROR_SRT_CALLER_SRC (src)))
        mirror::transport_figures_from_srt_hub (*s, &f);
    }
    break;
  case mirror::IngestUri::Kind::kRtp:
    f.bytes = ring_counters.bytes_in;
    if (rtpbin)
      mirror::transport_figures_from_rtpbin (rtpbin, jitterbuffer, feed.ssrc, &f);
    if (f.packets == 0)
      f.packets = ring_counters.chunks_in;
    break;
  }
  for (GstElement *e : { src, rtpbin, jitterbuffer })
    if (e)
      gst_object_unref (e);

  gint64 now = g_get_monotonic_time ();
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (f.rate_mbps < 0) {
      gint64 span = now - priv->last_stats_us;
      f.rate_mbps = priv->last_stats_us > 0 && span > 0 && f.bytes >= priv->last_stats_bytes
                        ? (double)(f.bytes - priv->last_stats_bytes) * 8 / span
                        : 0;
    }
    priv->last_stats_us = now;
    priv->last_stats_bytes = f.bytes;
  }

  // The ring's buffer latency: per-bucket counts (bounds in
  // mirror::kBufferLatencyBounds, then +Inf) and their sum.
  GValue latency_buckets = G_VALUE_INIT;
  gst_value_array_init (&latency_buckets, ring_counters.latency.buckets.size ());
  for (guint64 count : ring_counters.latency.buckets) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_UINT64);
    g_value_set_uint64 (&v, count);
    gst_value_array_append_and_take_value (&latency_buckets, &v);
  }

  // clang-format off
  GstStructure *stats = gst_structure_new (mirror::msg::kIngestStats,
      "stream-id", G_TYPE_STRING, label.c_str (),
      "peer", G_TYPE_STRING, f.peer.c_str (),
      "transport", G_TYPE_STRING, feed.is_srt () ? "srt" : "rtp",
      "bytes-received", G_TYPE_UINT64, f.bytes,
      "packets-received", G_TYPE_UINT64, f.packets,
      "packets-lost", G_TYPE_UINT64, f.lost,
      "packets-dropped", G_TYPE_UINT64, f.dropped,
      "packets-retransmitted", G_TYPE_UINT64, f.retransmitted,
      "rtt-ms", G_TYPE_DOUBLE, f.rtt_ms,
      "receive-rate-mbps", G_TYPE_DOUBLE, f.rate_mbps,
      "ring-bytes", G_TYPE_UINT64, ring_counters.bytes_queued,
      "ring-drops", G_TYPE_UINT64, ring_counters.drops,
      "ring-dropped-bytes", G_TYPE_UINT64, ring_counters.dropped_bytes,
      "buffer-latency-sum", G_TYPE_DOUBLE, ring_counters.latency.sum_seconds,
      nullptr);
  // clang-format on
  gst_structure_take_value (stats, "buffer-latency-buckets", &latency_buckets);
  gst_mirror_ingest_bin_post (self, stats);

  if (registration) {
    mirror::StreamStats stats;
    stats.packets = f.packets;
    stats.packets_lost = f.lost;
    stats.packets_retransmitted = f.retransmitted;
    registration->update_transport (stats);
    std::string problem = registration->take_problem ();
    if (!problem.empty ())
      GST_ELEMENT_WARNING (self, RESOURCE, BUSY,
                           ("stream %s: not registered: %s", label.c_str (), problem.c_str ()),
                           ("registry id \"%s\"", registration->id ().c_str ()));
  }

  // MPEG-TS that is not: tsdemux silently finds nothing in it.
  if (feed.is_srt () && !saw_es && !error_posted && ring_counters.first_data_us > 0
      && playing_since > 0
      && now - MAX (ring_counters.first_data_us, playing_since) >= NO_TS_TIMEOUT_US) {
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->no_ts_error_posted = true;
    }
    std::string from = f.peer.empty () ? feed.redacted () : f.peer;
    GST_ELEMENT_ERROR (self, STREAM, DEMUX,
                       ("stream %s: no MPEG-TS in the data from %s", label.c_str (), from.c_str ()),
                       ("%" G_GUINT64_FORMAT " bytes received in %.1f s and tsdemux found no "
                        "elementary stream",
                        f.bytes, (now - ring_counters.first_data_us) / 1e6));
  }
}

void
gst_mirror_ingest_bin_start_stats (GstMirrorIngestBin *self)
{
  self->priv->stats_timer.start_periodic (
      GST_OBJECT (self), STATS_INTERVAL, [self] () { gst_mirror_ingest_bin_on_stats_tick (self); });
}

void
gst_mirror_ingest_bin_stop_stats (GstMirrorIngestBin *self)
{
  self->priv->stats_timer.stop ();
}
