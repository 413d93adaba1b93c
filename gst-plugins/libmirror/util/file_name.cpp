// SPDX-License-Identifier: LGPL-2.1-or-later
#include "util/file_name.h"

#include <glib.h>

namespace mirror {

std::string
safe_file_name (const std::string &name)
{
  std::string out = name;
  for (char &c : out)
    if (!g_ascii_isalnum (c) && c != '-' && c != '_' && c != '.')
      c = '_';
  return out.empty () || out[0] == '.' ? "_" + out : out;
}

} // namespace mirror
