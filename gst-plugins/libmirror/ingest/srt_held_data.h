// SPDX-License-Identifier: LGPL-2.1-or-later
// What an accepted caller sends before its stream's consumer attaches (mirrord
// is still starting the pipeline). Kept in arrival order and bounded: beyond
// the limit the oldest batches go first, so a late consumer starts on the most
// recent contiguous data. Batches are whole SRT payloads, so dropping whole
// batches keeps the MPEG-TS packets aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

namespace mirror {

class SrtHeldData {
 public:
  explicit SrtHeldData (size_t limit_bytes) : limit_ (limit_bytes) {}

  void append (const uint8_t *data, size_t size);
  // Calls fn once per held batch, oldest first, then forgets them.
  void drain (const std::function<void (const uint8_t *, size_t)> &fn);

  size_t size_bytes () const { return bytes_; }
  uint64_t dropped_bytes () const { return dropped_; }

 private:
  size_t limit_;
  size_t bytes_ = 0;
  uint64_t dropped_ = 0;
  std::deque<std::vector<uint8_t>> batches_;
  // The storage of the last dropped batch, reused for the next one: a caller
  // held at its limit drops and appends every batch.
  std::vector<uint8_t> spare_;
};

} // namespace mirror
