// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin under overload: it drops work, never time. Every frame
// is stamped with the wall time it entered `sink`; the decode and encode
// paths compare that with the clock and shed (mirror::ShedPolicy):
//
// - before each encoder, a frame that finds its queue full is dropped, so a
//   slow encoder never holds up the decoder or the other renditions;
// - at the decoder's output, the lag picks the step: keep the frames no
//   other refers to (most B-frames) from the decoder, then all but
//   keyframes, which the decoder is told to output at once;
// - at the decoder's input, a frame later than max-lag starts a catch-up:
//   compressed frames are dropped up to the next on-time keyframe.
//
// The decode queue never blocks the input: the `source` rendition, fed by
// the same tee, keeps flowing whatever the decoder does.
#include "transcodebin/transcodebinpriv.h"

#include "transcode/droppable_frames.h"

#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

namespace transcode_bin {

namespace {

GstCaps *
unix_caps ()
{
  static GstCaps *caps = gst_caps_new_empty_simple ("timestamp/x-unix");
  return caps;
}

gint64
wall_ns ()
{
  return g_get_real_time () * 1000;
}

// How long ago @buf entered the transcode; 0 when it carries no stamp.
gint64
lag_of (GstBuffer *buf, gint64 now)
{
  GstReferenceTimestampMeta *meta = gst_buffer_get_reference_timestamp_meta (buf, unix_caps ());
  if (!meta || !GST_CLOCK_TIME_IS_VALID (meta->timestamp))
    return 0;
  return MAX (now - (gint64)meta->timestamp, 0);
}

GstBuffer *
stamped (GstBuffer *buf, gint64 now)
{
  if (gst_buffer_get_reference_timestamp_meta (buf, unix_caps ()))
    return buf;
  buf = gst_buffer_make_writable (buf);
  gst_buffer_add_reference_timestamp_meta (buf, unix_caps (), (GstClockTime)now,
                                           GST_CLOCK_TIME_NONE);
  return buf;
}

void
post_step (GstMirrorTranscodeBin *self, mirror::ShedStep step, gint64 lag_ns)
{
  GST_INFO_OBJECT (self, "shedding step %s (frames %.0f ms behind)", mirror::shed_step_name (step),
                   lag_ns / 1e6);
  gst_element_post_message (
      GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
                               gst_structure_new (mirror::msg::kTranscodeShed, "step",
                                                  G_TYPE_STRING, mirror::shed_step_name (step),
                                                  "lag-ms", G_TYPE_DOUBLE, lag_ns / 1e6, nullptr)));
}

} // namespace

// On `sink`: the wall time a frame entered, kept when upstream stamped it
// already. mirrorcmafmux takes it as the part's program date-time, so the
// PDT says when the frame arrived, not when its transcode ended.
GstPadProbeReturn
stamp_probe (GstPad *, GstPadProbeInfo *info, gpointer)
{
  const gint64 now = wall_ns ();
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GST_PAD_PROBE_INFO_DATA (info) = stamped (GST_PAD_PROBE_INFO_BUFFER (info), now);
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = gst_buffer_list_make_writable (GST_PAD_PROBE_INFO_BUFFER_LIST (info));
    gst_buffer_list_foreach (
        list,
        [] (GstBuffer **buf, guint, gpointer data) -> gboolean {
          *buf = stamped (*buf, *static_cast<const gint64 *> (data));
          return TRUE;
        },
        const_cast<gint64 *> (&now));
    GST_PAD_PROBE_INFO_DATA (info) = list;
  }
  return GST_PAD_PROBE_OK;
}

