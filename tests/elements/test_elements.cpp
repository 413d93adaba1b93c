// SPDX-License-Identifier: LGPL-2.1-or-later
// The mirrorlive elements through their public face: factories, properties,
// pads, bus messages and the registry context.
//
// The C++ headers come first: check.h defines a `fail` macro that would
// clash with std::basic_ios::fail.
#include <chrono>
#include <cmath>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include "origin/origin_handle.h"
#include "registry/registry_handle.h"
#include "registry/stream_registry.h"

#include <gst/check/gstcheck.h>

#include "../common/wait_until.h"
#include <gst/check/gstharness.h>

static const char *const kElements[] = {
  "mirroringestbin", "mirrorheartbeat", "mirrortranscodebin",
  "mirroraudiobin",  "mirrorcmafmux",   "mirrorh3sink",
};

static const char *const kH264Caps
    = "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au, width=(int)640, "
      "height=(int)360, framerate=(fraction)25/1";

// ---------------------------------------------------------------- helpers

// The next element message named @name (or an error, which fails the test),
// waiting at most @timeout (stretched by MIRROR_TEST_SLOWDOWN); nullptr if
// none came.
static GstStructure *
pop_element_message (GstBus *bus, const char *name, GstClockTime timeout)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)(timeout / 1000 * mirror::test::slowdown ());
  for (;;) {
    gint64 left = deadline - g_get_monotonic_time ();
    if (left <= 0)
      return nullptr;
    GstMessage *msg = gst_bus_timed_pop_filtered (
        bus, (GstClockTime)left * 1000, (GstMessageType)(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    if (!msg)
      return nullptr;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = nullptr;
      gst_message_parse_error (msg, &err, nullptr);
      fail ("unexpected error from %s: %s", GST_MESSAGE_SRC_NAME (msg), err->message);
    }
    const GstStructure *s = gst_message_get_structure (msg);
    if (s && gst_structure_has_name (s, name)) {
      GstStructure *copy = gst_structure_copy (s);
      gst_message_unref (msg);
      return copy;
    }
    gst_message_unref (msg);
  }
}

static GstBuffer *
make_buffer (gsize size, GstClockTime ts, bool keyframe)
{
  GstBuffer *buf = gst_buffer_new_allocate (nullptr, size, nullptr);
  gst_buffer_memset (buf, 0, 0xab, size);
  GST_BUFFER_PTS (buf) = ts;
  GST_BUFFER_DTS (buf) = ts;
  GST_BUFFER_DURATION (buf) = 40 * GST_MSECOND;
  if (!keyframe)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  return buf;
}

// A heartbeat in a harness, with a bus of its own (a harness has none).
struct HeartbeatRig {
  GstElement *element = nullptr;
  GstBus *bus = nullptr;
  GstHarness *h = nullptr;

  // @setup sets properties or contexts before the element leaves NULL.
  explicit HeartbeatRig (void (*setup) (GstElement *) = nullptr)
  {
    element = gst_element_factory_make ("mirrorheartbeat", "hb");
    fail_unless (element != nullptr);
    gst_object_ref_sink (element);
    bus = gst_bus_new ();
    gst_element_set_bus (element, bus);
    if (setup)
      setup (element);
    h = gst_harness_new_with_element (element, "sink", "src");
    gst_harness_set_src_caps_str (h, kH264Caps);
  }
  ~HeartbeatRig ()
  {
    gst_harness_teardown (h);
    gst_element_set_bus (element, nullptr);
    gst_object_unref (bus);
    gst_object_unref (element);
  }
  void push (GstBuffer *buf) { fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK); }
  void push_and_drop (GstBuffer *buf)
  {
    push (buf);
    gst_buffer_unref (gst_harness_pull (h));
  }
};

static GstContext *
registry_context_new (std::shared_ptr<mirror::StreamRegistry> registry)
{
  GstContext *context = gst_context_new (MIRROR_REGISTRY_CONTEXT_TYPE, TRUE);
  mirror::RegistryHandle *handle = mirror::registry_handle_new (std::move (registry));
  gst_structure_set (gst_context_writable_structure (context), MIRROR_REGISTRY_CONTEXT_FIELD,
                     MIRROR_TYPE_REGISTRY_HANDLE, handle, nullptr);
  g_boxed_free (MIRROR_TYPE_REGISTRY_HANDLE, handle);
  return context;
}

static mirror::StreamRegistry *
registry_in_context (GstContext *context)
{
  fail_unless (context != nullptr);
  const GValue *v = gst_structure_get_value (gst_context_get_structure (context),
                                             MIRROR_REGISTRY_CONTEXT_FIELD);
  fail_unless (v != nullptr && G_VALUE_HOLDS (v, MIRROR_TYPE_REGISTRY_HANDLE));
  auto *handle = static_cast<mirror::RegistryHandle *> (g_value_get_boxed (v));
  return handle->registry.get ();
}

