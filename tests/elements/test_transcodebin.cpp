// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin in real pipelines: test media made on the fly by
// videotestsrc and x264/x265/libav encoders, outputs caught by
// fakesink handoffs ("unit"), or written to MP4 and read back by ffprobe
// ("integration"). Sizes and frame counts are small: the box is shared.
// "gpu": the NVIDIA paths, run by tools/gpu-check where a GPU is at hand.
//
// The C++ headers come first: check.h defines a `fail` macro that would
// clash with std::basic_ios::fail.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

// Before gstcheck.h, whose macros (fail) break the standard headers.
#include "../common/wait_until.h"

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>

struct Frame {
  GstClockTime pts;
  bool key;
  std::vector<guint8> bytes;
  gint64 lag_ns = -1; // wall time since it entered the bin (its x-unix stamp)
};

struct Output {
  std::vector<Frame> frames;
  GstCaps *caps = nullptr;
  gsize total_bytes = 0;
};

struct Run {
  bool eos = false;
  std::string error;
  std::vector<std::string> warnings;
  int stats_messages = 0;
  std::map<std::string, Output> outputs;
  std::string decoder, encoder, hardware, names;
  int decoders = 0; // decoder elements inside the bin
  int deinterlacers = 0;
  std::vector<std::string> children; // "name=factory" of every element inside the bin
  GstStructure *stats = nullptr;
  std::vector<guint8> input_bytes; // buffers entering t.sink, concatenated
  int input_frames = 0;

  ~Run ()
  {
    for (auto &kv : outputs)
      if (kv.second.caps)
        gst_caps_unref (kv.second.caps);
    if (stats)
      gst_structure_free (stats);
  }
};

static void
on_handoff (GstElement *, GstBuffer *buf, GstPad *, gpointer user_data)
{
  auto *out = static_cast<Output *> (user_data);
  Frame f;
  f.pts = GST_BUFFER_PTS (buf);
  f.key = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  f.bytes.resize (gst_buffer_get_size (buf));
  gst_buffer_extract (buf, 0, f.bytes.data (), f.bytes.size ());
  static GstCaps *unix_caps = gst_caps_new_empty_simple ("timestamp/x-unix");
  if (GstReferenceTimestampMeta *m = gst_buffer_get_reference_timestamp_meta (buf, unix_caps))
    f.lag_ns = g_get_real_time () * 1000 - (gint64)m->timestamp;
  out->total_bytes += f.bytes.size ();
  out->frames.push_back (std::move (f));
}

static GstPadProbeReturn
on_input (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *run = static_cast<Run *> (user_data);
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gsize at = run->input_bytes.size ();
  run->input_bytes.resize (at + gst_buffer_get_size (buf));
  gst_buffer_extract (buf, 0, run->input_bytes.data () + at, gst_buffer_get_size (buf));
  run->input_frames++;
  return GST_PAD_PROBE_OK;
}

