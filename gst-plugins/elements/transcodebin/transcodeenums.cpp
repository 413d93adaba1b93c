// SPDX-License-Identifier: LGPL-2.1-or-later
#include "transcodebin/transcodeenums.h"

#define MIRROR_DEFINE_ENUM(func, name, ...)                                                        \
  GType func (void)                                                                                \
  {                                                                                                \
    static gsize type = 0;                                                                         \
    static const GEnumValue values[] = { __VA_ARGS__, { 0, nullptr, nullptr } };                   \
    if (g_once_init_enter (&type))                                                                 \
      g_once_init_leave (&type, g_enum_register_static (name, values));                            \
    return type;                                                                                   \
  }

MIRROR_DEFINE_ENUM (gst_mirror_transcode_decoder_get_type, "GstMirrorTranscodeDecoder",
                    { GST_MIRROR_TRANSCODE_DECODER_AUTO,
                      "NVIDIA (nvh265dec/nvh264dec) when registered and a GPU session is free, "
                      "else the CPU",
                      "auto" },
                    { GST_MIRROR_TRANSCODE_DECODER_CPU,
                      "libav (avdec_h265/avdec_h264), never "
                      "the GPU",
                      "cpu" },
                    { GST_MIRROR_TRANSCODE_DECODER_NVIDIA,
                      "NVIDIA, falling back to the CPU with a warning", "nvidia" })

MIRROR_DEFINE_ENUM (gst_mirror_transcode_encoder_get_type, "GstMirrorTranscodeEncoder",
                    { GST_MIRROR_TRANSCODE_ENCODER_AUTO,
                      "nvh264enc, then nvcudah264enc, when registered, else x264enc", "auto" },
                    { GST_MIRROR_TRANSCODE_ENCODER_CPU, "x264enc", "cpu" },
                    { GST_MIRROR_TRANSCODE_ENCODER_NVIDIA,
                      "nvh264enc or nvcudah264enc, falling back to x264enc with a warning",
                      "nvidia" },
                    { GST_MIRROR_TRANSCODE_ENCODER_OPENH264, "openh264enc", "openh264" })

MIRROR_DEFINE_ENUM (gst_mirror_transcode_hardware_get_type, "GstMirrorTranscodeHardware",
                    { GST_MIRROR_TRANSCODE_HARDWARE_NONE, "Nothing chosen yet", "none" },
                    { GST_MIRROR_TRANSCODE_HARDWARE_CPU, "Decode and encode on the CPU", "cpu" },
                    { GST_MIRROR_TRANSCODE_HARDWARE_GPU, "Decode and encode on the GPU", "gpu" },
                    { GST_MIRROR_TRANSCODE_HARDWARE_MIXED, "One of decode and encode on the GPU",
                      "mixed" })

MIRROR_DEFINE_ENUM (gst_mirror_h264_profile_get_type, "GstMirrorH264Profile",
                    { GST_MIRROR_H264_PROFILE_CONSTRAINED_BASELINE, "Constrained Baseline",
                      "constrained-baseline" },
                    { GST_MIRROR_H264_PROFILE_BASELINE, "Baseline", "baseline" },
                    { GST_MIRROR_H264_PROFILE_MAIN, "Main", "main" },
                    { GST_MIRROR_H264_PROFILE_HIGH, "High", "high" })

MIRROR_DEFINE_ENUM (gst_mirror_x264_preset_get_type, "GstMirrorX264Preset",
                    { GST_MIRROR_X264_PRESET_ULTRAFAST, "ultrafast", "ultrafast" },
                    { GST_MIRROR_X264_PRESET_SUPERFAST, "superfast", "superfast" },
                    { GST_MIRROR_X264_PRESET_VERYFAST, "veryfast", "veryfast" },
                    { GST_MIRROR_X264_PRESET_FASTER, "faster", "faster" },
                    { GST_MIRROR_X264_PRESET_FAST, "fast", "fast" },
                    { GST_MIRROR_X264_PRESET_MEDIUM, "medium", "medium" },
                    { GST_MIRROR_X264_PRESET_SLOW, "slow", "slow" },
                    { GST_MIRROR_X264_PRESET_SLOWER, "slower", "slower" },
                    { GST_MIRROR_X264_PRESET_VERYSLOW, "veryslow", "veryslow" },
                    { GST_MIRROR_X264_PRESET_PLACEBO, "placebo", "placebo" })

GType
gst_mirror_x264_tune_get_type (void)
{
  static gsize type = 0;
  static const GFlagsValue values[] = {
    { GST_MIRROR_X264_TUNE_NONE, "No tuning", "none" },
    { GST_MIRROR_X264_TUNE_STILLIMAGE, "Still image", "stillimage" },
    { GST_MIRROR_X264_TUNE_FASTDECODE, "Fast decode", "fastdecode" },
    { GST_MIRROR_X264_TUNE_ZEROLATENCY, "Zero latency (no lookahead, no B-frames)", "zerolatency" },
    { 0, nullptr, nullptr },
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_flags_register_static ("GstMirrorX264Tune", values));
  return type;
}

std::string
gst_mirror_enum_nick (GType type, gint value)
{
  auto *klass = static_cast<GEnumClass *> (g_type_class_ref (type));
  GEnumValue *v = g_enum_get_value (klass, value);
  std::string nick = v ? v->value_nick : "";
  g_type_class_unref (klass);
  return nick;
}

gint
gst_mirror_enum_value (GType type, const std::string &nick)
{
  auto *klass = static_cast<GEnumClass *> (g_type_class_ref (type));
  GEnumValue *v = g_enum_get_value_by_nick (klass, nick.c_str ());
  gint value = v ? v->value : -1;
  g_type_class_unref (klass);
  return value;
}

std::string
gst_mirror_flags_nicks (GType type, guint value)
{
  auto *klass = static_cast<GFlagsClass *> (g_type_class_ref (type));
  std::string out;
  for (guint i = 0; i < klass->n_values; i++) {
    const GFlagsValue &v = klass->values[i];
    if (v.value && (value & v.value) == v.value)
      out += (out.empty () ? "" : "+") + std::string (v.value_nick);
  }
  g_type_class_unref (klass);
  return out.empty () ? "none" : out;
}

guint
gst_mirror_flags_value (GType type, const std::string &nicks)
{
  auto *klass = static_cast<GFlagsClass *> (g_type_class_ref (type));
  guint value = 0;
  gchar **parts = g_strsplit (nicks.c_str (), "+", -1);
  for (gchar **p = parts; *p; p++)
    if (GFlagsValue *v = g_flags_get_value_by_nick (klass, g_strstrip (*p)))
      value |= v->value;
  g_strfreev (parts);
  g_type_class_unref (klass);
  return value;
}
