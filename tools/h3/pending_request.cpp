// SPDX-License-Identifier: LGPL-2.1-or-later
// One request's bookkeeping, shared by the HTTP/3 and HTTP/2 clients.
#include "pending_request.h"

#include <algorithm>
#include <cstdio>

namespace mirror::tools {

void
PendingRequest::begin (Request r, ResponseCallback callback)
{
  request = std::move (r);
  cb = std::move (callback);
  response.queued_ns = monotonic_ns ();
}

void
PendingRequest::arm_timeout (EventLoop &loop, std::function<void ()> on_timeout)
{
  timeout = std::make_unique<Timer> (loop, std::move (on_timeout));
  timeout->arm_in (request.timeout_ns);
}

void
PendingRequest::add_header (std::string_view key, std::string_view val)
{
  if (key == ":status") {
    int status = 0;
    for (char c : val)
      status = c >= '0' && c <= '9' ? status * 10 + (c - '0') : status;
    informational = status >= 100 && status < 200;
    if (!informational)
      response.status = status;
    return;
  }
  if (!informational && request.keep_headers)
    response.headers.emplace_back (std::string (key), std::string (val));
}

void
PendingRequest::add_body (const uint8_t *data, size_t len)
{
  Response &r = response;
  if (request.keep_body)
    r.body.append ((const char *)data, len);
  else if (r.body.size () < Response::kHeadBytes)
    r.body.append ((const char *)data, std::min (len, Response::kHeadBytes - r.body.size ()));
  r.body_size += len;
}

void
PendingRequest::deliver (EventLoop &loop, int64_t done_ns, double done_wall)
{
  if (!cb)
    return;
  // Cancel, not destroy: this may run inside the timer's own callback.
  if (timeout)
    timeout->cancel ();
  response.done_ns = done_ns;
  response.done_wall = done_wall;
  // The callback and the response travel by value: the task must not need
  // the connection, which an earlier callback may have destroyed.
  loop.defer ([cb = std::move (cb), r = std::move (response)] () mutable { cb (std::move (r)); });
  cb = nullptr;
}

void
PendingRequest::deliver_error (EventLoop &loop, ErrorKind kind, const std::string &text,
                               int64_t done_ns, double done_wall)
{
  if (!cb)
    return;
  response.error = kind;
  response.error_text = text;
  deliver (loop, done_ns, done_wall);
}

std::string
PendingRequest::timeout_text () const
{
  return "no complete response to GET " + request.path + " within "
         + std::to_string (request.timeout_ns / kNsPerMs) + " ms";
}

void
log_connection_line (const char *tag, const std::string &peer, const char *fmt, va_list ap)
{
  fprintf (stderr, "[%s %s] ", tag, peer.c_str ());
  vfprintf (stderr, fmt, ap);
  fprintf (stderr, "\n");
}

} // namespace mirror::tools
