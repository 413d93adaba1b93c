// SPDX-License-Identifier: LGPL-2.1-or-later
// mirroringestbin's streams: each demuxed or depayloaded elementary stream
// gets its parser and a ghost pad (video_%u, audio_%u), reused after a
// reconnect and kept when a caller comes back with another codec; its first
// access unit registers the stream; the feed's EOS releases the
// registration.
#include "ingestbin/ingestbinpriv.h"

#define GST_CAT_DEFAULT gst_mirror_ingest_bin_debug

// ------------------------------------------------------------------ registry

// The first access unit of a stream left its parser: register the stream,
// with the video's caps when there is video. Returns true once this pad's
// job is done.
static bool
gst_mirror_ingest_bin_maybe_register (GstMirrorIngestBin *self, GstPad *parser_src, bool video)
{
  auto *priv = self->priv;
  std::shared_ptr<mirror::IngestRegistration> registration;
  mirror::StreamEntry entry;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    registration = priv->registration;
    if (!registration)
      return true;
    if (registration->state () != mirror::IngestRegistration::State::kIdle)
      return true;
    bool has_video = priv->n_video > 0;
    // Audio registers only a stream known to have no video.
    if (!video) {
      if (has_video)
        return true;
      bool video_impossible
          = priv->feed.kind == mirror::IngestUri::Kind::kRtp || priv->no_more_pads;
      if (!video_impossible)
        return false;
    }
    entry.source = priv->peer.empty () ? priv->feed.redacted () : priv->peer;
  }
  GstCaps *caps = gst_pad_get_current_caps (parser_src);
  entry.stats = mirror::stream_stats_from_caps (caps);
  if (caps)
    gst_caps_unref (caps);
  entry.state = mirror::StreamState::kLive;
  GST_INFO_OBJECT (self, "registering stream %s: %s %dx%d at %.3f fps from %s",
                   registration->id ().c_str (), entry.stats.codec.c_str (), entry.stats.width,
                   entry.stats.height, entry.stats.frame_rate, entry.source.c_str ());
  registration->claim (std::move (entry));
  return true;
}

static GstPadProbeReturn
gst_mirror_ingest_bin_on_first_unit (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  bool video = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (pad), "mirror-video")) != 0;
  return gst_mirror_ingest_bin_maybe_register (self, pad, video) ? GST_PAD_PROBE_REMOVE
                                                                 : GST_PAD_PROBE_OK;
}

// The feed's EOS (window passed, session timed out): the stream is over.
GstPadProbeReturn
gst_mirror_ingest_bin_on_src_event (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) != GST_EVENT_EOS)
    return GST_PAD_PROBE_OK;
  std::shared_ptr<mirror::IngestRegistration> registration;
  {
    std::lock_guard<std::mutex> lk (self->priv->state_lock);
    self->priv->feed_ended = true;
    registration = self->priv->registration;
  }
  if (registration)
    registration->release ();
  return GST_PAD_PROBE_OK;
}

// The old parser of a stream whose ghost moved on, off the streaming thread
// that drained it.
static void
gst_mirror_ingest_bin_drop_parser (GstElement *element, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (element);
  auto *parser = GST_ELEMENT (user_data);
  bool ours = false;
  {
    std::lock_guard<std::mutex> lk (self->priv->state_lock);
    auto &children = self->priv->children;
    for (auto it = children.begin (); it != children.end (); ++it) {
      if (*it == parser) {
        children.erase (it);
        ours = true;
        break;
      }
    }
  }
  if (ours) {
    gst_element_set_state (parser, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (self), parser);
  }
  gst_object_unref (parser);
}

