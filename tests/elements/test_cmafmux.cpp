// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrorcmafmux through GstHarness: init segment, part and segment
// boundaries from buffers with known timestamps, flags and metas, B-frame
// composition offsets, caps changes; then real encoders into files that
// ffprobe must read back ("integration" argument).
//
// The C++ headers come first: check.h defines a `fail` macro that would
// clash with std::basic_ios::fail.
#include <cstring>
#include <string>
#include <vector>

#include "cmafmux/gstmirrorcmafmeta.h"

// Before gstcheck.h, whose macros (fail) break the standard headers.
#include "../common/wait_until.h"

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

using Bytes = std::vector<guint8>;

static const guint8 kAvcC[] = { 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64,
                                0x00, 0x1f, 0x01, 0x00, 0x04, 0x68, 0xee, 0x3c, 0x80 };

static GstCaps *
h264_caps (int width = 640)
{
  GstBuffer *cd = gst_buffer_new_memdup (kAvcC, sizeof kAvcC);
  GstCaps *caps = gst_caps_new_simple ("video/x-h264", "stream-format", G_TYPE_STRING, "avc",
                                       "alignment", G_TYPE_STRING, "au", "width", G_TYPE_INT, width,
                                       "height", G_TYPE_INT, 360, "framerate", GST_TYPE_FRACTION,
                                       25, 1, "codec_data", GST_TYPE_BUFFER, cd, nullptr);
  gst_buffer_unref (cd);
  return caps;
}

// Properties are set before the caps, which configure the muxer.
static GstHarness *
new_mux (GstClockTime part_duration = 100 * GST_MSECOND)
{
  GstHarness *h = gst_harness_new ("mirrorcmafmux");
  g_object_set (h->element, "part-duration", (guint64)part_duration, nullptr);
  gst_harness_set_src_caps (h, h264_caps ());
  return h;
}

// A frame of @size bytes with DTS @dts_ms and PTS @pts_ms (-1: same as DTS).
static GstBuffer *
frame (int64_t dts_ms, bool key, int64_t pts_ms = -1, gsize size = 100)
{
  GstBuffer *b = gst_buffer_new_allocate (nullptr, size, nullptr);
  gst_buffer_memset (b, 0, 0xab, size);
  GST_BUFFER_DTS (b) = dts_ms * GST_MSECOND;
  GST_BUFFER_PTS (b) = (pts_ms < 0 ? dts_ms : pts_ms) * GST_MSECOND;
  GST_BUFFER_DURATION (b) = 40 * GST_MSECOND;
  if (!key)
    GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DELTA_UNIT);
  return b;
}

static std::vector<GstBuffer *>
pull_all (GstHarness *h)
{
  std::vector<GstBuffer *> out;
  while (GstBuffer *b = gst_harness_try_pull (h))
    out.push_back (b);
  return out;
}

static void
unref_all (std::vector<GstBuffer *> &bufs)
{
  for (GstBuffer *b : bufs)
    gst_buffer_unref (b);
  bufs.clear ();
}

static Bytes
bytes_of (GstBuffer *b)
{
  Bytes out (gst_buffer_get_size (b));
  gst_buffer_extract (b, 0, out.data (), out.size ());
  return out;
}

static guint32
be32 (const Bytes &b, size_t at)
{
  return ((guint32)b[at] << 24) | ((guint32)b[at + 1] << 16) | ((guint32)b[at + 2] << 8)
         | b[at + 3];
}

// Offset of the first box header of @type in @b (a plain scan: good enough
// for the boxes this muxer writes), or -1.
static gssize
find_type (const Bytes &b, const char *type)
{
  for (size_t i = 4; i + 4 <= b.size (); i++)
    if (memcmp (&b[i], type, 4) == 0)
      return (gssize)i - 4;
  return -1;
}

static GstMirrorCmafMeta *
meta_of (GstBuffer *b)
{
  // The meta's functions live in the plugin; its API type is found by name
  // (registered when the element class is).
  GType api = g_type_from_name ("GstMirrorCmafMetaAPI");
  fail_unless (api != 0, "GstMirrorCmafMetaAPI is not registered");
  auto *m = (GstMirrorCmafMeta *)gst_buffer_get_meta (b, api);
  fail_unless (m != nullptr, "buffer without GstMirrorCmafMeta");
  return m;
}

