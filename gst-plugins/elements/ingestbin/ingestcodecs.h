// SPDX-License-Identifier: LGPL-2.1-or-later
// Which parser (and which pad) each elementary stream of a feed gets, and the
// registry's view of its caps. Kept apart from the bin so that the rules are
// in one place.
#pragma once

#include <gst/gst.h>

#include <string>

#include "registry/stream_registry.h"

namespace mirror {

struct IngestCodec {
  enum class Media { kVideo, kAudio, kOther };
  Media media = Media::kOther;
  // The parser factory; nullptr when the stream is not supported (an error
  // for video, ignored otherwise).
  const char *parser = nullptr;
  std::string name; // "h265", "h264", "aac", "mp3", "ac3", "eac3", "opus", else the caps
};

// From a demuxer's (or depayloader's) source pad caps.
IngestCodec classify_elementary_stream (const GstCaps *caps);

// The depayloader for an RTP encoding ("H265", "H264", "AAC").
const char *rtp_depayloader_for (const std::string &encoding);

// The registry's codec, width, height and frame rate from a parser's caps.
StreamStats stream_stats_from_caps (const GstCaps *caps);

} // namespace mirror
