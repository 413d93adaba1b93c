// SPDX-License-Identifier: LGPL-2.1-or-later
// Big-endian ISO BMFF writing: boxes are opened, filled and closed, and their
// 32-bit size is patched in when they close, so nested boxes need no
// precomputed lengths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace mirror::cmaf {

class BoxWriter {
 public:
  // Where an open box starts; hand it back to end_box.
  using Mark = size_t;

  Mark begin_box (std::string_view type);
  Mark begin_full_box (std::string_view type, uint8_t version, uint32_t flags);
  void end_box (Mark mark);

  void u8 (uint8_t v);
  void u16 (uint16_t v);
  void u24 (uint32_t v);
  void u32 (uint32_t v);
  void u64 (uint64_t v);
  void fourcc (std::string_view type);
  void zeros (size_t n);
  void bytes (const uint8_t *data, size_t size);
  void bytes (const std::vector<uint8_t> &data) { bytes (data.data (), data.size ()); }

  // Overwrites 4 bytes at @offset (a field whose value is known late).
  void patch_u32 (size_t offset, uint32_t v);

  size_t size () const { return buf_.size (); }
  const std::vector<uint8_t> &data () const { return buf_; }
  std::vector<uint8_t> take () { return std::move (buf_); }

 private:
  std::vector<uint8_t> buf_;
};

} // namespace mirror::cmaf