namespace {

GstEvent *
segment_event (const GstSegment &segment, bool keyframes_only)
{
  GstSegment s = segment;
  if (keyframes_only)
    s.flags = (GstSegmentFlags)(s.flags | GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS);
  else
    s.flags = (GstSegmentFlags)(s.flags & ~GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS);
  return gst_event_new_segment (&s);
}

// The codec and NAL framing of what reaches the decoder, to tell the
// frames no other refers to.
void
note_decode_caps (GstMirrorTranscodeBinPrivate *priv, GstCaps *caps)
{
  priv->decode_codec = 0;
  priv->decode_nal_length = 0;
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const bool h264 = gst_structure_has_name (s, "video/x-h264");
  if (!h264 && !gst_structure_has_name (s, "video/x-h265"))
    return;
  const mirror::VideoCodec codec = h264 ? mirror::VideoCodec::kH264 : mirror::VideoCodec::kH265;
  const gchar *format = gst_structure_get_string (s, "stream-format");
  if (!format || g_str_equal (format, "byte-stream")) {
    priv->decode_codec = h264 ? 1 : 2;
    return;
  }
  const GValue *v = gst_structure_get_value (s, "codec_data");
  if (!v || !GST_VALUE_HOLDS_BUFFER (v))
    return;
  GstMapInfo map;
  GstBuffer *data = gst_value_get_buffer (v);
  if (!gst_buffer_map (data, &map, GST_MAP_READ))
    return;
  if (auto length = mirror::nal_length_size (codec, map.data, map.size)) {
    priv->decode_codec = h264 ? 1 : 2;
    priv->decode_nal_length = *length;
  }
  gst_buffer_unmap (data, &map);
}

bool
droppable (GstMirrorTranscodeBinPrivate *priv, GstBuffer *buf)
{
  if (priv->decode_codec == 0)
    return false;
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return false;
  const bool out = mirror::access_unit_is_droppable (
      priv->decode_codec == 1 ? mirror::VideoCodec::kH264 : mirror::VideoCodec::kH265, map.data,
      map.size, priv->decode_nal_length);
  gst_buffer_unmap (buf, &map);
  return out;
}

} // namespace

// On the decode queue's src pad, the decoder's thread: what reaches it.
GstPadProbeReturn
decode_gate_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *priv = GST_MIRROR_TRANSCODE_BIN (user_data)->priv;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
      GstCaps *caps;
      gst_event_parse_caps (ev, &caps);
      note_decode_caps (priv, caps);
    } else if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      gst_event_copy_segment (ev, &priv->decode_segment);
      if (priv->decode_trickmode) {
        GST_PAD_PROBE_INFO_DATA (info) = segment_event (priv->decode_segment, true);
        gst_event_unref (ev);
      }
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  const bool keyframe = !GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT);
  const gint64 lag = lag_of (buf, wall_ns ());
  // Looked at only while that step is on: it maps the frame.
  const bool nonref = !keyframe
                      && priv->shed_step.load () == int (mirror::ShedStep::kSkipNonReference)
                      && droppable (priv, buf);
  bool admitted, was_catching_up;
  {
    std::lock_guard<std::mutex> lk (priv->shed_lock);
    was_catching_up = priv->shed.catching_up ();
    admitted = priv->shed.admit (lag, keyframe, nonref);
  }
  if (!admitted) {
    if (was_catching_up || priv->shed.catching_up ()) {
      if (!was_catching_up)
        GST_INFO_OBJECT (user_data, "frame %.0f ms late reached the decoder: catching up",
                         lag / 1e6);
      priv->shed_catchup_drops++;
    } else if (nonref) {
      priv->shed_nonref_drops++;
    } else {
      priv->shed_keyframe_drops++;
    }
    return GST_PAD_PROBE_DROP;
  }
  // Keyframes only: the decoder hears it is a key-unit trick mode, so it
  // outputs each keyframe at once (GstVideoDecoder drains after a keyframe
  // then) rather than after its reorder delay of a few keyframes.
  const bool keyframes_only = priv->shed_step.load () == int (mirror::ShedStep::kKeyframesOnly);
  if (keyframes_only != priv->decode_trickmode && priv->decode_segment.format == GST_FORMAT_TIME) {
    priv->decode_trickmode = keyframes_only;
    if (GstPad *peer = gst_pad_get_peer (pad)) {
      gst_pad_send_event (peer, segment_event (priv->decode_segment, keyframes_only));
      gst_object_unref (peer);
    }
  }
  if (was_catching_up) {
    // The decoder restarts from this keyframe.
    buf = gst_buffer_make_writable (buf);
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    GST_PAD_PROBE_INFO_DATA (info) = buf;
  }
  return GST_PAD_PROBE_OK;
}

