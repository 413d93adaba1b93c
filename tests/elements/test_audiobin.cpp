// SPDX-License-Identifier: LGPL-2.1-or-later
// mirroraudiobin in real pipelines: AAC passes through untouched but for its
// framing, MPEG-1 layer 2 becomes AAC at the bitrate asked for, and an EOS
// that comes before any audio still comes out. Test audio is made on the fly
// (audiotestsrc, avenc_aac, avenc_mp2).
//
// The C++ headers come first: check.h defines a `fail` macro that would
// clash with std::basic_ios::fail.
#include <string>
#include <vector>

// Before gstcheck.h, whose macros (fail) break the standard headers.
#include "../common/wait_until.h"

#include <gst/check/gstcheck.h>

struct Run {
  bool eos = false;
  std::string error;
  guint frames = 0;        // buffers out of the bin
  GstCaps *caps = nullptr; // its output caps
  gboolean passthrough = FALSE;
  std::vector<std::string> children; // factory names inside the bin
  gint encoder_bitrate = -1;
  ~Run () { gst_caps_replace (&caps, nullptr); }
};

static void
on_handoff (GstElement *, GstBuffer *, GstPad *, gpointer user_data)
{
  static_cast<Run *> (user_data)->frames++;
}

// Runs @desc, which names the bin "a" and its sink "out", to EOS (@repeats
// times, back to NULL in between, as mirrord restarts a stream).
static void
run_pipeline (const std::string &desc, Run &run, int repeats = 1)
{
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch (desc.c_str (), &error);
  fail_unless (pipeline != nullptr && error == nullptr, "%s: %s", desc.c_str (),
               error ? error->message : "");
  GstElement *a = gst_bin_get_by_name (GST_BIN (pipeline), "a");
  GstElement *out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  fail_unless (a != nullptr && out != nullptr);
  g_object_set (out, "signal-handoffs", TRUE, "sync", FALSE, nullptr);
  g_signal_connect (out, "handoff", G_CALLBACK (on_handoff), &run);

  GstBus *bus = gst_element_get_bus (pipeline);
  for (int i = 0; i < repeats && run.error.empty (); i++) {
    run.eos = false;
    run.frames = 0;
    gst_element_set_state (pipeline, GST_STATE_PLAYING);
    GstMessage *msg = gst_bus_timed_pop_filtered (
        bus, mirror::test::scaled (std::chrono::seconds (60)).count () * GST_MSECOND,
        (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    fail_unless (msg != nullptr, "no EOS within 60 s: %s", desc.c_str ());
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = nullptr;
      gst_message_parse_error (msg, &err, nullptr);
      run.error = std::string (GST_OBJECT_NAME (GST_MESSAGE_SRC (msg))) + ": " + err->message;
      g_error_free (err);
    } else {
      run.eos = true;
    }
    gst_message_unref (msg);
    if (i + 1 < repeats)
      gst_element_set_state (pipeline, GST_STATE_NULL);
  }

  GstPad *pad = gst_element_get_static_pad (out, "sink");
  run.caps = gst_pad_get_current_caps (pad);
  gst_object_unref (pad);
  g_object_get (a, "passthrough", &run.passthrough, nullptr);
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (a));
  GValue v = G_VALUE_INIT;
  while (gst_iterator_next (it, &v) == GST_ITERATOR_OK) {
    auto *child = GST_ELEMENT (g_value_get_object (&v));
    if (GstElementFactory *f = gst_element_get_factory (child)) {
      run.children.push_back (GST_OBJECT_NAME (f));
      // Whichever encoder it is, its bitrate property (an int or int64).
      GParamSpec *spec = g_object_class_find_property (G_OBJECT_GET_CLASS (child), "bitrate");
      const gchar *factory = GST_OBJECT_NAME (f);
      if (spec
          && (g_str_equal (factory, "avenc_aac") || g_str_equal (factory, "fdkaacenc")
              || g_str_equal (factory, "voaacenc"))) {
        GValue raw = G_VALUE_INIT, wide = G_VALUE_INIT;
        g_value_init (&raw, spec->value_type);
        g_value_init (&wide, G_TYPE_INT64);
        g_object_get_property (G_OBJECT (child), "bitrate", &raw);
        if (g_value_transform (&raw, &wide))
          run.encoder_bitrate = (gint)g_value_get_int64 (&wide);
        g_value_unset (&raw);
        g_value_unset (&wide);
      }
    }
    g_value_reset (&v);
  }
  g_value_unset (&v);
  gst_iterator_free (it);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (a);
  gst_object_unref (out);
  gst_object_unref (pipeline);
}

