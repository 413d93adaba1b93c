// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin's graph: the one decode, a branch per rendition, the
// forced keyframes.
#include "transcodebin/transcodebinpriv.h"

#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

namespace transcode_bin {

// ---------------------------------------------------------------- graph

GstElement *
add_element (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner, const gchar *factory,
             const gchar *name)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (!e)
    return nullptr;
  gst_bin_add (GST_BIN (self), e);
  owner.push_back (e);
  return e;
}

void
adopt_element (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner, GstElement *e,
               const gchar *name)
{
  gst_object_set_name (GST_OBJECT (e), name);
  gst_bin_add (GST_BIN (self), e);
  owner.push_back (e);
}

GstElement *
make_caps_filter (GstMirrorTranscodeBin *self, std::vector<GstElement *> &owner,
                  const gchar *caps_str, const gchar *name)
{
  GstElement *cf = add_element (self, owner, "capsfilter", name);
  GstCaps *caps = gst_caps_from_string (caps_str);
  g_object_set (cf, "caps", caps, nullptr);
  gst_caps_unref (caps);
  return cf;
}

// Sets the new elements to the bin's state, downstream first so nothing
// pushes into an element still in NULL.
void
sync_elements (const std::vector<GstElement *> &elements, size_t from)
{
  for (size_t i = elements.size (); i > from; i--)
    gst_element_sync_state_with_parent (elements[i - 1]);
}

void
remove_elements (GstMirrorTranscodeBin *self, std::vector<GstElement *> &elements)
{
  for (GstElement *e : elements) {
    gst_element_set_locked_state (e, TRUE);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (self), e);
  }
  elements.clear ();
}

bool
link_chain (const std::vector<GstElement *> &elements, size_t from)
{
  for (size_t i = from + 1; i < elements.size (); i++)
    if (!gst_element_link (elements[i - 1], elements[i]))
      return false;
  return true;
}

// queue -> decoder -> [deinterlace | cudadownload] -> decoded tee.
bool
build_decode (GstMirrorTranscodeBin *self, const GstCaps *caps)
{
  auto *priv = self->priv;
  if (priv->decoded_tee)
    return true;
  GstElement *dec = choose_decoder (self, caps);
  if (!dec) {
    gchar *s = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("No video decoder for the input"),
                       ("no decoder takes %s", s));
    g_free (s);
    return false;
  }
  std::string dec_name;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    dec_name = priv->active_decoder;
  }
  auto &els = priv->decode_elements;
  GstElement *q = add_element (self, els, "queue", "decode_queue");
  adopt_element (self, els, dec, "decoder");
  watch_decode (self, q, dec);
  priv->gpu_frames = false;
  if (is_gpu_factory (dec_name)) {
    // Frames stay on the GPU when it can scale them; else download once
    // here and let the CPU path take it from there.
    if (factory_exists ("cudaconvertscale"))
      priv->gpu_frames = true;
    else
      add_element (self, els, "cudadownload", "decoded_download");
  } else {
    // deinterlace only works on a few formats and passes the others through
    // still interlaced (10-bit, 4:4:4 ...): when the parser says the stream
    // is interlaced, convert to one it takes (videoconvert passes those).
    const gchar *mode
        = gst_structure_get_string (gst_caps_get_structure (caps, 0), "interlace-mode");
    if (mode && !g_str_equal (mode, "progressive")) {
      add_element (self, els, "videoconvert", "deinterlace_convert");
      make_caps_filter (self, els, "video/x-raw,format={I420,NV12,YV12,Y42B,Y444,YUY2}",
                        "deinterlace_caps");
    }
    // mode=auto passes progressive frames through untouched; fields=top
    // keeps the frame rate (one frame out per frame in) for interlaced.
    GstElement *deint = add_element (self, els, "deinterlace", "deinterlace");
    if (deint)
      gst_util_set_object_arg (G_OBJECT (deint), "fields", "top");
  }
  priv->decoded_tee = add_element (self, els, "tee", "decoded_tee");
  g_object_set (priv->decoded_tee, "allow-not-linked", TRUE, nullptr);
  if (!link_chain (els)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not build the decode chain"),
                       ("linking %s failed", dec_name.c_str ()));
    return false;
  }
  GstPad *tee_pad = gst_element_request_pad_simple (priv->input_tee, "src_%u");
  GstPad *qsink = gst_element_get_static_pad (q, "sink");
  gst_pad_link (tee_pad, qsink);
  gst_object_unref (qsink);
  gst_object_unref (tee_pad);
  sync_elements (els);
  GST_INFO_OBJECT (self, "decoding with %s%s", dec_name.c_str (),
                   priv->gpu_frames ? " (frames stay on the GPU)" : "");
  return true;
}

