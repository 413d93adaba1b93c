// SPDX-License-Identifier: LGPL-2.1-or-later
// Prometheus metric families for one mirrord (or one gst-launch process).
// Everything is named mirror_*; mirrord serves Metrics::render() on /metrics.
#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace mirror {

class Metrics {
  // First member: the families below are references into it.
  std::shared_ptr<prometheus::Registry> registry_;

 public:
  Metrics ();
  Metrics (const Metrics &) = delete;
  Metrics &operator= (const Metrics &) = delete;

  // Prometheus text exposition format 0.0.4.
  std::string render () const;
  prometheus::Registry &registry () { return *registry_; }

  // Process and build.
  prometheus::Family<prometheus::Gauge> &build_info;
  prometheus::Family<prometheus::Gauge> &uptime_seconds;
  // What the process holds (read on every scrape): Mirror's own names and
  // the standard process_* families Prometheus client libraries export.
  prometheus::Family<prometheus::Gauge> &process_open_fds_mirror;
  prometheus::Family<prometheus::Gauge> &process_threads_mirror;
  prometheus::Family<prometheus::Gauge> &process_open_fds;
  prometheus::Family<prometheus::Gauge> &process_max_fds;
  prometheus::Family<prometheus::Gauge> &process_resident_memory_bytes;
  prometheus::Family<prometheus::Gauge> &process_virtual_memory_bytes;
  prometheus::Family<prometheus::Counter> &process_cpu_seconds_total;
  prometheus::Family<prometheus::Gauge> &process_start_time_seconds;
  // Reads /proc/self into the families above.
  void update_process ();

  // Streams on this node, by state; lifecycle counters.
  prometheus::Family<prometheus::Gauge> &streams;
  prometheus::Family<prometheus::Counter> &streams_created_total;
  prometheus::Family<prometheus::Counter> &stream_errors_total;
  prometheus::Family<prometheus::Counter> &pipeline_restarts_total;

  // Registry.
  prometheus::Family<prometheus::Gauge> &registry_connected;

  // Control plane.
  prometheus::Family<prometheus::Counter> &api_requests_total;
  prometheus::Family<prometheus::Histogram> &api_request_duration_seconds;

  // Ingestion (the seed's families; filled by the ingest stage).
  prometheus::Family<prometheus::Gauge> &stream_ingestion_active;
  prometheus::Family<prometheus::Counter> &stream_ingestion_bytes_total;
  prometheus::Family<prometheus::Counter> &stream_ingestion_packets_total;
  prometheus::Family<prometheus::Counter> &stream_ingestion_errors_total;
  prometheus::Family<prometheus::Gauge> &stream_ingestion_bitrate_bps;
  prometheus::Family<prometheus::Gauge> &buffer_usage_bytes;
  prometheus::Family<prometheus::Counter> &buffer_drops_total;
  // Time from a chunk's arrival to its hand-off to the demuxer, by stream;
  // buckets: mirror::kBufferLatencyBounds.
  prometheus::Family<prometheus::Histogram> &ingest_buffer_latency_seconds;
  prometheus::Family<prometheus::Histogram> &connection_duration_seconds;
  prometheus::Family<prometheus::Counter> &connection_reconnects_total;

  // Transport (libsrt statistics, RTP hub counters).
  prometheus::Family<prometheus::Counter> &srt_packets_lost_total;
  prometheus::Family<prometheus::Counter> &srt_packets_dropped_total;
  prometheus::Family<prometheus::Counter> &srt_packets_retransmitted_total;
  prometheus::Family<prometheus::Gauge> &srt_rtt_ms;
  prometheus::Family<prometheus::Gauge> &srt_receive_rate_mbps;
  prometheus::Family<prometheus::Counter> &rtp_packets_dropped_total;

  // Transcoding (mirrortranscodebin's mirror-transcode-stats), by stream.
  prometheus::Family<prometheus::Counter> &transcode_frames_total;
  prometheus::Family<prometheus::Gauge> &transcode_latency_ms;
  prometheus::Family<prometheus::Counter> &transcode_shed_total;
  prometheus::Family<prometheus::Gauge> &transcode_shed_step;
  prometheus::Family<prometheus::Gauge> &transcode_speed_ratio;
  prometheus::Family<prometheus::Gauge> &transcode_lag_seconds;
  prometheus::Family<prometheus::Gauge> &stream_live_lag_seconds;
  prometheus::Family<prometheus::Counter> &hls_parts_off_grid_total;
  prometheus::Family<prometheus::Gauge> &transcode_info;

