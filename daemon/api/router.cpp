// SPDX-License-Identifier: LGPL-2.1-or-later
#include "api/router.h"

#include <glib.h>

namespace mirror::daemon {

namespace {

std::vector<std::string>
split_path (const std::string &path)
{
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= path.size ()) {
    size_t end = path.find ('/', pos);
    if (end == std::string::npos)
      end = path.size ();
    if (end > pos)
      out.push_back (path.substr (pos, end - pos));
    pos = end + 1;
  }
  return out;
}

} // namespace

void
Router::add (const char *method, const char *pattern, Handler handler, bool mutating)
{
  routes_.push_back ({ method, pattern, split_path (pattern), std::move (handler), mutating });
}

Router::Match
Router::match (const std::string &method, const std::string &path) const
{
  Match result;
  auto segments = split_path (path);
  for (const auto &route : routes_) {
    if (route.segments.size () != segments.size ())
      continue;
    std::vector<std::string> params;
    bool ok = true;
    for (size_t i = 0; i < segments.size () && ok; i++) {
      const std::string &want = route.segments[i];
      if (want.size () > 2 && want.front () == '{' && want.back () == '}') {
        char *decoded = g_uri_unescape_string (segments[i].c_str (), nullptr);
        params.push_back (decoded ? decoded : segments[i]);
        g_free (decoded);
      } else {
        ok = want == segments[i];
      }
    }
    if (!ok)
      continue;
    result.path_known = true;
    if (route.method == method || (method == "HEAD" && route.method == "GET")) {
      result.handler = &route.handler;
      result.pattern = route.pattern;
      result.params = std::move (params);
      result.mutating = route.mutating;
      return result;
    }
  }
  return result;
}

} // namespace mirror::daemon