// 25 fps frames from 0 ms, a keyframe every @gop, then EOS.
static std::vector<GstBuffer *>
run_stream (GstHarness *h, int n, int gop)
{
  for (int i = 0; i < n; i++)
    fail_unless_equals_int (gst_harness_push (h, frame (40 * i, i % gop == 0)), GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  return pull_all (h);
}

GST_START_TEST (test_init_segment_first)
{
  GstHarness *h = new_mux ();
  auto bufs = run_stream (h, 5, 10);
  fail_unless (bufs.size () >= 2);
  GstBuffer *init = bufs[0];
  fail_unless (GST_BUFFER_FLAG_IS_SET (init, GST_BUFFER_FLAG_HEADER));
  fail_unless (GST_BUFFER_FLAG_IS_SET (init, GST_BUFFER_FLAG_DISCONT));
  fail_unless_equals_int (meta_of (init)->kind, GST_MIRROR_CMAF_KIND_INIT);
  Bytes b = bytes_of (init);
  fail_unless (memcmp (&b[4], "ftyp", 4) == 0);
  fail_unless (memcmp (&b[28], "moov", 4) == 0);
  gssize avcc = find_type (b, "avcC");
  fail_unless (avcc > 0);
  fail_unless_equals_int (be32 (b, avcc), 8 + sizeof kAvcC);
  fail_unless (memcmp (&b[avcc + 8], kAvcC, sizeof kAvcC) == 0);
  // Output caps announce the codec for the playlist.
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (caps != nullptr);
  fail_unless_equals_string (gst_structure_get_string (gst_caps_get_structure (caps, 0), "codecs"),
                             "avc1.64001F");
  gst_caps_unref (caps);
  unref_all (bufs);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_part_and_segment_boundaries)
{
  GstHarness *h = new_mux ();
  // Keyframes at 0, 400 and 800 ms: 400 ms is before the 500 ms target, so
  // the second segment starts at 800 ms.
  auto bufs = run_stream (h, 30, 10);
  fail_unless_equals_int (bufs.size (), 1 + 11);
  struct Want {
    guint64 msn;
    guint part;
    guint64 start_ms;
    guint64 dur_ms;
    bool independent;
  } want[] = {
    { 0, 0, 0, 120, true },     { 0, 1, 120, 120, false }, { 0, 2, 240, 120, false },
    { 0, 3, 360, 120, false },  { 0, 4, 480, 120, false }, { 0, 5, 600, 120, false },
    { 0, 6, 720, 80, false },   { 1, 0, 800, 120, true },  { 1, 1, 920, 120, false },
    { 1, 2, 1040, 120, false }, { 1, 3, 1160, 40, false },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (want); i++) {
    GstBuffer *b = bufs[i + 1];
    auto *m = meta_of (b);
    fail_unless_equals_int (m->kind, GST_MIRROR_CMAF_KIND_PART);
    fail_unless_equals_uint64 (m->media_sequence, want[i].msn);
    fail_unless_equals_int (m->part_index, want[i].part);
    fail_unless_equals_uint64 (m->duration, want[i].dur_ms * GST_MSECOND);
    fail_unless_equals_int (!!m->independent, want[i].independent);
    fail_unless_equals_uint64 (GST_BUFFER_DTS (b), want[i].start_ms * GST_MSECOND);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), want[i].dur_ms * GST_MSECOND);
    fail_unless (m->wallclock > 1600000000ull * GST_SECOND);
    bool seg_start = want[i].part == 0;
    fail_unless_equals_int (!!m->segment_start, seg_start);
    fail_unless (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_HEADER));
    fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DELTA_UNIT), !seg_start);
    fail_unless_equals_int (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT), i == 0);
    Bytes bytes = bytes_of (b);
    // A styp opens each segment; every chunk is moof + mdat with its samples.
    size_t at = 0;
    if (seg_start) {
      fail_unless (memcmp (&bytes[4], "styp", 4) == 0);
      at = be32 (bytes, 0);
    }
    fail_unless (memcmp (&bytes[at + 4], "moof", 4) == 0);
    gssize tfdt = find_type (bytes, "tfdt");
    guint64 base = ((guint64)be32 (bytes, tfdt + 12) << 32) | be32 (bytes, tfdt + 16);
    // Running time (the harness's segment starts at 0) plus the 10 s base.
    fail_unless_equals_uint64 (base, (want[i].start_ms + 10000) * 90);
    size_t mdat = at + be32 (bytes, at);
    fail_unless (memcmp (&bytes[mdat + 4], "mdat", 4) == 0);
    guint frames = (guint)(want[i].dur_ms / 40);
    fail_unless_equals_int (be32 (bytes, mdat), 8 + 100 * frames);
    fail_unless_equals_int (bytes.size (), mdat + 8 + 100 * frames);
    gssize trun = find_type (bytes, "trun");
    fail_unless_equals_int (be32 (bytes, trun + 12), frames);
    // data_offset points from the moof's start to the first sample.
    fail_unless_equals_int (be32 (bytes, trun + 16), mdat + 8 - at);
  }
  unref_all (bufs);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_drops_until_keyframe)
{
  GstHarness *h = new_mux ();
  for (int i = 0; i < 3; i++)
    gst_harness_push (h, frame (40 * i, false));
  fail_unless (gst_harness_try_pull (h) == nullptr);
  guint64 dropped = 0;
  g_object_get (h->element, "dropped", &dropped, nullptr);
  fail_unless_equals_uint64 (dropped, 3);
  gst_harness_push (h, frame (120, true));
  gst_harness_push_event (h, gst_event_new_eos ());
  auto bufs = pull_all (h);
  fail_unless_equals_int (bufs.size (), 2);
  fail_unless_equals_int (meta_of (bufs[0])->kind, GST_MIRROR_CMAF_KIND_INIT);
  fail_unless_equals_uint64 (GST_BUFFER_DTS (bufs[1]), 120 * GST_MSECOND);
  fail_unless (meta_of (bufs[1])->independent);
  unref_all (bufs);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bframe_composition_offsets)
{
  GstHarness *h = new_mux (GST_SECOND);
  // Decode order I P B B, DTS 80 ms behind PTS: PTS 80, 200, 120, 160.
  gst_harness_push (h, frame (0, true, 80));
  gst_harness_push (h, frame (40, false, 200));
  gst_harness_push (h, frame (80, false, 120));
  gst_harness_push (h, frame (120, false, 160));
  gst_harness_push_event (h, gst_event_new_eos ());
  auto bufs = pull_all (h);
  fail_unless_equals_int (bufs.size (), 2);
  Bytes b = bytes_of (bufs[1]);
  gssize trun = find_type (b, "trun");
  fail_unless_equals_int (b[trun + 8], 1); // version 1: signed offsets
  const gint32 cto[] = { 80 * 90, 160 * 90, 40 * 90, 40 * 90 };
  const guint32 flags[] = { 0x02000000, 0x01010000, 0x01010000, 0x01010000 };
  for (int i = 0; i < 4; i++) {
    size_t s = trun + 20 + 16 * i;
    fail_unless_equals_int (be32 (b, s), 3600);    // duration
    fail_unless_equals_int (be32 (b, s + 4), 100); // size
    fail_unless_equals_int (be32 (b, s + 8), flags[i]);
    fail_unless_equals_int ((gint32)be32 (b, s + 12), cto[i]);
  }
  // The chunk's PTS is its earliest presentation time.
  fail_unless_equals_uint64 (GST_BUFFER_PTS (bufs[1]), 80 * GST_MSECOND);
  unref_all (bufs);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_caps_change_new_init)
{
  GstHarness *h = new_mux ();
  for (int i = 0; i < 5; i++)
    gst_harness_push (h, frame (40 * i, i == 0));
  auto before = pull_all (h);
  // Same caps again: nothing happens.
  gst_harness_set_src_caps (h, h264_caps ());
  fail_unless (gst_harness_try_pull (h) == nullptr);
  // New resolution: the open part is closed at once, a new init follows at
  // the next keyframe, and a new segment starts there.
  gst_harness_set_src_caps (h, h264_caps (1280));
  auto flushed = pull_all (h);
  fail_unless_equals_int (flushed.size (), 1);
  fail_unless_equals_int (meta_of (flushed[0])->kind, GST_MIRROR_CMAF_KIND_PART);
  gst_harness_push (h, frame (200, false));
  gst_harness_push (h, frame (240, true));
  gst_harness_push (h, frame (280, false));
  gst_harness_push_event (h, gst_event_new_eos ());
  auto after = pull_all (h);
  fail_unless_equals_int (after.size (), 2);
  auto *init = meta_of (after[0]);
  fail_unless_equals_int (init->kind, GST_MIRROR_CMAF_KIND_INIT);
  fail_unless (GST_BUFFER_FLAG_IS_SET (after[0], GST_BUFFER_FLAG_DISCONT));
  Bytes b = bytes_of (after[0]);
  gssize tkhd = find_type (b, "tkhd");
  fail_unless_equals_int (be32 (b, tkhd + 84), 1280 << 16);
  auto *part = meta_of (after[1]);
  fail_unless_equals_uint64 (part->media_sequence, 1);
  fail_unless_equals_uint64 (init->media_sequence, 1);
  fail_unless (part->segment_start);
  fail_unless (GST_BUFFER_FLAG_IS_SET (after[1], GST_BUFFER_FLAG_DISCONT));
  // Decode time goes on from where the last part ended.
  Bytes p = bytes_of (after[1]);
  gssize tfdt = find_type (p, "tfdt");
  fail_unless_equals_int (be32 (p, tfdt + 16), (10000 + 240) * 90);
  unref_all (before);
  unref_all (flushed);
  unref_all (after);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_timestamp_wrap)
{
  GstHarness *h = new_mux (GST_SECOND);
  // MPEG-TS 33-bit wrap: 95443.717 s back to 0.
  const gint64 wrap_ms = 95443717;
  gst_harness_push (h, frame (wrap_ms - 80, true));
  gst_harness_push (h, frame (wrap_ms - 40, false));
  gst_harness_push (h, frame (0, false));
  gst_harness_push (h, frame (40, false));
  gst_harness_push_event (h, gst_event_new_eos ());
  auto bufs = pull_all (h);
  fail_unless_equals_int (bufs.size (), 2);
  Bytes b = bytes_of (bufs[1]);
  gssize trun = find_type (b, "trun");
  for (int i = 0; i < 4; i++)
    fail_unless_equals_int (be32 (b, trun + 20 + 16 * i), 3600);
  fail_unless (GST_BUFFER_FLAG_IS_SET (bufs[1], GST_BUFFER_FLAG_DISCONT));
  unref_all (bufs);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_caps_without_codec_data_error)
{
  GstHarness *h = gst_harness_new ("mirrorcmafmux");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, "video/x-h264, stream-format=avc, alignment=au");
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != nullptr);
  GError *err = nullptr;
  gst_message_parse_error (msg, &err, nullptr);
  fail_unless (strstr (err->message, "codec_data") != nullptr, "%s", err->message);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_bus (h->element, nullptr);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