bool
build_branch (GstMirrorTranscodeBin *self, Branch *b)
{
  auto *priv = self->priv;
  if (b->tee_pad)
    return true;
  const mirror::LadderRung &r = b->rendition;
  auto &els = b->elements;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    b->keyframe_interval = priv->keyframe_interval;
  }
  b->slots.reset ();
  // Children are named src_N_<role> so tests and debug dumps can find them.
  auto name = [b] (const gchar *role) {
    return std::string ("src_") + std::to_string (b->index) + "_" + role;
  };
  GstElement *q = add_element (self, els, "queue", name ("queue").c_str ());
  if (r.source) {
    b->tee = priv->input_tee;
  } else {
    if (!build_decode (self, priv->video_caps))
      return false;
    b->tee = priv->decoded_tee;
    g_object_set (q, "max-size-buffers", kRawQueueFrames, "max-size-bytes", 0, "max-size-time",
                  (guint64)0, nullptr);
    GstPad *qsink = gst_element_get_static_pad (q, "sink");
    gst_pad_add_probe (qsink, GST_PAD_PROBE_TYPE_BUFFER, encoder_queue_probe, priv, nullptr);
    gst_object_unref (qsink);
    std::string enc_name = choose_encoder_name (self);
    bool gpu_enc = is_gpu_factory (enc_name);
    gchar *size = g_strdup_printf ("width=%d,height=%d,pixel-aspect-ratio=1/1", r.width, r.height);
    gchar *raw_caps;
    if (priv->gpu_frames) {
      add_element (self, els, "cudaconvertscale", name ("scale").c_str ());
      raw_caps = g_strdup_printf ("video/x-raw(memory:CUDAMemory),format=NV12,%s", size);
      make_caps_filter (self, els, raw_caps, name ("rawcaps").c_str ());
      if (!gpu_enc) // mixed: download the scaled frames, not the 1080p ones
        add_element (self, els, "cudadownload", name ("download").c_str ());
    } else {
      if (factory_exists ("videoconvertscale")) {
        add_element (self, els, "videoconvertscale", name ("scale").c_str ());
      } else {
        add_element (self, els, "videoscale", name ("scale").c_str ());
        add_element (self, els, "videoconvert", name ("convert").c_str ());
      }
      raw_caps = g_strdup_printf ("video/x-raw,format=I420,%s", size);
      make_caps_filter (self, els, raw_caps, name ("rawcaps").c_str ());
    }
    g_free (raw_caps);
    g_free (size);
    std::string why;
    GstElement *enc = make_checked (enc_name, nullptr, why);
    if (!enc) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("No H.264 encoder"), ("%s", why.c_str ()));
      return false;
    }
    configure_encoder (self, enc, enc_name, r.bitrate);
    adopt_element (self, els, enc, name ("encoder").c_str ());
    b->encoder = enc;
    std::string profile;
    {
      std::lock_guard<std::mutex> lk (priv->settings_lock);
      profile = priv->profile;
    }
    gchar *h264_caps = g_strdup_printf ("video/x-h264,profile=%s", profile.c_str ());
    make_caps_filter (self, els, h264_caps, name ("profile").c_str ());
    g_free (h264_caps);
    add_element (self, els, "h264parse", name ("parse").c_str ());
    make_caps_filter (self, els, "video/x-h264,stream-format=avc,alignment=au",
                      name ("outcaps").c_str ());
    GstPad *enc_sink = gst_element_get_static_pad (enc, "sink");
    gst_pad_add_probe (
        enc_sink,
        (GstPadProbeType)(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        keyframe_probe, b, nullptr);
    gst_pad_add_probe (enc_sink, GST_PAD_PROBE_TYPE_BUFFER, thumbnail_probe, b, nullptr);
    gst_object_unref (enc_sink);
  }
  for (GstElement *e : els)
    if (!e) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("Missing GStreamer element"),
                         ("an element of rendition %s could not be created", r.name.c_str ()));
      return false;
    }
  if (!link_chain (els)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not build rendition %s", r.name.c_str ()),
                       ("linking the branch failed"));
    return false;
  }
  GstPad *last = gst_element_get_static_pad (els.back (), "src");
  gst_ghost_pad_set_target (GST_GHOST_PAD (b->ghost), last);
  gst_object_unref (last);
  sync_elements (els);
  b->tee_pad = gst_element_request_pad_simple (b->tee, "src_%u");
  GstPad *qsink = gst_element_get_static_pad (q, "sink");
  gst_pad_link (b->tee_pad, qsink);
  gst_object_unref (qsink);
  GST_INFO_OBJECT (self, "built rendition %u (%s)", b->index, r.name.c_str ());
  choose_thumbnail_branch (self);
  return true;
}

