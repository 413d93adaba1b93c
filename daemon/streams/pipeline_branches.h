// SPDX-License-Identifier: LGPL-2.1-or-later
// The branches of a pipeline description ("[element.pad]" sections, see
// pipeline_library.h) on a parsed pipeline: each is built and linked to its
// pad when the pad appears (at once when it exists already), so a feed
// without that stream (a video-only feed's audio) carries no branch that
// nothing feeds.
#pragma once

#include <string>

#include <gst/gst.h>

#include "streams/pipeline_library.h"

namespace mirror::daemon {

// Sets up every branch of @parts on @pipeline. False and *error naming the
// branch ("branch [ingest.audio_0]: ...") when one cannot be: its element
// is missing, can have no such pad, or its description does not build.
// A branch that fails to link later, when its pad appears, posts an error
// on the pipeline's bus.
bool set_up_branches (GstElement *pipeline, const PipelineLibrary::Parts &parts,
                      std::string *error);

} // namespace mirror::daemon
