// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrortranscodebin's choices, as GEnum and GFlags types so that
// gst-inspect-1.0 lists their values and a wrong one is refused when set.
// The element keeps the nicks ("auto", "x264", ...) as its working values.
#pragma once

#include <glib-object.h>

#include <string>

G_BEGIN_DECLS

typedef enum {
  GST_MIRROR_TRANSCODE_DECODER_AUTO,
  GST_MIRROR_TRANSCODE_DECODER_CPU,
  GST_MIRROR_TRANSCODE_DECODER_NVIDIA,
} GstMirrorTranscodeDecoder;

typedef enum {
  GST_MIRROR_TRANSCODE_ENCODER_AUTO,
  GST_MIRROR_TRANSCODE_ENCODER_CPU,
  GST_MIRROR_TRANSCODE_ENCODER_NVIDIA,
  GST_MIRROR_TRANSCODE_ENCODER_OPENH264,
} GstMirrorTranscodeEncoder;

typedef enum {
  GST_MIRROR_TRANSCODE_HARDWARE_NONE,
  GST_MIRROR_TRANSCODE_HARDWARE_CPU,
  GST_MIRROR_TRANSCODE_HARDWARE_GPU,
  GST_MIRROR_TRANSCODE_HARDWARE_MIXED,
} GstMirrorTranscodeHardware;

typedef enum {
  GST_MIRROR_H264_PROFILE_CONSTRAINED_BASELINE,
  GST_MIRROR_H264_PROFILE_BASELINE,
  GST_MIRROR_H264_PROFILE_MAIN,
  GST_MIRROR_H264_PROFILE_HIGH,
} GstMirrorH264Profile;

// x264enc's speed presets, same values.
typedef enum {
  GST_MIRROR_X264_PRESET_ULTRAFAST = 1,
  GST_MIRROR_X264_PRESET_SUPERFAST,
  GST_MIRROR_X264_PRESET_VERYFAST,
  GST_MIRROR_X264_PRESET_FASTER,
  GST_MIRROR_X264_PRESET_FAST,
  GST_MIRROR_X264_PRESET_MEDIUM,
  GST_MIRROR_X264_PRESET_SLOW,
  GST_MIRROR_X264_PRESET_SLOWER,
  GST_MIRROR_X264_PRESET_VERYSLOW,
  GST_MIRROR_X264_PRESET_PLACEBO,
} GstMirrorX264Preset;

// x264enc's tune flags, same bits; none of them: "none".
typedef enum {
  GST_MIRROR_X264_TUNE_NONE = 0,
  GST_MIRROR_X264_TUNE_STILLIMAGE = 1 << 0,
  GST_MIRROR_X264_TUNE_FASTDECODE = 1 << 1,
  GST_MIRROR_X264_TUNE_ZEROLATENCY = 1 << 2,
} GstMirrorX264Tune;

GType gst_mirror_transcode_decoder_get_type (void);
GType gst_mirror_transcode_encoder_get_type (void);
GType gst_mirror_transcode_hardware_get_type (void);
GType gst_mirror_h264_profile_get_type (void);
GType gst_mirror_x264_preset_get_type (void);
GType gst_mirror_x264_tune_get_type (void);

#define GST_TYPE_MIRROR_TRANSCODE_DECODER (gst_mirror_transcode_decoder_get_type ())
#define GST_TYPE_MIRROR_TRANSCODE_ENCODER (gst_mirror_transcode_encoder_get_type ())
#define GST_TYPE_MIRROR_TRANSCODE_HARDWARE (gst_mirror_transcode_hardware_get_type ())
#define GST_TYPE_MIRROR_H264_PROFILE (gst_mirror_h264_profile_get_type ())
#define GST_TYPE_MIRROR_X264_PRESET (gst_mirror_x264_preset_get_type ())
#define GST_TYPE_MIRROR_X264_TUNE (gst_mirror_x264_tune_get_type ())

G_END_DECLS

// The nick of an enum value ("" when unknown), and back (-1 when unknown).
std::string gst_mirror_enum_nick (GType type, gint value);
gint gst_mirror_enum_value (GType type, const std::string &nick);
// Flags as x264enc's tune property takes them: "zerolatency+fastdecode";
// "none" for no flag.
std::string gst_mirror_flags_nicks (GType type, guint value);
guint gst_mirror_flags_value (GType type, const std::string &nicks);
