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

} // namespace mirror