// ---------------------------------------------------------------- every element

GST_START_TEST (test_factories)
{
  for (const char *name : kElements) {
    GstElement *e = gst_element_factory_make (name, nullptr);
    fail_unless (e != nullptr, "cannot make %s", name);
    GstElementFactory *f = gst_element_get_factory (e);
    fail_unless (
        g_strcmp0 (gst_plugin_feature_get_plugin_name (GST_PLUGIN_FEATURE (f)), "mirrorlive") == 0);
    fail_unless (strlen (gst_element_factory_get_metadata (f, GST_ELEMENT_METADATA_DESCRIPTION))
                 > 40);
    gst_object_unref (e);
  }
}
GST_END_TEST;

GST_START_TEST (test_klass)
{
  struct {
    const char *name, *klass;
  } expected[] = {
    { "mirroringestbin", "Source/Network" },      { "mirrorheartbeat", "Generic" },
    { "mirrortranscodebin", "Codec/Transcoder" }, { "mirrorcmafmux", "Codec/Muxer" },
    { "mirrorh3sink", "Sink/Network" },           { "mirroraudiobin", "Codec/Transcoder/Audio" },
  };
  for (auto &x : expected) {
    GstElementFactory *f = gst_element_factory_find (x.name);
    fail_unless (f != nullptr);
    fail_unless_equals_string (gst_element_factory_get_metadata (f, GST_ELEMENT_METADATA_KLASS),
                               x.klass);
    gst_object_unref (f);
  }
}
GST_END_TEST;

// Every property the element defines itself: documented, flagged, and what is
// written is read back; defaults read back as declared.
GST_START_TEST (test_properties_round_trip)
{
  for (const char *name : kElements) {
    GstElement *e = gst_element_factory_make (name, nullptr);
    guint n = 0;
    GParamSpec **specs = g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n);
    guint own = 0;
    for (guint i = 0; i < n; i++) {
      GParamSpec *p = specs[i];
      if (p->owner_type != G_OBJECT_TYPE (e))
        continue;
      own++;
      const char *pname = g_param_spec_get_name (p);
      fail_unless ((p->flags & G_PARAM_STATIC_STRINGS) == G_PARAM_STATIC_STRINGS, "%s:%s", name,
                   pname);
      fail_unless (strlen (g_param_spec_get_blurb (p)) > 20, "%s:%s blurb", name, pname);

      GValue def = G_VALUE_INIT, got = G_VALUE_INIT, want = G_VALUE_INIT;
      g_value_init (&def, p->value_type);
      g_value_init (&got, p->value_type);
      g_value_init (&want, p->value_type);
      g_param_value_set_default (p, &def);
      if ((p->flags & G_PARAM_READWRITE) == G_PARAM_READWRITE) {
        g_object_get_property (G_OBJECT (e), pname, &got);
        fail_unless (g_param_values_cmp (p, &got, &def) == 0, "%s:%s default", name, pname);
      }
      if (!(p->flags & G_PARAM_WRITABLE)) {
        g_value_unset (&def);
        g_value_unset (&got);
        g_value_unset (&want);
        continue;
      }
      fail_unless (
          p->flags
              & (GST_PARAM_MUTABLE_READY | GST_PARAM_MUTABLE_PAUSED | GST_PARAM_MUTABLE_PLAYING),
          "%s:%s has no GST_PARAM_MUTABLE_* flag", name, pname);

      if (G_IS_PARAM_SPEC_STRING (p)) {
        g_value_set_string (&want, "test-value");
      } else if (G_IS_PARAM_SPEC_UINT (p)) {
        auto *u = G_PARAM_SPEC_UINT (p);
        g_value_set_uint (&want, u->default_value != u->maximum ? u->maximum : u->minimum);
      } else if (G_IS_PARAM_SPEC_INT (p)) {
        auto *u = G_PARAM_SPEC_INT (p);
        g_value_set_int (&want, u->default_value != u->maximum ? u->maximum : u->minimum);
      } else if (G_IS_PARAM_SPEC_UINT64 (p)) {
        auto *u = G_PARAM_SPEC_UINT64 (p);
        g_value_set_uint64 (&want, u->default_value != u->minimum ? u->minimum : u->maximum);
      } else if (G_IS_PARAM_SPEC_BOOLEAN (p)) {
        g_value_set_boolean (&want, !G_PARAM_SPEC_BOOLEAN (p)->default_value);
      } else if (G_IS_PARAM_SPEC_ENUM (p)) {
        // The last value: never the default here.
        GEnumClass *values = G_PARAM_SPEC_ENUM (p)->enum_class;
        g_value_set_enum (&want, values->values[values->n_values - 1].value);
        fail_unless (values->values[values->n_values - 1].value
                         != G_PARAM_SPEC_ENUM (p)->default_value,
                     "%s:%s", name, pname);
      } else if (G_IS_PARAM_SPEC_FLAGS (p)) {
        g_value_set_flags (&want, G_PARAM_SPEC_FLAGS (p)->flags_class->mask
                                      & ~G_PARAM_SPEC_FLAGS (p)->default_value);
      } else {
        fail ("%s:%s: untested property type %s", name, pname, g_type_name (p->value_type));
      }
      g_object_set_property (G_OBJECT (e), pname, &want);
      g_value_reset (&got);
      g_object_get_property (G_OBJECT (e), pname, &got);
      fail_unless (g_param_values_cmp (p, &got, &want) == 0, "%s:%s round trip", name, pname);

      g_value_unset (&def);
      g_value_unset (&got);
      g_value_unset (&want);
    }
    fail_unless (own > 0, "%s defines no property", name);
    g_free (specs);
    gst_object_unref (e);
  }
}
GST_END_TEST;

