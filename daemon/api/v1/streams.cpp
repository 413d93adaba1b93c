// SPDX-License-Identifier: LGPL-2.1-or-later
// /api/v1/streams and /api/v1/streams/{id}[/stats|/pause|/resume]
#include "api/rest_server.h"

#include <algorithm>

#include <gst/video/video.h>

#include "api/v1/stream_json.h"
#include "config/config.h"
#include "log.h"
#include "origin/origin.h"
#include "streams/stream_manager.h"

namespace mirror::daemon {

// What this node has recorded of the stream (storage.dvr.*).
void
add_dvr_members (JsonBuilder *b, const AdminContext &ctx, const std::string &id)
{
  const auto recorder = ctx.origin ? ctx.origin->config ().stream_defaults.recorder : nullptr;
  if (!recorder)
    return;
  const Recorder::Window w = Recorder::window (recorder->options ().dir, id);
  json_builder_set_member_name (b, "dvr");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "start");
  json_builder_add_string_value (b, w.any ? rfc3339_ms (w.start_ns / 1000000).c_str () : "");
  json_builder_set_member_name (b, "end");
  json_builder_add_string_value (b, w.any ? rfc3339_ms (w.end_ns / 1000000).c_str () : "");
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, w.any ? (double)(w.end_ns - w.start_ns) / 1e9 : 0.0);
  json_builder_set_member_name (b, "bytes");
  json_builder_add_int_value (b, (gint64)w.bytes);
  json_builder_set_member_name (b, "periods");
  json_builder_add_int_value (b, (gint64)w.periods);
  json_builder_set_member_name (b, "renditions");
  json_builder_begin_array (b);
  for (const std::string &r : w.renditions)
    json_builder_add_string_value (b, r.c_str ());
  json_builder_end_array (b);
  const bool archived = ctx.origin->config ().archive != nullptr;
  json_builder_set_member_name (b, "uploaded_periods");
  json_builder_add_int_value (b, (gint64)w.uploaded);
  json_builder_set_member_name (b, "upload_backlog");
  json_builder_add_int_value (b, archived ? (gint64)(w.periods - w.uploaded) : 0);
  json_builder_set_member_name (b, "local_periods");
  json_builder_add_int_value (b, (gint64)w.local);
  json_builder_set_member_name (b, "vod");
  json_builder_add_string_value (
      b, w.any ? ("/live/" + id + "/index.m3u8?start=" + std::to_string (w.start_ns / 1000000000)
                  + "&end=" + std::to_string ((w.end_ns + 999999999) / 1000000000))
                     .c_str ()
               : "");
  json_builder_end_object (b);
}

namespace {

// Where viewers find the stream: the Origin's URLs, on the host the API
// client used (the Origin listens on every interface by default), or on the
// configured bind address.
void
add_playback_members (JsonBuilder *b, const AdminContext &ctx, const Exchange &ex,
                      const std::string &id)
{
  if (!ctx.origin || !ex)
    return;
  std::string host = ctx.config.server.bind_address;
  if (host == "0.0.0.0" || host == "::" || host.empty ())
    host = ex->host ().empty () ? "127.0.0.1" : ex->host ();
  else if (host.find (':') != std::string::npos)
    host = "[" + host + "]";
  gchar *escaped = g_uri_escape_string (id.c_str (), nullptr, FALSE);
  std::string path = std::string ("/live/") + escaped + "/index.m3u8";
  std::string player = std::string ("/?stream=") + escaped;
  g_free (escaped);
  json_builder_set_member_name (b, "playback");
  json_builder_begin_object (b);
  if (ctx.origin->tls_port ()) {
    std::string base = "https://" + host + ":" + std::to_string (ctx.origin->tls_port ());
    json_builder_set_member_name (b, "hls");
    json_builder_add_string_value (b, (base + path).c_str ());
    json_builder_set_member_name (b, "player");
    json_builder_add_string_value (b, (base + player).c_str ());
  }
  if (ctx.origin->http_port ()) {
    std::string base = "http://" + host + ":" + std::to_string (ctx.origin->http_port ());
    json_builder_set_member_name (b, "http");
    json_builder_add_string_value (b, (base + path).c_str ());
    if (!ctx.origin->tls_port ()) {
      json_builder_set_member_name (b, "player");
      json_builder_add_string_value (b, (base + player).c_str ());
    }
  }
  json_builder_end_object (b);
}

std::string
stream_document (const StreamView &view, const AdminContext *ctx = nullptr,
                 const Exchange *ex = nullptr)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  add_stream_members (b, view);
  if (ctx && ex && view.local) {
    add_playback_members (b, *ctx, *ex, view.entry.id);
    json_builder_set_member_name (b, "description");
    json_builder_add_string_value (b, view.description.c_str ());
    // What mirrord logged about it lately (oldest first).
    json_builder_set_member_name (b, "log");
    json_builder_begin_array (b);
    for (const StreamLogLine &line : stream_log_lines (view.entry.id)) {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "time");
      json_builder_add_string_value (b, line.time.c_str ());
      json_builder_set_member_name (b, "level");
      json_builder_add_string_value (b, line.level.c_str ());
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, line.message.c_str ());
      json_builder_end_object (b);
    }
    json_builder_end_array (b);
  }
  if (ctx)
    add_dvr_members (b, *ctx, view.entry.id);
  json_builder_end_object (b);
  std::string out = json_to_string (json_builder_get_root (b));
  g_object_unref (b);
  return out;
}

