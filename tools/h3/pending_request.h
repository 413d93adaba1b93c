// SPDX-License-Identifier: LGPL-2.1-or-later
// One request's bookkeeping on a multiplexed connection (HTTP/3, HTTP/2):
// its callback, the response being gathered (status, headers, body as
// keep_headers and keep_body ask), its timeout, and the hand-over to the
// caller. The streams of h3_client.cpp and h2_client.cpp derive from it and
// add what their protocol needs (stream id, reset codes).
#pragma once

#include <cstdarg>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "event_loop.h"
#include "h3_client.h"

namespace mirror::tools {

struct PendingRequest {
  Request request;
  ResponseCallback cb; // empty once the response was delivered
  Response response;
  bool informational = false; // the header block being read is a 1xx
  std::unique_ptr<Timer> timeout;

  // Takes the request and its callback; stamps queued_ns.
  void begin (Request r, ResponseCallback callback);
  // Arms the request's timeout; on_timeout runs from the timer.
  void arm_timeout (EventLoop &loop, std::function<void ()> on_timeout);
  // One response header field: :status (a 1xx starts an informational
  // block, whose fields are dropped), or a field kept if keep_headers.
  void add_header (std::string_view key, std::string_view val);
  // Body bytes: all of them, or the first Response::kHeadBytes (keep_body
  // false); body_size counts them all.
  void add_body (const uint8_t *data, size_t len);
  // Completes the response (stamped done_ns / done_wall) and hands it and
  // the callback to a deferred task; nothing once delivered.
  void deliver (EventLoop &loop, int64_t done_ns, double done_wall);
  void deliver_error (EventLoop &loop, ErrorKind kind, const std::string &text, int64_t done_ns,
                      double done_wall);
  // "no complete response to GET <path> within <n> ms"
  std::string timeout_text () const;
};

// A connection's log line on stderr: "[<tag> <peer>] <message>".
void log_connection_line (const char *tag, const std::string &peer, const char *fmt, va_list ap);

// Takes s out of queued (a request not yet sent); empty when it is not
// there. A timeout takes its request this way from inside the request's own
// timer, so it frees it from a deferred task.
template <typename Stream>
std::shared_ptr<Stream>
take_queued (std::deque<std::unique_ptr<Stream>> &queued, Stream *s)
{
  for (auto it = queued.begin (); it != queued.end (); ++it) {
    if (it->get () == s) {
      std::shared_ptr<Stream> taken (std::move (*it));
      queued.erase (it);
      return taken;
    }
  }
  return nullptr;
}

} // namespace mirror::tools
