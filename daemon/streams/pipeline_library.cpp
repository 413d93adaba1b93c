// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/pipeline_library.h"

#include <algorithm>

#include <gio/gio.h>

namespace mirror::daemon {

namespace {

constexpr const char *kResourcePath = "/io/mirror/pipelines";
constexpr const char *kSuffix = ".pipeline";

bool
has_suffix (const std::string &name)
{
  return g_str_has_suffix (name.c_str (), kSuffix);
}

std::string
strip_suffix (const std::string &name)
{
  return name.substr (0, name.size () - strlen (kSuffix));
}

// Lines starting with '#' document a description; they are not gst-launch.
std::string
strip_comments (const std::string &text)
{
  std::string out;
  size_t pos = 0;
  while (pos < text.size ()) {
    size_t end = text.find ('\n', pos);
    if (end == std::string::npos)
      end = text.size ();
    std::string line = text.substr (pos, end - pos);
    size_t first = line.find_first_not_of (" \t");
    if (first != std::string::npos && line[first] != '#')
      out += line + "\n";
    pos = end + 1;
  }
  return out;
}

std::string
escape_value (const std::string &value)
{
  std::string out;
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

} // namespace

std::optional<PipelineLibrary>
PipelineLibrary::load (const std::string &dir, std::string *error)
{
  PipelineLibrary library;
  GError *err = nullptr;

  if (dir.empty ()) {
    char **children
        = g_resources_enumerate_children (kResourcePath, G_RESOURCE_LOOKUP_FLAGS_NONE, &err);
    if (!children) {
      *error = std::string ("built-in pipeline descriptions missing: ") + err->message;
      g_error_free (err);
      return std::nullopt;
    }
    for (char **child = children; *child; child++) {
      std::string name = *child;
      if (!has_suffix (name))
        continue;
      std::string path = std::string (kResourcePath) + "/" + name;
      GBytes *bytes
          = g_resources_lookup_data (path.c_str (), G_RESOURCE_LOOKUP_FLAGS_NONE, nullptr);
      if (!bytes)
        continue;
      gsize size = 0;
      const char *data = static_cast<const char *> (g_bytes_get_data (bytes, &size));
      library.descriptions_[strip_suffix (name)] = strip_comments (std::string (data, size));
      g_bytes_unref (bytes);
    }
    g_strfreev (children);
    return library;
  }

  GDir *gdir = g_dir_open (dir.c_str (), 0, &err);
  if (!gdir) {
    *error = "ingestion.pipelines_dir: cannot read " + dir + ": " + err->message;
    g_error_free (err);
    return std::nullopt;
  }
  while (const char *entry = g_dir_read_name (gdir)) {
    std::string name = entry;
    if (!has_suffix (name))
      continue;
    char *path = g_build_filename (dir.c_str (), entry, nullptr);
    char *contents = nullptr;
    gsize length = 0;
    if (g_file_get_contents (path, &contents, &length, nullptr)) {
      library.descriptions_[strip_suffix (name)] = strip_comments (std::string (contents, length));
      g_free (contents);
    }
    g_free (path);
  }
  g_dir_close (gdir);
  return library;
}

std::vector<std::string>
PipelineLibrary::names () const
{
  std::vector<std::string> out;
  for (const auto &[name, text] : descriptions_)
    out.push_back (name);
  return out;
}

std::optional<std::string>
PipelineLibrary::render_text (const std::string &text,
                              const std::map<std::string, std::string> &variables,
                              std::string *missing)
{
  std::string out;
  size_t pos = 0;
  while (pos < text.size ()) {
    size_t start = text.find ("${", pos);
    if (start == std::string::npos) {
      out += text.substr (pos);
      break;
    }
    size_t end = text.find ('}', start);
    if (end == std::string::npos) {
      out += text.substr (pos);
      break;
    }
    out += text.substr (pos, start - pos);
    std::string name = text.substr (start + 2, end - start - 2);
    auto it = variables.find (name);
    if (it == variables.end ()) {
      *missing = name;
      return std::nullopt;
    }
    out += escape_value (it->second);
    pos = end + 1;
  }
  return out;
}

std::optional<std::string>
PipelineLibrary::render (const std::string &name,
                         const std::map<std::string, std::string> &variables,
                         std::string *error) const
{
  auto it = descriptions_.find (name);
  if (it == descriptions_.end ()) {
    std::string known;
    for (const auto &n : names ())
      known += (known.empty () ? "" : ", ") + n;
    *error = "unknown pipeline \"" + name + "\" (known: " + known + ")";
    return std::nullopt;
  }
  std::string missing;
  auto text = render_text (it->second, variables, &missing);
  if (!text)
    *error = "pipeline \"" + name + "\" needs ${" + missing + "}, which has no value";
  return text;
}

namespace {

// "[element.pad]" on a line of its own (blanks around it allowed).
bool
parse_branch_header (const std::string &line, PipelineLibrary::Branch *branch)
{
  size_t first = line.find_first_not_of (" \t"), last = line.find_last_not_of (" \t\r");
  if (first == std::string::npos || line[first] != '[' || line[last] != ']')
    return false;
  std::string inside = line.substr (first + 1, last - first - 1);
  size_t dot = inside.find ('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == inside.size ())
    return false;
  branch->element = inside.substr (0, dot);
  branch->pad = inside.substr (dot + 1);
  branch->description.clear ();
  return true;
}

} // namespace

PipelineLibrary::Parts
PipelineLibrary::split (const std::string &rendered)
{
  Parts parts;
  std::string *into = &parts.pipeline;
  size_t pos = 0;
  while (pos < rendered.size ()) {
    size_t end = rendered.find ('\n', pos);
    if (end == std::string::npos)
      end = rendered.size ();
    std::string line = rendered.substr (pos, end - pos);
    Branch branch;
    if (parse_branch_header (line, &branch)) {
      parts.branches.push_back (branch);
      into = &parts.branches.back ().description;
    } else {
      *into += line + "\n";
    }
    pos = end + 1;
  }
  return parts;
}

std::string
PipelineLibrary::launch_text (const std::string &rendered)
{
  Parts parts = split (rendered);
  std::string text = parts.pipeline;
  for (const Branch &b : parts.branches)
    text += b.element + "." + b.pad + " ! " + b.description;
  return text;
}

std::vector<std::string>
PipelineLibrary::element_names (const std::string &rendered)
{
  // Words, split on blanks and '!' outside quotes; comments already gone.
  std::vector<std::string> words;
  std::string word;
  char quote = 0;
  bool escaped = false;
  for (char c : rendered) {
    if (escaped) {
      word += c;
      escaped = false;
    } else if (c == '\\') {
      word += c;
      escaped = true;
    } else if (quote) {
      word += c;
      if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      word += c;
      quote = c;
    } else if (c == '!' || g_ascii_isspace (c) || c == '(' || c == ')') {
      if (!word.empty ())
        words.push_back (word);
      word.clear ();
    } else {
      word += c;
    }
  }
  if (!word.empty ())
    words.push_back (word);

  std::vector<std::string> names;
  for (const std::string &w : words) {
    if (w.find_first_of ("=./,:\"'") != std::string::npos || !g_ascii_isalpha (w[0]))
      continue;
    if (std::find (names.begin (), names.end (), w) == names.end ())
      names.push_back (w);
  }
  return names;
}

} // namespace mirror::daemon
