// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingestbin/ingestcodecs.h"

namespace mirror {

IngestCodec
classify_elementary_stream (const GstCaps *caps)
{
  IngestCodec codec;
  if (!caps || gst_caps_is_empty (caps) || gst_caps_is_any (caps))
    return codec;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const gchar *media = gst_structure_get_name (s);

  if (g_str_has_prefix (media, "video/")) {
    codec.media = IngestCodec::Media::kVideo;
    if (g_str_equal (media, "video/x-h265")) {
      codec.parser = "h265parse";
      codec.name = "h265";
    } else if (g_str_equal (media, "video/x-h264")) {
      codec.parser = "h264parse";
      codec.name = "h264";
    }
  } else if (g_str_has_prefix (media, "audio/")) {
    codec.media = IngestCodec::Media::kAudio;
    gint version = 0;
    if (g_str_equal (media, "audio/mpeg") && gst_structure_get_int (s, "mpegversion", &version)) {
      if (version == 2 || version == 4) {
        codec.parser = "aacparse";
        codec.name = "aac";
      } else if (version == 1) {
        // MP2 or MP3: exposed for a later stage to transcode to AAC.
        codec.parser = "mpegaudioparse";
        gint layer = 0;
        codec.name = gst_structure_get_int (s, "layer", &layer) && layer == 2 ? "mp2" : "mp3";
      }
    } else if (g_str_equal (media, "audio/x-ac3")) {
      codec.parser = "ac3parse";
      codec.name = "ac3";
    } else if (g_str_equal (media, "audio/x-eac3")) {
      codec.parser = "ac3parse";
      codec.name = "eac3";
    } else if (g_str_equal (media, "audio/x-opus")) {
      codec.parser = "opusparse";
      codec.name = "opus";
    }
  }
  if (codec.name.empty ()) {
    gchar *text = gst_caps_to_string (caps);
    codec.name = text;
    g_free (text);
  }
  return codec;
}

const char *
rtp_depayloader_for (const std::string &encoding)
{
  if (encoding == "H265")
    return "rtph265depay";
  if (encoding == "H264")
    return "rtph264depay";
  if (encoding == "AAC")
    return "rtpmp4gdepay";
  return nullptr;
}

StreamStats
stream_stats_from_caps (const GstCaps *caps)
{
  StreamStats stats;
  if (!caps || gst_caps_is_empty (caps) || gst_caps_is_any (caps))
    return stats;
  IngestCodec codec = classify_elementary_stream (caps);
  stats.codec = codec.parser ? codec.name : std::string ();
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  gst_structure_get_int (s, "width", &stats.width);
  gst_structure_get_int (s, "height", &stats.height);
  gint n = 0, d = 1;
  if (gst_structure_get_fraction (s, "framerate", &n, &d) && n > 0 && d > 0)
    stats.frame_rate = (double)n / d;
  return stats;
}

} // namespace mirror