GST_START_TEST (test_documented_defaults)
{
  GstElement *e = gst_element_factory_make ("mirroringestbin", nullptr);
  guint ring = 0;
  gchar *registry = nullptr;
  g_object_get (e, "ring-size", &ring, "registry", &registry, nullptr);
  fail_unless_equals_int (ring, 4 * 1024 * 1024);
  fail_unless_equals_string (registry, "memory://");
  g_free (registry);
  gst_object_unref (e);

  e = gst_element_factory_make ("mirrorheartbeat", nullptr);
  guint64 interval = 0, timeout = 0;
  g_object_get (e, "interval", &interval, "timeout", &timeout, nullptr);
  fail_unless_equals_uint64 (interval, GST_SECOND);
  fail_unless_equals_uint64 (timeout, 3 * GST_SECOND);
  gst_object_unref (e);

  e = gst_element_factory_make ("mirrortranscodebin", nullptr);
  gint width = 0, height = 0;
  guint bitrate = 0;
  guint64 gop = 0;
  g_object_get (e, "width", &width, "height", &height, "bitrate", &bitrate, "keyframe-interval",
                &gop, nullptr);
  fail_unless_equals_int (width, 640);
  fail_unless_equals_int (height, 360);
  fail_unless_equals_int (bitrate, 400000); // bit/s
  fail_unless_equals_uint64 (gop, 500 * GST_MSECOND);
  gst_object_unref (e);

  e = gst_element_factory_make ("mirrorcmafmux", nullptr);
  guint64 part = 0, segment = 0;
  g_object_get (e, "part-duration", &part, "segment-duration", &segment, nullptr);
  fail_unless_equals_uint64 (part, 100 * GST_MSECOND);
  fail_unless_equals_uint64 (segment, 500 * GST_MSECOND);
  gst_object_unref (e);

  e = gst_element_factory_make ("mirrorh3sink", nullptr);
  guint port = 0;
  g_object_get (e, "port", &port, nullptr);
  fail_unless_equals_int (port, 8443);
  gst_object_unref (e);
}
GST_END_TEST;

GST_START_TEST (test_pads)
{
  struct {
    const char *element, *pad;
    GstPadDirection direction;
    GstPadPresence presence;
  } expected[] = {
    { "mirroringestbin", "video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES },
    { "mirroringestbin", "audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES },
    { "mirrorheartbeat", "sink", GST_PAD_SINK, GST_PAD_ALWAYS },
    { "mirrorheartbeat", "src", GST_PAD_SRC, GST_PAD_ALWAYS },
    { "mirrortranscodebin", "sink", GST_PAD_SINK, GST_PAD_ALWAYS },
    { "mirrortranscodebin", "src_%u", GST_PAD_SRC, GST_PAD_REQUEST },
    { "mirroraudiobin", "sink", GST_PAD_SINK, GST_PAD_ALWAYS },
    { "mirroraudiobin", "src", GST_PAD_SRC, GST_PAD_ALWAYS },
    { "mirrorcmafmux", "sink", GST_PAD_SINK, GST_PAD_ALWAYS },
    { "mirrorcmafmux", "src", GST_PAD_SRC, GST_PAD_ALWAYS },
    { "mirrorh3sink", "sink", GST_PAD_SINK, GST_PAD_ALWAYS },
  };
  for (auto &x : expected) {
    GstElement *e = gst_element_factory_make (x.element, nullptr);
    GstPadTemplate *t = gst_element_get_pad_template (e, x.pad);
    fail_unless (t != nullptr, "%s has no %s template", x.element, x.pad);
    fail_unless_equals_int (GST_PAD_TEMPLATE_DIRECTION (t), x.direction);
    fail_unless_equals_int (GST_PAD_TEMPLATE_PRESENCE (t), x.presence);
    if (x.presence == GST_PAD_ALWAYS) {
      GstPad *pad = gst_element_get_static_pad (e, x.pad);
      fail_unless (pad != nullptr, "%s has no %s pad", x.element, x.pad);
      gst_object_unref (pad);
    }
    gst_object_unref (e);
  }
}
GST_END_TEST;

// ---------------------------------------------------------------- mirrorh3sink

// Without a stream id there is nothing to publish under: a clear settings
// error at READY->PAUSED, before any Origin is started.
GST_START_TEST (test_h3sink_needs_stream_id)
{
  GstElement *e = gst_element_factory_make ("mirrorh3sink", nullptr);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 0, GST_MESSAGE_ERROR);
  fail_unless (msg != nullptr);
  GError *err = nullptr;
  gst_message_parse_error (msg, &err, nullptr);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS), "%s",
               err->message);
  fail_unless (strstr (err->message, "stream-id") != nullptr, "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, nullptr);
  gst_object_unref (bus);
  gst_object_unref (e);
}
GST_END_TEST;

