// SPDX-License-Identifier: LGPL-2.1-or-later
#include "cmaf/init_segment.h"

namespace mirror::cmaf {

namespace {

// Identity transform (ISO/IEC 14496-12 8.2.2.2).
void
write_matrix (BoxWriter &w)
{
  const uint32_t matrix[9] = { 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000 };
  for (uint32_t v : matrix)
    w.u32 (v);
}

void
write_mvhd (BoxWriter &w, const TrackConfig &t)
{
  auto box = w.begin_full_box ("mvhd", 0, 0);
  w.u32 (0); // creation_time
  w.u32 (0); // modification_time
  w.u32 (t.timescale);
  w.u32 (0);          // duration: unknown, the movie is fragmented
  w.u32 (0x00010000); // rate 1.0
  w.u16 (0x0100);     // volume 1.0
  w.zeros (2 + 8);
  write_matrix (w);
  w.zeros (6 * 4);        // pre_defined
  w.u32 (t.track_id + 1); // next_track_ID
  w.end_box (box);
}

void
write_tkhd (BoxWriter &w, const TrackConfig &t)
{
  // Flags: track_enabled | track_in_movie.
  auto box = w.begin_full_box ("tkhd", 0, 0x000003);
  w.u32 (0);
  w.u32 (0);
  w.u32 (t.track_id);
  w.u32 (0); // reserved
  w.u32 (0); // duration
  w.zeros (8);
  w.u16 (0); // layer
  w.u16 (0); // alternate_group
  w.u16 (t.is_video () ? 0 : 0x0100);
  w.u16 (0);
  write_matrix (w);
  w.u32 ((uint32_t)t.width << 16);
  w.u32 ((uint32_t)t.height << 16);
  w.end_box (box);
}

void
write_mdhd (BoxWriter &w, const TrackConfig &t)
{
  auto box = w.begin_full_box ("mdhd", 0, 0);
  w.u32 (0);
  w.u32 (0);
  w.u32 (t.timescale);
  w.u32 (0);
  w.u16 (0x55c4); // "und", ISO-639-2/T packed in 5-bit letters
  w.u16 (0);
  w.end_box (box);
}

void
write_hdlr (BoxWriter &w, const TrackConfig &t)
{
  auto box = w.begin_full_box ("hdlr", 0, 0);
  w.u32 (0);
  w.fourcc (t.is_video () ? "vide" : "soun");
  w.zeros (12);
  static const char kVideo[] = "VideoHandler";
  static const char kSound[] = "SoundHandler";
  const char *name = t.is_video () ? kVideo : kSound;
  w.bytes ((const uint8_t *)name, sizeof kVideo); // both names are 12 chars + NUL
  w.end_box (box);
}

void
write_dinf (BoxWriter &w)
{
  auto dinf = w.begin_box ("dinf");
  auto dref = w.begin_full_box ("dref", 0, 0);
  w.u32 (1);
  auto url = w.begin_full_box ("url ", 0, 0x000001); // media in the same file
  w.end_box (url);
  w.end_box (dref);
  w.end_box (dinf);
}

void
write_visual_sample_entry (BoxWriter &w, const TrackConfig &t)
{
  auto entry = w.begin_box (t.sample_entry);
  w.zeros (6);
  w.u16 (1); // data_reference_index
  w.u16 (0);
  w.u16 (0);
  w.zeros (12);
  w.u16 (t.width);
  w.u16 (t.height);
  w.u32 (0x00480000); // 72 dpi
  w.u32 (0x00480000);
  w.u32 (0);
  w.u16 (1);      // frame_count
  w.zeros (32);   // compressorname
  w.u16 (0x0018); // depth
  w.u16 (0xffff); // pre_defined = -1
  auto config = w.begin_box (t.codec == Codec::H264 ? "avcC" : "hvcC");
  w.bytes (t.codec_data);
  w.end_box (config);
  w.end_box (entry);
}

// An MPEG-4 descriptor header with a one-byte length: every descriptor here
// is far shorter than 128 bytes for any real AudioSpecificConfig.
void
descriptor (BoxWriter &w, uint8_t tag, size_t length)
{
  w.u8 (tag);
  w.u8 ((uint8_t)length);
}

void
write_esds (BoxWriter &w, const TrackConfig &t)
{
  const size_t asc = t.codec_data.size ();
  const size_t dsi = 2 + asc;
  const size_t dcd = 13 + dsi;
  const size_t sl = 2 + 1;
  const size_t es = 3 + (2 + dcd) + sl;
  auto box = w.begin_full_box ("esds", 0, 0);
  descriptor (w, 0x03, es); // ES_Descriptor
  w.u16 ((uint16_t)t.track_id);
  w.u8 (0);
  descriptor (w, 0x04, dcd); // DecoderConfigDescriptor
  w.u8 (0x40);               // Audio ISO/IEC 14496-3
  w.u8 ((0x05 << 2) | 1);    // audio stream, upstream 0, reserved 1
  w.u24 (0);                 // bufferSizeDB
  w.u32 (t.max_bitrate);
  w.u32 (t.avg_bitrate);
  descriptor (w, 0x05, asc); // DecoderSpecificInfo
  w.bytes (t.codec_data);
  descriptor (w, 0x06, 1); // SLConfigDescriptor
  w.u8 (0x02);             // predefined: MP4
  w.end_box (box);
}

void
write_audio_sample_entry (BoxWriter &w, const TrackConfig &t)
{
  auto entry = w.begin_box ("mp4a");
  w.zeros (6);
  w.u16 (1);
  w.zeros (8);
  w.u16 (t.channels);
  w.u16 (16); // samplesize
  w.u16 (0);
  w.u16 (0);
  // 16.16 fixed point; rates above 65535 Hz do not fit and are given as 0
  // (the AudioSpecificConfig carries the real rate).
  w.u32 (t.sample_rate <= 0xffff ? t.sample_rate << 16 : 0);
  write_esds (w, t);
  w.end_box (entry);
}

void
write_empty_table (BoxWriter &w, const char *type)
{
  auto box = w.begin_full_box (type, 0, 0);
  w.u32 (0);
  w.end_box (box);
}

void
write_stbl (BoxWriter &w, const TrackConfig &t)
{
  auto stbl = w.begin_box ("stbl");
  auto stsd = w.begin_full_box ("stsd", 0, 0);
  w.u32 (1);
  if (t.is_video ())
    write_visual_sample_entry (w, t);
  else
    write_audio_sample_entry (w, t);
  w.end_box (stsd);
  write_empty_table (w, "stts");
  write_empty_table (w, "stsc");
  auto stsz = w.begin_full_box ("stsz", 0, 0);
  w.u32 (0); // sample_size
  w.u32 (0); // sample_count
  w.end_box (stsz);
  write_empty_table (w, "stco");
  w.end_box (stbl);
}

void
write_trak (BoxWriter &w, const TrackConfig &t)
{
  auto trak = w.begin_box ("trak");
  write_tkhd (w, t);
  auto mdia = w.begin_box ("mdia");
  write_mdhd (w, t);
  write_hdlr (w, t);
  auto minf = w.begin_box ("minf");
  if (t.is_video ()) {
    auto vmhd = w.begin_full_box ("vmhd", 0, 0x000001);
    w.zeros (8); // graphicsmode, opcolor
    w.end_box (vmhd);
  } else {
    auto smhd = w.begin_full_box ("smhd", 0, 0);
    w.zeros (4); // balance, reserved
    w.end_box (smhd);
  }
  write_dinf (w);
  write_stbl (w, t);
  w.end_box (minf);
  w.end_box (mdia);
  w.end_box (trak);
}

void
write_mvex (BoxWriter &w, const TrackConfig &t)
{
  auto mvex = w.begin_box ("mvex");
  auto trex = w.begin_full_box ("trex", 0, 0);
  w.u32 (t.track_id);
  w.u32 (1); // default_sample_description_index
  w.u32 (0);
  w.u32 (0);
  w.u32 (0);
  w.end_box (trex);
  w.end_box (mvex);
}

} // namespace

void
write_ftyp (BoxWriter &w)
{
  auto box = w.begin_box ("ftyp");
  w.fourcc ("cmfc");
  w.u32 (0);
  w.fourcc ("iso6");
  w.fourcc ("cmfc");
  w.end_box (box);
}

void
write_moov (BoxWriter &w, const TrackConfig &track)
{
  auto moov = w.begin_box ("moov");
  write_mvhd (w, track);
  write_trak (w, track);
  write_mvex (w, track);
  w.end_box (moov);
}

std::vector<uint8_t>
make_init_segment (const TrackConfig &track)
{
  BoxWriter w;
  write_ftyp (w);
  write_moov (w, track);
  return w.take ();
}

} // namespace mirror::cmaf
