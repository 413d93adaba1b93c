// SPDX-License-Identifier: LGPL-2.1-or-later
/**
 * SECTION:element-mirroraudiobin
 * @title: mirroraudiobin
 *
 * Makes a feed's audio what CMAF carries: AAC passes through, re-framed as
 * raw AAC with codec_data (no decode, no loss); anything else (MPEG-1 layer
 * 2/3, AC-3, E-AC-3, Opus...) is decoded and encoded to AAC-LC at
 * #GstMirrorAudioBin:bitrate with the first AAC encoder installed
 * (`avenc_aac`, `fdkaacenc`, `voaacenc`). The chain is built when the first
 * caps arrive; #GstMirrorAudioBin:passthrough then says which it is.
 *
 * mirrord links it to the ingest bin's `audio_N` pad when that sometimes pad
 * appears, so a video-only feed has no audio branch at all.
 *
 * ## Pads
 *
 * - `sink` (always): any audio.
 * - `src` (always): `audio/mpeg, mpegversion=4, stream-format=raw`.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -e mirroringestbin name=ingest uri="srt://:6000?mode=listener"
 *   ingest.audio_0 ! mirroraudiobin bitrate=96000 ! mirrorcmafmux ! fakesink
 * ]|
 */
#include "audiobin/gstmirroraudiobin.h"
#include "gstmirrorelements.h"

#include <mutex>
#include <string>

GST_DEBUG_CATEGORY_STATIC (gst_mirror_audio_bin_debug);
#define GST_CAT_DEFAULT gst_mirror_audio_bin_debug

#define DEFAULT_BITRATE 64000
#define AAC_CAPS "audio/mpeg, mpegversion = (int) 4, stream-format = (string) raw"

enum {
  PROP_0,
  PROP_BITRATE,
  PROP_PASSTHROUGH,
};

struct GstMirrorAudioBinPrivate {
  std::mutex lock; // guards what follows
  gint bitrate = DEFAULT_BITRATE;
  GstElement *chain = nullptr; // built on the first caps, a child of the bin
  bool passthrough = false;
};

struct _GstMirrorAudioBin {
  GstBin parent;
  GstPad *sinkpad; // ghost pads, owned by the element
  GstPad *srcpad;
  GstMirrorAudioBinPrivate *priv;
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/mpeg; audio/x-ac3; audio/x-eac3; audio/x-opus; audio/x-raw"));
static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (AAC_CAPS));

G_DEFINE_TYPE (GstMirrorAudioBin, gst_mirror_audio_bin, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE (mirroraudiobin, "mirroraudiobin", GST_RANK_NONE,
                             GST_TYPE_MIRROR_AUDIO_BIN);

namespace {

// AAC that only needs re-framing: ADTS, or raw with its codec_data.
bool
is_passable_aac (const GstStructure *s)
{
  gint version = 0;
  if (!gst_structure_has_name (s, "audio/mpeg")
      || !gst_structure_get_int (s, "mpegversion", &version) || version != 4)
    return false;
  const gchar *format = gst_structure_get_string (s, "stream-format");
  if (!format || g_str_equal (format, "adts"))
    return true;
  return g_str_equal (format, "raw") && gst_structure_has_field (s, "codec_data");
}

const gchar *
first_aac_encoder ()
{
  for (const gchar *name : { "avenc_aac", "fdkaacenc", "voaacenc" })
    if (GstElementFactory *factory = gst_element_factory_find (name)) {
      gst_object_unref (factory);
      return name;
    }
  return nullptr;
}

// A ghost pad on @bin for the @pad_name pad of its child @child.
GstPad *
ghost_of (GstElement *bin, const char *child, const char *pad_name)
{
  GstElement *element = gst_bin_get_by_name (GST_BIN (bin), child);
  GstPad *target = gst_element_get_static_pad (element, pad_name);
  GstPad *ghost = gst_ghost_pad_new (pad_name, target);
  gst_element_add_pad (bin, ghost);
  gst_object_unref (target);
  gst_object_unref (element);
  return GST_PAD (gst_object_ref (ghost));
}

// Builds the chain for @caps and points the ghost pads at it. Streaming
// thread, from the caps event on its way in.
void
build (GstMirrorAudioBin *self, GstCaps *caps)
{
  std::lock_guard<std::mutex> lk (self->priv->lock);
  if (self->priv->chain)
    return;
  const bool passthrough = is_passable_aac (gst_caps_get_structure (caps, 0));
  // "first" takes the input and "last" gives the output: the ghost pads
  // are made by hand, as gst-parse could pick audioconvert's sink pad,
  // unlinked until decodebin's pad comes.
  std::string description = "aacparse name=first ! capsfilter name=last caps=\"" AAC_CAPS "\"";
  if (!passthrough) {
    const gchar *encoder = first_aac_encoder ();
    if (!encoder) {
      GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("No AAC encoder"),
                         ("none of avenc_aac, fdkaacenc, voaacenc is installed"));
      return;
    }
    // decodebin's pad comes later: the parser links it when it does.
    description = "decodebin name=first ! audioconvert ! audioresample ! " + std::string (encoder)
                  + " bitrate=" + std::to_string (self->priv->bitrate)
                  + " ! aacparse ! capsfilter name=last caps=\"" AAC_CAPS "\"";
  }
  GError *err = nullptr;
  GstElement *chain = gst_parse_bin_from_description_full (description.c_str (), FALSE, nullptr,
                                                           GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!chain) {
    GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN, ("Could not build the audio chain"),
                       ("%s: %s", description.c_str (), err ? err->message : "unknown error"));
    g_clear_error (&err);
    return;
  }
  gst_object_set_name (GST_OBJECT (chain), "chain");
  GstPad *chain_sink = ghost_of (chain, "first", "sink");
  GstPad *chain_src = ghost_of (chain, "last", "src");
  gst_bin_add (GST_BIN (self), chain);
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->srcpad), chain_src);
  gst_element_sync_state_with_parent (chain);
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->sinkpad), chain_sink);
  gst_object_unref (chain_src);
  gst_object_unref (chain_sink);
  self->priv->chain = chain;
  self->priv->passthrough = passthrough;
  gchar *str = gst_caps_to_string (caps);
  GST_INFO_OBJECT (self, "audio %s: %s", passthrough ? "AAC passed through" : "transcoded to AAC",
                   str);
  g_free (str);
}

