// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin's element choice: the ladder it builds, which decoder and
// which encoder, and how they are set.
#include "transcodebin/transcodebinpriv.h"

#define GST_CAT_DEFAULT gst_mirror_transcode_bin_debug

namespace transcode_bin {

// ---------------------------------------------------------------- ladder

// The ladder text is parsed by libmirror, so mirrord (which renders it into
// the pipeline) and this element agree on it: NAME:WIDTHxHEIGHT@BITRATE
// (bit/s, k/M suffixes) or source. Empty: one rendition from the width,
// height and bitrate properties, named <height>p.
bool
current_ladder (GstMirrorTranscodeBin *self, std::vector<mirror::LadderRung> &out,
                std::string &error)
{
  auto *priv = self->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  auto ladder = mirror::ladder_or_default (priv->renditions, priv->width, priv->height,
                                           priv->bitrate, &error);
  if (!ladder)
    return false;
  out = std::move (*ladder);
  return true;
}

// The settings checked before anything runs: the ladder (the choices are
// enums, checked when they are set).
bool
check_settings (GstMirrorTranscodeBin *self, std::string &error)
{
  std::vector<mirror::LadderRung> ladder;
  return current_ladder (self, ladder, error);
}

// ---------------------------------------------------------------- element choice

bool
factory_exists (const gchar *name)
{
  GstElementFactory *f = gst_element_factory_find (name);
  if (!f)
    return false;
  gst_object_unref (f);
  return true;
}

bool
is_gpu_factory (const std::string &name)
{
  return g_str_has_prefix (name.c_str (), "nv") || name.find ("cuda") != std::string::npos;
}

// Creates @name; a GPU element must also reach READY (nvcodec opens its CUDA
// context there), since a registered element on a box whose driver went away
// fails only then. Returns nullptr and fills @why on failure.
GstElement *
make_checked (const std::string &name, const GstCaps *sink_caps, std::string &why)
{
  GstElementFactory *f = gst_element_factory_find (name.c_str ());
  if (!f) {
    why = "no element \"" + name + "\" in the registry";
    return nullptr;
  }
  if (sink_caps && !gst_element_factory_can_sink_any_caps (f, sink_caps)) {
    gchar *s = gst_caps_to_string (sink_caps);
    why = name + " cannot take " + s;
    g_free (s);
    gst_object_unref (f);
    return nullptr;
  }
  GstElement *e = gst_element_factory_create (f, nullptr);
  gst_object_unref (f);
  if (!e) {
    why = name + " could not be created";
    return nullptr;
  }
  if (is_gpu_factory (name)
      && gst_element_set_state (e, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE) {
    gst_element_set_state (e, GST_STATE_NULL);
    gst_object_unref (e);
    why = name + " failed to start (no usable GPU?)";
    return nullptr;
  }
  return e;
}

std::string
hardware_of (const std::string &dec, const std::string &enc)
{
  if (dec.empty () || enc.empty ())
    return dec.empty () && enc.empty ()
               ? "none"
               : (is_gpu_factory (dec.empty () ? enc : dec) ? "gpu" : "cpu");
  bool d = is_gpu_factory (dec), e = is_gpu_factory (enc);
  return d && e ? "gpu" : (!d && !e ? "cpu" : "mixed");
}

// Any CPU decoder for @caps when avdec_* is missing: the highest-ranked
// non-GPU video decoder that takes the caps.
GstElement *
make_cpu_decoder (const GstCaps *caps, const gchar *preferred, std::string &chosen)
{
  std::string why;
  if (GstElement *e = make_checked (preferred, caps, why)) {
    chosen = preferred;
    return e;
  }
  GList *list = gst_element_factory_list_get_elements (
      GST_ELEMENT_FACTORY_TYPE_DECODER | GST_ELEMENT_FACTORY_TYPE_MEDIA_VIDEO, GST_RANK_MARGINAL);
  list = g_list_sort (list, gst_plugin_feature_rank_compare_func);
  GstElement *found = nullptr;
  for (GList *l = list; l && !found; l = l->next) {
    std::string name = GST_OBJECT_NAME (l->data);
    if (is_gpu_factory (name))
      continue;
    if ((found = make_checked (name, caps, why)))
      chosen = name;
  }
  gst_plugin_feature_list_free (list);
  return found;
}

GstElement *
choose_decoder (GstMirrorTranscodeBin *self, const GstCaps *caps)
{
  auto *priv = self->priv;
  const gchar *media = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  bool hevc = g_str_equal (media, "video/x-h265");
  const gchar *cpu = hevc ? "avdec_h265" : "avdec_h264";
  const gchar *gpu = hevc ? "nvh265dec" : "nvh264dec";
  std::string wanted;
  guint limit;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    wanted = priv->decoder;
    limit = priv->max_gpu_sessions;
  }
  std::string why, chosen;
  GstElement *dec = nullptr;
  if (wanted == "nvidia" && !factory_exists (gpu))
    why = std::string (gpu) + " is not registered (no NVIDIA driver, or no NVDEC)";
  if (wanted == "auto" || wanted == "nvidia") {
    if (factory_exists (gpu) && !priv->gpu_session.take (limit)) {
      GST_INFO_OBJECT (self, "all %u GPU decode sessions are taken: decoding on the CPU", limit);
    } else if (factory_exists (gpu)) {
      if ((dec = make_checked (gpu, caps, why)))
        chosen = gpu;
      else
        priv->gpu_session.release ();
    }
  }
  // cpu (transcoding.hardware: cpu): never touch the GPU, and no warning.
  if (!dec && !why.empty () && !priv->fallback_warned_decoder) {
    // One warning per run: the operator asked for (or the registry promised)
    // an element that does not work here; the stream goes on on the CPU.
    priv->fallback_warned_decoder = true;
    GST_ELEMENT_WARNING (self, CORE, MISSING_PLUGIN,
                         ("Video decoder unavailable, falling back to the CPU decoder"),
                         ("%s; using %s", why.c_str (), cpu));
  }
  if (!dec)
    dec = make_cpu_decoder (caps, cpu, chosen);
  if (dec) {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    priv->active_decoder = chosen;
  }
  return dec;
}

// The encoder factory for every branch of this run: decided once, so all
// renditions share the same hardware.
std::string
choose_encoder_name (GstMirrorTranscodeBin *self)
{
  auto *priv = self->priv;
  std::string wanted;
  {
    std::lock_guard<std::mutex> lk (priv->settings_lock);
    if (!priv->active_encoder.empty ())
      return priv->active_encoder;
    wanted = priv->encoder;
  }
  std::string why, chosen;
  auto try_one = [&] (const std::string &name) {
    GstElement *e = make_checked (name, nullptr, why);
    if (!e)
      return false;
    gst_element_set_state (e, GST_STATE_NULL);
    gst_object_unref (e);
    chosen = name;
    return true;
  };
  if (wanted == "auto" || wanted == "nvidia") {
    for (const gchar *name : { "nvh264enc", "nvcudah264enc" })
      if (factory_exists (name) && try_one (name))
        break;
    if (chosen.empty () && wanted == "nvidia" && why.empty ())
      why = "neither nvh264enc nor nvcudah264enc is registered (no NVENC)";
  } else if (wanted == "openh264") {
    try_one ("openh264enc");
  } else {
    try_one ("x264enc");
  }
  if (chosen.empty () && !why.empty () && !priv->fallback_warned_encoder) {
    priv->fallback_warned_encoder = true;
    GST_ELEMENT_WARNING (self, CORE, MISSING_PLUGIN,
                         ("Video encoder unavailable, falling back to x264enc"),
                         ("%s; using x264enc", why.c_str ()));
  }
  if (chosen.empty ())
    chosen = "x264enc";
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  priv->active_encoder = chosen;
  return chosen;
}

void
set_if_exists (GstElement *e, const gchar *prop, const gchar *value)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (e), prop))
    gst_util_set_object_arg (G_OBJECT (e), prop, value);
}