// An EOS out of a parser. The feed's own EOS (the ring source ended) ends
// the stream. Any other comes from tsdemux ending the old program's
// stream after a switch (a caller back with another codec, or another
// muxer's PIDs): it stays inside, and the ghost pad moves on to the new
// program's parser of the same kind, so the pipeline sees new caps on the
// same pad instead of the end of its stream.
static GstPadProbeReturn
gst_mirror_ingest_bin_on_parser_eos (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) != GST_EVENT_EOS)
    return GST_PAD_PROBE_OK;
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  auto *priv = self->priv;
  GstElement *old_parser = GST_ELEMENT (gst_pad_get_parent (pad));
  GstElement *successor = nullptr;
  GstPad *ghost = nullptr;
  std::string label, from, to;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (priv->feed_ended || !priv->running) {
      gst_object_unref (old_parser);
      return GST_PAD_PROBE_OK;
    }
    label = priv->label;
    for (auto &stream : priv->streams) {
      if (stream.parser != old_parser || !stream.successor)
        continue;
      from = stream.codec.name;
      to = stream.successor_codec.name;
      successor = stream.successor;
      ghost = GST_PAD (gst_object_ref (stream.ghost));
      stream.parser = stream.successor;
      stream.codec = stream.successor_codec;
      stream.successor = nullptr;
      break;
    }
  }
  if (!successor) {
    GST_INFO_OBJECT (self, "stream %s: %s:%s ended with its program; the feed goes on",
                     label.c_str (), GST_DEBUG_PAD_NAME (pad));
    gst_object_unref (old_parser);
    return GST_PAD_PROBE_DROP;
  }
  GstPad *target = gst_element_get_static_pad (successor, "src");
  gst_ghost_pad_set_target (GST_GHOST_PAD (ghost), target);
  gst_object_unref (target);
  GST_INFO_OBJECT (self, "stream %s: %s now carries the caller's %s (was %s)", label.c_str (),
                   GST_PAD_NAME (ghost), to.c_str (), from.c_str ());
  gst_object_unref (ghost);
  gst_element_call_async (GST_ELEMENT_CAST (self), gst_mirror_ingest_bin_drop_parser, old_parser,
                          nullptr);
  return GST_PAD_PROBE_DROP;
}

// ------------------------------------------------------------------ pads

void
gst_mirror_ingest_bin_fail_missing (GstMirrorIngestBin *self, const char *factory,
                                    const std::string &label)
{
  GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN,
                     ("stream %s: GStreamer element \"%s\" is missing (install the plugin that "
                      "provides it)",
                      label.c_str (), factory),
                     (nullptr));
}