// ---------------------------------------------------------------- real encoders

static bool
have_elements (std::initializer_list<const char *> names)
{
  for (const char *n : names) {
    GstElementFactory *f = gst_element_factory_find (n);
    if (!f)
      return false;
    gst_object_unref (f);
  }
  return true;
}

// Runs @chain (source ! encoder ! parser) into mirrorcmafmux and a file, then
// asks ffprobe for every frame of the first stream: at least @min_frames
// (exactly, when @exact) frames of duration @duration ("0.033333" seconds).
static void
encode_and_probe (const char *chain, std::initializer_list<const char *> needs,
                  const char *codec_name, const char *duration, int min_frames, bool exact)
{
  gchar *ffprobe = g_find_program_in_path ("ffprobe");
  if (!have_elements (needs) || !ffprobe) {
    GST_WARNING ("skipping %s: an element or ffprobe is missing", chain);
    g_free (ffprobe);
    return;
  }
  g_free (ffprobe);
  gchar *dir = g_dir_make_tmp ("cmafmux-XXXXXX", nullptr);
  gchar *path = g_build_filename (dir, "out.mp4", nullptr);
  gchar *desc = g_strdup_printf ("%s ! mirrorcmafmux name=mux ! filesink location=%s", chain, path);
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  fail_unless (pipeline != nullptr, "%s", error ? error->message : "");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, mirror::test::scaled (std::chrono::seconds (60)).count () * GST_MSECOND,
      (GstMessageType)(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless (msg != nullptr, "pipeline timed out");
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  gchar *out = nullptr, *err = nullptr;
  gint status = 0;
  const gchar *argv[] = { "ffprobe",
                          "-v",
                          "error",
                          "-select_streams",
                          "0",
                          "-show_entries",
                          "stream=codec_name:frame=pkt_duration_time",
                          "-of",
                          "csv=p=0",
                          path,
                          nullptr };
  fail_unless (g_spawn_sync (nullptr, (gchar **)argv, nullptr, G_SPAWN_SEARCH_PATH, nullptr,
                             nullptr, &out, &err, &status, nullptr));
  fail_unless (g_spawn_check_wait_status (status, nullptr), "ffprobe failed: %s", err);
  fail_unless (err == nullptr || err[0] == '\0', "ffprobe complained: %s", err);
  gchar **lines = g_strsplit (out, "\n", -1);
  int frames = 0;
  bool saw_codec = false;
  for (gchar **l = lines; *l; l++) {
    if (g_str_has_prefix (*l, duration)) {
      frames++;
    } else if (strcmp (*l, codec_name) == 0) {
      saw_codec = true;
    } else if (**l) {
      // Any other frame line has a wrong duration.
      fail_unless (g_ascii_isalpha (**l), "unexpected ffprobe line: %s", *l);
    }
  }
  fail_unless (saw_codec, "no %s stream in: %s", codec_name, out);
  if (exact) {
    fail_unless_equals_int (frames, min_frames);
  } else {
    fail_unless (frames >= min_frames, "%d frames, expected at least %d", frames, min_frames);
  }
  g_strfreev (lines);
  g_free (out);
  g_free (err);
  g_unlink (path);
  g_rmdir (dir);
  g_free (desc);
  g_free (path);
  g_free (dir);
}

#define VIDEO_60_FRAMES                                                                            \
  "videotestsrc num-buffers=60 ! video/x-raw,width=320,height=240,framerate=30/1 ! "

GST_START_TEST (test_x264_ffprobe)
{
  encode_and_probe (VIDEO_60_FRAMES "x264enc key-int-max=15 ! h264parse",
                    { "videotestsrc", "x264enc", "h264parse" }, "h264", "0.033333", 60, true);
}
GST_END_TEST;

GST_START_TEST (test_x264_bframes_ffprobe)
{
  encode_and_probe (VIDEO_60_FRAMES "x264enc key-int-max=15 bframes=2 b-adapt=false ! h264parse",
                    { "videotestsrc", "x264enc", "h264parse" }, "h264", "0.033333", 60, true);
}
GST_END_TEST;

GST_START_TEST (test_x265_ffprobe)
{
  encode_and_probe (VIDEO_60_FRAMES "x265enc key-int-max=15 ! h265parse",
                    { "videotestsrc", "x265enc", "h265parse" }, "hevc", "0.033333", 60, true);
}
GST_END_TEST;

// 50 AAC frames of 1024 samples at 48 kHz (the encoder may add one when it
// drains).
GST_START_TEST (test_aac_ffprobe)
{
  encode_and_probe ("audiotestsrc num-buffers=50 samplesperbuffer=1024 ! "
                    "audio/x-raw,rate=48000,channels=2 ! avenc_aac ! aacparse",
                    { "audiotestsrc", "avenc_aac", "aacparse" }, "aac", "0.021333", 50, false);
}
GST_END_TEST;

static const char *mode = "unit";

static Suite *
cmafmux_suite (void)
{
  Suite *s = suite_create ("mirrorcmafmux");
  TCase *tc = tcase_create ("general");
  if (g_strcmp0 (mode, "integration") == 0) {
    tcase_set_timeout (tc, 120);
    tcase_add_test (tc, test_x264_ffprobe);
    tcase_add_test (tc, test_x264_bframes_ffprobe);
    tcase_add_test (tc, test_x265_ffprobe);
    tcase_add_test (tc, test_aac_ffprobe);
  } else {
    tcase_add_test (tc, test_init_segment_first);
    tcase_add_test (tc, test_part_and_segment_boundaries);
    tcase_add_test (tc, test_drops_until_keyframe);
    tcase_add_test (tc, test_bframe_composition_offsets);
    tcase_add_test (tc, test_caps_change_new_init);
    tcase_add_test (tc, test_timestamp_wrap);
    tcase_add_test (tc, test_caps_without_codec_data_error);
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
  return gst_check_run_suite (cmafmux_suite (), "mirrorcmafmux", __FILE__);
}
