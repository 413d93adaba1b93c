// SPDX-License-Identifier: LGPL-2.1-or-later
#include "thread_nices.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

namespace mirror::test {

std::vector<int>
thread_nices (const std::string &prefix)
{
  std::vector<int> out;
  for (const auto &entry : std::filesystem::directory_iterator ("/proc/self/task")) {
    std::ifstream in (entry.path () / "stat");
    std::string text ((std::istreambuf_iterator<char> (in)), {});
    size_t open = text.find ('('), close = text.rfind (')');
    if (open == std::string::npos || close == std::string::npos)
      continue;
    if (text.compare (open + 1, prefix.size (), prefix) != 0)
      continue;
    // Fields after the name: state is the 3rd field of the line, nice the 19th.
    std::istringstream rest (text.substr (close + 2));
    std::string field;
    for (int i = 3; i <= 19 && rest >> field; i++)
      if (i == 19)
        out.push_back (std::stoi (field));
  }
  return out;
}

} // namespace mirror::test