// Runs @desc (which names the bin "t" and its fakesinks "out*") to EOS.
static void
run_pipeline (const std::string &desc, Run &run, int timeout_s = 60, int repeats = 1)
{
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch (desc.c_str (), &error);
  fail_unless (pipeline != nullptr, "%s: %s", desc.c_str (), error ? error->message : "");
  fail_unless (error == nullptr, "%s: %s", desc.c_str (), error->message);
  GstElement *t = gst_bin_get_by_name (GST_BIN (pipeline), "t");
  fail_unless (t != nullptr);
  GstPad *tsink = gst_element_get_static_pad (t, "sink");
  gst_pad_add_probe (tsink, GST_PAD_PROBE_TYPE_BUFFER, on_input, &run, nullptr);
  gst_object_unref (tsink);

  GstIterator *it = gst_bin_iterate_sinks (GST_BIN (pipeline));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
    GstElement *sink = GST_ELEMENT (g_value_get_object (&v));
    std::string name = GST_OBJECT_NAME (sink);
    if (g_str_has_prefix (name.c_str (), "out")) {
      g_object_set (sink, "signal-handoffs", TRUE, "sync", FALSE, nullptr);
      g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), &run.outputs[name]);
    }
    g_value_reset (&v);
  }
  g_value_unset (&v);
  gst_iterator_free (it);

  GstBus *bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  // timeout_s stretched by MIRROR_TEST_SLOWDOWN (the sanitizer build).
  gint64 deadline
      = g_get_monotonic_time () + (gint64)(timeout_s * G_USEC_PER_SEC * mirror::test::slowdown ());
  // Repeats: back to NULL and play again, as mirrord restarts a stream.
  while (run.error.empty () && (!run.eos || --repeats > 0)) {
    if (run.eos) {
      run.eos = false;
      gst_element_set_state (pipeline, GST_STATE_NULL);
      gst_element_set_state (pipeline, GST_STATE_PLAYING);
    }
    gint64 left = deadline - g_get_monotonic_time ();
    fail_unless (left > 0, "timed out: %s", desc.c_str ());
    GstMessage *msg = gst_bus_timed_pop (bus, left * GST_USECOND);
    if (!msg)
      continue;
    switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_EOS:
      run.eos = true;
      break;
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_WARNING: {
      GError *err = nullptr;
      gchar *dbg = nullptr;
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
        gst_message_parse_error (msg, &err, &dbg);
      else
        gst_message_parse_warning (msg, &err, &dbg);
      std::string text = std::string (GST_OBJECT_NAME (GST_MESSAGE_SRC (msg))) + ": " + err->message
                         + " (" + (dbg ? dbg : "") + ")";
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
        run.error = text;
      else
        run.warnings.push_back (text);
      g_error_free (err);
      g_free (dbg);
      break;
    }
    case GST_MESSAGE_ELEMENT:
      if (gst_message_has_name (msg, "mirror-transcode-stats"))
        run.stats_messages++;
      break;
    default:
      break;
    }
    gst_message_unref (msg);
  }

  for (auto &kv : run.outputs) {
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), kv.first.c_str ());
    GstPad *pad = gst_element_get_static_pad (sink, "sink");
    kv.second.caps = gst_pad_get_current_caps (pad);
    gst_object_unref (pad);
    gst_object_unref (sink);
  }
  gchar *dec = nullptr, *enc = nullptr, *names = nullptr;
  gint hw = 0;
  g_object_get (t, "active-decoder", &dec, "active-encoder", &enc, "hardware", &hw,
                "rendition-names", &names, "stats", &run.stats, nullptr);
  run.decoder = dec ? dec : "";
  run.encoder = enc ? enc : "";
  GParamSpec *hw_spec = g_object_class_find_property (G_OBJECT_GET_CLASS (t), "hardware");
  GEnumValue *hw_value = g_enum_get_value (G_PARAM_SPEC_ENUM (hw_spec)->enum_class, hw);
  run.hardware = hw_value ? hw_value->value_nick : "";
  run.names = names ? names : "";
  g_free (dec);
  g_free (enc);
  g_free (names);
  it = gst_bin_iterate_recurse (GST_BIN (t));
  while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
    GstElementFactory *f = gst_element_get_factory (GST_ELEMENT (g_value_get_object (&v)));
    const gchar *klass = f ? gst_element_factory_get_metadata (f, GST_ELEMENT_METADATA_KLASS) : "";
    if (strstr (klass, "Decoder") && strstr (klass, "Video"))
      run.decoders++;
    if (f && g_str_equal (GST_OBJECT_NAME (f), "deinterlace"))
      run.deinterlacers++;
    if (f)
      run.children.push_back (std::string (GST_OBJECT_NAME (g_value_get_object (&v))) + "="
                              + GST_OBJECT_NAME (f));
    g_value_reset (&v);
  }
  g_value_unset (&v);
  gst_iterator_free (it);
  gst_object_unref (t);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  fail_unless (run.error.empty (), "%s\n  in: %s", run.error.c_str (), desc.c_str ());
}

static std::string
video_source (const char *codec, int frames, int width, int height, const char *extra = "",
              const char *pattern = "ball", const char *format = "I420")
{
  gchar *s;
  if (g_str_equal (codec, "h265"))
    s = g_strdup_printf ("videotestsrc num-buffers=%d pattern=%s ! "
                         "video/x-raw,format=%s,width=%d,height=%d,framerate=30/1%s ! "
                         "x265enc speed-preset=ultrafast key-int-max=60 ! h265parse ! t.sink ",
                         frames, pattern, format, width, height, extra);
  else
    s = g_strdup_printf ("videotestsrc num-buffers=%d pattern=%s ! "
                         "video/x-raw,format=%s,width=%d,height=%d,framerate=30/1%s ! "
                         "x264enc speed-preset=ultrafast key-int-max=60 bitrate=4000 ! "
                         "h264parse ! t.sink ",
                         frames, pattern, format, width, height, extra);
  std::string out = s;
  g_free (s);
  return out;
}

static void
check_h264_caps (const Output &out, int width, int height, const char *profile = "main")
{
  fail_unless (out.caps != nullptr, "no caps on the output");
  const GstStructure *s = gst_caps_get_structure (out.caps, 0);
  gchar *str = gst_caps_to_string (out.caps);
  fail_unless (gst_structure_has_name (s, "video/x-h264"), "%s", str);
  fail_unless_equals_string (gst_structure_get_string (s, "stream-format"), "avc");
  fail_unless_equals_string (gst_structure_get_string (s, "alignment"), "au");
  fail_unless_equals_string (gst_structure_get_string (s, "profile"), profile);
  fail_unless (gst_structure_has_field (s, "codec_data"), "%s", str);
  gint w = 0, h = 0;
  gst_structure_get_int (s, "width", &w);
  gst_structure_get_int (s, "height", &h);
  fail_unless (w == width && h == height, "want %dx%d: %s", width, height, str);
  g_free (str);
}

// Every output frame that is the first at or past a multiple of the
// interval after the first frame must be a keyframe.
static int
check_keyframes (const Output &out, GstClockTime interval)
{
  gint64 last_slot = -1;
  int boundaries = 0;
  for (const Frame &f : out.frames) {
    gint64 slot = (gint64)((f.pts - out.frames[0].pts) / interval);
    if (slot != last_slot) {
      fail_unless (f.key,
                   "frame at %" GST_TIME_FORMAT " starts slot %" G_GINT64_FORMAT
                   " but is no keyframe",
                   GST_TIME_ARGS (f.pts), slot);
      boundaries++;
      last_slot = slot;
    }
  }
  return boundaries;
}

