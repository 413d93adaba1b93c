// SPDX-License-Identifier: LGPL-2.1-or-later
#include "test_env.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <stdexcept>

namespace mirror::daemon::config_test {

Env::Env (std::initializer_list<std::string> entries) : entries_ (entries)
{
  for (const std::string &entry : entries_)
    pointers_.push_back (entry.c_str ());
  pointers_.push_back (nullptr);
}

ScratchFile::ScratchFile (const std::string &contents)
{
  GError *error = nullptr;
  char *dir = g_dir_make_tmp ("mirror-config-XXXXXX", &error);
  if (!dir)
    throw std::runtime_error (error->message);
  dir_ = dir;
  g_free (dir);
  path_ = dir_ + "/mirror.yaml";
  if (!g_file_set_contents (path_.c_str (), contents.data (), contents.size (), &error))
    throw std::runtime_error (error->message);
}

ScratchFile::~ScratchFile ()
{
  g_chmod (path_.c_str (), 0600);
  g_unlink (path_.c_str ());
  g_rmdir (dir_.c_str ());
}

ConfigResult
load_yaml (const std::string &yaml)
{
  ScratchFile file (yaml);
  return load_config (file.path (), nullptr);
}

ConfigResult
load_env (const std::string &entry)
{
  Env env{ entry };
  return load_config ("", env.get ());
}

std::string
source_path (const std::string &relative)
{
  const char *root = g_getenv ("MIRROR_SOURCE_ROOT");
  if (!root)
    throw std::runtime_error ("MIRROR_SOURCE_ROOT is not set (run through meson test)");
  return std::string (root) + "/" + relative;
}

} // namespace mirror::daemon::config_test
