// SPDX-License-Identifier: LGPL-2.1-or-later
// An immutable, shared byte range. Media bytes are published once and then
// read by many viewers on other threads, so they are never copied after
// publishing: a Bytes is a refcounted view. An element backs one with a
// GstBuffer by wrapping its mapped memory and unmapping/unreffing in the
// release hook, which runs once, on whichever thread drops the last reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace mirror {

class Bytes {
 public:
  using ReleaseFn = std::function<void ()>;

  Bytes () = default;

  // Borrows data until the last copy is gone, then calls release.
  static Bytes wrap (const uint8_t *data, size_t size, ReleaseFn release)
  {
    auto block = std::make_shared<Block> ();
    block->data = data;
    block->size = size;
    block->release = std::move (release);
    return Bytes (std::move (block), 0, size);
  }

  static Bytes take (std::vector<uint8_t> owned)
  {
    auto block = std::make_shared<Block> ();
    block->owned = std::move (owned);
    block->data = block->owned.data ();
    block->size = block->owned.size ();
    size_t size = block->size;
    return Bytes (std::move (block), 0, size);
  }

  static Bytes copy (const void *data, size_t size)
  {
    auto p = static_cast<const uint8_t *> (data);
    return take (std::vector<uint8_t> (p, p + size));
  }

  static Bytes copy (std::string_view s) { return copy (s.data (), s.size ()); }

  const uint8_t *data () const { return block_ ? block_->data + offset_ : nullptr; }
  size_t size () const { return size_; }
  bool empty () const { return size_ == 0; }

  // A view of part of the same block; clamped to what exists.
  Bytes slice (size_t offset, size_t size) const
  {
    if (offset > size_)
      offset = size_;
    if (size > size_ - offset)
      size = size_ - offset;
    return Bytes (block_, offset_ + offset, size);
  }

  std::string_view view () const { return { reinterpret_cast<const char *> (data ()), size_ }; }

  bool same_content (const Bytes &other) const
  {
    return size_ == other.size_ && (size_ == 0 || std::memcmp (data (), other.data (), size_) == 0);
  }

 private:
  struct Block {
    const uint8_t *data = nullptr;
    size_t size = 0;
    std::vector<uint8_t> owned;
    ReleaseFn release;
    ~Block ()
    {
      if (release)
        release ();
    }
  };

  Bytes (std::shared_ptr<const Block> block, size_t offset, size_t size)
      : block_ (std::move (block)), offset_ (offset), size_ (size)
  {}

  std::shared_ptr<const Block> block_;
  size_t offset_ = 0;
  size_t size_ = 0;
};

} // namespace mirror