// On the decoder's src pad: how late decoded frames are picks the step.
GstPadProbeReturn
decoded_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (user_data);
  auto *priv = self->priv;
  const gint64 now = wall_ns ();
  const gint64 lag = lag_of (GST_PAD_PROBE_INFO_BUFFER (info), now);
  priv->decoded_lag_ns.store (lag);
  mirror::ShedStep step;
  {
    std::lock_guard<std::mutex> lk (priv->shed_lock);
    step = priv->shed.on_decoded (g_get_monotonic_time () * 1000, lag);
  }
  if (int (step) == priv->shed_step.load ())
    return GST_PAD_PROBE_OK;
  priv->shed_step.store (int (step));
  post_step (self, step, lag);
  return GST_PAD_PROBE_OK;
}

// On each rendition queue's sink pad (the decoded tee's thread): a frame
// that finds the queue full is dropped rather than waiting for the encoder.
GstPadProbeReturn
encoder_queue_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *priv = static_cast<GstMirrorTranscodeBinPrivate *> (user_data);
  if (!priv->live)
    return GST_PAD_PROBE_OK;
  GstElement *queue = GST_PAD_PARENT (pad);
  guint level = 0;
  g_object_get (queue, "current-level-buffers", &level, nullptr);
  // Only this thread adds to the queue, so a free slot stays free.
  if (level < kRawQueueFrames)
    return GST_PAD_PROBE_OK;
  priv->shed_encoder_drops++;
  return GST_PAD_PROBE_DROP;
}

bool
upstream_is_live (GstMirrorTranscodeBin *self)
{
  GstQuery *query = gst_query_new_latency ();
  gboolean live = FALSE;
  if (gst_pad_peer_query (self->sinkpad, query))
    gst_query_parse_latency (query, &live, nullptr, nullptr);
  gst_query_unref (query);
  return live;
}

void
watch_decode (GstMirrorTranscodeBin *self, GstElement *queue, GstElement *decoder)
{
  auto *priv = self->priv;
  priv->live = upstream_is_live (self);
  GST_INFO_OBJECT (self, "upstream is %s", priv->live ? "live: shedding on overload" : "not live");
  if (!priv->live)
    return;
  // No limit of its own that would block the input tee: the gate drains it
  // when the decoder falls behind, and a wedged decoder loses the oldest
  // data past 64 MiB (tens of seconds of any feed) rather than stalling the
  // source rendition.
  g_object_set (queue, "max-size-buffers", 0, "max-size-time", (guint64)0, "max-size-bytes",
                64 * 1024 * 1024, nullptr);
  gst_util_set_object_arg (G_OBJECT (queue), "leaky", "downstream");
  GstPad *qsrc = gst_element_get_static_pad (queue, "src");
  gst_pad_add_probe (
      qsrc, (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      decode_gate_probe, self, nullptr);
  gst_object_unref (qsrc);
  GstPad *dsrc = gst_element_get_static_pad (decoder, "src");
  gst_pad_add_probe (dsrc, GST_PAD_PROBE_TYPE_BUFFER, decoded_probe, self, nullptr);
  gst_object_unref (dsrc);
  priv->decoder_element = decoder;
  mirror::ShedPolicyOptions options;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    options.budget_ns = (int64_t)priv->max_lag;
  }
  std::lock_guard<std::mutex> lk (priv->shed_lock);
  priv->shed = mirror::ShedPolicy (options);
}

void
reset_shedding (GstMirrorTranscodeBinPrivate *priv)
{
  {
    std::lock_guard<std::mutex> lk (priv->shed_lock);
    priv->shed.reset ();
  }
  priv->shed_step = 0;
  priv->decoded_lag_ns = 0;
  priv->shed_encoder_drops = 0;
  priv->shed_keyframe_drops = 0;
  priv->shed_nonref_drops = 0;
  priv->decode_codec = 0;
  priv->decode_nal_length = 0;
  priv->shed_catchup_drops = 0;
  priv->live = false;
  gst_segment_init (&priv->decode_segment, GST_FORMAT_UNDEFINED);
  priv->decode_trickmode = false;
}

} // namespace transcode_bin