// @description, publishing into @origin handed over as a "mirror.origin"
// context, as mirrord does.
static GstElement *
publishing_pipeline (const std::shared_ptr<mirror::Origin> &origin, const char *description)
{
  GError *err = nullptr;
  GstElement *pipeline = gst_parse_launch (description, &err);
  fail_unless (pipeline != nullptr, "%s", err ? err->message : "?");
  GstContext *context = gst_context_new (MIRROR_ORIGIN_CONTEXT_TYPE, TRUE);
  mirror::OriginHandle *handle = mirror::origin_handle_new (origin);
  gst_structure_set (gst_context_writable_structure (context), MIRROR_ORIGIN_CONTEXT_FIELD,
                     MIRROR_TYPE_ORIGIN_HANDLE, handle, nullptr);
  g_boxed_free (MIRROR_TYPE_ORIGIN_HANDLE, handle);
  gst_element_set_context (pipeline, context);
  gst_context_unref (context);
  return pipeline;
}

// x264 -> mirrorcmafmux -> mirrorh3sink publishing into an Origin handed over
// as a "mirror.origin" context (as mirrord does): the stream, its rendition
// and its parts appear in that Origin's store, and EOS ends the playlist.
GST_START_TEST (test_h3sink_publishes_into_context_origin)
{
  if (!gst_registry_check_feature_version (gst_registry_get (), "x264enc", 1, 0, 0)) {
    g_print ("x264enc missing: skipping\n");
    return;
  }
  mirror::OriginConfig config;
  config.tls_port = std::nullopt;                // no TLS, no certificate on disk
  config.http_port = 0;                          // any free port
  config.stream_defaults.numbering_clock_ns = 0; // segments numbered from 0
  std::string error;
  auto origin = mirror::Origin::start (config, &error);
  fail_unless (origin != nullptr, "%s", error.c_str ());

  GstElement *pipeline = publishing_pipeline (
      origin, "videotestsrc num-buffers=50 ! "
              "video/x-raw,format=I420,width=160,height=120,framerate=25/1 "
              "! x264enc key-int-max=5 bframes=0 speed-preset=ultrafast ! h264parse "
              "! mirrorcmafmux ! mirrorh3sink name=sink stream-id=ctxcam rendition=low port=1");
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, mirror::test::scaled (std::chrono::seconds (30)).count () * GST_MSECOND,
      (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless (msg != nullptr, "no EOS within 30 s (scaled)");
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);

  // Port 1 was never bound: the context's Origin was used, not a new one.
  auto stream = origin->store ().find_stream ("ctxcam");
  fail_unless (stream != nullptr);
  auto progress = stream->progress ("low");
  fail_unless (progress.has_value ());
  fail_unless (progress->has_parts);
  fail_unless (progress->ended, "EOS did not end the playlist");
  // 2 s of frames, keyframes every 200 ms: 600 ms segments (the first
  // keyframe at or after 500 ms).
  fail_unless (progress->last.msn >= 2, "last segment %" G_GUINT64_FORMAT, progress->last.msn);
  auto playlist = stream->media_playlist ("low", false);
  fail_unless (playlist->find ("#EXT-X-ENDLIST") != std::string::npos);
  fail_unless (playlist->find ("low/init") != std::string::npos);
  auto mv = stream->multivariant_playlist ();
  fail_unless (mv->find ("RESOLUTION=160x120") != std::string::npos, "%s", mv->c_str ());
  fail_unless (mv->find ("avc1.") != std::string::npos, "%s", mv->c_str ());

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}
GST_END_TEST;

