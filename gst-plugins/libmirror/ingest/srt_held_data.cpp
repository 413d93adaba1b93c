// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_held_data.h"

namespace mirror {

void
SrtHeldData::append (const uint8_t *data, size_t size)
{
  if (size > limit_) {
    dropped_ += size;
    return;
  }
  while (bytes_ + size > limit_) {
    bytes_ -= batches_.front ().size ();
    dropped_ += batches_.front ().size ();
    spare_ = std::move (batches_.front ());
    batches_.pop_front ();
  }
  std::vector<uint8_t> batch = std::move (spare_);
  spare_ = {};
  batch.assign (data, data + size);
  batches_.push_back (std::move (batch));
  bytes_ += size;
}

void
SrtHeldData::drain (const std::function<void (const uint8_t *, size_t)> &fn)
{
  // Taken out first: fn may run a consumer that does anything.
  std::deque<std::vector<uint8_t>> batches = std::move (batches_);
  batches_ = {};
  bytes_ = 0;
  for (const auto &batch : batches)
    fn (batch.data (), batch.size ());
}

} // namespace mirror