void
teardown_branch (GstMirrorTranscodeBin *self, Branch *b)
{
  if (b->tee_pad) {
    gst_element_release_request_pad (b->tee, b->tee_pad);
    gst_object_unref (b->tee_pad);
    b->tee_pad = nullptr;
  }
  if (b->ghost)
    gst_ghost_pad_set_target (GST_GHOST_PAD (b->ghost), nullptr);
  remove_elements (self, b->elements);
  b->encoder = nullptr;
  b->tee = nullptr;
  choose_thumbnail_branch (self);
}

// Runs on the first caps on `sink`, in the streaming thread, before the caps
// go on: everything linked here sees stream-start, caps and segment in order.
void
build_video (GstMirrorTranscodeBin *self, GstCaps *caps)
{
  auto *priv = self->priv;
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  if (priv->video_built)
    return;
  std::string error;
  if (!current_ladder (self, priv->ladder, error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Invalid renditions"), ("%s", error.c_str ()));
    return;
  }
  priv->video_built = true;
  gst_caps_replace (&priv->video_caps, caps);
  if (priv->branches.empty ())
    // Typically a description that links no t.src_N.
    GST_ELEMENT_WARNING (self, CORE, PAD, ("No video output requested, video is dropped"),
                         ("no src_%%u pad was requested; link by name, e.g. t.src_0 ! ..."));
  for (auto &kv : priv->branches) {
    Branch *b = kv.second.get ();
    if (b->index >= priv->ladder.size ()) {
      // The ladder was shortened after the pad was requested.
      GST_ELEMENT_ERROR (
          self, LIBRARY, SETTINGS, ("Invalid renditions"),
          ("src_%u requested, the ladder has %zu renditions", b->index, priv->ladder.size ()));
      return;
    }
    b->rendition = priv->ladder[b->index];
    if (!build_branch (self, b))
      return;
  }
}

static void teardown_decode (GstMirrorTranscodeBin *self);
static void redecode (GstMirrorTranscodeBin *self, GstCaps *caps);

GstPadProbeReturn
sink_caps_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (user_data);
  auto *priv = self->priv;
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  if (GST_EVENT_TYPE (ev) != GST_EVENT_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps;
  gst_event_parse_caps (ev, &caps);
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  if (priv->video_built && priv->video_caps
      && !gst_structure_has_name (
          gst_caps_get_structure (caps, 0),
          gst_structure_get_name (gst_caps_get_structure (priv->video_caps, 0)))) {
    // Another codec (a caller back with H.264 instead of H.265): the
    // decoder that took the old one cannot take it. Everything is built
    // again for the new caps, here, before they go on, as the first time.
    GST_ELEMENT_INFO (self, STREAM, FORMAT, ("The input changed codec, decoding it anew"),
                      ("%s -> %s",
                       gst_structure_get_name (gst_caps_get_structure (priv->video_caps, 0)),
                       gst_structure_get_name (gst_caps_get_structure (caps, 0))));
    redecode (self, caps);
  }
  if (!priv->video_built)
    build_video (self, caps);
  return GST_PAD_PROBE_OK;
}

// What `sink` takes is what its template and the `source` renditions'
// muxers take, whatever the decoder built for the first caps takes: a codec
// change rebuilds the decoder when the new caps arrive (sink_caps_probe),
// so neither may be refused for its sake before.
GstPadProbeReturn
sink_query_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_TRANSCODE_BIN (user_data);
  auto *priv = self->priv;
  GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
  if (GST_QUERY_TYPE (query) != GST_QUERY_ACCEPT_CAPS && GST_QUERY_TYPE (query) != GST_QUERY_CAPS)
    return GST_PAD_PROBE_OK;
  GstCaps *caps = gst_pad_get_pad_template_caps (pad);
  {
    std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
    for (auto &kv : priv->branches) {
      if (!kv.second->rendition.source || !gst_pad_is_linked (kv.second->ghost))
        continue;
      GstCaps *peer = gst_pad_peer_query_caps (kv.second->ghost, caps);
      gst_caps_unref (caps);
      caps = peer;
    }
  }
  if (GST_QUERY_TYPE (query) == GST_QUERY_ACCEPT_CAPS) {
    GstCaps *offered;
    gst_query_parse_accept_caps (query, &offered);
    gst_query_set_accept_caps_result (query, gst_caps_is_subset (offered, caps));
  } else {
    GstCaps *filter;
    gst_query_parse_caps (query, &filter);
    if (filter) {
      GstCaps *both = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
      gst_caps_unref (caps);
      caps = both;
    }
    gst_query_set_caps_result (query, caps);
  }
  gst_caps_unref (caps);
  return GST_PAD_PROBE_HANDLED;
}