// mirrord restarting a wedged pipeline: the Origin holds the stream while the
// old pipeline's sink leaves and the new one's comes, so the playlist goes
// on (the same numbering, no EXT-X-ENDLIST) after a discontinuity; once the
// hold and then the last sink are gone, it ends.
GST_START_TEST (test_h3sink_takes_over_a_held_stream_after_a_discontinuity)
{
  if (!gst_registry_check_feature_version (gst_registry_get (), "x264enc", 1, 0, 0)) {
    g_print ("x264enc missing: skipping\n");
    return;
  }
  mirror::OriginConfig config;
  config.tls_port = std::nullopt;
  config.http_port = 0;
  config.stream_defaults.numbering_clock_ns = 0; // segments numbered from 0
  std::string error;
  auto origin = mirror::Origin::start (config, &error);
  fail_unless (origin != nullptr, "%s", error.c_str ());
  const char *description
      = "videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=25/1 "
        "! x264enc key-int-max=5 bframes=0 speed-preset=ultrafast tune=zerolatency ! h264parse "
        "! mirrorcmafmux ! mirrorh3sink stream-id=held rendition=low port=1";
  auto newest = [&] () -> std::optional<mirror::RenditionProgress> {
    auto stream = origin->store ().find_stream ("held");
    return stream ? stream->progress ("low") : std::nullopt;
  };
  auto reaches = [&] (uint64_t msn) {
    return mirror::test::wait_until ([&] {
      auto p = newest ();
      return p && p->has_parts && p->last.msn >= msn;
    });
  };

  GstElement *first = publishing_pipeline (origin, description);
  fail_unless (gst_element_set_state (first, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (reaches (2), "the first pipeline published no segments");
  auto stream = origin->store ().find_stream ("held");
  origin->hold ("held");
  gst_element_set_state (first, GST_STATE_NULL);
  gst_object_unref (first);
  const uint64_t before = newest ()->last.msn;
  fail_if (newest ()->ended, "the held stream ended with its publisher");

  GstElement *second = publishing_pipeline (origin, description);
  fail_unless (gst_element_set_state (second, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  fail_unless (reaches (before + 2),
               "the second pipeline did not go on from segment %" G_GUINT64_FORMAT, before);
  fail_unless (origin->store ().find_stream ("held") == stream,
               "a new stream replaced the held one");
  auto playlist = stream->media_playlist ("low", false);
  fail_unless (playlist->find ("#EXT-X-DISCONTINUITY\n") != std::string::npos, "%s",
               playlist->c_str ());
  fail_unless (playlist->find ("#EXT-X-ENDLIST") == std::string::npos, "%s", playlist->c_str ());

  origin->detach ("held"); // the hold goes; the second sink still publishes
  fail_if (newest ()->ended);
  gst_element_set_state (second, GST_STATE_NULL);
  gst_object_unref (second);
  fail_unless (newest ()->ended, "the last publisher left and the playlist did not end");
}
GST_END_TEST;

// ---------------------------------------------------------------- mirrorheartbeat

static void
no_periodic_heartbeat (GstElement *e)
{
  g_object_set (e, "interval", (guint64)0, nullptr);
}

GST_START_TEST (test_heartbeat_passthrough)
{
  HeartbeatRig rig (no_periodic_heartbeat);
  for (int i = 0; i < 10; i++) {
    GstBuffer *in = make_buffer (100 + i, i * 40 * GST_MSECOND, i == 0);
    gst_buffer_ref (in);
    rig.push (in);
    GstBuffer *out = gst_harness_pull (rig.h);
    fail_unless (out == in, "buffer %d was replaced", i);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), i * 40 * GST_MSECOND);
    fail_unless_equals_int (gst_buffer_get_size (out), 100 + i);
    gst_buffer_unref (out);
    gst_buffer_unref (in);
  }
}
GST_END_TEST;

GST_START_TEST (test_heartbeat_counts)
{
  HeartbeatRig rig (no_periodic_heartbeat);
  guint64 bytes = 0;
  // Three GOPs of 5 frames start at 0, 200 and 400 ms.
  for (int i = 0; i <= 10; i++) {
    rig.push_and_drop (make_buffer (1000 + i, i * 40 * GST_MSECOND, i % 5 == 0));
    bytes += 1000 + i;
  }
  // A jump forward by 400 ms, then one backwards.
  rig.push_and_drop (make_buffer (1000, 800 * GST_MSECOND, false));
  rig.push_and_drop (make_buffer (1000, 500 * GST_MSECOND, false));
  bytes += 2000;

  gst_harness_push_event (rig.h, gst_event_new_eos ());
  GstStructure *s = pop_element_message (rig.bus, "mirror-heartbeat", GST_SECOND);
  fail_unless (s != nullptr, "no heartbeat at EOS");
  guint64 got_bytes = 0, buffers = 0, gaps = 0, kf_interval = 0;
  guint gop = 0;
  gint width = 0, height = 0;
  fail_unless (gst_structure_get (
      s, "bytes", G_TYPE_UINT64, &got_bytes, "buffers", G_TYPE_UINT64, &buffers, "gaps",
      G_TYPE_UINT64, &gaps, "keyframe-interval", G_TYPE_UINT64, &kf_interval, "gop-length",
      G_TYPE_UINT, &gop, "width", G_TYPE_INT, &width, "height", G_TYPE_INT, &height, nullptr));
  fail_unless_equals_uint64 (got_bytes, bytes);
  fail_unless_equals_uint64 (buffers, 13);
  fail_unless_equals_uint64 (gaps, 2);
  fail_unless_equals_int (gop, 5);
  fail_unless_equals_uint64 (kf_interval, 200 * GST_MSECOND);
  fail_unless_equals_string (gst_structure_get_string (s, "codec"), "h264");
  fail_unless_equals_int (width, 640);
  fail_unless_equals_int (height, 360);
  gst_structure_free (s);

  // The same figures through the stats property.
  GstStructure *stats = nullptr;
  g_object_get (rig.element, "stats", &stats, nullptr);
  fail_unless (stats != nullptr);
  fail_unless (gst_structure_get_uint64 (stats, "bytes", &got_bytes));
  fail_unless_equals_uint64 (got_bytes, bytes);
  gst_structure_free (stats);
}
GST_END_TEST;

GST_START_TEST (test_heartbeat_rates)
{
  HeartbeatRig rig (no_periodic_heartbeat);
  // 2 s of 25 fps, 1000 bytes a frame: 200 kbit/s.
  for (int i = 0; i < 50; i++)
    rig.push_and_drop (make_buffer (1000, i * 40 * GST_MSECOND, i % 25 == 0));
  gst_harness_push_event (rig.h, gst_event_new_eos ());
  GstStructure *s = pop_element_message (rig.bus, "mirror-heartbeat", GST_SECOND);
  fail_unless (s != nullptr);
  gdouble bitrate = 0, fps = 0;
  fail_unless (gst_structure_get_double (s, "bitrate", &bitrate));
  fail_unless (gst_structure_get_double (s, "frame-rate", &fps));
  fail_unless (std::fabs (bitrate - 200000.0) < 1.0, "bitrate %f", bitrate);
  fail_unless (std::fabs (fps - 25.0) < 0.01, "frame rate %f", fps);
  guint64 gaps = 1;
  fail_unless (gst_structure_get_uint64 (s, "gaps", &gaps));
  fail_unless_equals_uint64 (gaps, 0);
  gst_structure_free (s);
}
GST_END_TEST;

static void
fast_heartbeat (GstElement *e)
{
  g_object_set (e, "interval", (guint64)(50 * GST_MSECOND), nullptr);
}

GST_START_TEST (test_heartbeat_periodic)
{
  HeartbeatRig rig (fast_heartbeat);
  for (int i = 0; i < 5; i++)
    rig.push_and_drop (make_buffer (500, i * 40 * GST_MSECOND, i == 0));
  // Ticks keep coming; one of them shows all five buffers.
  guint64 buffers = 0;
  for (int tick = 0; tick < 20 && buffers < 5; tick++) {
    GstStructure *s = pop_element_message (rig.bus, "mirror-heartbeat", 5 * GST_SECOND);
    fail_unless (s != nullptr, "no periodic heartbeat");
    fail_unless (gst_structure_get_uint64 (s, "buffers", &buffers));
    gst_structure_free (s);
  }
  fail_unless_equals_uint64 (buffers, 5);
}
GST_END_TEST;

static void
quick_stall (GstElement *e)
{
  g_object_set (e, "interval", (guint64)0, "timeout", (guint64)(200 * GST_MSECOND), "stream-id",
                "cam-stall", nullptr);
}

GST_START_TEST (test_heartbeat_stall_and_recover)
{
  HeartbeatRig rig (quick_stall);
  rig.push_and_drop (make_buffer (100, 0, true));

  GstStructure *s = pop_element_message (rig.bus, "mirror-stalled", 5 * GST_SECOND);
  fail_unless (s != nullptr, "no mirror-stalled");
  fail_unless_equals_string (gst_structure_get_string (s, "stream-id"), "cam-stall");
  guint64 age = 0;
  fail_unless (gst_structure_get_uint64 (s, "last-buffer-age", &age));
  fail_unless (age >= 200 * GST_MSECOND, "age %" G_GUINT64_FORMAT, age);
  gst_structure_free (s);

  // Once per stall.
  s = pop_element_message (rig.bus, "mirror-stalled", 600 * GST_MSECOND);
  fail_unless (s == nullptr, "mirror-stalled posted twice");

  rig.push_and_drop (make_buffer (100, 40 * GST_MSECOND, false));
  s = pop_element_message (rig.bus, "mirror-recovered", GST_SECOND);
  fail_unless (s != nullptr, "no mirror-recovered");
  guint64 stalled_for = 0;
  fail_unless (gst_structure_get_uint64 (s, "stalled-for", &stalled_for));
  fail_unless (stalled_for >= 800 * GST_MSECOND, "stalled-for %" G_GUINT64_FORMAT, stalled_for);
  gst_structure_free (s);

  // And it watches again after recovering.
  s = pop_element_message (rig.bus, "mirror-stalled", 5 * GST_SECOND);
  fail_unless (s != nullptr, "no second mirror-stalled");
  gst_structure_free (s);
}
GST_END_TEST;

// Long enough (and stretched by MIRROR_TEST_SLOWDOWN) that a busy box does
// not stall the element between the test's buffer and its EOS.
static void
quick_stall_no_id (GstElement *e)
{
  const guint64 timeout = mirror::test::scaled (std::chrono::milliseconds (200)).count ();
  g_object_set (e, "interval", (guint64)0, "timeout", timeout * GST_MSECOND, nullptr);
}

GST_START_TEST (test_heartbeat_eos_is_not_a_stall)
{
  HeartbeatRig rig (quick_stall_no_id);
  rig.push_and_drop (make_buffer (100, 0, true));
  gst_harness_push_event (rig.h, gst_event_new_eos ());
  // Five stall timeouts (the wait is scaled too).
  GstStructure *s = pop_element_message (rig.bus, "mirror-stalled", 1000 * GST_MSECOND);
  fail_unless (s == nullptr, "EOS reported as a stall");
}
GST_END_TEST;

// ---------------------------------------------------------------- registry

template <typename T>
static T
wait_for (std::future<T> &f)
{
  fail_unless (f.wait_for (mirror::test::scaled (std::chrono::seconds (5)))
                   == std::future_status::ready,
               "registry did not answer");
  return f.get ();
}

static std::shared_ptr<mirror::StreamRegistry>
make_memory_registry_with (const char *stream_id)
{
  std::string error;
  mirror::RegistryOptions options;
  options.uri = "memory://";
  auto registry = mirror::make_registry (options, &error);
  fail_unless (registry != nullptr, "make_registry: %s", error.c_str ());

  mirror::StreamEntry entry;
  entry.id = stream_id;
  entry.source = "test";
  auto done = std::make_shared<std::promise<mirror::RegistryStatus>> ();
  auto result = done->get_future ();
  registry->register_stream (entry,
                             [done] (const mirror::RegistryStatus &st) { done->set_value (st); });
  mirror::RegistryStatus st = wait_for (result);
  fail_unless (st.ok (), "register_stream: %s", st.message.c_str ());
  return registry;
}

static std::shared_ptr<mirror::StreamRegistry> test_registry;

static void
use_test_registry (GstElement *e)
{
  // The context must win over the property: a bad URI proves it is unused.
  g_object_set (e, "stream-id", "cam1", "interval", (guint64)(50 * GST_MSECOND), "registry",
                "nosuch://unused", nullptr);
  GstContext *context = registry_context_new (test_registry);
  gst_element_set_context (e, context);
  gst_context_unref (context);
}

GST_START_TEST (test_heartbeat_updates_registry)
{
  test_registry = make_memory_registry_with ("cam1");
  {
    HeartbeatRig rig (use_test_registry);
    for (int i = 0; i < 10; i++)
      rig.push_and_drop (make_buffer (1000, i * 40 * GST_MSECOND, i == 0));

    uint64_t seen = 0;
    std::string codec;
    mirror::test::wait_until ([&] {
      auto done = std::make_shared<std::promise<mirror::StreamStats>> ();
      auto result = done->get_future ();
      test_registry->get_stream ("cam1", [done] (const mirror::RegistryStatus &st,
                                                 const std::optional<mirror::StreamEntry> &e) {
        done->set_value (st.ok () && e ? e->stats : mirror::StreamStats ());
      });
      mirror::StreamStats stats = wait_for (result);
      seen = stats.bytes;
      codec = stats.codec;
      return seen == 10000;
    });
    fail_unless_equals_uint64 (seen, 10000);
    fail_unless_equals_string (codec.c_str (), "h264");
  }
  test_registry.reset ();
}
GST_END_TEST;

GST_START_TEST (test_bad_registry_uri)
{
  GstElement *e = gst_element_factory_make ("mirrorheartbeat", "hb-bad");
  g_object_set (e, "stream-id", "cam1", "registry", "nosuch://host", nullptr);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 0, GST_MESSAGE_ERROR);
  fail_unless (msg != nullptr);
  GError *err = nullptr;
  gst_message_parse_error (msg, &err, nullptr);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS));
  fail_unless (strstr (err->message, "hb-bad") != nullptr, "%s", err->message);
  fail_unless (strstr (err->message, "registry") != nullptr, "%s", err->message);
  fail_unless (strstr (err->message, "nosuch://host") != nullptr, "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, nullptr);
  gst_object_unref (bus);
  gst_object_unref (e);
}
GST_END_TEST;

