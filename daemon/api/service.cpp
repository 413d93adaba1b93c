// SPDX-License-Identifier: LGPL-2.1-or-later
// The service endpoints around the API: /health, /metrics, the OpenAPI
// document and the operator's page.
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include <gio/gio.h>

#include "api/rest_server.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "origin/origin.h"
#include "registry/stream_registry.h"
#include "streams/stream_manager.h"
#include "util/main_context.h"

namespace mirror::daemon {

namespace {

// Serves a file built into mirrord (daemon/mirrord.gresource.xml).
void
send_resource (Exchange ex, const char *path, const char *content_type)
{
  GBytes *bytes = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
  if (!bytes) {
    ex->send_error (500, ApiErrc::kInternal, std::string ("built-in resource missing: ") + path);
    return;
  }
  gsize size = 0;
  const char *data = static_cast<const char *> (g_bytes_get_data (bytes, &size));
  ex->send_text (200, content_type, std::string (data, size));
  g_bytes_unref (bytes);
}

void
add_component (JsonBuilder *b, const char *name, bool healthy, const std::string &detail)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, healthy ? "ok" : "unhealthy");
  json_builder_set_member_name (b, "detail");
  json_builder_add_string_value (b, detail.c_str ());
  json_builder_end_object (b);
}

// The HTTP/1.1 and HTTPS connections of one server (libsoup's, through a
// SoupAcceptor).
void
update_http_metrics (Metrics &m, const char *server, const SoupAcceptor::Stats &now,
                     SoupAcceptor::Stats &last)
{
  const prometheus::Labels labels = { { "server", server } };
  auto add = [] (prometheus::Counter &c, uint64_t now, uint64_t before) {
    if (now > before)
      c.Increment ((double)(now - before));
  };
  m.http_connections.Add (labels).Set ((double)now.open);
  add (m.http_connections_total.Add (labels), now.accepted, last.accepted);
  add (m.http_idle_closed_total.Add (labels), now.idle_closed, last.idle_closed);
  add (m.http_held_abandoned_total.Add (labels), now.held_abandoned, last.held_abandoned);
  add (m.http_tls_handshake_failures_total.Add (labels), now.handshake_failures,
       last.handshake_failures);
  last = now;
}

// Parts off each rendition's PART-TARGET grid, from the windows' totals (a
// new store for a stream starts them again). Called under
// update_origin_metrics's lock.
void
update_part_grid_metrics (Metrics &m, MediaStore &store)
{
  using Key = std::tuple<std::string, std::string, std::string>; // stream, rendition, kind
  static std::map<Key, uint64_t> seen;
  std::set<Key> present;
  for (const std::string &id : store.stream_ids ()) {
    auto stream = store.find_stream (id);
    if (!stream)
      continue;
    for (const std::string &rendition : stream->rendition_names ()) {
      auto c = stream->counters (rendition);
      if (!c)
        continue;
      for (const auto &[kind, total] :
           { std::pair{ "shortened", c->shortened_parts }, std::pair{ "short", c->short_parts },
             std::pair{ "long", c->long_parts },
             std::pair{ "keyless-segment", c->keyless_segments },
             std::pair{ "long-segment", c->long_segments } }) {
        Key key{ id, rendition, kind };
        auto &counter = m.hls_parts_off_grid_total.Add (
            { { "stream", id }, { "rendition", rendition }, { "kind", kind } });
        uint64_t &last = seen[key];
        counter.Increment ((double)(total >= last ? total - last : total));
        last = total;
        present.insert (key);
      }
    }
  }
  for (auto it = seen.begin (); it != seen.end ();) {
    if (present.count (it->first)) {
      ++it;
      continue;
    }
    const auto &[id, rendition, kind] = it->first;
    m.hls_parts_off_grid_total.Remove (&m.hls_parts_off_grid_total.Add (
        { { "stream", id }, { "rendition", rendition }, { "kind", kind } }));
    it = seen.erase (it);
  }
}

