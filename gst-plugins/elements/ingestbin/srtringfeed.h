// SPDX-License-Identifier: LGPL-2.1-or-later
// A SrtStreamConsumer that leaves what an SRT thread (the hub's receive
// thread, or a pull's caller thread) receives in an IngestRing: one
// GstBuffer per batch of payloads, connection changes as notes. It never
// touches the element, which may be gone while the thread still holds this.
#pragma once

#include <memory>
#include <string>

#include <gst/gst.h>

#include "ingest/srt_hub.h"
#include "ingestbin/ingestring.h"

namespace mirror {

class SrtRingFeed final : public SrtStreamConsumer {
 public:
  explicit SrtRingFeed (std::shared_ptr<IngestRing> ring) : ring_ (std::move (ring)) {}

  void on_connect (const SrtPeer &peer) override
  {
    // A returning caller's data does not continue the old TS packet stream.
    if (connected_before_)
      ring_->mark_discont ();
    connected_before_ = true;
    ring_->note ({ IngestNote::Kind::kConnected, peer.address, {}, g_get_monotonic_time () });
  }

  void on_data (const uint8_t *data, size_t size) override
  {
    // One buffer per batch: downstream sees few large buffers.
    GstBuffer *buffer = gst_buffer_new_allocate (nullptr, size, nullptr);
    if (!buffer)
      return;
    gst_buffer_fill (buffer, 0, data, size);
    ring_->push (buffer);
  }

  void on_disconnect (const SrtPeer &peer, const std::string &reason) override
  {
    ring_->note (
        { IngestNote::Kind::kDisconnected, peer.address, reason, g_get_monotonic_time () });
  }

  const std::shared_ptr<IngestRing> &ring () const { return ring_; }

 private:
  std::shared_ptr<IngestRing> ring_;
  bool connected_before_ = false; // the SRT thread only
};

} // namespace mirror