// With no context anywhere, the first element to need one makes it and its
// siblings share it (through the pipeline or a context query).
GST_START_TEST (test_registry_shared_in_pipeline)
{
  GstElement *pipeline = gst_parse_launch ("mirroringestbin name=c stream-id=c "
                                           "fakesrc ! mirrorheartbeat name=a stream-id=a ! "
                                           "mirrorheartbeat name=b stream-id=b ! fakesink",
                                           nullptr);
  fail_unless (pipeline != nullptr);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_READY),
                          GST_STATE_CHANGE_SUCCESS);

  GstElement *a = gst_bin_get_by_name (GST_BIN (pipeline), "a");
  GstElement *b = gst_bin_get_by_name (GST_BIN (pipeline), "b");
  GstElement *c = gst_bin_get_by_name (GST_BIN (pipeline), "c");
  GstContext *ca = gst_element_get_context (a, MIRROR_REGISTRY_CONTEXT_TYPE);
  GstContext *cb = gst_element_get_context (b, MIRROR_REGISTRY_CONTEXT_TYPE);
  GstContext *cc = gst_element_get_context (c, MIRROR_REGISTRY_CONTEXT_TYPE);
  GstContext *cp = gst_element_get_context (pipeline, MIRROR_REGISTRY_CONTEXT_TYPE);
  mirror::StreamRegistry *r = registry_in_context (cp);
  fail_unless (registry_in_context (ca) == r);
  fail_unless (registry_in_context (cb) == r);
  fail_unless (registry_in_context (cc) == r);
  for (GstContext *ctx : { ca, cb, cc, cp })
    gst_context_unref (ctx);
  for (GstElement *e : { a, b, c })
    gst_object_unref (e);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}
