// SPDX-License-Identifier: LGPL-2.1-or-later
#include "playlist_rules.h"

#include <glib.h>
#include <glib/gstdio.h>

#include "hls_test_feed.h"

namespace mirror::test {

std::string
server_control_line (const std::string &playlist)
{
  for (const std::string &l : lines_of (playlist))
    if (l.rfind ("#EXT-X-SERVER-CONTROL:", 0) == 0)
      return l;
  return "";
}

std::vector<std::vector<std::string>>
ll_hls_violations_each (const std::vector<std::string> &playlists)
{
  std::vector<std::vector<std::string>> out (playlists.size ());
  const char *root = g_getenv ("MIRROR_SOURCE_ROOT");
  std::string checker = std::string (root ? root : ".") + "/tests/integration/llhls.py";
  gchar *dir = g_dir_make_tmp ("mirror-playlists-XXXXXX", nullptr);
  std::vector<std::string> files;
  std::vector<const gchar *> argv = { "python3", checker.c_str () };
  for (size_t i = 0; i < playlists.size (); i++) {
    files.push_back (std::string (dir) + "/" + std::to_string (i) + ".m3u8");
    g_file_set_contents (files.back ().c_str (), playlists[i].c_str (), -1, nullptr);
  }
  for (const auto &f : files)
    argv.push_back (f.c_str ());
  argv.push_back (nullptr);
  gchar *stdout_text = nullptr, *stderr_text = nullptr;
  GError *err = nullptr;
  gboolean ran = g_spawn_sync (nullptr, (gchar **)argv.data (), nullptr, G_SPAWN_SEARCH_PATH,
                               nullptr, nullptr, &stdout_text, &stderr_text, nullptr, &err);
  // "FILE: ok" or "FILE: N violation(s)", then one "  breach" line each.
  int current = -1;
  for (const std::string &line : lines_of (ran && stdout_text ? stdout_text : "")) {
    if (line.rfind ("  ", 0) == 0 && current >= 0) {
      out[current].push_back (line.substr (2));
      continue;
    }
    for (size_t i = 0; i < files.size (); i++)
      if (line.rfind (files[i] + ":", 0) == 0)
        current = (int)i;
  }
  if (!ran || (stderr_text && *stderr_text))
    for (auto &bad : out)
      bad.push_back (std::string ("the checker failed: ")
                     + (err           ? err->message
                        : stderr_text ? stderr_text
                                      : "?"));
  g_clear_error (&err);
  g_free (stdout_text);
  g_free (stderr_text);
  for (const auto &f : files)
    g_remove (f.c_str ());
  g_rmdir (dir);
  g_free (dir);
  return out;
}

std::vector<std::string>
ll_hls_violations (const std::string &playlist)
{
  return ll_hls_violations_each ({ playlist })[0];
}

} // namespace mirror::test
