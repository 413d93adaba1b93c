// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/api_error.h"

namespace mirror::daemon {

const char *
api_error_code_name (ApiErrc code)
{
  switch (code) {
  case ApiErrc::kOk:
    return "OK";
  case ApiErrc::kNotFound:
    return "NOT_FOUND";
  case ApiErrc::kAlreadyExists:
    return "ALREADY_EXISTS";
  case ApiErrc::kCapacityFull:
    return "CAPACITY_FULL";
  case ApiErrc::kInvalidInput:
    return "INVALID_INPUT";
  case ApiErrc::kUnauthorized:
    return "UNAUTHORIZED";
  case ApiErrc::kServiceUnavailable:
    return "SERVICE_UNAVAILABLE";
  case ApiErrc::kInternal:
    return "INTERNAL_ERROR";
  case ApiErrc::kConflict:
    return "CONFLICT";
  }
  return "INTERNAL_ERROR";
}

unsigned
api_error_http_status (ApiErrc code)
{
  switch (code) {
  case ApiErrc::kOk:
    return 200;
  case ApiErrc::kNotFound:
    return 404;
  case ApiErrc::kAlreadyExists:
    return 409;
  case ApiErrc::kCapacityFull:
    return 429;
  case ApiErrc::kInvalidInput:
    return 400;
  case ApiErrc::kUnauthorized:
    return 401;
  case ApiErrc::kServiceUnavailable:
    return 503;
  case ApiErrc::kInternal:
    return 500;
  case ApiErrc::kConflict:
    return 409;
  }
  return 500;
}

} // namespace mirror::daemon