GST_END_TEST;

// mirrord's way: one context on the pipeline reaches every element.
GST_START_TEST (test_registry_from_pipeline_context)
{
  auto registry = make_memory_registry_with ("cam2");
  GstElement *pipeline
      = gst_parse_launch ("fakesrc ! mirrorheartbeat name=a stream-id=cam2 registry=nosuch:// ! "
                          "fakesink",
                          nullptr);
  GstContext *context = registry_context_new (registry);
  gst_element_set_context (pipeline, context);
  gst_context_unref (context);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_READY),
                          GST_STATE_CHANGE_SUCCESS);
  GstElement *a = gst_bin_get_by_name (GST_BIN (pipeline), "a");
  GstContext *ca = gst_element_get_context (a, MIRROR_REGISTRY_CONTEXT_TYPE);
  fail_unless (registry_in_context (ca) == registry.get ());
  gst_context_unref (ca);
  gst_object_unref (a);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}
GST_END_TEST;

// A real pipeline: a short non-live stream still yields a heartbeat (at EOS).
GST_START_TEST (test_heartbeat_in_pipeline)
{
  GstElement *pipeline = gst_parse_launch (
      "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
      "mirrorheartbeat interval=100000000 ! fakesink",
      nullptr);
  fail_unless (pipeline != nullptr);
  GstBus *bus = gst_element_get_bus (pipeline);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  guint64 buffers = 0;
  gchar *codec = nullptr;
  gint width = 0;
  while (buffers < 30) {
    GstStructure *s = pop_element_message (bus, "mirror-heartbeat", 5 * GST_SECOND);
    fail_unless (s != nullptr);
    gst_structure_get (s, "buffers", G_TYPE_UINT64, &buffers, "width", G_TYPE_INT, &width, nullptr);
    g_free (codec);
    codec = g_strdup (gst_structure_get_string (s, "codec"));
    gst_structure_free (s);
  }
  fail_unless_equals_uint64 (buffers, 30);
  fail_unless_equals_string (codec, "raw");
  fail_unless_equals_int (width, 320);
  g_free (codec);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}
