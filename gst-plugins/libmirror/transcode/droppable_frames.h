// SPDX-License-Identifier: LGPL-2.1-or-later
// Which compressed video frames no other frame refers to, so a decoder
// that falls behind can be spared them without breaking any picture: in
// H.264 a picture whose slices have nal_ref_idc 0, in H.265 one whose NAL
// unit type is a sub-layer non-reference one (TRAIL_N, TSA_N, STSA_N,
// RADL_N, RASL_N and the reserved even types below 16). The B-frames of a
// typical encoder are such pictures.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mirror {

enum class VideoCodec { kH264, kH265 };

// Whether the access unit in @data (@length_size: 0 for an Annex B byte
// stream with start codes, else the NAL length field's size, 1 to 4, from
// avcC/hvcC) can be dropped: its first picture slice is non-reference. An
// access unit without a slice, or one that cannot be parsed, is kept.
bool access_unit_is_droppable (VideoCodec codec, const uint8_t *data, size_t size, int length_size);

// The NAL length field's size from an avcC (H.264) or hvcC (H.265)
// codec_data record; nothing when it is too short to say.
std::optional<int> nal_length_size (VideoCodec codec, const uint8_t *codec_data, size_t size);

} // namespace mirror
