// SPDX-License-Identifier: LGPL-2.1-or-later
#include "api/v1/stream_json.h"

namespace mirror::daemon {

std::string
rfc3339_ms (int64_t unix_ms)
{
  if (unix_ms <= 0)
    return "";
  GDateTime *t = g_date_time_new_from_unix_utc (unix_ms / 1000);
  char *text = g_date_time_format (t, "%Y-%m-%dT%H:%M:%S");
  char out[64];
  g_snprintf (out, sizeof out, "%s.%03dZ", text, (int)(unix_ms % 1000));
  g_free (text);
  g_date_time_unref (t);
  return out;
}

void
add_stats_members (JsonBuilder *b, const StreamStats &stats)
{
  json_builder_set_member_name (b, "bytes");
  json_builder_add_int_value (b, (gint64)stats.bytes);
  json_builder_set_member_name (b, "packets");
  json_builder_add_int_value (b, (gint64)stats.packets);
  json_builder_set_member_name (b, "packets_lost");
  json_builder_add_int_value (b, (gint64)stats.packets_lost);
  json_builder_set_member_name (b, "packets_retransmitted");
  json_builder_add_int_value (b, (gint64)stats.packets_retransmitted);
  json_builder_set_member_name (b, "bitrate_bps");
  json_builder_add_double_value (b, stats.bitrate_bps);
  json_builder_set_member_name (b, "codec");
  json_builder_add_string_value (b, stats.codec.c_str ());
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, stats.width);
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, stats.height);
  json_builder_set_member_name (b, "frame_rate");
  json_builder_add_double_value (b, stats.frame_rate);
}

void
add_stream_members (JsonBuilder *b, const StreamView &view)
{
  const StreamEntry &e = view.entry;
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, e.id.c_str ());
  json_builder_set_member_name (b, "node_id");
  json_builder_add_string_value (b, e.node_id.c_str ());
  json_builder_set_member_name (b, "state");
  json_builder_add_string_value (b, to_string (e.state));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, e.message.c_str ());
  json_builder_set_member_name (b, "source");
  json_builder_add_string_value (b, mask_secrets (e.source).c_str ());
  json_builder_set_member_name (b, "local");
  json_builder_add_boolean_value (b, view.local);
  // The directory: where the owner serves viewers, how busy it is, and which
  // of the stream's ownerships this is.
  json_builder_set_member_name (b, "owner_url");
  json_builder_add_string_value (b, e.owner_url.c_str ());
  json_builder_set_member_name (b, "owner_tls_pin");
  json_builder_add_string_value (b, e.owner_tls_pin.c_str ());
  json_builder_set_member_name (b, "epoch");
  json_builder_add_int_value (b, (gint64)e.epoch);
  json_builder_set_member_name (b, "owner_load");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "streams");
  json_builder_add_int_value (b, e.owner_load.streams);
  json_builder_set_member_name (b, "viewers");
  json_builder_add_int_value (b, e.owner_load.viewers);
  json_builder_set_member_name (b, "cpu");
  json_builder_add_double_value (b, e.owner_load.cpu);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "created_at");
  json_builder_add_string_value (b, rfc3339_ms (e.created_unix_ms).c_str ());
  json_builder_set_member_name (b, "updated_at");
  json_builder_add_string_value (b, rfc3339_ms (e.updated_unix_ms).c_str ());
  if (view.local) {
    json_builder_set_member_name (b, "pipeline");
    json_builder_add_string_value (b, view.pipeline.c_str ());
    json_builder_set_member_name (b, "pipeline_state");
    json_builder_add_string_value (b, view.pipeline_state.c_str ());
    json_builder_set_member_name (b, "uptime_ms");
    json_builder_add_int_value (b, view.uptime_ms);
    json_builder_set_member_name (b, "pipeline_restarts");
    json_builder_add_int_value (b, (gint64)view.pipeline_restarts);
    json_builder_set_member_name (b, "peer");
    json_builder_add_string_value (b, view.peer.c_str ());
    if (view.rtt_ms >= 0) {
      json_builder_set_member_name (b, "rtt_ms");
      json_builder_add_double_value (b, view.rtt_ms);
    }
    if (view.transcode.present) {
      const TranscodeView &t = view.transcode;
      json_builder_set_member_name (b, "transcode");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "decoder");
      json_builder_add_string_value (b, t.decoder.c_str ());
      json_builder_set_member_name (b, "encoder");
      json_builder_add_string_value (b, t.encoder.c_str ());
      json_builder_set_member_name (b, "hardware");
      json_builder_add_string_value (b, t.hardware.c_str ());
      json_builder_set_member_name (b, "frames_in");
      json_builder_add_int_value (b, (gint64)t.frames_in);
      json_builder_set_member_name (b, "frames_out");
      json_builder_add_int_value (b, (gint64)t.frames_out);
      json_builder_set_member_name (b, "frames_dropped");
      json_builder_add_int_value (b, (gint64)t.frames_dropped);
      json_builder_set_member_name (b, "latency_p50_ms");
      json_builder_add_double_value (b, t.latency_p50_ms);
      json_builder_set_member_name (b, "latency_p99_ms");
      json_builder_add_double_value (b, t.latency_p99_ms);
      json_builder_set_member_name (b, "shed_step");
      json_builder_add_string_value (b, t.shed_step.c_str ());
      json_builder_set_member_name (b, "lag_ms");
      json_builder_add_double_value (b, t.lag_ms);
      json_builder_set_member_name (b, "shed");
      json_builder_begin_object (b);
      for (const auto &[name, value] :
           { std::pair{ "encoder", t.shed_encoder }, std::pair{ "non_reference", t.shed_nonref },
             std::pair{ "keyframes", t.shed_keyframes },
             std::pair{ "catch_up", t.shed_catch_up } }) {
        json_builder_set_member_name (b, name);
        json_builder_add_int_value (b, (gint64)value);
      }
      json_builder_end_object (b);
      json_builder_end_object (b);
    }
  }
  json_builder_set_member_name (b, "stats");
  json_builder_begin_object (b);
  add_stats_members (b, e.stats);
  json_builder_end_object (b);
}

} // namespace mirror::daemon
