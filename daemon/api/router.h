// SPDX-License-Identifier: LGPL-2.1-or-later
// Method + path-pattern routing for the admin API ("/api/v1/streams/{id}").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/http_exchange.h"

namespace mirror::daemon {

class Router {
 public:
  using Handler = std::function<void (Exchange)>;

  // pattern segments in braces capture a parameter; mutating routes need the
  // admin token when one is configured.
  void add (const char *method, const char *pattern, Handler handler, bool mutating = false);

  struct Match {
    const Handler *handler = nullptr;
    std::string pattern;
    std::vector<std::string> params;
    bool mutating = false;
    bool path_known = false; // some route has this path, maybe not this method
  };
  Match match (const std::string &method, const std::string &path) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
    bool mutating;
  };
  std::vector<Route> routes_;
};

} // namespace mirror::daemon