void
configure_encoder (GstMirrorTranscodeBin *self, GstElement *enc, const std::string &name,
                   int64_t bitrate)
{
  auto *priv = self->priv;
  std::lock_guard<std::mutex> lk (priv->settings_lock);
  // The encoders count kbit/s, openh264enc bit/s.
  const guint kbps = (guint)((bitrate + 500) / 1000);
  std::string rate = std::to_string (kbps);
  std::string bframes = std::to_string (priv->bframes);
  if (name == "x264enc") {
    g_object_set (enc, "bitrate", kbps, nullptr);
    set_if_exists (enc, "speed-preset", priv->x264_preset.c_str ());
    if (priv->x264_tune.empty () || priv->x264_tune == "none")
      g_object_set (enc, "tune", 0, nullptr);
    else
      set_if_exists (enc, "tune", priv->x264_tune.c_str ());
    // zerolatency already means no B-frames; say it for the other tunes.
    g_object_set (enc, "bframes", priv->bframes, nullptr);
  } else if (g_str_has_prefix (name.c_str (), "nv")) {
    // nvh264enc / nvcudah264enc: kbit/s, CBR, low-latency preset, no
    // reordering unless asked; the GOP comes from forced key units.
    set_if_exists (enc, "bitrate", rate.c_str ());
    set_if_exists (enc, "rc-mode", "cbr");
    set_if_exists (enc, "preset", name == "nvh264enc" ? "low-latency-hp" : "p1");
    set_if_exists (enc, "zerolatency", priv->bframes ? "false" : "true");
    set_if_exists (enc, "bframes", bframes.c_str ());
  } else if (name == "openh264enc") {
    set_if_exists (enc, "bitrate", std::to_string (bitrate).c_str ());
  } else {
    // Unknown encoder named by the operator: bitrate is the common name.
    set_if_exists (enc, "bitrate", rate.c_str ());
  }
}

} // namespace transcode_bin
