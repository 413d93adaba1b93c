// SPDX-License-Identifier: LGPL-2.1-or-later
#include "config.h"
#include "layers.h"
#include "values.h"

#include <cstdio>

namespace mirror::daemon {

namespace {

// Quoted, with escapes, so that the message stays on one line and an empty
// or space-padded value is visible; numbers ("70000", "500ms") read better bare.
std::string
render_value (const std::string &value)
{
  if (config_values::looks_numeric (value))
    return value;
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char escaped[8];
        std::snprintf (escaped, sizeof escaped, "\\x%02x", c);
        out += escaped;
      } else {
        out += static_cast<char> (c);
      }
    }
  }
  return out + "\"";
}

} // namespace

std::string
ConfigError::to_string () const
{
  std::string out = "config: ";
  if (!source.empty ())
    out += source + ": ";
  if (!key.empty ())
    out += key + ": ";
  if (has_value || !value.empty ())
    out += render_value (value) + (problem.empty () ? "" : " ");
  out += problem;
  if (!allowed.empty ())
    out += " (allowed: " + allowed + ")";
  return out;
}

ConfigError
config_layers::to_error (config_io::Problem problem, std::string source)
{
  ConfigError error;
  error.key = std::move (problem.key);
  error.value = std::move (problem.value);
  error.has_value = problem.has_value;
  error.problem = std::move (problem.problem);
  error.allowed = std::move (problem.allowed);
  error.source = std::move (source);
  return error;
}

} // namespace mirror::daemon
