// SPDX-License-Identifier: LGPL-2.1-or-later
// MPEG-TS into Mirror's ingest path: the input is a transport stream, pushed
// in 1316-byte datagrams (seven packets, as SRT and UDP carry it) through
//   tsdemux ! h264parse|h265parse|aacparse ! mirrorheartbeat
//           ! mirrorcmafmux ! fakesink
// the chain the ingest bin and the packager build. The bytes come from a pad
// of this file's, in place of appsrc: pushes with no queue in the way return
// once the whole chain has handled them, EOS included, so an input's work
// is done when its last push returns (a branch whose stream the input lacks
// never sees EOS, which a wait for the pipeline's EOS would trip over). A
// flow error is fine (a broken stream may fail); crashes, sanitizer reports
// and g_critical are not.
#include <dlfcn.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include <gst/gst.h>

#include "fuzz_check.h"

namespace {

constexpr size_t kDatagram = 7 * 188;

const char *kPipeline
    = "tsdemux name=d "
      "d. ! h264parse ! video/x-h264,stream-format=avc,alignment=au "
      "! mirrorheartbeat name=hb stream-id=%s ! mirrorcmafmux part-duration=200000000 "
      "! fakesink sync=false async=false "
      "d. ! h265parse ! video/x-h265,stream-format=hvc1,alignment=au "
      "! mirrorcmafmux part-duration=200000000 ! fakesink sync=false async=false "
      "d. ! aacparse ! audio/mpeg,mpegversion=4,stream-format=raw "
      "! mirrorcmafmux ! fakesink sync=false async=false";

unsigned inputs = 0;

} // namespace

// GLib's library constructor (run by the dynamic loader) keeps a 16 KiB
// block where LeakSanitizer cannot see the pointer; GStreamer's plugins make
// it show up as a leak here. Whole stacks through GLib (which has no frame
// pointers) so that the suppression can tell it apart from a leak of ours.
extern "C" const char *
__asan_default_options ()
{
  return "fast_unwind_on_malloc=0";
}

extern "C" const char *
__lsan_default_suppressions ()
{
  return "leak:_dl_init\n";
}

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  // The plugin from this build, in a registry of its own, scanned in this
  // process: the scanner helper is not built with AddressSanitizer and
  // could not load a plugin that is.
  g_setenv ("GST_PLUGIN_PATH_1_0", MIRROR_FUZZ_BUILD_ROOT "/gst-plugins", FALSE);
  g_setenv ("GST_REGISTRY_1_0", MIRROR_FUZZ_BUILD_ROOT "/tests/fuzz/gst-registry.bin", FALSE);
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  // Kept mapped for good: libFuzzer registers the plugin's coverage
  // counters when it is first loaded, and would write into it after
  // GStreamer's scan unloads it.
  FUZZ_CHECK (dlopen (MIRROR_FUZZ_BUILD_ROOT "/gst-plugins/libgstmirrorlive.so",
                      RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE),
              dlerror ());
  gst_init (nullptr, nullptr);
  GstElementFactory *mux = gst_element_factory_find ("mirrorcmafmux");
  FUZZ_CHECK (mux, "mirrorcmafmux is not in the registry (ninja gst-plugins/libgstmirrorlive.so)");
  gst_object_unref (mux);
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const std::string stream_id = "fuzz" + std::to_string (inputs++ % 8);
  g_autofree char *description = g_strdup_printf (kPipeline, stream_id.c_str ());
  GError *error = nullptr;
  GstElement *pipeline = gst_parse_launch (description, &error);
  FUZZ_CHECK (pipeline && !error, error ? error->message : "no pipeline");
  GstElement *demux = gst_bin_get_by_name (GST_BIN (pipeline), "d");
  GstPad *sink = gst_element_get_static_pad (demux, "sink");
  GstPad *src = gst_pad_new ("src", GST_PAD_SRC);
  gst_pad_set_active (src, TRUE);
  FUZZ_CHECK (gst_pad_link (src, sink) == GST_PAD_LINK_OK, "cannot feed tsdemux");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  gst_pad_push_event (src, gst_event_new_stream_start (stream_id.c_str ()));
  GstCaps *caps = gst_caps_from_string ("video/mpegts, systemstream=(boolean)true, packetsize=(int)188");
  gst_pad_push_event (src, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_BYTES);
  gst_pad_push_event (src, gst_event_new_segment (&segment));
  GstFlowReturn flow = GST_FLOW_OK;
  for (size_t at = 0; at < size && flow == GST_FLOW_OK; at += kDatagram) {
    const size_t n = std::min (kDatagram, size - at);
    GstBuffer *buffer = gst_buffer_new_memdup (data + at, n);
    GST_BUFFER_OFFSET (buffer) = at;
    flow = gst_pad_push (src, buffer);
  }
  gst_pad_push_event (src, gst_event_new_eos ());

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_pad_unlink (src, sink);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (demux);
  gst_object_unref (pipeline);
  return 0;
}
