// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin's figures: frames in and out, drops, latency (pad
// probes) and the periodic mirror-transcode-stats message.
#include "transcodebin/transcodebinpriv.h"

#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

namespace transcode_bin {

// ---------------------------------------------------------------- probes

GstClockTime
running_time (const GstSegment &segment, GstBuffer *buf)
{
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts) || segment.format != GST_FORMAT_TIME)
    return pts;
  return gst_segment_to_running_time (&segment, GST_FORMAT_TIME, pts);
}

void
note_input (GstMirrorTranscodeBinPrivate *priv, GstBuffer *buf)
{
  GstClockTime rt = running_time (priv->sink_segment, buf);
  priv->latency.input (GST_CLOCK_TIME_IS_VALID (rt) ? rt : mirror::FrameLatency::kNoKey,
                       g_get_monotonic_time ());
}

void
note_output (GstMirrorTranscodeBinPrivate *priv, GstBuffer *buf)
{
  GstClockTime rt = running_time (priv->src0_segment, buf);
  if (!priv->latency.output (rt, g_get_monotonic_time ()))
    GST_LOG ("src_0 running time %" GST_TIME_FORMAT " entered no sink", GST_TIME_ARGS (rt));
}

// Keeps @segment from the pad's SEGMENT events and hands every buffer the
// probe sees, alone or in a list, to @note.
static GstPadProbeReturn
walk_probe (GstPadProbeInfo *info, GstMirrorTranscodeBinPrivate *priv, GstSegment *segment,
            void (*note) (GstMirrorTranscodeBinPrivate *, GstBuffer *))
{
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT)
      gst_event_copy_segment (ev, segment);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    note (priv, GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    for (guint i = 0; i < gst_buffer_list_length (list); i++)
      note (priv, gst_buffer_list_get (list, i));
  }
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn
sink_data_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *priv = static_cast<GstMirrorTranscodeBinPrivate *> (user_data);
  return walk_probe (info, priv, &priv->sink_segment, note_input);
}

GstPadProbeReturn
src0_data_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *priv = static_cast<GstMirrorTranscodeBinPrivate *> (user_data);
  return walk_probe (info, priv, &priv->src0_segment, note_output);
}

// ---------------------------------------------------------------- stats

GstStructure *
make_stats (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  std::string dec, enc;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    dec = priv->active_decoder;
    enc = priv->active_encoder;
  }
  mirror::FrameLatencyStats f = priv->latency.stats ();
  return gst_structure_new (
      mirror::msg::kTranscodeStats, "frames-in", G_TYPE_UINT64, f.frames_in, "frames-out",
      G_TYPE_UINT64, f.frames_out, "frames-dropped", G_TYPE_UINT64, f.frames_dropped,
      "latency-p50-ms", G_TYPE_DOUBLE, f.p50_ms, "latency-p99-ms", G_TYPE_DOUBLE, f.p99_ms,
      "decoder", G_TYPE_STRING, dec.c_str (), "encoder", G_TYPE_STRING, enc.c_str (), "hardware",
      G_TYPE_STRING, hardware_of (dec, enc).c_str (), "shed-step", G_TYPE_STRING,
      mirror::shed_step_name (mirror::ShedStep (priv->shed_step.load ())), "lag-ms", G_TYPE_DOUBLE,
      priv->decoded_lag_ns.load () / 1e6, "shed-encoder-drops", G_TYPE_UINT64,
      priv->shed_encoder_drops.load (), "shed-keyframe-drops", G_TYPE_UINT64,
      priv->shed_keyframe_drops.load (), "shed-catchup-drops", G_TYPE_UINT64,
      priv->shed_catchup_drops.load (), "shed-nonref-drops", G_TYPE_UINT64,
      priv->shed_nonref_drops.load (), nullptr);
}

void
start_stats (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  GstClockTime interval;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    interval = priv->stats_interval;
  }
  if (interval == 0 || priv->stats_timer.running ())
    return;
  priv->stats_timer.start_periodic (GST_OBJECT (self), interval, [self] () {
    gst_element_post_message (GST_ELEMENT (self),
                              gst_message_new_element (GST_OBJECT (self), make_stats (self)));
  });
}

void
stop_stats (GstMirrorTranscodeBin *self)
{
  self->priv->stats_timer.stop ();
}

void
reset_stats (GstMirrorTranscodeBinPrivate *priv)
{
  priv->latency.reset ();
  gst_segment_init (&priv->sink_segment, GST_FORMAT_TIME);
  gst_segment_init (&priv->src0_segment, GST_FORMAT_TIME);
}

} // namespace transcode_bin
