// SPDX-License-Identifier: LGPL-2.1-or-later
// mirroringestbin's transports: what it builds for an SRT listener's caller
// (the hub), a pull (SRT caller mode) and an RTP session (the RTP hub and
// rtpbin), each ending in a source whose data the bin demuxes or depays.
#include "ingestbin/ingestbinpriv.h"

#define GST_CAT_DEFAULT gst_mirror_ingest_bin_debug

static GstCaps *
gst_mirror_ingest_bin_rtp_caps (const mirror::IngestUri &feed)
{
  GstCaps *caps = gst_caps_new_simple (
      "application/x-rtp", "media", G_TYPE_STRING, feed.is_video () ? "video" : "audio",
      "clock-rate", G_TYPE_INT, feed.effective_clock_rate (), "payload", G_TYPE_INT,
      feed.effective_payload_type (), "encoding-name", G_TYPE_STRING,
      feed.encoding == "AAC" ? "MPEG4-GENERIC" : feed.encoding.c_str (), nullptr);
  if (feed.encoding == "AAC") {
    // RFC 3640 AAC-hbr, what rtpmp4gpay and most encoders send.
    gst_caps_set_simple (caps, "mode", G_TYPE_STRING, "AAC-hbr", "sizelength", G_TYPE_STRING, "13",
                         "indexlength", G_TYPE_STRING, "3", "indexdeltalength", G_TYPE_STRING, "3",
                         "streamtype", G_TYPE_STRING, "5", nullptr);
    if (!feed.config.empty ())
      gst_caps_set_simple (caps, "config", G_TYPE_STRING, feed.config.c_str (), nullptr);
  }
  return caps;
}

// An SRT ring source carries MPEG-TS: configured with TS caps, added, and
// linked into tsdemux, whose pads become the bin's.
static bool
gst_mirror_ingest_bin_add_ts_demux (GstMirrorIngestBin *self, GstElement *src,
                                    const std::string &label, GstMirrorRingSrcConfig config)
{
  GstCaps *caps = gst_caps_new_simple ("video/mpegts", "systemstream", G_TYPE_BOOLEAN, TRUE,
                                       "packetsize", G_TYPE_INT, 188, nullptr);
  config.caps = caps;
  gst_mirror_ring_src_configure (GST_MIRROR_RING_SRC (src), config);
  gst_caps_unref (caps);
  gst_mirror_ingest_bin_add (self, src);
  GstElement *demux = gst_mirror_ingest_bin_make (self, "tsdemux", "demux", label);
  if (!demux)
    return false;
  // Only the elementary streams matter here; SCTE-35 and private sections
  // would cost parsing for nothing.
  g_object_set (demux, "parse-private-sections", FALSE, nullptr);
  g_signal_connect (demux, "pad-added", G_CALLBACK (gst_mirror_ingest_bin_on_demux_pad_added),
                    self);
  g_signal_connect (demux, "no-more-pads", G_CALLBACK (gst_mirror_ingest_bin_on_demux_no_more_pads),
                    self);
  if (!gst_element_link (src, demux)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
                       ("stream %s: cannot link src to tsdemux", label.c_str ()), (nullptr));
    return false;
  }
  return true;
}

// srt://:PORT?streamid=ID: this id's callers, through the process-wide hub.
GstElement *
gst_mirror_ingest_bin_build_srt_listener (GstMirrorIngestBin *self, const mirror::IngestUri &feed,
                                          const std::string &label, GstMirrorRingSrcConfig config)
{
  // The hub routes by the plain id, also when the URI uses the
  // access-control form "#!::r=NAME".
  std::optional<std::string> hub_id = mirror::parse_srt_stream_id (feed.stream_id);
  if (!hub_id) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                       ("stream %s: property \"uri\" = \"%s\" is not usable: streamid \"%s\" is "
                        "malformed",
                        label.c_str (), feed.redacted ().c_str (), feed.stream_id.c_str ()),
                       (nullptr));
    return nullptr;
  }
  GstElement *src
      = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_SRT_HUB_SRC, "name", "src", nullptr));
  mirror::SrtHubOptions options;
  options.bind_address = feed.host.empty () ? "0.0.0.0" : feed.host;
  options.port = feed.port;
  if (feed.latency_ms >= 0)
    options.latency_ms = feed.latency_ms;
  options.passphrase = feed.passphrase;
  if (feed.pbkeylen)
    options.pbkeylen = feed.pbkeylen;
  options.join_open_port
      = feed.host.empty () && feed.latency_ms < 0 && feed.passphrase.empty () && !feed.pbkeylen;
  gst_mirror_srt_hub_src_set_hub (GST_MIRROR_SRT_HUB_SRC (src), options, *hub_id, label);
  return gst_mirror_ingest_bin_add_ts_demux (self, src, label, config) ? src : nullptr;
}

