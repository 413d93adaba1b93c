// SPDX-License-Identifier: LGPL-2.1-or-later
// Where a partial segment sits in a rendition: media sequence number and part
// index. Ordered the way they are published, which is what blocking reloads
// and held part requests compare against.
#pragma once

#include <compare>
#include <cstdint>

namespace mirror {

struct PartPosition {
  uint64_t msn = 0;
  uint32_t part = 0;

  auto operator<=> (const PartPosition &) const = default;
};

// The part index that stands for "segment msn is complete": after its last
// part, before part 0 of the next segment.
inline constexpr uint32_t kSegmentComplete = UINT32_MAX;

} // namespace mirror