// Reads an optional string member; false (and a 400 sent) when it is not a string.
bool
optional_string (Exchange ex, JsonObject *obj, const char *name, std::string *out)
{
  if (!json_object_has_member (obj, name))
    return true;
  JsonNode *node = json_object_get_member (obj, name);
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    ex->send_error (400, ApiErrc::kInvalidInput, std::string ("\"") + name + "\" must be a string");
    return false;
  }
  *out = json_node_get_string (node);
  return true;
}

void
create_stream (AdminContext &ctx, Exchange ex)
{
  JsonObject *obj = ex->json_body ();
  if (!obj)
    return;
  StreamRequest request;
  if (!json_object_has_member (obj, "id")) {
    ex->send_error (400, ApiErrc::kInvalidInput, "\"id\" is required");
    return;
  }
  if (!optional_string (ex, obj, "id", &request.id)
      || !optional_string (ex, obj, "pipeline", &request.pipeline)
      || !optional_string (ex, obj, "uri", &request.source))
    return;
  if (json_object_has_member (obj, "variables")) {
    JsonNode *node = json_object_get_member (obj, "variables");
    if (!JSON_NODE_HOLDS_OBJECT (node)) {
      ex->send_error (400, ApiErrc::kInvalidInput, "\"variables\" must be an object of strings");
      return;
    }
    JsonObject *vars = json_node_get_object (node);
    GList *names = json_object_get_members (vars);
    for (GList *l = names; l; l = l->next) {
      const char *name = static_cast<const char *> (l->data);
      std::string value;
      if (!optional_string (ex, vars, name, &value)) {
        g_list_free (names);
        return;
      }
      request.variables[name] = value;
    }
    g_list_free (names);
  }
  StreamManager &streams = ctx.streams;
  streams.create (request, [ex, &streams, id = request.id] (const ApiError &error) {
    if (!error.ok ()) {
      ex->send_error (error);
      return;
    }
    auto view = streams.local_stream (id);
    if (!view) {
      ex->send_error ({ ApiErrc::kInternal, "stream \"" + id + "\" ended as it started" });
      return;
    }
    ex->set_header ("Location", "/api/v1/streams/" + id);
    ex->send_json (201, stream_document (*view));
  });
}