// The Origin's counters are snapshots; Prometheus counters only go up by
// what changed since the last scrape.
void
update_origin_metrics (AdminContext &ctx)
{
  if (!ctx.origin)
    return;
  static std::mutex lock;
  static OriginStats last;
  std::lock_guard<std::mutex> guard (lock);
  OriginStats now = ctx.origin->stats ();
  Metrics &m = ctx.metrics;
  auto add = [] (prometheus::Counter &c, uint64_t now, uint64_t before) {
    if (now > before)
      c.Increment ((double)(now - before));
  };
  static SoupAcceptor::Stats last_http;
  update_http_metrics (m, "origin", now.http, last_http);
  add (m.origin_requests_total.Add ({}), now.requests.requests, last.requests.requests);
  add (m.origin_hold_timeouts_total.Add ({}), now.requests.hold_timeouts,
       last.requests.hold_timeouts);
  add (m.origin_hint_misses_total.Add ({}), now.requests.hint_misses, last.requests.hint_misses);
  add (m.origin_token_refused_total.Add ({}), now.requests.token_refused,
       last.requests.token_refused);
  add (m.origin_redirects_total.Add ({}), now.requests.redirected, last.requests.redirected);
  // Cluster playback by relay: what viewers asked, and how it was answered.
  add (m.origin_relay_total.Add ({ { "result", "requested" } }), now.relay.requests,
       last.relay.requests);
  add (m.origin_relay_total.Add ({ { "result", "upstream" } }), now.relay.upstream,
       last.relay.upstream);
  add (m.origin_relay_total.Add ({ { "result", "coalesced" } }), now.relay.coalesced,
       last.relay.coalesced);
  add (m.origin_relay_total.Add ({ { "result", "cached" } }), now.relay.cached,
       last.relay.cached);
  add (m.origin_relay_total.Add ({ { "result", "failed" } }), now.relay.failures,
       last.relay.failures);
  m.origin_held_requests.Add ({}).Set ((double)now.requests.held_now);
  // Each stream's live edge against the clock; a stream gone from the
  // Origin leaves the metric.
  static std::set<std::string> lag_series;
  std::set<std::string> live;
  const int64_t now_ns = g_get_real_time () * 1000;
  MediaStore &store = ctx.origin->store ();
  for (const std::string &id : store.stream_ids ()) {
    auto stream = store.find_stream (id);
    auto edge = stream ? stream->live_edge_wallclock_ns () : std::nullopt;
    if (!edge)
      continue;
    m.stream_live_lag_seconds.Add ({ { "stream", id } }).Set ((double)(now_ns - *edge) / 1e9);
    live.insert (id);
  }
  for (const std::string &id : lag_series)
    if (!live.count (id))
      m.stream_live_lag_seconds.Remove (&m.stream_live_lag_seconds.Add ({ { "stream", id } }));
  lag_series = std::move (live);
  update_part_grid_metrics (m, store);
  if (const auto &recorder = ctx.origin->config ().stream_defaults.recorder) {
    static RecorderCounters was;
    const RecorderCounters c = recorder->counters ();
    add (m.storage_segments_recorded_total.Add ({}), c.segments, was.segments);
    add (m.storage_bytes_written_total.Add ({}), c.bytes, was.bytes);
    add (m.storage_segments_dropped_total.Add ({}), c.dropped_segments, was.dropped_segments);
    add (m.storage_write_errors_total.Add ({}), c.write_errors, was.write_errors);
    m.storage_queue_bytes.Add ({}).Set ((double)c.queued_bytes);
    m.storage_disk_full.Add ({}).Set (c.disk_full ? 1 : 0);
    m.storage_open_periods.Add ({}).Set ((double)c.open_periods);
    m.storage_cache_bytes.Add ({}).Set ((double)c.cache_bytes);
    m.storage_disk_free_bytes.Add ({}).Set ((double)c.disk_free_bytes);
    m.storage_write_latency_seconds.Add ({ { "quantile", "0.99" } }).Set (c.write_p99_s);
    m.storage_write_latency_seconds.Add ({ { "quantile", "1" } }).Set (c.write_max_s);
    add (m.storage_periods_removed_total.Add ({}), c.periods_removed, was.periods_removed);
    add (m.storage_periods_evicted_total.Add ({}), c.periods_evicted, was.periods_evicted);
    was = c;
  }
  if (const auto &archive = ctx.origin->config ().archive) {
    static UploaderCounters was;
    static S3Client::Counters was_s3;
    const UploaderCounters c = archive->counters ();
    const S3Client::Counters s3 = archive->s3 ()->counters ();
    add (m.storage_uploads_total.Add ({ { "result", "ok" } }), c.uploads_ok, was.uploads_ok);
    add (m.storage_uploads_total.Add ({ { "result", "failed" } }), c.uploads_failed,
         was.uploads_failed);
    add (m.storage_upload_bytes_total.Add ({}), c.bytes_uploaded, was.bytes_uploaded);
    add (m.storage_s3_requests_total.Add ({}), s3.requests, was_s3.requests);
    add (m.storage_s3_retries_total.Add ({}), s3.retries, was_s3.retries);
    m.storage_upload_backlog.Add ({}).Set ((double)c.backlog);
    m.storage_upload_oldest_seconds.Add ({}).Set ((double)c.oldest_waiting_s);
    m.storage_upload_failing.Add ({}).Set (c.failing ? 1 : 0);
    was = c;
    was_s3 = s3;
  }
  if (now.http3) {
    const QuicFrontend::Stats &q = now.quic, &p = last.quic;
    m.http3_connections.Add ({}).Set ((double)q.connections_now);
    m.http3_held_requests.Add ({}).Set ((double)q.held_now);
    add (m.http3_connections_total.Add ({}), q.connections_total, p.connections_total);
    add (m.http3_handshake_failures_total.Add ({}), q.handshake_failures, p.handshake_failures);
    add (m.http3_streams_total.Add ({}), q.streams_total, p.streams_total);
    add (m.http3_bytes_total.Add ({ { "direction", "sent" } }), q.bytes_sent, p.bytes_sent);
    add (m.http3_bytes_total.Add ({ { "direction", "received" } }), q.bytes_received,
         p.bytes_received);
    add (m.http3_packets_dropped_total.Add ({}), q.packets_dropped, p.packets_dropped);
    add (m.http3_retries_total.Add ({}), q.retries_sent, p.retries_sent);
    add (m.http3_stateless_resets_total.Add ({}), q.stateless_resets_sent, p.stateless_resets_sent);
    add (m.http3_datagrams_forwarded_total.Add ({ { "result", "forwarded" } }), q.forwarded_in,
         p.forwarded_in);
    add (m.http3_datagrams_forwarded_total.Add ({ { "result", "dropped" } }), q.forward_dropped,
         p.forward_dropped);
  }
  m.origin_workers.Add ({}).Set ((double)now.workers);
  add (m.http2_connections_total.Add ({}), now.tcp.h2_connections, last.tcp.h2_connections);
  add (m.http_connections_refused_total.Add ({ { "protocol", "tcp" }, { "limit", "total" } }),
       now.tcp.refused, last.tcp.refused);
  add (m.http_connections_refused_total.Add ({ { "protocol", "tcp" }, { "limit", "address" } }),
       now.tcp.refused_per_address, last.tcp.refused_per_address);
  add (m.http_connections_refused_total.Add ({ { "protocol", "quic" }, { "limit", "total" } }),
       now.quic.refused, last.quic.refused);
  add (m.http_connections_refused_total.Add ({ { "protocol", "quic" }, { "limit", "address" } }),
       now.quic.refused_per_address, last.quic.refused_per_address);
  add (m.http2_requests_total.Add ({}), now.tcp.h2_requests, last.tcp.h2_requests);
  last = now;
}

} // namespace

