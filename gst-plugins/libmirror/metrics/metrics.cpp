// SPDX-License-Identifier: LGPL-2.1-or-later
#include "metrics/metrics.h"

#include <algorithm>
#include <sstream>

#include "metrics/process_stats.h"

#include <prometheus/text_serializer.h>

namespace mirror {

#define GAUGE(name, help) prometheus::BuildGauge ().Name (name).Help (help).Register (*registry_)
#define COUNTER(name, help)                                                                        \
  prometheus::BuildCounter ().Name (name).Help (help).Register (*registry_)
#define HISTOGRAM(name, help)                                                                      \
  prometheus::BuildHistogram ().Name (name).Help (help).Register (*registry_)

Metrics::Metrics ()
    : registry_ (std::make_shared<prometheus::Registry> ()),
      build_info (GAUGE ("mirror_build_info", "Always 1; labels carry the version and git commit")),
      uptime_seconds (GAUGE ("mirror_uptime_seconds", "Seconds since mirrord started")),
      process_open_fds_mirror (
          GAUGE ("mirror_process_open_fds", "File descriptors this process holds open")),
      process_threads_mirror (GAUGE ("mirror_process_threads", "Threads of this process")),
      process_open_fds (GAUGE ("process_open_fds", "Number of open file descriptors")),
      process_max_fds (GAUGE ("process_max_fds", "Maximum number of open file descriptors")),
      process_resident_memory_bytes (
          GAUGE ("process_resident_memory_bytes", "Resident memory size in bytes")),
      process_virtual_memory_bytes (
          GAUGE ("process_virtual_memory_bytes", "Virtual memory size in bytes")),
      process_cpu_seconds_total (
          COUNTER ("process_cpu_seconds_total", "Total user and system CPU time spent in seconds")),
      process_start_time_seconds (GAUGE ("process_start_time_seconds",
                                         "Start time of the process since unix epoch in seconds")),
      streams (GAUGE ("mirror_streams", "Streams owned by this node, by state")),
      streams_created_total (
          COUNTER ("mirror_streams_created_total", "Streams whose pipeline this node started")),
      stream_errors_total (COUNTER ("mirror_stream_errors_total", "Pipeline errors, by stream")),
      pipeline_restarts_total (
          COUNTER ("mirror_pipeline_restarts_total",
                   "Wedged pipelines restarted by the watchdog (input arriving, no output for "
                   "ingestion.pipeline_stall_timeout), by stream")),
      registry_connected (
          GAUGE ("mirror_registry_connected", "1 while the stream registry backend is reachable")),
      api_requests_total (COUNTER ("mirror_api_requests_total",
                                   "Admin API requests, by method, route and status code")),
      api_request_duration_seconds (
          HISTOGRAM ("mirror_api_request_duration_seconds", "Admin API request handling time")),
      stream_ingestion_active (
          GAUGE ("mirror_stream_ingestion_active", "1 while a stream's ingest is receiving")),
      stream_ingestion_bytes_total (
          COUNTER ("mirror_stream_ingestion_bytes_total", "Bytes received, by stream")),
      stream_ingestion_packets_total (
          COUNTER ("mirror_stream_ingestion_packets_total", "Packets received, by stream")),
      stream_ingestion_errors_total (
          COUNTER ("mirror_stream_ingestion_errors_total",
                   "Ingest errors and rejected connections, by stream and reason")),
      stream_ingestion_bitrate_bps (GAUGE ("mirror_stream_ingestion_bitrate_bps",
                                           "Received bitrate over the last second, bits/s")),
      buffer_usage_bytes (
          GAUGE ("mirror_buffer_usage_bytes", "Bytes held in a stream's ingest ring")),
      buffer_drops_total (
          COUNTER ("mirror_buffer_drops_total", "Buffers dropped by a full ingest ring")),
      ingest_buffer_latency_seconds (HISTOGRAM (
          "mirror_ingest_buffer_latency_seconds",
          "Time a chunk of a feed waits between its arrival and its hand-off to the demuxer")),
      connection_duration_seconds (
          HISTOGRAM ("mirror_connection_duration_seconds", "How long ingest connections lasted")),
      connection_reconnects_total (
          COUNTER ("mirror_connection_reconnects_total",
                   "Callers that reconnected within the reconnect window")),
      srt_packets_lost_total (COUNTER ("mirror_srt_packets_lost_total",
                                       "SRT packets the receiver detected as lost, by stream")),
      srt_packets_dropped_total (COUNTER ("mirror_srt_packets_dropped_total",
                                          "SRT packets dropped as too late to play, by stream")),
      srt_packets_retransmitted_total (
          COUNTER ("mirror_srt_packets_retransmitted_total",
                   "SRT packets received again after a loss report, by stream")),
      srt_rtt_ms (GAUGE ("mirror_srt_rtt_ms", "SRT round-trip time to the caller, ms")),
      srt_receive_rate_mbps (
          GAUGE ("mirror_srt_receive_rate_mbps", "SRT receive rate as libsrt measures it, Mbit/s")),
      rtp_packets_dropped_total (
          COUNTER ("mirror_rtp_packets_dropped_total",
                   "Datagrams the RTP hub dropped without a stream, by reason")),
      transcode_frames_total (COUNTER ("mirror_transcode_frames_total",
                                       "Video frames into and out of the transcoder, and "
                                       "dropped, by stream and kind (in, out, dropped)")),
      transcode_latency_ms (GAUGE ("mirror_transcode_latency_ms",
                                   "Transcode latency (a frame in to its encoded frame out) over "
                                   "the last 256 frames, by stream and quantile")),
      transcode_shed_total (COUNTER (
          "mirror_transcode_shed_total",
          "Video frames the transcoder shed to stay live, by stream and step (encoder: dropped "
          "before an encoder; non-reference: frames no other refers to, kept from the decoder; "
          "keyframes: delta frames kept from "
          "the decoder; catch-up: late frames dropped up to an on-time keyframe)")),
      transcode_shed_step (GAUGE ("mirror_transcode_shed_step",
                                  "The transcoder's shedding step now, by stream (0: none, 1: "
                                  "non-reference frames skipped, 2: keyframes only)")),
      transcode_speed_ratio (GAUGE ("mirror_transcode_speed_ratio",
                                    "Frames the transcoder put out per frame in over its last "
                                    "stats interval, by stream (1: it keeps up; lower: it sheds)")),
      transcode_lag_seconds (GAUGE ("mirror_transcode_lag_seconds",
                                    "How long ago the newest decoded frame entered the "
                                    "transcoder, by stream")),
      stream_live_lag_seconds (GAUGE (
          "mirror_stream_live_lag_seconds",
          "How far behind the clock a stream's live edge is: now minus the program date-time of "
          "the newest part of its rendition furthest behind, by stream")),
      hls_parts_off_grid_total (COUNTER (
          "mirror_hls_parts_off_grid_total",
          "Parts off their rendition's PART-TARGET grid, by stream, rendition and kind: "
          "shortened (a gap in the input's timestamps: the last frame cut to stay within the "
          "target), short (under 85 % of it, not a segment's last or independent), long (over "
          "it: the target had to grow), keyless-segment (a segment's first part, cut without a "
          "keyframe to keep the segment within TARGETDURATION: the source's keyframes are "
          "further apart), long-segment (a segment over TARGETDURATION, which had to grow)")),
      transcode_info (GAUGE ("mirror_transcode_info",
                             "The transcoding chain in use (1), by stream, decoder, encoder and "
                             "hardware (gpu, cpu, mixed)")),
      origin_requests_total (COUNTER ("mirror_origin_requests_total",
                                      "Viewer requests the Origin handled, every transport")),
      origin_held_requests (GAUGE ("mirror_origin_held_requests",
                                   "Requests held now (blocking playlist reloads, hinted parts)")),
      origin_hold_timeouts_total (COUNTER ("mirror_origin_hold_timeouts_total",
                                           "Held requests answered 503 after three target "
                                           "durations")),
      origin_hint_misses_total (COUNTER (
          "mirror_origin_hint_misses_total",
          "Held requests for a preload-hinted part that was never published (answered 404)")),
      origin_token_refused_total (COUNTER (
          "mirror_origin_token_refused_total",
          "Viewer requests refused 403 for a missing, malformed, expired or wrong playback "
          "token (server.playback_token_key)")),
      origin_redirects_total (COUNTER (
          "mirror_origin_redirects_total",
          "Viewer requests for a stream another node owns, redirected (302) to its public URL")),
      origin_relay_total (COUNTER (
          "mirror_origin_relay_total",
          "Cluster playback by relay (server.cluster_playback: relay): requests for another "
          "node's streams (result=requested), and how they were answered: upstream (one request "
          "to the owner), coalesced (joined one in flight), cached, failed (owner unreachable)")),
      http3_connections (GAUGE ("mirror_http3_connections", "QUIC connections open now")),
      http3_connections_total (COUNTER ("mirror_http3_connections_total",
                                        "QUIC connections accepted (address validated)")),
      http3_handshake_failures_total (COUNTER ("mirror_http3_handshake_failures_total",
                                               "QUIC connections gone before their handshake "
                                               "completed")),
      http3_streams_total (COUNTER ("mirror_http3_streams_total", "HTTP/3 requests")),
      http3_bytes_total (
          COUNTER ("mirror_http3_bytes_total", "UDP payload bytes of HTTP/3, by direction")),
      http3_held_requests (
          GAUGE ("mirror_http3_held_requests", "HTTP/3 requests waiting on the Origin now")),
      http3_packets_dropped_total (COUNTER ("mirror_http3_packets_dropped_total",
                                            "Datagrams dropped: undecodable, unexpected or "
                                            "refused")),
      http3_retries_total (
          COUNTER ("mirror_http3_retries_total", "QUIC Retry packets sent (address validation)")),
      http3_stateless_resets_total (
          COUNTER ("mirror_http3_stateless_resets_total", "QUIC stateless resets sent")),
      http3_datagrams_forwarded_total (
          COUNTER ("mirror_http3_datagrams_forwarded_total",
                   "QUIC datagrams the kernel gave one worker and its connection ID sent to "
                   "another (after a client's rebinding); result=dropped: its inbox was full")),
      http2_connections_total (COUNTER ("mirror_http2_connections_total",
                                        "HTTPS connections that chose HTTP/2 by ALPN")),
      http2_requests_total (COUNTER ("mirror_http2_requests_total", "Requests served over HTTP/2")),
      http_connections_refused_total (COUNTER (
          "mirror_http_connections_refused_total",
          "Viewer connections refused at accept, protocol=tcp (HTTPS, HTTP) or quic: "
          "limit=total (server.http_max_connections, server.http3_max_connections), "
          "limit=address (server.max_connections_per_address)")),
      origin_workers (
          GAUGE ("mirror_origin_workers",
                 "Threads serving viewers (server.workers), each with its own sockets")),
      storage_segments_recorded_total (
          COUNTER ("mirror_storage_segments_recorded_total",
                   "Segments the DVR recorder wrote and indexed, every stream and rendition")),
      storage_bytes_written_total (COUNTER ("mirror_storage_bytes_written_total",
                                            "Media and init bytes the DVR recorder wrote")),
      storage_segments_dropped_total (
          COUNTER ("mirror_storage_segments_dropped_total",
                   "Segments not recorded: the write queue was full, or the disk was")),
      storage_write_errors_total (COUNTER ("mirror_storage_write_errors_total",
                                           "Failed writes, syncs and removals of DVR files")),
      storage_queue_bytes (
          GAUGE ("mirror_storage_queue_bytes", "Bytes waiting for the DVR recorder's thread")),
      storage_disk_full (
          GAUGE ("mirror_storage_disk_full", "1 when the disk filled up and recording stopped")),
      storage_open_periods (GAUGE ("mirror_storage_open_periods",
                                   "Period files the recorder holds open (two descriptors each)")),
      storage_cache_bytes (
          GAUGE ("mirror_storage_cache_bytes", "DVR period files on local disk, as last checked")),
      storage_disk_free_bytes (GAUGE ("mirror_storage_disk_free_bytes",
                                      "Free space on the DVR directory's file system")),
      storage_write_latency_seconds (
          GAUGE ("mirror_storage_write_latency_seconds",
                 "Write and sync time of the recorder's batches: p99 and max of the last 256")),
      storage_periods_removed_total (
          COUNTER ("mirror_storage_periods_removed_total",
                   "Periods removed: past the retention time, or the oldest over the cache's cap")),
      storage_periods_evicted_total (
          COUNTER ("mirror_storage_periods_evicted_total",
                   "Data files left to S3 once uploaded and older than storage.local.ttl")),
      storage_uploads_total (COUNTER ("mirror_storage_uploads_total",
                                      "Period uploads to S3 by result (failed ones are retried)")),
      storage_upload_bytes_total (
          COUNTER ("mirror_storage_upload_bytes_total", "Bytes of period files uploaded to S3")),
      storage_s3_requests_total (
          COUNTER ("mirror_storage_s3_requests_total", "S3 requests sent, retries included")),
      storage_s3_retries_total (
          COUNTER ("mirror_storage_s3_retries_total",
                   "S3 requests sent again after a 5xx, 429, SlowDown or a connection failure")),
      storage_upload_backlog (GAUGE ("mirror_storage_upload_backlog",
                                     "Closed periods waiting for or in their upload to S3")),
      storage_upload_oldest_seconds (GAUGE ("mirror_storage_upload_oldest_seconds",
                                            "How long ago the oldest period waiting for S3 ended")),
      storage_upload_failing (GAUGE ("mirror_storage_upload_failing",
                                     "1 while uploads to S3 fail (the alarm; local data is kept)")),
      http_connections (
          GAUGE ("mirror_http_connections", "HTTP/1.1 and HTTPS connections open now, by server")),
      http_connections_total (
          COUNTER ("mirror_http_connections_total", "HTTP/1.1 and HTTPS connections accepted")),
      http_idle_closed_total (COUNTER ("mirror_http_idle_closed_total",
                                       "Connections closed by server.http_idle_timeout")),
      http_held_abandoned_total (COUNTER ("mirror_http_held_abandoned_total",
                                          "Held requests (blocking reloads) whose client left")),
      http_tls_handshake_failures_total (
          COUNTER ("mirror_http_tls_handshake_failures_total",
                   "TLS handshakes that failed or timed out (HTTPS)"))
{}

void
Metrics::update_process ()
{
  auto now = read_process_stats ();
  if (!now)
    return;
  process_open_fds_mirror.Add ({}).Set ((double)now->open_fds);
  process_threads_mirror.Add ({}).Set ((double)now->threads);
  process_open_fds.Add ({}).Set ((double)now->open_fds);
  process_max_fds.Add ({}).Set ((double)now->max_fds);
  process_resident_memory_bytes.Add ({}).Set ((double)now->resident_bytes);
  process_virtual_memory_bytes.Add ({}).Set ((double)now->virtual_bytes);
  process_start_time_seconds.Add ({}).Set (now->start_time_unix);
  if (now->cpu_seconds > cpu_seconds_seen_)
    process_cpu_seconds_total.Add ({}).Increment (now->cpu_seconds - cpu_seconds_seen_);
  cpu_seconds_seen_ = std::max (cpu_seconds_seen_, now->cpu_seconds);
}

#undef GAUGE
#undef COUNTER
#undef HISTOGRAM

std::string
Metrics::render () const
{
  std::ostringstream out;
  prometheus::TextSerializer ().Serialize (out, registry_->Collect ());
  return out.str ();
}

} // namespace mirror