// PUT /api/v1/streams/{id}/passphrase {"passphrase": "..." | "" | null}:
// SRT callers of the stream admitted from now on need it ("" none, null the
// config's again); the live caller keeps streaming. Never echoed.
void
set_passphrase (AdminContext &ctx, Exchange ex)
{
  const std::string id = ex->param (0);
  if (!valid_stream_id (id)) {
    ex->send_error (400, ApiErrc::kInvalidInput, "stream id \"" + id + "\" is not valid");
    return;
  }
  JsonObject *obj = ex->json_body ();
  if (!obj)
    return;
  if (!json_object_has_member (obj, "passphrase")) {
    ex->send_error (400, ApiErrc::kInvalidInput,
                    "\"passphrase\" is required (a string of 10 to 79 characters, \"\" for "
                    "none, or null for ingestion.srt's again)");
    return;
  }
  std::optional<std::string> passphrase;
  if (!json_node_is_null (json_object_get_member (obj, "passphrase"))) {
    std::string value;
    if (!optional_string (ex, obj, "passphrase", &value))
      return;
    if (!value.empty () && (value.size () < 10 || value.size () > 79)) {
      ex->send_error (400, ApiErrc::kInvalidInput,
                      "stream \"" + id + "\": the passphrase has " + std::to_string (value.size ())
                          + " characters (allowed: 10 to 79, or \"\" for none)");
      return;
    }
    passphrase = std::move (value);
  }
  const char *now = !passphrase ? "configured" : passphrase->empty () ? "none" : "set";
  if (!ctx.set_srt_passphrase || !ctx.set_srt_passphrase (id, std::move (passphrase))) {
    ex->send_error (503, ApiErrc::kServiceUnavailable, "this node has no SRT listener");
    return;
  }
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, id.c_str ());
  json_builder_set_member_name (b, "passphrase");
  json_builder_add_string_value (b, now);
  json_builder_set_member_name (b, "applies_to");
  json_builder_add_string_value (b, "callers admitted from now on; the live one goes on");
  json_builder_end_object (b);
  ex->send_json (200, json_to_string (json_builder_get_root (b)));
  g_object_unref (b);
}

} // namespace