static bool
has_child (const Run &run, const char *factory)
{
  for (const std::string &c : run.children)
    if (c == factory)
      return true;
  return false;
}

static void
check_aac_caps (const Run &run)
{
  fail_unless (run.caps != nullptr, "no audio caps");
  const GstStructure *s = gst_caps_get_structure (run.caps, 0);
  gchar *str = gst_caps_to_string (run.caps);
  gint version = 0;
  fail_unless (gst_structure_has_name (s, "audio/mpeg"), "%s", str);
  fail_unless (gst_structure_get_int (s, "mpegversion", &version) && version == 4, "%s", str);
  fail_unless_equals_string (gst_structure_get_string (s, "stream-format"), "raw");
  fail_unless (gst_structure_has_field (s, "codec_data"), "%s", str);
  g_free (str);
}

GST_START_TEST (test_properties)
{
  GstElement *e = gst_element_factory_make ("mirroraudiobin", nullptr);
  fail_unless (e != nullptr);
  gint bitrate = 0;
  gboolean passthrough = TRUE;
  g_object_get (e, "bitrate", &bitrate, "passthrough", &passthrough, nullptr);
  fail_unless_equals_int (bitrate, 64000); // bit/s, as the transcoder's
  fail_unless (!passthrough);
  for (const char *name : { "sink", "src" }) {
    GstPad *pad = gst_element_get_static_pad (e, name);
    fail_unless (pad != nullptr, "no %s pad", name);
    gst_object_unref (pad);
  }
  gst_object_unref (e);
}
GST_END_TEST;

// ADTS AAC: every frame out, re-framed raw, nothing decoded; again after a
// restart.
GST_START_TEST (test_aac_passes_through)
{
  Run run;
  run_pipeline ("audiotestsrc num-buffers=40 samplesperbuffer=1024 ! "
                "audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse ! "
                "audio/mpeg,stream-format=adts ! mirroraudiobin name=a ! fakesink name=out",
                run, 2);
  fail_unless (run.error.empty (), "%s", run.error.c_str ());
  check_aac_caps (run);
  fail_unless (run.passthrough);
  fail_unless (!has_child (run, "decodebin"));
  fail_unless (run.frames >= 40, "%u frames", run.frames);
}
GST_END_TEST;

// MPEG-1 layer 2 is decoded and encoded to AAC at the bitrate asked for.
GST_START_TEST (test_mp2_is_transcoded)
{
  Run run;
  run_pipeline ("audiotestsrc num-buffers=40 samplesperbuffer=1152 ! "
                "audio/x-raw,rate=48000,channels=2 ! avenc_mp2 ! mpegaudioparse ! "
                "mirroraudiobin name=a bitrate=96000 ! fakesink name=out",
                run);
  fail_unless (run.error.empty (), "%s", run.error.c_str ());
  check_aac_caps (run);
  fail_unless (!run.passthrough);
  fail_unless (has_child (run, "decodebin"));
  fail_unless_equals_int (run.encoder_bitrate, 96000);
  fail_unless (run.frames >= 40, "%u frames", run.frames);
}
GST_END_TEST;

// A stream that ends before any audio: its EOS comes out all the same.
GST_START_TEST (test_eos_before_audio)
{
  Run run;
  run_pipeline ("fakesrc num-buffers=0 ! mirroraudiobin name=a ! fakesink name=out async=false",
                run);
  fail_unless (run.error.empty (), "%s", run.error.c_str ());
  fail_unless (run.eos);
  fail_unless_equals_int (run.frames, 0);
}
GST_END_TEST;

static Suite *
audiobin_suite (void)
{
  Suite *s = suite_create ("mirroraudiobin");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_eos_before_audio);
  if (GstElementFactory *f = gst_element_factory_find ("avenc_aac")) {
    gst_object_unref (f);
    tcase_add_test (tc, test_aac_passes_through);
    tcase_add_test (tc, test_mp2_is_transcoded);
  }
  suite_add_tcase (s, tc);
  return s;
}

GST_CHECK_MAIN (audiobin);
