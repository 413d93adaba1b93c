// SPDX-License-Identifier: LGPL-2.1-or-later
// What an init segment says about its one track, and the checks made on the
// decoder configuration records that upstream parsers hand over (avcC from
// h264parse stream-format=avc, hvcC from h265parse stream-format=hvc1, the
// AudioSpecificConfig from aacparse).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mirror::cmaf {

enum class Codec { H264, H265, Aac };

struct TrackConfig {
  Codec codec = Codec::H264;
  // Sample entry type: avc1/avc3 for H.264, hvc1/hev1 for H.265, mp4a for AAC.
  std::string sample_entry = "avc1";
  uint32_t track_id = 1;
  // Ticks per second: 90000 for video, the sample rate for audio.
  uint32_t timescale = 90000;
  uint16_t width = 0;
  uint16_t height = 0;
  uint32_t sample_rate = 0;
  uint16_t channels = 0;
  // avcC / hvcC payload (without box header), or the AudioSpecificConfig.
  std::vector<uint8_t> codec_data;
  uint32_t max_bitrate = 0;
  uint32_t avg_bitrate = 0;

  bool is_video () const { return codec != Codec::Aac; }
  bool operator== (const TrackConfig &) const = default;
};

// What an AVCDecoderConfigurationRecord or HEVCDecoderConfigurationRecord
// says that the muxer needs.
struct VideoConfigRecord {
  // Bytes of each NAL length prefix in samples (1, 2 or 4).
  int nal_length_size = 4;
  // RFC 6381 codecs string, e.g. "avc1.64001F" or "hvc1.1.6.L93.B0".
  std::string codecs;
};

// nullopt (with @error set) when @data is not a usable avcC: wrong version,
// truncated, or without SPS/PPS when @sample_entry is avc1.
std::optional<VideoConfigRecord> parse_avcc (const std::vector<uint8_t> &data,
                                             const std::string &sample_entry, std::string *error);
// The same for hvcC (ISO/IEC 14496-15 8.3.3.1).
std::optional<VideoConfigRecord> parse_hvcc (const std::vector<uint8_t> &data,
                                             const std::string &sample_entry, std::string *error);
// Audio object type, sampling rate and channels of an AudioSpecificConfig;
// nullopt when it is shorter than two bytes or uses an escape we do not read.
struct AacConfig {
  int object_type = 0;
  uint32_t sample_rate = 0;
  int channels = 0;
};
std::optional<AacConfig> parse_audio_specific_config (const std::vector<uint8_t> &data);

} // namespace mirror::cmaf