void
add_stream_routes (Router &router, AdminContext &ctx)
{
  router.add ("GET", "/api/v1/streams", [&ctx] (Exchange ex) {
    ctx.streams.list ([ex] (const ApiError &error, const std::vector<StreamView> &views) {
      if (!error.ok ()) {
        ex->send_error (error);
        return;
      }
      JsonBuilder *b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "streams");
      json_builder_begin_array (b);
      for (const auto &view : views) {
        json_builder_begin_object (b);
        add_stream_members (b, view);
        json_builder_end_object (b);
      }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "count");
      json_builder_add_int_value (b, (gint64)views.size ());
      json_builder_end_object (b);
      ex->send_json (200, json_to_string (json_builder_get_root (b)));
      g_object_unref (b);
    });
  });

  router.add (
      "POST", "/api/v1/streams", [&ctx] (Exchange ex) { create_stream (ctx, ex); }, true);

  router.add ("GET", "/api/v1/streams/{id}", [&ctx] (Exchange ex) {
    ctx.streams.get (ex->param (0), [ex, &ctx] (const ApiError &error, const StreamView &view) {
      if (!error.ok ())
        ex->send_error (error);
      else
        ex->send_json (200, stream_document (view, &ctx, &ex));
    });
  });

  router.add ("GET", "/api/v1/streams/{id}/stats", [&ctx] (Exchange ex) {
    ctx.streams.get (ex->param (0), [ex] (const ApiError &error, const StreamView &view) {
      if (!error.ok ()) {
        ex->send_error (error);
        return;
      }
      JsonBuilder *b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "id");
      json_builder_add_string_value (b, view.entry.id.c_str ());
      json_builder_set_member_name (b, "state");
      json_builder_add_string_value (b, to_string (view.entry.state));
      add_stats_members (b, view.entry.stats);
      json_builder_set_member_name (b, "updated_at");
      json_builder_add_string_value (b, rfc3339_ms (view.entry.updated_unix_ms).c_str ());
      json_builder_end_object (b);
      ex->send_json (200, json_to_string (json_builder_get_root (b)));
      g_object_unref (b);
    });
  });

  auto answer_with_stream = [&ctx] (Exchange ex, const ApiError &error) {
    if (!error.ok ()) {
      ex->send_error (error);
      return;
    }
    auto view = ctx.streams.local_stream (ex->param (0));
    ex->send_json (200, stream_document (*view));
  };

  router.add (
      "POST", "/api/v1/streams/{id}/pause",
      [&ctx, answer_with_stream] (Exchange ex) {
        answer_with_stream (ex, ctx.streams.pause (ex->param (0)));
      },
      true);

  router.add (
      "POST", "/api/v1/streams/{id}/resume",
      [&ctx, answer_with_stream] (Exchange ex) {
        answer_with_stream (ex, ctx.streams.resume (ex->param (0)));
      },
      true);

  // A JPEG of the newest frame the transcoder scaled (about once a second
  // while someone asks; 503 with Retry-After until the first one), 320
  // pixels wide. The encoding runs off the main loop (GStreamer's
  // conversion pipeline), the answer comes back on it.
  router.add ("GET", "/api/v1/streams/{id}/thumbnail.jpg", [&ctx] (Exchange ex) {
    GstSample *frame = nullptr;
    ApiError error = ctx.streams.thumbnail (ex->param (0), &frame);
    if (!error.ok ()) {
      ex->send_error (error);
      return;
    }
    if (!frame) {
      ex->set_header ("Retry-After", "1");
      ex->send_error (503, ApiErrc::kServiceUnavailable,
                      "stream \"" + ex->param (0) + "\": no thumbnail yet, one comes within a second");
      return;
    }
    gint width = 0, height = 0;
    GstStructure *s = gst_caps_get_structure (gst_sample_get_caps (frame), 0);
    gst_structure_get_int (s, "width", &width);
    gst_structure_get_int (s, "height", &height);
    const gint out_w = 320;
    const gint out_h = width > 0 ? std::max (2, (out_w * height / width + 1) & ~1) : 180;
    GstCaps *jpeg = gst_caps_new_simple ("image/jpeg", "width", G_TYPE_INT, out_w, "height",
                                         G_TYPE_INT, out_h, "pixel-aspect-ratio",
                                         GST_TYPE_FRACTION, 1, 1, nullptr);
    auto *pending = new Exchange (ex);
    gst_video_convert_sample_async (
        frame, jpeg, 2 * GST_SECOND,
        [] (GstSample *out, GError *err, gpointer data) {
          Exchange ex = *static_cast<Exchange *> (data);
          if (!out) {
            ex->send_error (500, ApiErrc::kInternal,
                            std::string ("cannot encode the thumbnail: ")
                                + (err ? err->message : "no reason given"));
            return;
          }
          GstMapInfo map;
          GstBuffer *buf = gst_sample_get_buffer (out);
          if (buf && gst_buffer_map (buf, &map, GST_MAP_READ)) {
            ex->set_header ("Cache-Control", "no-store");
            ex->send_text (200, "image/jpeg",
                           std::string (reinterpret_cast<const char *> (map.data), map.size));
            gst_buffer_unmap (buf, &map);
          } else {
            ex->send_error (500, ApiErrc::kInternal, "the encoded thumbnail is empty");
          }
          gst_sample_unref (out);
        },
        pending, [] (gpointer data) { delete static_cast<Exchange *> (data); });
    gst_caps_unref (jpeg);
    gst_sample_unref (frame);
  });

  // The caller goes as if the network had dropped it: the stream waits in
  // its reconnect window for it (or another) to come back.
  router.add (
      "POST", "/api/v1/streams/{id}/drop-caller",
      [&ctx] (Exchange ex) {
        const std::string &id = ex->param (0);
        if (!ctx.streams.local_stream (id)) {
          ex->send_error (404, ApiErrc::kNotFound, "stream \"" + id + "\" is not on this node");
          return;
        }
        auto peer = ctx.drop_srt_caller ? ctx.drop_srt_caller (id) : std::nullopt;
        if (!peer) {
          ex->send_error (409, ApiErrc::kConflict,
                          "stream \"" + id + "\" has no SRT caller connected to drop");
          return;
        }
        JsonBuilder *b = json_builder_new ();
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "id");
        json_builder_add_string_value (b, id.c_str ());
        json_builder_set_member_name (b, "dropped");
        json_builder_add_string_value (b, peer->c_str ());
        json_builder_set_member_name (b, "reconnect_window_ms");
        json_builder_add_int_value (b, ctx.config.ingestion.reconnect_window_ms);
        json_builder_end_object (b);
        ex->send_json (202, json_to_string (json_builder_get_root (b)));
        g_object_unref (b);
      },
      true);

  router.add (
      "PUT", "/api/v1/streams/{id}/passphrase",
      [&ctx] (Exchange ex) { set_passphrase (ctx, ex); }, true);

  router.add (
      "DELETE", "/api/v1/streams/{id}",
      [&ctx] (Exchange ex) {
        ctx.streams.stop (ex->param (0), [ex] (const ApiError &error) {
          if (!error.ok ())
            ex->send_error (error);
          else
            ex->send_text (204, "application/json", "");
        });
      },
      true);
}

} // namespace mirror::daemon
