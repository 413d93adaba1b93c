// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/track_config.h"

#include <cstdio>

namespace mirror::cmaf {

std::optional<VideoConfigRecord>
parse_avcc (const std::vector<uint8_t> &d, const std::string &sample_entry, std::string *error)
{
  if (d.size () < 7) {
    *error = "avcC is " + std::to_string (d.size ()) + " bytes, shorter than its 7-byte header";
    return std::nullopt;
  }
  if (d[0] != 1) {
    *error = "avcC configurationVersion is " + std::to_string (d[0]) + ", expected 1";
    return std::nullopt;
  }
  VideoConfigRecord rec;
  rec.nal_length_size = (d[4] & 0x03) + 1;
  if (rec.nal_length_size == 3) {
    *error = "avcC gives a 3-byte NAL length, which ISO/IEC 14496-15 forbids";
    return std::nullopt;
  }
  // Walk the parameter sets so that a truncated record is caught here rather
  // than by every player.
  size_t pos = 5;
  int num_sps = d[pos++] & 0x1f;
  for (int i = 0; i < num_sps; i++) {
    if (pos + 2 > d.size () || pos + 2 + ((d[pos] << 8) | d[pos + 1]) > d.size ()) {
      *error = "avcC is truncated inside its SPS list";
      return std::nullopt;
    }
    pos += 2 + ((d[pos] << 8) | d[pos + 1]);
  }
  if (pos >= d.size ()) {
    *error = "avcC is truncated before its PPS count";
    return std::nullopt;
  }
  int num_pps = d[pos++];
  for (int i = 0; i < num_pps; i++) {
    if (pos + 2 > d.size () || pos + 2 + ((d[pos] << 8) | d[pos + 1]) > d.size ()) {
      *error = "avcC is truncated inside its PPS list";
      return std::nullopt;
    }
    pos += 2 + ((d[pos] << 8) | d[pos + 1]);
  }
  if (sample_entry == "avc1" && (num_sps == 0 || num_pps == 0)) {
    *error = "avcC has no SPS or no PPS, which an avc1 sample entry requires";
    return std::nullopt;
  }
  char codecs[32];
  snprintf (codecs, sizeof codecs, "%s.%02X%02X%02X", sample_entry.c_str (), d[1], d[2], d[3]);
  rec.codecs = codecs;
  return rec;
}

std::optional<VideoConfigRecord>
parse_hvcc (const std::vector<uint8_t> &d, const std::string &sample_entry, std::string *error)
{
  if (d.size () < 23) {
    *error = "hvcC is " + std::to_string (d.size ()) + " bytes, shorter than its 23-byte header";
    return std::nullopt;
  }
  if (d[0] != 1) {
    *error = "hvcC configurationVersion is " + std::to_string (d[0]) + ", expected 1";
    return std::nullopt;
  }
  VideoConfigRecord rec;
  rec.nal_length_size = (d[21] & 0x03) + 1;
  if (rec.nal_length_size == 3) {
    *error = "hvcC gives a 3-byte NAL length, which ISO/IEC 14496-15 forbids";
    return std::nullopt;
  }
  size_t pos = 22;
  int num_arrays = d[pos++];
  for (int a = 0; a < num_arrays; a++) {
    if (pos + 3 > d.size ()) {
      *error = "hvcC is truncated inside its NAL unit arrays";
      return std::nullopt;
    }
    int count = (d[pos + 1] << 8) | d[pos + 2];
    pos += 3;
    for (int i = 0; i < count; i++) {
      if (pos + 2 > d.size () || pos + 2 + ((d[pos] << 8) | d[pos + 1]) > d.size ()) {
        *error = "hvcC is truncated inside a NAL unit array";
        return std::nullopt;
      }
      pos += 2 + ((d[pos] << 8) | d[pos + 1]);
    }
  }
  // RFC 6381 / ISO/IEC 14496-15 Annex E: profile space and idc,
  // compatibility flags bit-reversed in hex, tier and level, constraint bytes
  // with trailing zero bytes left out.
  int profile_space = d[1] >> 6;
  int tier = (d[1] >> 5) & 1;
  int profile_idc = d[1] & 0x1f;
  uint32_t compat = ((uint32_t)d[2] << 24) | ((uint32_t)d[3] << 16) | ((uint32_t)d[4] << 8) | d[5];
  uint32_t reversed = 0;
  for (int i = 0; i < 32; i++)
    if (compat & (1u << i))
      reversed |= 1u << (31 - i);
  std::string codecs = sample_entry + ".";
  if (profile_space)
    codecs += (char)('A' + profile_space - 1);
  char tmp[32];
  snprintf (tmp, sizeof tmp, "%d.%X.%c%d", profile_idc, reversed, tier ? 'H' : 'L', d[12]);
  codecs += tmp;
  int last = 5;
  while (last >= 0 && d[6 + last] == 0)
    last--;
  for (int i = 0; i <= last; i++) {
    snprintf (tmp, sizeof tmp, ".%X", d[6 + i]);
    codecs += tmp;
  }
  rec.codecs = codecs;
  return rec;
}

std::optional<AacConfig>
parse_audio_specific_config (const std::vector<uint8_t> &d)
{
  static const uint32_t kRates[]
      = { 96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350 };
  if (d.size () < 2)
    return std::nullopt;
  AacConfig cfg;
  cfg.object_type = d[0] >> 3;
  int rate_index = ((d[0] & 0x07) << 1) | (d[1] >> 7);
  if (cfg.object_type == 31 || rate_index >= 13)
    return std::nullopt;
  cfg.sample_rate = kRates[rate_index];
  cfg.channels = (d[1] >> 3) & 0x0f;
  return cfg;
}

} // namespace mirror::cmaf