// ------------------------------------------------------------------ unit

GST_START_TEST (test_properties_and_ladder)
{
  GstElement *e = gst_element_factory_make ("mirrortranscodebin", nullptr);
  fail_unless (e != nullptr);
  gchar *s = nullptr;
  gint hw = -1, dec = -1, enc = -1, preset = -1, profile = -1;
  guint tune = 0;
  guint bframes = 99, bitrate = 0;
  guint64 stats_interval = 0;
  g_object_get (e, "rendition-names", &s, "hardware", &hw, "decoder", &dec, "encoder", &enc,
                "x264-preset", &preset, "x264-tune", &tune, "profile", &profile, "bframes",
                &bframes, "bitrate", &bitrate, "stats-interval", &stats_interval, nullptr);
  fail_unless_equals_string (s, "360p");
  // The choices are enums: gst-inspect-1.0 lists their values. The nick is
  // the enum class's own string: fail_unless_equals_string keeps a pointer
  // past the expression, so never a temporary's c_str () here.
  auto nick = [e] (const char *property, gint value) -> const gchar * {
    GParamSpec *spec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), property);
    fail_unless (G_IS_PARAM_SPEC_ENUM (spec), "%s is not an enum", property);
    GEnumValue *v = g_enum_get_value (G_PARAM_SPEC_ENUM (spec)->enum_class, value);
    return v ? v->value_nick : "?";
  };
  fail_unless_equals_string (nick ("hardware", hw), "none");
  fail_unless_equals_string (nick ("decoder", dec), "auto");
  fail_unless_equals_string (nick ("encoder", enc), "auto");
  fail_unless_equals_string (nick ("x264-preset", preset), "veryfast");
  fail_unless_equals_string (nick ("profile", profile), "main");
  GParamSpec *tune_spec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "x264-tune");
  fail_unless (G_IS_PARAM_SPEC_FLAGS (tune_spec));
  GFlagsValue *tune_value
      = g_flags_get_first_value (G_PARAM_SPEC_FLAGS (tune_spec)->flags_class, tune);
  fail_unless (tune_value != nullptr);
  fail_unless_equals_string (tune_value->value_nick, "zerolatency");
  fail_unless_equals_int (bframes, 0);
  fail_unless_equals_int (bitrate, 400000); // bit/s, as renditions
  fail_unless_equals_uint64 (stats_interval, GST_SECOND);
  g_free (s);

  g_object_set (e, "height", 480, "width", 854, nullptr);
  g_object_get (e, "rendition-names", &s, nullptr);
  fail_unless_equals_string (s, "480p");
  g_free (s);

  // mirrord writes bit/s without a suffix (libmirror's format_ladder).
  g_object_set (e, "renditions", "360p:640x360@400k,720p:1280x720@2.5M,v:1080x1920@3000000,source",
                nullptr);
  g_object_get (e, "rendition-names", &s, nullptr);
  fail_unless_equals_string (s, "360p,720p,v,source");
  g_free (s);

  // The hardware properties are read-only.
  GParamSpec *p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "hardware");
  fail_unless (p && !(p->flags & G_PARAM_WRITABLE));
  p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "active-decoder");
  fail_unless (p && !(p->flags & G_PARAM_WRITABLE));
  p = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "stats");
  fail_unless (p && !(p->flags & G_PARAM_WRITABLE));

  // src_N exists for N < ladder size only.
  GstPad *p0 = gst_element_request_pad_simple (e, "src_%u");
  GstPad *p3 = gst_element_request_pad_simple (e, "src_3");
  fail_unless (p0 != nullptr && p3 != nullptr);
  fail_unless_equals_string (GST_PAD_NAME (p0), "src_0");
  fail_unless (gst_element_request_pad_simple (e, "src_4") == nullptr);
  GstPad *p1 = gst_element_request_pad_simple (e, "src_%u");
  fail_unless_equals_string (GST_PAD_NAME (p1), "src_1");
  gst_element_release_request_pad (e, p1);
  gst_object_unref (p1);
  gst_element_release_request_pad (e, p0);
  gst_object_unref (p0);
  gst_object_unref (p3);

  for (const char *name : { "sink" }) {
    GstPad *pad = gst_element_get_static_pad (e, name);
    fail_unless (pad != nullptr, "no %s pad", name);
    gst_object_unref (pad);
  }
  gst_object_unref (e);
}
GST_END_TEST;

