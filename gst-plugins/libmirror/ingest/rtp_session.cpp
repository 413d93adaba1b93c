// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/rtp_session.h"

#include <utility>

namespace mirror {

uint64_t
RtpHeldPackets::push (const uint8_t *data, size_t size, size_t limit_bytes)
{
  uint64_t dropped = 0;
  while (!packets_.empty () && bytes_ + size > limit_bytes) {
    bytes_ -= packets_.front ().size ();
    packets_.pop_front ();
    dropped++;
  }
  // A datagram larger than the whole limit is not kept at all.
  if (size > limit_bytes)
    return dropped + 1;
  packets_.emplace_back (data, data + size);
  bytes_ += size;
  return dropped;
}

std::deque<std::vector<uint8_t>>
RtpHeldPackets::take ()
{
  bytes_ = 0;
  return std::exchange (packets_, {});
}

} // namespace mirror