// Links @upstream (a demuxer or depayloader pad) to a parser and exposes the
// parser's output as video_%u or audio_%u. A stream of the same kind whose
// parser lost its upstream (the demuxer replaced its pads after a reconnect)
// is reused, so downstream links survive.
static void
gst_mirror_ingest_bin_expose (GstMirrorIngestBin *self, GstPad *upstream,
                              const mirror::IngestCodec &codec)
{
  auto *priv = self->priv;
  const bool video = codec.media == mirror::IngestCodec::Media::kVideo;
  std::string label;
  GstElement *reuse = nullptr;
  // The stream a program switch's new pad takes over (an index in streams).
  std::optional<size_t> taken_over;
  guint index = 0;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    if (!priv->running)
      return;
    label = priv->label;
    for (auto &stream : priv->streams) {
      if (g_strcmp0 (stream.codec.parser, codec.parser) != 0 || stream.successor)
        continue;
      GstPad *sink = gst_element_get_static_pad (stream.parser, "sink");
      bool free = !gst_pad_is_linked (sink);
      gst_object_unref (sink);
      if (free) {
        reuse = GST_ELEMENT (gst_object_ref (stream.parser));
        break;
      }
    }
    // After the first program's pads, a new pad is a program switch:
    // tsdemux adds the new program's pads before it ends the old one's, so
    // the new stream takes over the ghost pad of the old one of its kind.
    if (!reuse && priv->no_more_pads && priv->feed.kind != mirror::IngestUri::Kind::kRtp) {
      for (size_t i = 0; i < priv->streams.size (); ++i) {
        if (priv->streams[i].codec.media == codec.media && !priv->streams[i].successor) {
          taken_over = i;
          break;
        }
      }
    }
    if (!reuse && !taken_over)
      index = video ? priv->n_video++ : priv->n_audio++;
  }

  if (reuse) {
    GstPad *sink = gst_element_get_static_pad (reuse, "sink");
    GstPadLinkReturn ret = gst_pad_link (upstream, sink);
    GST_INFO_OBJECT (self, "stream %s: %s:%s relinked to %s: %d", label.c_str (),
                     GST_DEBUG_PAD_NAME (upstream), GST_OBJECT_NAME (reuse), ret);
    gst_object_unref (sink);
    gst_object_unref (reuse);
    return;
  }

  gchar *pad_name = g_strdup_printf (video ? "video_%u" : "audio_%u", index);
  // Element names stay unique: a successor's parser has a number of its own.
  gchar *parser_name = taken_over
                           ? g_strdup_printf ("%s_%u", codec.parser, priv->successors.fetch_add (1))
                           : g_strdup_printf ("%s_parse", pad_name);
  GstElement *parser = gst_element_factory_make (codec.parser, parser_name);
  g_free (parser_name);
  if (!parser) {
    g_free (pad_name);
    gst_mirror_ingest_bin_fail_missing (self, codec.parser, label);
    return;
  }
  // Parameter sets in front of every keyframe: decoders downstream may join
  // at any keyframe (and after a reconnect).
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (parser), "config-interval"))
    g_object_set (parser, "config-interval", -1, nullptr);
  gst_bin_add (GST_BIN (self), parser);

  GstPad *sink = gst_element_get_static_pad (parser, "sink");
  GstPadLinkReturn link = gst_pad_link (upstream, sink);
  gst_object_unref (sink);
  if (GST_PAD_LINK_FAILED (link)) {
    GST_ELEMENT_ERROR (
        self, CORE, NEGOTIATION,
        ("stream %s: cannot link %s to %s", label.c_str (), GST_PAD_NAME (upstream), codec.parser),
        ("gst_pad_link returned %d", link));
    gst_bin_remove (GST_BIN (self), parser);
    g_free (pad_name);
    return;
  }

  GstPad *target = gst_element_get_static_pad (parser, "src");
  g_object_set_data (G_OBJECT (target), "mirror-video", GINT_TO_POINTER (video ? 1 : 0));
  gst_pad_add_probe (target, GST_PAD_PROBE_TYPE_BUFFER, gst_mirror_ingest_bin_on_first_unit, self,
                     nullptr);
  gst_pad_add_probe (target, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     gst_mirror_ingest_bin_on_parser_eos, self, nullptr);
  if (taken_over) {
    gst_object_unref (target);
    g_free (pad_name);
    gst_element_sync_state_with_parent (parser);
    std::string from;
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->children.push_back (parser);
      if (*taken_over < priv->streams.size ()) { // not torn down meanwhile
        ExposedStream &stream = priv->streams[*taken_over];
        stream.successor = parser;
        stream.successor_codec = codec;
        from = stream.codec.name;
      }
    }
    GST_INFO_OBJECT (self, "stream %s: the caller's new program has %s where it had %s",
                     label.c_str (), codec.name.c_str (), from.c_str ());
    return;
  }
  GstPadTemplate *templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self),
                                                              video ? "video_%u" : "audio_%u");
  GstPad *ghost = gst_ghost_pad_new_from_template (pad_name, target, templ);
  gst_object_unref (target);
  g_free (pad_name);
  gst_pad_set_active (ghost, TRUE);
  gst_element_sync_state_with_parent (parser);

  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->children.push_back (parser);
    priv->streams.push_back (ExposedStream{ parser, GST_PAD (gst_object_ref (ghost)), codec });
  }
  GST_INFO_OBJECT (self, "stream %s: exposing %s (%s)", label.c_str (), GST_PAD_NAME (ghost),
                   codec.name.c_str ());
  gst_element_add_pad (GST_ELEMENT_CAST (self), ghost);
}

void
gst_mirror_ingest_bin_on_demux_pad_added (GstElement *demux, GstPad *pad, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  auto *priv = self->priv;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, nullptr);
  mirror::IngestCodec codec = mirror::classify_elementary_stream (caps);
  gst_caps_unref (caps);

  std::string label;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    priv->saw_elementary_stream = true;
    label = priv->label;
  }
  if (codec.media == mirror::IngestCodec::Media::kVideo && !codec.parser) {
    GST_ELEMENT_ERROR (self, STREAM, CODEC_NOT_FOUND,
                       ("stream %s: video codec \"%s\" is not supported (H.265 or H.264 only)",
                        label.c_str (), codec.name.c_str ()),
                       ("tsdemux pad %s", GST_PAD_NAME (pad)));
    return;
  }
  if (!codec.parser) {
    GST_INFO_OBJECT (self, "stream %s: ignoring %s (%s)", label.c_str (), GST_PAD_NAME (pad),
                     codec.name.c_str ());
    return;
  }
  gst_mirror_ingest_bin_expose (self, pad, codec);
}