// A choice that is not one is refused when it is set, naming the value.
GST_START_TEST (test_bad_choice_refused_when_set)
{
  for (const char *bad : { "profile=extended", "decoder=nvh265dec", "encoder=x265",
                           "x264-preset=warp", "x264-tune=loud" }) {
    GError *err = nullptr;
    std::string text = std::string ("mirrortranscodebin ") + bad;
    GstElement *e
        = gst_parse_launch_full (text.c_str (), nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
    fail_unless (e == nullptr, "%s accepted", bad);
    fail_unless (err != nullptr && strstr (err->message, strchr (bad, '=') + 1) != nullptr,
                 "%s: %s", bad, err ? err->message : "no error");
    g_clear_error (&err);
  }
}
GST_END_TEST;

GST_START_TEST (test_bad_ladder_refused)
{
  for (const char *bad : { "a:640x361@400k", "foo", "a:640x360@", "a:640x360@400k,a:320x180@200k",
                           "a:640x360@1x", "640x360@400k", "width=641" }) {
    GstElement *e = gst_element_factory_make ("mirrortranscodebin", nullptr);
    if (g_str_equal (bad, "width=641"))
      g_object_set (e, "width", 641, nullptr);
    else
      g_object_set (e, "renditions", bad, nullptr);
    GstBus *bus = gst_bus_new ();
    gst_element_set_bus (e, bus);
    fail_unless (gst_element_request_pad_simple (e, "src_%u") == nullptr, "%s accepted", bad);
    gst_element_set_state (e, GST_STATE_READY);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 0, GST_MESSAGE_ERROR);
    fail_unless (msg != nullptr, "%s: no error", bad);
    gst_message_unref (msg);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_element_set_bus (e, nullptr);
    gst_object_unref (bus);
    gst_object_unref (e);
  }
}
GST_END_TEST;

// H.265 in, the CPU path chosen (this box has no NVIDIA GPU), H.264 main
// 640x360 out, stats filled and posted.
GST_START_TEST (test_hevc_cpu_path)
{
  Run run;
  run_pipeline ("mirrortranscodebin name=t stats-interval=100000000 t.src_0 ! fakesink name=out0 "
                    + video_source ("h265", 20, 480, 270),
                run);
  fail_unless_equals_string (run.decoder.c_str (), "avdec_h265");
  fail_unless_equals_string (run.encoder.c_str (), "x264enc");
  fail_unless_equals_string (run.hardware.c_str (), "cpu");
  fail_unless_equals_int (run.decoders, 1);
  // Stable child names.
  for (const char *want : { "decoder=avdec_h265", "src_0_encoder=x264enc", "src_0_parse=h264parse",
                            "deinterlace=deinterlace", "decoded_tee=tee", "input_tee=tee" })
    fail_unless (std::find (run.children.begin (), run.children.end (), want)
                     != run.children.end (),
                 "no child %s", want);
  fail_unless (run.warnings.empty (), "%s", run.warnings[0].c_str ());
  const Output &out = run.outputs["out0"];
  fail_unless_equals_int ((int)out.frames.size (), 20);
  check_h264_caps (out, 640, 360);
  fail_unless (run.stats_messages >= 1, "no mirror-transcode-stats message");
  guint64 in = 0, outn = 0, dropped = 99;
  double p50 = -1, p99 = -1;
  gst_structure_get (run.stats, "frames-in", G_TYPE_UINT64, &in, "frames-out", G_TYPE_UINT64, &outn,
                     "frames-dropped", G_TYPE_UINT64, &dropped, "latency-p50-ms", G_TYPE_DOUBLE,
                     &p50, "latency-p99-ms", G_TYPE_DOUBLE, &p99, nullptr);
  fail_unless_equals_uint64 (in, 20);
  fail_unless_equals_uint64 (outn, 20);
  fail_unless_equals_uint64 (dropped, 0);
  fail_unless (p50 > 0 && p99 >= p50, "p50 %f p99 %f", p50, p99);
  fail_unless_equals_string (gst_structure_get_string (run.stats, "hardware"), "cpu");
  fail_unless_equals_string (gst_structure_get_string (run.stats, "decoder"), "avdec_h265");
}
GST_END_TEST;