// On each encoder's sink pad: force an IDR on the first frame at or past
// each multiple of keyframe-interval after the epoch. Driven by timestamps,
// not frame counts, so all renditions cut at the same instants whatever the
// frame rate or the source GOP.
GstPadProbeReturn
keyframe_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *b = static_cast<Branch *> (user_data);
  auto *priv = b->self->priv;
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) != GST_EVENT_CAPS || !b->encoder)
      return GST_PAD_PROBE_OK;
    // A frame-count ceiling just above one interval, in case a forced key
    // unit is ever missed; set before the encoder opens with these caps.
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    gint n = 0, d = 1;
    if (gst_structure_get_fraction (gst_caps_get_structure (caps, 0), "framerate", &n, &d) && n > 0
        && d > 0) {
      guint frames
          = (guint)gst_util_uint64_scale_ceil (b->keyframe_interval, n, (guint64)d * GST_SECOND);
      if (g_object_class_find_property (G_OBJECT_GET_CLASS (b->encoder), "key-int-max"))
        g_object_set (b->encoder, "key-int-max", frames + 1, nullptr);
      else if (g_object_class_find_property (G_OBJECT_GET_CLASS (b->encoder), "gop-size"))
        g_object_set (b->encoder, "gop-size", (gint)frames + 1, nullptr);
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (!GST_CLOCK_TIME_IS_VALID (pts) || b->keyframe_interval == 0)
    return GST_PAD_PROBE_OK;
  const GstClockTime epoch = priv->keyframe_epoch.fix (pts);
  gint64 slot = 0;
  if (!b->slots.due (pts, epoch, b->keyframe_interval, &slot))
    return GST_PAD_PROBE_OK;
  GstClockTime running = GST_CLOCK_TIME_NONE, stream = GST_CLOCK_TIME_NONE;
  if (GstEvent *seg_ev = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0)) {
    const GstSegment *seg;
    gst_event_parse_segment (seg_ev, &seg);
    running = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
    stream = gst_segment_to_stream_time (seg, GST_FORMAT_TIME, pts);
    gst_event_unref (seg_ev);
  }
  GST_LOG_OBJECT (b->self, "src_%u: forcing a keyframe at %" GST_TIME_FORMAT, b->index,
                  GST_TIME_ARGS (pts));
  // Sent into the encoder's sink pad ahead of this very buffer (the stream
  // lock is recursive), so this frame becomes the IDR.
  gst_pad_send_event (
      pad, gst_video_event_new_downstream_force_key_unit (pts, stream, running, TRUE, (guint)slot));
  return GST_PAD_PROBE_OK;
}

// The decoder and the transcoded renditions fed by it, for new input caps
// of another codec; `source` renditions pass the new caps on as they are.
static void
redecode (GstMirrorTranscodeBin *self, GstCaps *caps)
{
  auto *priv = self->priv;
  for (auto &kv : priv->branches)
    if (!kv.second->rendition.source)
      teardown_branch (self, kv.second.get ());
  teardown_decode (self);
  gst_caps_replace (&priv->video_caps, caps);
  for (auto &kv : priv->branches)
    if (!kv.second->rendition.source && !build_branch (self, kv.second.get ()))
      return;
}

void
teardown_all (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  std::lock_guard<std::recursive_mutex> lk (priv->build_lock);
  for (auto &kv : priv->branches)
    teardown_branch (self, kv.second.get ());
  teardown_decode (self);
  priv->video_built = false;
  priv->keyframe_epoch.reset ();
  gst_caps_replace (&priv->video_caps, nullptr);
}

// The decode chain, and what it chose.
static void
teardown_decode (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  if (GstPad *qsink = priv->decode_elements.empty ()
                          ? nullptr
                          : gst_element_get_static_pad (priv->decode_elements.front (), "sink")) {
    if (GstPad *tee_pad = gst_pad_get_peer (qsink)) {
      gst_element_release_request_pad (priv->input_tee, tee_pad);
      gst_object_unref (tee_pad);
    }
    gst_object_unref (qsink);
  }
  remove_elements (self, priv->decode_elements);
  priv->decoder_element = nullptr;
  priv->gpu_session.release ();
  priv->decoded_tee = nullptr;
  priv->gpu_frames = false;
  std::lock_guard<std::mutex> sl (priv->settings_lock);
  priv->active_decoder.clear ();
  priv->active_encoder.clear ();
  priv->fallback_warned_decoder = false;
  priv->fallback_warned_encoder = false;
}

} // namespace transcode_bin
