// SPDX-License-Identifier: LGPL-2.1-or-later
// Helpers for the config tests: an environ-like array and scratch files.
#pragma once

#include "config.h"

#include <initializer_list>
#include <string>
#include <vector>

namespace mirror::daemon::config_test {

// A NULL-terminated "NAME=value" array, as load_config() takes.
class Env {
 public:
  Env (std::initializer_list<std::string> entries);
  const char *const *get () const { return pointers_.data (); }

 private:
  std::vector<std::string> entries_;
  std::vector<const char *> pointers_;
};

// A file in a private temporary directory, removed with the object.
class ScratchFile {
 public:
  explicit ScratchFile (const std::string &contents);
  ~ScratchFile ();
  const std::string &path () const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// Loads YAML text with no environment.
ConfigResult load_yaml (const std::string &yaml);

// Loads defaults plus one variable.
ConfigResult load_env (const std::string &entry);

// $MIRROR_SOURCE_ROOT/relative (set by the meson test environment).
std::string source_path (const std::string &relative);

} // namespace mirror::daemon::config_test
