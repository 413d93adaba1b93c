// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingest/srt_reject.h"

#include <srt/access_control.h>

namespace mirror {

int
srt_reject_code (SrtRejectReason reason)
{
  switch (reason) {
  case SrtRejectReason::kMalformedStreamId:
    return SRT_REJX_BAD_REQUEST;
  case SrtRejectReason::kNotAllowed:
    return SRT_REJX_FORBIDDEN;
  case SrtRejectReason::kBadPassphrase:
    // Never sent by the hub: libsrt itself rejects a wrong or missing
    // passphrase (SRT_REJ_BADSECRET / SRT_REJ_UNSECURE) after the listen
    // callback, which tells the caller more than 401 would.
    return SRT_REJX_UNAUTHORIZED;
  case SrtRejectReason::kAlreadyLive:
    return SRT_REJX_CONFLICT;
  case SrtRejectReason::kTooManyConnections:
  case SrtRejectReason::kNoConsumer:
    return SRT_REJX_DOWN;
  }
  return SRT_REJX_FALLBACK;
}

const char *
to_string (SrtRejectReason reason)
{
  switch (reason) {
  case SrtRejectReason::kMalformedStreamId:
    return "malformed-stream-id";
  case SrtRejectReason::kNotAllowed:
    return "not-allowed";
  case SrtRejectReason::kBadPassphrase:
    return "bad-passphrase";
  case SrtRejectReason::kAlreadyLive:
    return "already-live";
  case SrtRejectReason::kTooManyConnections:
    return "too-many-connections";
  case SrtRejectReason::kNoConsumer:
    return "no-consumer";
  }
  return "unknown";
}

} // namespace mirror
