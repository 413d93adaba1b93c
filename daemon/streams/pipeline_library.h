// SPDX-License-Identifier: LGPL-2.1-or-later
// The pipeline descriptions of pipelines/: gst-launch text with ${variables}.
// A line "[element.pad]" starts a branch: the gst-launch text after it is
// built and linked to that pad of that element when the pad appears (a
// sometimes pad, such as the ingest bin's audio_0), and never when it does
// not, so a video-only feed carries no audio branch that nothing feeds.
// mirrord carries them built in (GResource) and can read a directory instead
// (ingestion.pipelines_dir), so a description can be edited without a rebuild.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mirror::daemon {

class PipelineLibrary {
 public:
  // Built-in descriptions, or every *.pipeline in dir when dir is non-empty.
  // Returns nullopt and sets *error when dir cannot be read.
  static std::optional<PipelineLibrary> load (const std::string &dir, std::string *error);

  std::vector<std::string> names () const;
  bool contains (const std::string &name) const { return descriptions_.count (name) != 0; }

  // The description with every ${name} replaced by variables[name], escaped
  // for a double-quoted gst-launch value. Sets *error naming the pipeline and
  // the variable when one has no value.
  std::optional<std::string> render (const std::string &name,
                                     const std::map<std::string, std::string> &variables,
                                     std::string *error) const;

  // The element factory names a rendered description uses, in order, each
  // once: the words that are neither properties (key=value), pad
  // references (name.pad), caps (media/type,...), links (!) nor inside
  // quotes. GStreamer 1.22's parser can crash on a description whose named
  // elements are missing, so mirrord looks them up before parsing.
  static std::vector<std::string> element_names (const std::string &rendered);

  // A rendered description in its parts: the pipeline, then its branches.
  struct Branch {
    std::string element, pad, description;
  };
  struct Parts {
    std::string pipeline;
    std::vector<Branch> branches;
  };
  static Parts split (const std::string &rendered);
  // All of it as one gst-launch-1.0 description: each branch becomes
  // "element.pad ! ...", which gst-launch links when the pad appears (it
  // cannot leave a branch out for a pad that never comes).
  static std::string launch_text (const std::string &rendered);

  // Exposed for tests and for tools/mirror-launch.
  static std::optional<std::string>
  render_text (const std::string &text, const std::map<std::string, std::string> &variables,
               std::string *missing);

 private:
  std::map<std::string, std::string> descriptions_;
};

} // namespace mirror::daemon