// A live 60 fps feed into an encoder that manages less than half of that
// on an idle box (x264 placebo at 720p) and far less on a busy one: frames
// are dropped before the encoder, and what comes out stays within a few
// encodes of live. The feed is small and cheap to make (320x180), so a busy
// box slows the encoder, never the feed. Without shedding the encoder's
// backlog would hold up the decoder and the input: the last frames would
// come out about as late as the run is long.
GST_START_TEST (test_live_overload_sheds_before_the_encoder)
{
  Run run;
  const gint64 start = g_get_monotonic_time ();
  run_pipeline ("mirrortranscodebin name=t renditions=720p:1280x720@2000k x264-preset=placebo "
                "max-lag=1000000000 t.src_0 ! fakesink name=out0 "
                "videotestsrc is-live=true num-buffers=300 pattern=ball ! "
                "video/x-raw,width=320,height=180,framerate=60/1 ! "
                "x264enc speed-preset=ultrafast tune=zerolatency key-int-max=60 bitrate=4000 ! "
                "h264parse ! t.sink",
                run, 120);
  const double wall_s = (g_get_monotonic_time () - start) / 1e6;
  const Output &out = run.outputs["out0"];
  fail_unless (!out.frames.empty ());
  guint64 encoder = 0, catch_up = 0, keyframes = 0, skipped = 0;
  gst_structure_get (run.stats, "shed-encoder-drops", G_TYPE_UINT64, &encoder,
                     "shed-catchup-drops", G_TYPE_UINT64, &catch_up, "shed-keyframe-drops",
                     G_TYPE_UINT64, &keyframes, "shed-nonref-drops", G_TYPE_UINT64, &skipped,
                     nullptr);
  fail_unless (encoder > 0, "no frame was dropped before the encoder");
  // Every frame is out or counted as shed.
  fail_unless_equals_int ((int)(out.frames.size () + encoder + catch_up + keyframes + skipped),
                          300);
  // Within a few encodes of live: the encoder's queue (3 frames) and the
  // frame in the encoder, at the pace this box managed, with room for a
  // busy box's uneven pace. (Without shedding the last frames would be
  // about as late as the run is long, which is many times this.)
  const double per_frame_s = wall_s / out.frames.size ();
  const double bound_s = 2.0 + 10 * per_frame_s;
  for (size_t i = 0; i < out.frames.size (); i++) {
    const Frame &f = out.frames[i];
    fail_unless (f.lag_ns >= 0, "an output frame lost its x-unix stamp");
    // The first frame also waits for the encoder to open.
    fail_unless (i == 0 || f.lag_ns / 1e9 < bound_s,
                 "output frame %zu was %.2f s behind live (bound %.2f s: %zu frames out in "
                 "%.1f s)",
                 i, f.lag_ns / 1e9, bound_s, out.frames.size (), wall_s);
  }
  // Keyframes still fall on the 500 ms slots.
  check_keyframes (out, 500 * GST_MSECOND);
}
GST_END_TEST;

// H.264 in with a 2 s GOP; out: an IDR at every 500 ms of PTS. The input
// PTS start at 0, as from tsdemux (x264enc and x265enc start theirs at
// 1000 h): x264enc inside shifts them, latency is still matched.
GST_START_TEST (test_h264_keyframes)
{
  Run run;
  run_pipeline ("mirrortranscodebin name=t width=320 height=180 t.src_0 ! fakesink name=out0 "
                "videotestsrc num-buffers=60 pattern=ball ! "
                "video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
                "x264enc speed-preset=ultrafast key-int-max=60 ! mpegtsmux ! tsdemux ! "
                "h264parse ! t.sink",
                run);
  fail_unless_equals_string (run.decoder.c_str (), "avdec_h264");
  fail_unless_equals_int (run.input_frames, 60);
  const Output &out = run.outputs["out0"];
  fail_unless_equals_int ((int)out.frames.size (), 60);
  check_h264_caps (out, 320, 180);
  fail_unless_equals_int (check_keyframes (out, 500 * GST_MSECOND), 4);
  guint64 outn = 0, dropped = 99;
  double p50 = -1;
  gst_structure_get (run.stats, "frames-out", G_TYPE_UINT64, &outn, "frames-dropped", G_TYPE_UINT64,
                     &dropped, "latency-p50-ms", G_TYPE_DOUBLE, &p50, nullptr);
  fail_unless_equals_uint64 (outn, 60);
  fail_unless_equals_uint64 (dropped, 0);
  fail_unless (p50 > 0, "no latency measured: PTS not matched");
}
GST_END_TEST;

// Three renditions, one of them the source: one decoder in the bin, the
// source rendition byte-identical to the input.
GST_START_TEST (test_ladder_one_decode)
{
  Run run;
  run_pipeline ("mirrortranscodebin name=t renditions=\"a:320x180@200k,b:480x270@300k,source\" "
                "keyframe-interval=250000000 "
                "t.src_0 ! queue ! fakesink name=out0 t.src_1 ! queue ! fakesink name=out1 "
                "t.src_2 ! queue ! fakesink name=out2 "
                    + video_source ("h265", 15, 640, 360),
                run);
  fail_unless_equals_string (run.names.c_str (), "a,b,source");
  fail_unless_equals_int (run.decoders, 1);
  check_h264_caps (run.outputs["out0"], 320, 180);
  check_h264_caps (run.outputs["out1"], 480, 270);
  for (const char *name : { "out0", "out1" }) {
    fail_unless_equals_int ((int)run.outputs[name].frames.size (), 15);
    fail_unless_equals_int (check_keyframes (run.outputs[name], 250 * GST_MSECOND), 2);
  }
  const Output &src = run.outputs["out2"];
  fail_unless (gst_structure_has_name (gst_caps_get_structure (src.caps, 0), "video/x-h265"));
  std::vector<guint8> bytes;
  for (const Frame &f : src.frames)
    bytes.insert (bytes.end (), f.bytes.begin (), f.bytes.end ());
  fail_unless_equals_int ((int)src.frames.size (), run.input_frames);
  fail_unless (bytes == run.input_bytes, "source rendition differs from the input");
}
GST_END_TEST;

// Played twice (through NULL): the graph is rebuilt for the second run.
GST_START_TEST (test_restart)
{
  Run run;
  run_pipeline ("mirrortranscodebin name=t t.src_0 ! fakesink name=out0 "
                    + video_source ("h265", 10, 320, 240),
                run, 60, 2);
  fail_unless_equals_int ((int)run.outputs["out0"].frames.size (), 20);
  fail_unless_equals_int (run.decoders, 1);
  fail_unless_equals_string (run.decoder.c_str (), "avdec_h265");
}
GST_END_TEST;