  // The Origin (LL-HLS to viewers), every transport; HTTP/3 (QUIC) alone.
  prometheus::Family<prometheus::Counter> &origin_requests_total;
  prometheus::Family<prometheus::Gauge> &origin_held_requests;
  prometheus::Family<prometheus::Counter> &origin_hold_timeouts_total;
  prometheus::Family<prometheus::Counter> &origin_hint_misses_total;
  prometheus::Family<prometheus::Counter> &origin_token_refused_total;
  prometheus::Family<prometheus::Counter> &origin_redirects_total;
  prometheus::Family<prometheus::Counter> &origin_relay_total;
  prometheus::Family<prometheus::Gauge> &http3_connections;
  prometheus::Family<prometheus::Counter> &http3_connections_total;
  prometheus::Family<prometheus::Counter> &http3_handshake_failures_total;
  prometheus::Family<prometheus::Counter> &http3_streams_total;
  prometheus::Family<prometheus::Counter> &http3_bytes_total;
  prometheus::Family<prometheus::Gauge> &http3_held_requests;
  prometheus::Family<prometheus::Counter> &http3_packets_dropped_total;
  prometheus::Family<prometheus::Counter> &http3_retries_total;
  prometheus::Family<prometheus::Counter> &http3_stateless_resets_total;
  prometheus::Family<prometheus::Counter> &http3_datagrams_forwarded_total;
  prometheus::Family<prometheus::Counter> &http2_connections_total;
  prometheus::Family<prometheus::Counter> &http2_requests_total;
  prometheus::Family<prometheus::Counter> &http_connections_refused_total;
  prometheus::Family<prometheus::Gauge> &origin_workers;

  // DVR recording (storage/recorder.h).
  prometheus::Family<prometheus::Counter> &storage_segments_recorded_total;
  prometheus::Family<prometheus::Counter> &storage_bytes_written_total;
  prometheus::Family<prometheus::Counter> &storage_segments_dropped_total;
  prometheus::Family<prometheus::Counter> &storage_write_errors_total;
  prometheus::Family<prometheus::Gauge> &storage_queue_bytes;
  prometheus::Family<prometheus::Gauge> &storage_disk_full;
  prometheus::Family<prometheus::Gauge> &storage_open_periods;
  prometheus::Family<prometheus::Gauge> &storage_cache_bytes;
  prometheus::Family<prometheus::Gauge> &storage_disk_free_bytes;
  prometheus::Family<prometheus::Gauge> &storage_write_latency_seconds;
  prometheus::Family<prometheus::Counter> &storage_periods_removed_total;
  prometheus::Family<prometheus::Counter> &storage_periods_evicted_total;
  // The S3 archive (storage/uploader.h).
  prometheus::Family<prometheus::Counter> &storage_uploads_total;
  prometheus::Family<prometheus::Counter> &storage_upload_bytes_total;
  prometheus::Family<prometheus::Counter> &storage_s3_requests_total;
  prometheus::Family<prometheus::Counter> &storage_s3_retries_total;
  prometheus::Family<prometheus::Gauge> &storage_upload_backlog;
  prometheus::Family<prometheus::Gauge> &storage_upload_oldest_seconds;
  prometheus::Family<prometheus::Gauge> &storage_upload_failing;

  // HTTP/1.1 and HTTPS connections (libsoup), by server: "origin", "admin".
  prometheus::Family<prometheus::Gauge> &http_connections;
  prometheus::Family<prometheus::Counter> &http_connections_total;
  prometheus::Family<prometheus::Counter> &http_idle_closed_total;
  prometheus::Family<prometheus::Counter> &http_held_abandoned_total;
  prometheus::Family<prometheus::Counter> &http_tls_handshake_failures_total;

 private:
  double cpu_seconds_seen_ = 0;
};

} // namespace mirror