void
teardown (GstMirrorAudioBin *self)
{
  GstElement *chain;
  {
    std::lock_guard<std::mutex> lk (self->priv->lock);
    chain = self->priv->chain;
    self->priv->chain = nullptr;
    self->priv->passthrough = false;
  }
  if (!chain)
    return;
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->sinkpad), nullptr);
  gst_ghost_pad_set_target (GST_GHOST_PAD (self->srcpad), nullptr);
  gst_element_set_state (chain, GST_STATE_NULL);
  gst_bin_remove (GST_BIN (self), chain);
}

GstPadProbeReturn
sink_event_probe (GstPad *, GstPadProbeInfo *info, gpointer user_data)
{
  auto *self = GST_MIRROR_AUDIO_BIN (user_data);
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  bool built;
  {
    std::lock_guard<std::mutex> lk (self->priv->lock);
    built = self->priv->chain != nullptr;
  }
  if (built)
    return GST_PAD_PROBE_OK;
  if (GST_EVENT_TYPE (ev) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gst_event_parse_caps (ev, &caps);
    build (self, caps);
  } else if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
    // Ended before any audio: there is no chain to carry the EOS out.
    gst_pad_push_event (self->srcpad, gst_event_ref (ev));
    return GST_PAD_PROBE_DROP;
  }
  return GST_PAD_PROBE_OK;
}

} // namespace

static void
gst_mirror_audio_bin_set_property (GObject *object, guint prop_id, const GValue *value,
                                   GParamSpec *pspec)
{
  auto *self = GST_MIRROR_AUDIO_BIN (object);
  switch (prop_id) {
  case PROP_BITRATE: {
    std::lock_guard<std::mutex> lk (self->priv->lock);
    self->priv->bitrate = g_value_get_int (value);
    break;
  }
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
gst_mirror_audio_bin_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  auto *self = GST_MIRROR_AUDIO_BIN (object);
  std::lock_guard<std::mutex> lk (self->priv->lock);
  switch (prop_id) {
  case PROP_BITRATE:
    g_value_set_int (value, self->priv->bitrate);
    break;
  case PROP_PASSTHROUGH:
    g_value_set_boolean (value, self->priv->passthrough);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static GstStateChangeReturn
gst_mirror_audio_bin_change_state (GstElement *element, GstStateChange transition)
{
  GstStateChangeReturn ret
      = GST_ELEMENT_CLASS (gst_mirror_audio_bin_parent_class)->change_state (element, transition);
  // A restarted element chooses again from its next caps.
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    teardown (GST_MIRROR_AUDIO_BIN (element));
  return ret;
}

static void
gst_mirror_audio_bin_finalize (GObject *object)
{
  delete GST_MIRROR_AUDIO_BIN (object)->priv;
  G_OBJECT_CLASS (gst_mirror_audio_bin_parent_class)->finalize (object);
}

static void
gst_mirror_audio_bin_class_init (GstMirrorAudioBinClass *klass)
{
  auto *object_class = G_OBJECT_CLASS (klass);
  auto *element_class = GST_ELEMENT_CLASS (klass);
  GST_DEBUG_CATEGORY_INIT (gst_mirror_audio_bin_debug, "mirroraudiobin", 0, "Mirror audio bin");

  object_class->set_property = gst_mirror_audio_bin_set_property;
  object_class->get_property = gst_mirror_audio_bin_get_property;
  object_class->finalize = gst_mirror_audio_bin_finalize;

  g_object_class_install_property (
      object_class, PROP_BITRATE,
      g_param_spec_int (
          "bitrate", "Bitrate",
          "AAC bitrate in bit/s when the audio is transcoded (AAC passes through); "
          "read when the first caps arrive",
          8000, 512000, DEFAULT_BITRATE,
          (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  g_object_class_install_property (
      object_class, PROP_PASSTHROUGH,
      g_param_spec_boolean ("passthrough", "Passthrough",
                            "Whether the input is AAC passed through (false before the first "
                            "caps, and when it is transcoded)",
                            FALSE, (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_set_static_metadata (
      element_class, "Mirror audio", "Codec/Transcoder/Audio",
      "Makes a feed's audio AAC for CMAF: AAC passes through, anything else is decoded and "
      "encoded to AAC-LC",
      "Mirror developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_mirror_audio_bin_change_state);
}

static void
gst_mirror_audio_bin_init (GstMirrorAudioBin *self)
{
  self->priv = new GstMirrorAudioBinPrivate ();
  auto *element_class = GST_ELEMENT_GET_CLASS (self);
  self->sinkpad = gst_ghost_pad_new_no_target_from_template (
      "sink", gst_element_class_get_pad_template (element_class, "sink"));
  gst_pad_add_probe (self->sinkpad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, sink_event_probe, self,
                     nullptr);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);
  self->srcpad = gst_ghost_pad_new_no_target_from_template (
      "src", gst_element_class_get_pad_template (element_class, "src"));
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