static GstPadProbeReturn
request_late_pad (GstPad *, GstPadProbeInfo *, gpointer user_data)
{
  auto *bin = GST_BIN (user_data);
  GstElement *t = gst_bin_get_by_name (bin, "t");
  GstElement *sink = gst_element_factory_make ("fakesink", "late");
  g_object_set (sink, "async", FALSE, nullptr);
  gst_bin_add (bin, sink);
  gst_element_sync_state_with_parent (sink);
  GstPad *src = gst_element_request_pad_simple (t, "src_1");
  fail_unless (src != nullptr);
  GstPad *sinkpad = gst_element_get_static_pad (sink, "sink");
  fail_unless_equals_int (gst_pad_link (src, sinkpad), GST_PAD_LINK_OK);
  gst_object_unref (sinkpad);
  gst_object_unref (src);
  gst_object_unref (t);
  return GST_PAD_PROBE_REMOVE;
}

// src_1 requested while frames flow: built on the spot from the decoded
// tee, which replays the sticky events to it.
GST_START_TEST (test_late_pad)
{
  GError *error = nullptr;
  GstElement *pipeline
      = gst_parse_launch (("mirrortranscodebin name=t renditions=a:320x180@200k,b:160x90@100k "
                           "t.src_0 ! fakesink name=out0 "
                           + video_source ("h264", 30, 320, 240))
                              .c_str (),
                          &error);
  fail_unless (pipeline != nullptr && error == nullptr);
  GstElement *out0 = gst_bin_get_by_name (GST_BIN (pipeline), "out0");
  GstPad *pad = gst_element_get_static_pad (out0, "sink");
  // After the 5th output buffer.
  static int seen;
  seen = 0;
  gst_pad_add_probe (
      pad, GST_PAD_PROBE_TYPE_BUFFER,
      [] (GstPad *p, GstPadProbeInfo *i, gpointer d) -> GstPadProbeReturn {
        return ++seen == 5 ? request_late_pad (p, i, d) : GST_PAD_PROBE_OK;
      },
      pipeline, nullptr);
  gst_object_unref (pad);
  gst_object_unref (out0);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, mirror::test::scaled (std::chrono::seconds (60)).count () * GST_MSECOND,
      (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless (msg != nullptr);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = nullptr;
    gst_message_parse_error (msg, &err, nullptr);
    fail ("%s", err->message);
  }
  gst_message_unref (msg);
  GstElement *late = gst_bin_get_by_name (GST_BIN (pipeline), "late");
  GstPad *late_pad = gst_element_get_static_pad (late, "sink");
  GstCaps *caps = gst_pad_get_current_caps (late_pad);
  fail_unless (caps != nullptr, "late pad got no caps");
  gint width = 0;
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "width", &width);
  fail_unless_equals_int (width, 160);
  gst_caps_unref (caps);
  gst_object_unref (late_pad);
  gst_object_unref (late);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}
GST_END_TEST;

// A decoder that is not registered here: one warning, then the CPU path.
GST_START_TEST (test_decoder_fallback)
{
  Run run;
  run_pipeline ("mirrortranscodebin name=t decoder=nvidia encoder=nvidia t.src_0 ! "
                "fakesink name=out0 "
                    + video_source ("h265", 10, 320, 240),
                run);
  fail_unless_equals_string (run.decoder.c_str (), "avdec_h265");
  fail_unless_equals_string (run.encoder.c_str (), "x264enc");
  fail_unless_equals_string (run.hardware.c_str (), "cpu");
  int decoder_warnings = 0;
  for (auto &w : run.warnings)
    if (w.find ("decoder") != std::string::npos)
      decoder_warnings++;
  fail_unless_equals_int (decoder_warnings, 1);
  fail_unless_equals_int ((int)run.warnings.size (), 2); // one for the encoder too
  fail_unless_equals_int ((int)run.outputs["out0"].frames.size (), 10);
}
GST_END_TEST;

// Interlaced H.264 is deinterlaced (frame rate kept); an odd-sized input
// scales to the rendition size.
GST_START_TEST (test_interlaced_and_odd_size)
{
  {
    Run run;
    run_pipeline ("mirrortranscodebin name=t t.src_0 ! fakesink name=out0 "
                  "videotestsrc num-buffers=20 pattern=ball ! "
                  "video/x-raw,format=Y444_10LE,width=320,height=240,framerate=30/1,"
                  "interlace-mode=interleaved,"
                  "field-order=top-field-first ! x264enc speed-preset=ultrafast interlaced=true ! "
                  "h264parse ! t.sink",
                  run);
    fail_unless_equals_int (run.deinterlacers, 1);
    check_h264_caps (run.outputs["out0"], 640, 360);
    fail_unless_equals_int ((int)run.outputs["out0"].frames.size (), 20);
    const GstStructure *s = gst_caps_get_structure (run.outputs["out0"].caps, 0);
    const gchar *mode = gst_structure_get_string (s, "interlace-mode");
    fail_unless (!mode || g_str_equal (mode, "progressive"), "interlace-mode %s", mode);
  }
  {
    Run run;
    run_pipeline ("mirrortranscodebin name=t t.src_0 ! fakesink name=out0 "
                      // 4:2:0 cannot have odd sizes: 4:4:4 can.
                      + video_source ("h264", 10, 321, 241, "", "ball", "Y444"),
                  run);
    check_h264_caps (run.outputs["out0"], 640, 360);
    fail_unless_equals_int ((int)run.outputs["out0"].frames.size (), 10);
  }
}
GST_END_TEST;