void
add_health_routes (Router &router, AdminContext &ctx)
{
  // 503 when the node cannot do its job: registry unreachable or a listener
  // down. A failed stream is that stream's problem and shows as a count.
  router.add ("GET", "/health", [&ctx] (Exchange ex) {
    bool healthy = true;
    JsonBuilder *b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "components");
    json_builder_begin_object (b);

    const bool registry_ok = ctx.registry->is_connected ();
    healthy &= registry_ok;
    add_component (b, "registry", registry_ok,
                   ctx.registry->describe () + (registry_ok ? " reachable" : " unreachable"));

    json_builder_set_member_name (b, "listeners");
    json_builder_begin_object (b);
    for (const auto &[name, component] : ctx.health.snapshot ()) {
      healthy &= component.healthy;
      add_component (b, name.c_str (), component.healthy, component.detail);
    }
    if (ctx.origin) {
      OriginStats s = ctx.origin->stats ();
      add_component (b, "http3", s.http3,
                     s.http3 ? "udp :" + std::to_string (ctx.origin->http3_port ()) + ", "
                                   + std::to_string (s.quic.connections_now) + " connections, "
                                   + std::to_string (s.quic.held_now) + " held requests"
                             : "off");
    }
    json_builder_end_object (b);

    // Recording: a full disk or failing writes degrade the node (live
    // delivery goes on); they do not make it unhealthy.
    bool storage_ok = true;
    if (const auto recorder
        = ctx.origin ? ctx.origin->config ().stream_defaults.recorder : nullptr) {
      const RecorderCounters c = recorder->counters ();
      storage_ok = !c.disk_full && c.write_errors == 0;
      std::string detail = "recording under " + recorder->options ().dir + ": "
                           + std::to_string (c.segments) + " segments, "
                           + std::to_string (c.dropped_segments) + " dropped";
      if (c.disk_full)
        detail += "; the disk is full, recording stopped";
      if (!c.last_error.empty ())
        detail += "; last error: " + c.last_error;
      // S3 failing keeps everything local: the node is degraded, not down.
      if (const auto &archive = ctx.origin->config ().archive) {
        const UploaderCounters u = archive->counters ();
        detail += "; S3 archive: " + std::to_string (u.uploads_ok) + " periods uploaded, "
                  + std::to_string (u.backlog) + " waiting";
        if (u.failing) {
          storage_ok = false;
          detail += ", uploads failing: " + u.last_error;
        }
      }
      add_component (b, "storage", storage_ok, detail);
    } else {
      add_component (b, "storage", true, "recording off (storage.dvr.enabled)");
    }

    const size_t total = ctx.streams.local_count ();
    const size_t failed = ctx.streams.error_count ();
    // Streams whose transcode sheds work to stay live: the box is short of
    // CPU for what it carries.
    const auto degraded = ctx.streams.in_state (StreamState::kDegraded);
    const bool degraded_node = failed || !degraded.empty () || !storage_ok;
    // Listed, not counted against the node: a feed may pause by itself.
    const auto stalled = ctx.streams.in_state (StreamState::kStalled);
    json_builder_set_member_name (b, "pipelines");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "status");
    json_builder_add_string_value (b, degraded_node ? "degraded" : "ok");
    json_builder_set_member_name (b, "running");
    json_builder_add_int_value (b, (gint64)(total - failed));
    json_builder_set_member_name (b, "failed");
    json_builder_add_int_value (b, (gint64)failed);
    for (const auto &[name, list] :
         { std::pair{ "degraded", &degraded }, std::pair{ "stalled", &stalled } }) {
      json_builder_set_member_name (b, name);
      json_builder_begin_array (b);
      for (const auto &[id, message] : *list) {
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "id");
        json_builder_add_string_value (b, id.c_str ());
        json_builder_set_member_name (b, "message");
        json_builder_add_string_value (b, message.c_str ());
        json_builder_end_object (b);
      }
      json_builder_end_array (b);
    }
    json_builder_end_object (b);

    json_builder_end_object (b);
    json_builder_set_member_name (b, "status");
    json_builder_add_string_value (b, !healthy ? "unhealthy" : degraded_node ? "degraded" : "ok");
    json_builder_set_member_name (b, "node_id");
    json_builder_add_string_value (b, ctx.registry->node_id ().c_str ());
    json_builder_end_object (b);
    ex->send_json (healthy ? 200 : 503, json_to_string (json_builder_get_root (b)));
    g_object_unref (b);
  });

  router.add ("GET", "/metrics", [&ctx] (Exchange ex) {
    update_origin_metrics (ctx);
    if (ctx.admin_connections) {
      static SoupAcceptor::Stats last_admin;
      update_http_metrics (ctx.metrics, "admin", ctx.admin_connections (), last_admin);
    }
    ctx.metrics.update_process ();
    ctx.metrics.uptime_seconds.Add ({}).Set ((monotonic_ms () - ctx.started_monotonic_ms) / 1000.0);
    ctx.metrics.registry_connected.Add ({ { "backend", ctx.registry->describe () } })
        .Set (ctx.registry->is_connected () ? 1 : 0);
    ex->send_text (200, "text/plain; version=0.0.4; charset=utf-8", ctx.metrics.render ());
  });

  router.add ("GET", "/api/v1/openapi.json", [] (Exchange ex) {
    send_resource (ex, "/io/mirror/api/openapi.json", "application/json");
  });

  // The operator console (daemon/web/): plain files, no build step.
  router.add ("GET", "/", [] (Exchange ex) {
    send_resource (ex, "/io/mirror/web/console.html", "text/html; charset=utf-8");
  });
  router.add ("GET", "/console.js", [] (Exchange ex) {
    send_resource (ex, "/io/mirror/web/console.js", "text/javascript; charset=utf-8");
  });
  router.add ("GET", "/console.css", [] (Exchange ex) {
    send_resource (ex, "/io/mirror/web/console.css", "text/css; charset=utf-8");
  });
}

} // namespace mirror::daemon