GST_END_TEST;

static Suite *
mirrorlive_suite (void)
{
  Suite *s = suite_create ("mirrorlive");
  TCase *tc = tcase_create ("elements");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_factories);
  tcase_add_test (tc, test_klass);
  tcase_add_test (tc, test_properties_round_trip);
  tcase_add_test (tc, test_documented_defaults);
  tcase_add_test (tc, test_pads);
  tcase_add_test (tc, test_h3sink_needs_stream_id);
  tcase_add_test (tc, test_h3sink_publishes_into_context_origin);
  tcase_add_test (tc, test_h3sink_takes_over_a_held_stream_after_a_discontinuity);
  tcase_add_test (tc, test_heartbeat_passthrough);
  tcase_add_test (tc, test_heartbeat_counts);
  tcase_add_test (tc, test_heartbeat_rates);
  tcase_add_test (tc, test_heartbeat_periodic);
  tcase_add_test (tc, test_heartbeat_stall_and_recover);
  tcase_add_test (tc, test_heartbeat_eos_is_not_a_stall);
  tcase_add_test (tc, test_heartbeat_updates_registry);
  tcase_add_test (tc, test_bad_registry_uri);
  tcase_add_test (tc, test_registry_shared_in_pipeline);
  tcase_add_test (tc, test_registry_from_pipeline_context);
  tcase_add_test (tc, test_heartbeat_in_pipeline);
  return s;
}

GST_CHECK_MAIN (mirrorlive);
