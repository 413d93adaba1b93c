// SPDX-License-Identifier: LGPL-2.1-or-later
// The CMAF header (init segment): ftyp + moov for one track with empty
// sample tables and an mvex/trex, so that every sample comes in fragments.
#pragma once

#include <cstdint>
#include <vector>

#include "cmaf/box_writer.h"
#include "cmaf/track_config.h"

namespace mirror::cmaf {

// ftyp: major brand cmfc, compatible iso6 and cmfc.
void write_ftyp (BoxWriter &w);
void write_moov (BoxWriter &w, const TrackConfig &track);
std::vector<uint8_t> make_init_segment (const TrackConfig &track);

} // namespace mirror::cmaf