void
gst_mirror_ingest_bin_on_demux_no_more_pads (GstElement *demux, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  bool first;
  {
    std::lock_guard<std::mutex> lk (self->priv->state_lock);
    first = !self->priv->no_more_pads;
    self->priv->no_more_pads = true;
  }
  // tsdemux says it again when the program changes; the bin says it once.
  if (first)
    gst_element_no_more_pads (GST_ELEMENT_CAST (self));
}

void
gst_mirror_ingest_bin_on_rtpbin_pad_added (GstElement *rtpbin, GstPad *pad, gpointer user_data)
{
  auto *self = GST_MIRROR_INGEST_BIN (user_data);
  auto *priv = self->priv;
  if (!g_str_has_prefix (GST_PAD_NAME (pad), "recv_rtp_src_"))
    return;

  std::string encoding, label;
  bool first;
  {
    std::lock_guard<std::mutex> lk (priv->state_lock);
    encoding = priv->feed.encoding;
    label = priv->label;
    first = priv->n_video + priv->n_audio == 0;
  }
  mirror::IngestCodec codec;
  if (encoding == "H265") {
    codec = { mirror::IngestCodec::Media::kVideo, "h265parse", "h265" };
  } else if (encoding == "H264") {
    codec = { mirror::IngestCodec::Media::kVideo, "h264parse", "h264" };
  } else {
    codec = { mirror::IngestCodec::Media::kAudio, "aacparse", "aac" };
  }

  GstElement *depay = nullptr;
  if (first) {
    const char *factory = mirror::rtp_depayloader_for (encoding);
    depay = gst_element_factory_make (factory, "depay");
    if (!depay) {
      gst_mirror_ingest_bin_fail_missing (self, factory, label);
      return;
    }
    gst_bin_add (GST_BIN (self), depay);
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->children.push_back (depay);
    }
    GstPad *sink = gst_element_get_static_pad (depay, "sink");
    gst_pad_link (pad, sink);
    gst_object_unref (sink);
    gst_element_sync_state_with_parent (depay);
    GstPad *out = gst_element_get_static_pad (depay, "src");
    gst_mirror_ingest_bin_expose (self, out, codec);
    gst_object_unref (out);
    {
      std::lock_guard<std::mutex> lk (priv->state_lock);
      priv->no_more_pads = true;
    }
    gst_element_no_more_pads (GST_ELEMENT_CAST (self));
  } else {
    // The session's SSRC is fixed, but rtpbin makes a new pad if the
    // payload type changes: feed the same depayloader.
    GstElement *existing = gst_bin_get_by_name (GST_BIN (self), "depay");
    if (existing) {
      GstPad *sink = gst_element_get_static_pad (existing, "sink");
      if (!gst_pad_is_linked (sink))
        gst_pad_link (pad, sink);
      gst_object_unref (sink);
      gst_object_unref (existing);
    }
  }
}

GstCaps *
gst_mirror_ingest_bin_on_request_pt_map (GstElement *rtpbin, guint session, guint pt,
                                         gpointer user_data)
{
  auto *priv = GST_MIRROR_INGEST_BIN (user_data)->priv;
  std::lock_guard<std::mutex> lk (priv->state_lock);
  return priv->rtp_caps ? gst_caps_ref (priv->rtp_caps) : nullptr;
}

void
gst_mirror_ingest_bin_on_new_jitterbuffer (GstElement *rtpbin, GstElement *jitterbuffer,
                                           guint session, guint ssrc, gpointer user_data)
{
  auto *priv = GST_MIRROR_INGEST_BIN (user_data)->priv;
  std::lock_guard<std::mutex> lk (priv->state_lock);
  gst_object_replace ((GstObject **)&priv->jitterbuffer, GST_OBJECT (jitterbuffer));
}
