// SPDX-License-Identifier: LGPL-2.1-or-later
// What the storage tests share: a temporary directory removed with its
// contents, and a file's bytes.
#pragma once

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include <glib.h>

namespace mirror::test {

class TempDir {
 public:
  explicit TempDir (const char *pattern = "mirror-storage-XXXXXX")
  {
    gchar *path = g_dir_make_tmp (pattern, nullptr);
    path_ = path ? path : "";
    g_free (path);
  }
  ~TempDir ()
  {
    std::string cmd = "rm -rf '" + path_ + "'";
    (void)!system (cmd.c_str ());
  }
  const std::string &path () const { return path_; }

 private:
  std::string path_;
};

inline std::string
file_text (const std::string &path)
{
  std::ifstream in (path, std::ios::binary);
  return std::string (std::istreambuf_iterator<char> (in), {});
}

} // namespace mirror::test
