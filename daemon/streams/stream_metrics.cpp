// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/stream_metrics.h"

#include <algorithm>

#include "ingest/buffer_latency.h"
#include "metrics/metrics.h"
#include "transcode/shed_policy.h"
#include "util/message_names.h"

namespace mirror::daemon {

namespace {

// mirror_transcode_shed_total's steps and the stats fields that count them.
constexpr std::pair<const char *, const char *> kShedSteps[] = {
  { "encoder", "shed-encoder-drops" },
  { "non-reference", "shed-nonref-drops" },
  { "keyframes", "shed-keyframe-drops" },
  { "catch-up", "shed-catchup-drops" },
};

// Any numeric field as a double, whatever integer type the element used.
double
number (const GstStructure *s, const char *field)
{
  const GValue *value = gst_structure_get_value (s, field);
  if (!value)
    return 0;
  GValue as_double = G_VALUE_INIT;
  g_value_init (&as_double, G_TYPE_DOUBLE);
  double out = 0;
  if (g_value_transform (value, &as_double))
    out = g_value_get_double (&as_double);
  g_value_unset (&as_double);
  return out;
}

std::string
text (const GstStructure *s, const char *field)
{
  const char *value = gst_structure_get_string (s, field);
  return value ? value : "";
}

// Adds the growth of a total to a counter; a total that went down (the
// element restarted) counts from zero again.
void
add_growth (prometheus::Counter &counter, double &last, double total)
{
  counter.Increment (total >= last ? total - last : total);
  last = total;
}

const prometheus::Histogram::BucketBoundaries kDurationBuckets
    = { 1, 10, 60, 600, 3600, 6 * 3600, 24 * 3600 };

const prometheus::Histogram::BucketBoundaries kBufferLatencyBuckets (kBufferLatencyBounds.begin (),
                                                                     kBufferLatencyBounds.end ());

// The element's per-bucket totals (mirror-ingest-stats' buffer-latency-*)
// into the stream's histogram, as what grew since the last message.
void
add_latency_growth (prometheus::Histogram &histogram, const GstStructure *s,
                    std::vector<double> &last_buckets, double &last_sum)
{
  const GValue *array = gst_structure_get_value (s, "buffer-latency-buckets");
  if (!array || !GST_VALUE_HOLDS_ARRAY (array)
      || gst_value_array_get_size (array) != kBufferLatencyBuckets.size () + 1)
    return;
  std::vector<double> totals;
  for (guint i = 0; i < gst_value_array_get_size (array); i++)
    totals.push_back (double (g_value_get_uint64 (gst_value_array_get_value (array, i))));
  double sum = 0;
  gst_structure_get_double (s, "buffer-latency-sum", &sum);
  // A total that went down: the element restarted, count from zero.
  bool restarted = last_buckets.size () != totals.size () || sum < last_sum;
  for (size_t i = 0; !restarted && i < totals.size (); i++)
    restarted = totals[i] < last_buckets[i];
  std::vector<double> growth (totals.size ());
  for (size_t i = 0; i < totals.size (); i++)
    growth[i] = restarted ? totals[i] : totals[i] - last_buckets[i];
  histogram.ObserveMultiple (growth, restarted ? sum : sum - last_sum);
  last_buckets = std::move (totals);
  last_sum = sum;
}

} // namespace

std::string
StreamMetrics::on_message (const std::string &id, const GstStructure *s)
{
  if (!metrics_)
    return "";
  const prometheus::Labels labels = { { "stream", id } };
  Seen &seen = seen_[id];

  if (gst_structure_has_name (s, msg::kHeartbeat)) {
    metrics_->stream_ingestion_bitrate_bps.Add (labels).Set (number (s, "bitrate"));
  } else if (gst_structure_has_name (s, msg::kIngestStats)) {
    // Wire bytes, as the network delivered them (the heartbeat counts media bytes).
    add_growth (metrics_->stream_ingestion_bytes_total.Add (labels), seen.bytes,
                number (s, "bytes-received"));
    add_growth (metrics_->stream_ingestion_packets_total.Add (labels), seen.packets,
                number (s, "packets-received"));
    add_growth (metrics_->buffer_drops_total.Add (labels), seen.drops, number (s, "ring-drops"));
    if (g_strcmp0 (gst_structure_get_string (s, "transport"), "srt") == 0) {
      add_growth (metrics_->srt_packets_lost_total.Add (labels), seen.lost,
                  number (s, "packets-lost"));
      add_growth (metrics_->srt_packets_dropped_total.Add (labels), seen.late,
                  number (s, "packets-dropped"));
      add_growth (metrics_->srt_packets_retransmitted_total.Add (labels), seen.retransmitted,
                  number (s, "packets-retransmitted"));
      metrics_->srt_rtt_ms.Add (labels).Set (number (s, "rtt-ms"));
      metrics_->srt_receive_rate_mbps.Add (labels).Set (number (s, "receive-rate-mbps"));
    }
    metrics_->buffer_usage_bytes.Add (labels).Set (number (s, "ring-bytes"));
    add_latency_growth (metrics_->ingest_buffer_latency_seconds.Add (labels, kBufferLatencyBuckets),
                        s, seen.latency_buckets, seen.latency_sum);
  } else if (gst_structure_has_name (s, msg::kTranscodeStats)) {
    auto kind = [&id] (const char *k) {
      return prometheus::Labels{ { "stream", id }, { "kind", k } };
    };
    // The share of the frames that came in over the last interval that the
    // transcode managed to put out: 1 when it keeps up, lower as it sheds.
    const double in_before = seen.frames_in, out_before = seen.frames_out;
    add_growth (metrics_->transcode_frames_total.Add (kind ("in")), seen.frames_in,
                number (s, "frames-in"));
    add_growth (metrics_->transcode_frames_total.Add (kind ("out")), seen.frames_out,
                number (s, "frames-out"));
    if (seen.frames_in > in_before && seen.frames_out >= out_before)
      metrics_->transcode_speed_ratio.Add (labels).Set (
          std::min (1.0, (seen.frames_out - out_before) / (seen.frames_in - in_before)));
    add_growth (metrics_->transcode_frames_total.Add (kind ("dropped")), seen.frames_dropped,
                number (s, "frames-dropped"));
    metrics_->transcode_latency_ms.Add ({ { "stream", id }, { "quantile", "0.5" } })
        .Set (number (s, "latency-p50-ms"));
    metrics_->transcode_latency_ms.Add ({ { "stream", id }, { "quantile", "0.99" } })
        .Set (number (s, "latency-p99-ms"));
    for (const auto &[step, field] : kShedSteps)
      if (gst_structure_has_field (s, field))
        add_growth (metrics_->transcode_shed_total.Add ({ { "stream", id }, { "step", step } }),
                    seen.shed[step], number (s, field));
    if (const char *step = gst_structure_get_string (s, "shed-step"))
      metrics_->transcode_shed_step.Add (labels).Set (int (shed_step_from_name (step)));
    if (gst_structure_has_field (s, "lag-ms"))
      metrics_->transcode_lag_seconds.Add (labels).Set (number (s, "lag-ms") / 1000);
    prometheus::Labels chain = { { "stream", id },
                                 { "decoder", text (s, "decoder") },
                                 { "encoder", text (s, "encoder") },
                                 { "hardware", text (s, "hardware") } };
    if (chain != seen.transcode_chain) {
      if (!seen.transcode_chain.empty ())
        metrics_->transcode_info.Remove (&metrics_->transcode_info.Add (seen.transcode_chain));
      metrics_->transcode_info.Add (chain).Set (1);
      seen.transcode_chain = chain;
    }
  } else if (gst_structure_has_name (s, msg::kIngestConnected)) {
    metrics_->stream_ingestion_active.Add (labels).Set (1);
    seen.connected_at_us = g_get_monotonic_time ();
    return text (s, "peer");
  } else if (gst_structure_has_name (s, msg::kIngestReconnected)) {
    metrics_->stream_ingestion_active.Add (labels).Set (1);
    metrics_->connection_reconnects_total.Add (labels).Increment ();
    seen.connected_at_us = g_get_monotonic_time ();
    return text (s, "peer");
  } else if (gst_structure_has_name (s, msg::kIngestDisconnected)) {
    metrics_->stream_ingestion_active.Add (labels).Set (0);
    if (seen.connected_at_us) {
      metrics_->connection_duration_seconds.Add ({}, kDurationBuckets)
          .Observe ((g_get_monotonic_time () - seen.connected_at_us) / 1e6);
      seen.connected_at_us = 0;
    }
    metrics_->stream_ingestion_errors_total.Add ({ { "stream", id }, { "reason", "disconnect" } })
        .Increment ();
  }
  return "";
}

void
StreamMetrics::forget (const std::string &id)
{
  auto it = seen_.find (id);
  if (!metrics_)
    return;
  if (it == seen_.end ())
    it = seen_.emplace (id, Seen{}).first; // only error series, perhaps
  const prometheus::Labels chain = it->second.transcode_chain;
  seen_.erase (it);
  const prometheus::Labels labels = { { "stream", id } };
  if (!chain.empty ())
    metrics_->transcode_info.Remove (&metrics_->transcode_info.Add (chain));
  // Only series that exist: Add would make them.
  if (!chain.empty ()) {
    for (const char *kind : { "in", "out", "dropped" }) {
      const prometheus::Labels l = { { "stream", id }, { "kind", kind } };
      metrics_->transcode_frames_total.Remove (&metrics_->transcode_frames_total.Add (l));
    }
    for (const char *q : { "0.5", "0.99" }) {
      const prometheus::Labels l = { { "stream", id }, { "quantile", q } };
      metrics_->transcode_latency_ms.Remove (&metrics_->transcode_latency_ms.Add (l));
    }
    for (const auto &[step, field] : kShedSteps) {
      const prometheus::Labels l = { { "stream", id }, { "step", step } };
      metrics_->transcode_shed_total.Remove (&metrics_->transcode_shed_total.Add (l));
    }
    metrics_->transcode_shed_step.Remove (&metrics_->transcode_shed_step.Add (labels));
    metrics_->transcode_speed_ratio.Remove (&metrics_->transcode_speed_ratio.Add (labels));
    metrics_->transcode_lag_seconds.Remove (&metrics_->transcode_lag_seconds.Add (labels));
  }
  // Add returns the existing series, which Remove then drops.
  metrics_->stream_ingestion_bytes_total.Remove (
      &metrics_->stream_ingestion_bytes_total.Add (labels));
  metrics_->stream_ingestion_bitrate_bps.Remove (
      &metrics_->stream_ingestion_bitrate_bps.Add (labels));
  metrics_->stream_ingestion_packets_total.Remove (
      &metrics_->stream_ingestion_packets_total.Add (labels));
  metrics_->buffer_drops_total.Remove (&metrics_->buffer_drops_total.Add (labels));
  metrics_->buffer_usage_bytes.Remove (&metrics_->buffer_usage_bytes.Add (labels));
  metrics_->ingest_buffer_latency_seconds.Remove (
      &metrics_->ingest_buffer_latency_seconds.Add (labels, kBufferLatencyBuckets));
  metrics_->stream_ingestion_active.Remove (&metrics_->stream_ingestion_active.Add (labels));
  metrics_->srt_packets_lost_total.Remove (&metrics_->srt_packets_lost_total.Add (labels));
  metrics_->srt_packets_dropped_total.Remove (&metrics_->srt_packets_dropped_total.Add (labels));
  metrics_->srt_packets_retransmitted_total.Remove (
      &metrics_->srt_packets_retransmitted_total.Add (labels));
  metrics_->srt_rtt_ms.Remove (&metrics_->srt_rtt_ms.Add (labels));
  metrics_->srt_receive_rate_mbps.Remove (&metrics_->srt_receive_rate_mbps.Add (labels));
  metrics_->connection_reconnects_total.Remove (
      &metrics_->connection_reconnects_total.Add (labels));
  metrics_->stream_errors_total.Remove (&metrics_->stream_errors_total.Add (labels));
  metrics_->pipeline_restarts_total.Remove (&metrics_->pipeline_restarts_total.Add (labels));
  // Ingest errors by reason: disconnections, and the hub's refusals of
  // further callers for this id.
  for (const char *reason : { "disconnect", "malformed-stream-id", "not-allowed", "bad-passphrase",
                              "already-live", "too-many-connections", "no-consumer" }) {
    const prometheus::Labels l = { { "stream", id }, { "reason", reason } };
    metrics_->stream_ingestion_errors_total.Remove (
        &metrics_->stream_ingestion_errors_total.Add (l));
  }
}

} // namespace mirror::daemon