// ------------------------------------------------------------------ ffprobe

static gchar *
ffprobe (const std::vector<std::string> &args)
{
  std::vector<const gchar *> argv = { "ffprobe", "-v", "error" };
  for (auto &a : args)
    argv.push_back (a.c_str ());
  argv.push_back (nullptr);
  gchar *out = nullptr, *err = nullptr;
  gint status = 0;
  fail_unless (g_spawn_sync (nullptr, (gchar **)argv.data (), nullptr, G_SPAWN_SEARCH_PATH, nullptr,
                             nullptr, &out, &err, &status, nullptr));
  fail_unless (g_spawn_check_wait_status (status, nullptr), "ffprobe failed: %s", err);
  g_free (err);
  return out;
}

struct TempFile {
  gchar *dir;
  std::string path;
  TempFile () : dir (g_dir_make_tmp ("transcodebin-XXXXXX", nullptr))
  {
    path = std::string (dir) + "/out.mp4";
  }
  ~TempFile ()
  {
    g_unlink (path.c_str ());
    g_rmdir (dir);
    g_free (dir);
  }
};

// 1080p HEVC (the production input) -> 640x360 H.264 Main.
GST_START_TEST (test_hevc1080_ffprobe)
{
  TempFile tmp;
  Run run;
  run_pipeline ("mirrortranscodebin name=t t.src_0 ! mp4mux ! filesink location=" + tmp.path + " "
                    + video_source ("h265", 20, 1920, 1080),
                run, 120);
  fail_unless_equals_string (run.decoder.c_str (), "avdec_h265");
  fail_unless_equals_string (run.hardware.c_str (), "cpu");
  gchar *out = ffprobe ({ "-count_frames", "-show_entries",
                          "stream=codec_name,profile,width,height,nb_read_frames", "-of",
                          "default=nw=1", tmp.path });
  for (const char *want :
       { "codec_name=h264", "profile=Main", "width=640", "height=360", "nb_read_frames=20" })
    fail_unless (strstr (out, want) != nullptr, "no %s in:\n%s", want, out);
  g_free (out);
}
GST_END_TEST;

// 4 s of busy 640x360 H.264: bitrate within 20% of 400 kbit/s, and ffprobe
// sees a keyframe at every 500 ms.
GST_START_TEST (test_bitrate_keyframes_ffprobe)
{
  TempFile tmp;
  Run run;
  run_pipeline ("mirrortranscodebin name=t t.src_0 ! mp4mux ! filesink location=" + tmp.path + " "
                    + video_source ("h264", 120, 640, 360, "", "snow"),
                run, 120);
  gchar *out = ffprobe ({ "-select_streams", "v:0", "-show_entries", "packet=pts_time,size,flags",
                          "-of", "csv=p=0", tmp.path });
  gchar **lines = g_strsplit (out, "\n", -1);
  double bytes = 0, last_pts = 0;
  int packets = 0, last_slot = -1, keyframes = 0;
  for (gchar **l = lines; *l && **l; l++) {
    double pts = 0;
    int size = 0;
    char flags[8] = "";
    fail_unless (sscanf (*l, "%lf,%d,%7s", &pts, &size, flags) == 3, "bad line %s", *l);
    bytes += size;
    packets++;
    last_pts = pts;
    int slot = (int)std::floor (pts / 0.5 + 1e-6);
    if (slot != last_slot) {
      fail_unless (flags[0] == 'K', "packet at %.3f starts a 500 ms slot but is not a keyframe",
                   pts);
      keyframes++;
      last_slot = slot;
    }
  }
  g_strfreev (lines);
  g_free (out);
  fail_unless_equals_int (packets, 120);
  fail_unless_equals_int (keyframes, 8);
  double kbps = bytes * 8 / 1000 / (last_pts + 1.0 / 30);
  g_print ("transcoded 640x360 snow: %.0f kbit/s, %d keyframes in %d packets\n", kbps, keyframes,
           packets);
  fail_unless (kbps > 320 && kbps < 480, "%.0f kbit/s, want 400 +- 20%%", kbps);
}
GST_END_TEST;

// "gpu" mode, run by tools/gpu-check on a machine with an NVIDIA GPU and the
// nvcodec plugin: the same element with decoder=nvidia. NVDEC decodes, the
// frames stay on the GPU through cudaconvertscale, and either cudadownload
// feeds x264enc (the mixed path: H100/H200 have NVDEC but no NVENC) or,
// where the chip has NVENC, nvh264enc/nvcudah264enc takes CUDA memory.