// srt://HOST:PORT?mode=caller: a pull, retried with backoff.
GstElement *
gst_mirror_ingest_bin_build_srt_caller (GstMirrorIngestBin *self, const mirror::IngestUri &feed,
                                        const std::string &label, GstMirrorRingSrcConfig config)
{
  // A pull never ends by itself: it retries with backoff until stopped.
  config.reconnect_window = GST_CLOCK_TIME_NONE;
  GstElement *src
      = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_SRT_CALLER_SRC, "name", "src", nullptr));
  mirror::SrtCallerOptions options;
  options.host = feed.host;
  options.port = feed.port;
  options.stream_id = feed.stream_id;
  if (feed.latency_ms >= 0)
    options.latency_ms = feed.latency_ms;
  options.passphrase = feed.passphrase;
  options.pbkeylen = feed.pbkeylen;
  gst_mirror_srt_caller_src_set_options (GST_MIRROR_SRT_CALLER_SRC (src), options, label);
  return gst_mirror_ingest_bin_add_ts_demux (self, src, label, config) ? src : nullptr;
}

// rtp://:PORT?ssrc=...: one session through the process-wide RTP hub, into
// rtpbin (RTCP beside it), whose pads get a depayloader.
GstElement *
gst_mirror_ingest_bin_build_rtp (GstMirrorIngestBin *self, const mirror::IngestUri &feed,
                                 const std::string &label, GstMirrorRingSrcConfig config)
{
  auto *priv = self->priv;
  auto rtcp_ring = std::make_shared<mirror::IngestRing> (RTCP_RING_SIZE);
  GstCaps *caps = gst_mirror_ingest_bin_rtp_caps (feed);
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->rtcp_ring = rtcp_ring;
    gst_caps_replace (&priv->rtp_caps, caps);
  }
  config.caps = caps;
  config.max_chunks_per_push = RTP_MAX_LIST;
  GstElement *src
      = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_RTP_HUB_SRC, "name", "src", nullptr));
  mirror::RtpHubOptions options;
  options.bind_address = feed.host.empty () ? "0.0.0.0" : feed.host;
  options.port = feed.port;
  // For a hub this element starts (gst-launch-1.0): the URI's payload type
  // must be mapped or the hub drops the packets.
  options.payload_types[feed.effective_payload_type ()] = feed.encoding;
  options.join_open_port = feed.host.empty ();
  std::string peer = feed.source.empty () ? feed.redacted () : feed.source;
  gst_mirror_rtp_hub_src_set_hub (GST_MIRROR_RTP_HUB_SRC (src), options, feed.ssrc, feed.source,
                                  rtcp_ring, peer, label);
  gst_mirror_ring_src_configure (GST_MIRROR_RING_SRC (src), config);
  gst_caps_unref (caps);
  gst_mirror_ingest_bin_add (self, src);

  GstElement *rtcpsrc
      = GST_ELEMENT (g_object_new (GST_TYPE_MIRROR_RING_SRC, "name", "rtcpsrc", nullptr));
  GstMirrorRingSrcConfig rtcp_config;
  rtcp_config.ring = rtcp_ring;
  rtcp_config.caps = gst_caps_new_empty_simple ("application/x-rtcp");
  rtcp_config.max_chunks_per_push = 1;
  gst_mirror_ring_src_configure (GST_MIRROR_RING_SRC (rtcpsrc), rtcp_config);
  gst_caps_unref (rtcp_config.caps);
  gst_mirror_ingest_bin_add (self, rtcpsrc);

  GstElement *rtpbin = gst_mirror_ingest_bin_make (self, "rtpbin", "rtpbin", label);
  if (!rtpbin)
    return nullptr;
  g_object_set (rtpbin, "latency", (guint)RTP_LATENCY_MS, "do-lost", TRUE, nullptr);
  g_signal_connect (rtpbin, "pad-added", G_CALLBACK (gst_mirror_ingest_bin_on_rtpbin_pad_added),
                    self);
  g_signal_connect (rtpbin, "request-pt-map", G_CALLBACK (gst_mirror_ingest_bin_on_request_pt_map),
                    self);
  g_signal_connect (rtpbin, "new-jitterbuffer",
                    G_CALLBACK (gst_mirror_ingest_bin_on_new_jitterbuffer), self);
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->rtpbin = rtpbin;
  }
  if (!gst_element_link_pads (src, "src", rtpbin, "recv_rtp_sink_0")
      || !gst_element_link_pads (rtcpsrc, "src", rtpbin, "recv_rtcp_sink_0")) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
                       ("stream %s: cannot link to rtpbin", label.c_str ()), (nullptr));
    return nullptr;
  }
  return src;
}
