// SPDX-License-Identifier: LGPL-2.1-or-later
// One HTTP/2 server connection's protocol (libnghttp2), apart from its
// socket: the TCP front end feeds it the bytes TLS decrypted, it hands every
// request to the OriginHandler as the HTTP/1.1 and HTTP/3 paths do, and what
// it sends goes to the connection's output queue as Bytes. DATA frames are
// written with NGHTTP2_DATA_FLAG_NO_COPY: a frame's payload is a slice of the
// store's refcounted part buffer, never a copy per viewer.
//
// Held requests (blocking reloads, hinted parts) leave their stream open
// until the handler answers; past max_held on one connection they get 503;
// a stream the client resets cancels what it held. Everything runs on the
// front end's context thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nghttp2/nghttp2.h>

#include "origin/origin_handler.h"
#include "util/bytes.h"

namespace mirror {

class H2Session {
 public:
  struct Limits {
    uint32_t max_concurrent_streams = 100;
    size_t max_header_bytes = 16 * 1024;
    size_t max_held = 32;
  };
  struct Counters {
    uint64_t requests = 0;
    uint64_t held_refused = 0;   // 503 over max_held
    uint64_t held_abandoned = 0; // held streams the client reset or left
    uint64_t too_large = 0;      // 431
    uint64_t protocol_errors = 0;
  };
  // Where frames go: the connection's output queue.
  class Output {
   public:
    virtual void emit (Bytes b) = 0;                         // appended as it is
    virtual void emit_copy (const uint8_t *p, size_t n) = 0; // small: copied
    virtual size_t queued () const = 0;                      // bytes waiting to be sent
    virtual void wake () = 0;                                // an answer came: send it soon

   protected:
    ~Output () = default;
  };

  // Queues the server's SETTINGS.
  H2Session (OriginHandler &handler, Limits limits, Counters &counters, Output &output);
  ~H2Session (); // cancels what is still held
  H2Session (const H2Session &) = delete;
  H2Session &operator= (const H2Session &) = delete;

  // Decrypted bytes from the client; false on a protocol error (a GOAWAY is
  // queued: send it, then close).
  bool receive (const uint8_t *data, size_t size);
  // Moves frames to the output until it holds about kHighWater bytes.
  void pump ();
  bool want_read () const;
  bool want_write () const;
  // No request open: the connection may time out as idle.
  bool idle () const { return streams_.empty (); }
  // Graceful: GOAWAY naming the last stream taken; those finish.
  void go_away ();

  static constexpr size_t kHighWater = 256 * 1024;
  static constexpr size_t kCopyBelow = 2048;

 private:
  struct Stream;
  static int on_begin_headers (nghttp2_session *, const nghttp2_frame *, void *);
  static int on_header (nghttp2_session *, const nghttp2_frame *, const uint8_t *, size_t,
                        const uint8_t *, size_t, uint8_t, void *);
  static int on_frame_recv (nghttp2_session *, const nghttp2_frame *, void *);
  static int on_data_chunk (nghttp2_session *, uint8_t, int32_t, const uint8_t *, size_t, void *);
  static int on_stream_close (nghttp2_session *, int32_t, uint32_t, void *);
  static ssize_t on_send (nghttp2_session *, const uint8_t *, size_t, int, void *);
  static int on_send_data (nghttp2_session *, nghttp2_frame *, const uint8_t *, size_t,
                           nghttp2_data_source *, void *);
  static ssize_t on_read_data (nghttp2_session *, int32_t, uint8_t *, size_t, uint32_t *,
                               nghttp2_data_source *, void *);

  void dispatch (int32_t id, Stream &s);
  void submit (int32_t id, Stream &s, OriginResponse response);
  size_t held () const;

  OriginHandler &handler_;
  const Limits limits_;
  Counters &counters_;
  Output &out_;
  nghttp2_session *session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  CommonFields common_; // what submitted HEADERS point into until sent
  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);
};

} // namespace mirror