static bool
registered (const char *factory)
{
  GstElementFactory *f = gst_element_factory_find (factory);
  if (f)
    gst_object_unref (f);
  return f != nullptr;
}

static bool
has_child (const Run &run, const std::string &want)
{
  return std::find (run.children.begin (), run.children.end (), want) != run.children.end ();
}

// One 1080p input of @codec through decoder=nvidia and @encoder; checks the
// chosen elements, the children on the GPU path, and every frame out.
static void
check_gpu_path (const char *codec, const char *encoder, const char *want_decoder,
                const char *want_hardware)
{
  fail_unless (registered (want_decoder),
               "%s is not registered: no nvcodec plugin, or no usable NVIDIA GPU", want_decoder);
  fail_unless (registered ("cudaconvertscale"), "cudaconvertscale is not registered");
  Run run;
  run_pipeline (std::string ("mirrortranscodebin name=t decoder=nvidia encoder=") + encoder
                    + " stats-interval=100000000 t.src_0 ! fakesink name=out0 "
                    + video_source (codec, 30, 1920, 1080),
                run, 120);
  g_print ("gpu path %s: decoder %s, encoder %s, hardware %s\n", codec, run.decoder.c_str (),
           run.encoder.c_str (), run.hardware.c_str ());
  fail_unless (run.warnings.empty (), "%s", run.warnings.empty () ? "" : run.warnings[0].c_str ());
  fail_unless_equals_string (run.decoder.c_str (), want_decoder);
  fail_unless_equals_string (run.hardware.c_str (), want_hardware);
  fail_unless_equals_int (run.decoders, 1);
  fail_unless (has_child (run, std::string ("decoder=") + want_decoder), "no child decoder");
  fail_unless (has_child (run, "src_0_scale=cudaconvertscale"), "scaling is not on the GPU");
  bool mixed = g_str_equal (want_hardware, "mixed");
  fail_unless (has_child (run, "src_0_download=cudadownload") == mixed,
               mixed ? "no cudadownload before the CPU encoder" : "frames downloaded for NVENC");
  const Output &out = run.outputs["out0"];
  fail_unless_equals_int ((int)out.frames.size (), 30);
  check_h264_caps (out, 640, 360);
  fail_unless (run.stats_messages >= 1, "no mirror-transcode-stats message");
  fail_unless_equals_string (gst_structure_get_string (run.stats, "decoder"), want_decoder);
}

// NVDEC + x264, H.265 and H.264 in: what must work on every NVIDIA GPU.
GST_START_TEST (test_gpu_mixed_hevc)
{
  check_gpu_path ("h265", "cpu", "nvh265dec", "mixed");
}
GST_END_TEST;

GST_START_TEST (test_gpu_mixed_h264)
{
  check_gpu_path ("h264", "cpu", "nvh264dec", "mixed");
}
GST_END_TEST;

// NVDEC + NVENC, only where the chip has NVENC (nvcodec registers the
// encoders only then).
GST_START_TEST (test_gpu_all_nvidia)
{
  if (!registered ("nvh264enc") && !registered ("nvcudah264enc")) {
    g_print ("no NVENC on this GPU (no nvh264enc, no nvcudah264enc): all-GPU path not tried\n");
    return;
  }
  check_gpu_path ("h265", "nvidia", "nvh265dec", "gpu");
}
GST_END_TEST;

static const char *mode = "unit";

static Suite *
transcodebin_suite (void)
{
  Suite *s = suite_create ("mirrortranscodebin");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 150);
  if (g_strcmp0 (mode, "integration") == 0) {
    tcase_add_test (tc, test_hevc1080_ffprobe);
    tcase_add_test (tc, test_bitrate_keyframes_ffprobe);
  } else if (g_strcmp0 (mode, "unit") == 0) {
    // No encoder, no media: the element's settings alone.
    tcase_add_test (tc, test_properties_and_ladder);
    tcase_add_test (tc, test_bad_choice_refused_when_set);
    tcase_add_test (tc, test_bad_ladder_refused);
  } else if (g_strcmp0 (mode, "gpu") == 0) {
    tcase_add_test (tc, test_gpu_mixed_hevc);
    tcase_add_test (tc, test_gpu_mixed_h264);
    tcase_add_test (tc, test_gpu_all_nvidia);
  } else {
    tcase_add_test (tc, test_hevc_cpu_path);
    tcase_add_test (tc, test_h264_keyframes);
    tcase_add_test (tc, test_ladder_one_decode);
    tcase_add_test (tc, test_decoder_fallback);
    tcase_add_test (tc, test_restart);
    tcase_add_test (tc, test_late_pad);
    tcase_add_test (tc, test_interlaced_and_odd_size);
    tcase_add_test (tc, test_live_overload_sheds_before_the_encoder);
  }
  suite_add_tcase (s, tc);
  return s;
}

int
main (int argc, char **argv)
{
  if (argc > 1)
    mode = argv[1];
  gst_check_init (&argc, &argv);
  return gst_check_run_suite (transcodebin_suite (), "mirrortranscodebin", __FILE__);
}
