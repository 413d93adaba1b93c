// SPDX-License-Identifier: LGPL-2.1-or-later
// The error vocabulary shared by the REST API and D-Bus (the seed's codes).
#pragma once

#include <string>

namespace mirror::daemon {

enum class ApiErrc {
  kOk,
  kNotFound,           // 404
  kAlreadyExists,      // 409
  kCapacityFull,       // 429
  kInvalidInput,       // 400
  kUnauthorized,       // 401
  kServiceUnavailable, // 503
  kConflict,           // 409: not in a state that allows it
  kInternal,           // 500
};

struct ApiError {
  ApiErrc code = ApiErrc::kOk;
  std::string message;

  bool ok () const { return code == ApiErrc::kOk; }
  static ApiError none () { return {}; }
};

// "NOT_FOUND", "ALREADY_EXISTS", ...
const char *api_error_code_name (ApiErrc code);
unsigned api_error_http_status (ApiErrc code);

} // namespace mirror::daemon
