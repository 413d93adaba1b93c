// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/pipeline_variables.h"

#include <gst/gst.h>

#include "config/config.h"

namespace mirror::daemon {

std::vector<LadderRung>
configured_ladder (const Config &config)
{
  const TranscodingConfig &t = config.transcoding;
  if (!t.enabled)
    return { LadderRung{ .name = "source", .source = true } };
  if (!t.renditions.empty ()) {
    std::string error; // the config's checks refused a bad ladder already
    if (auto rungs = parse_ladder (t.renditions, &error))
      return *rungs;
  }
  return { LadderRung{ .name = std::to_string (t.output_height) + "p",
                       .width = t.output_width,
                       .height = t.output_height,
                       .bitrate = t.output_bitrate } };
}

namespace {

// One packaging branch per rung of the ladder: mirrorcmafmux and
// mirrorh3sink publishing it under its name. No quotes: rendering escapes
// them in values, and stream ids and rendition names need none.
std::string
rendition_branches (const std::vector<LadderRung> &ladder, const std::string &stream_id,
                    const std::string &part_ns, const std::string &segment_ns)
{
  std::string out;
  for (size_t i = 0; i < ladder.size (); ++i) {
    const std::string &name = ladder[i].name;
    out += "transcode.src_" + std::to_string (i) + " ! mirrorcmafmux name=mux_" + name
           + " part-duration=" + part_ns + " segment-duration=" + segment_ns
           + " ! mirrorh3sink name=sink_" + name + " stream-id=" + stream_id + " rendition=" + name
           + "\n";
  }
  return out;
}

} // namespace

std::map<std::string, std::string>
pipeline_variables (const Config &config, const std::string &stream_id, const std::string &uri,
                    const std::map<std::string, std::string> &extra)
{
  auto ns = [] (int64_t ms) { return std::to_string (ms * (int64_t)GST_MSECOND); };
  std::map<std::string, std::string> vars = {
    { "stream_id", stream_id },
    { "uri", uri.empty ()
                 ? "srt://:" + std::to_string (config.ingestion.srt.port) + "?streamid=" + stream_id
                 : uri },
    { "ring_size", std::to_string (config.ingestion.buffer.ring_size) },
    { "reconnect_window", ns (config.ingestion.reconnect_window_ms) },
    { "segment_duration", ns (config.packaging.segment_duration_ms) },
    { "part_duration", ns (config.packaging.part_duration_ms) },
    { "x264_preset", config.transcoding.x264_preset },
    { "x264_tune", config.transcoding.x264_tune.empty () ? "none" : config.transcoding.x264_tune },
    { "audio_bitrate", std::to_string (config.transcoding.audio_bitrate) },
    { "gpu_max_sessions", std::to_string (config.transcoding.gpu_max_sessions) },
  };
  std::vector<LadderRung> ladder = configured_ladder (config);
  vars["renditions"] = format_ladder (ladder);
  vars["rendition_branches"]
      = rendition_branches (ladder, stream_id, vars["part_duration"], vars["segment_duration"]);
  // nvidia: auto prefers the NVIDIA elements already and falls back with a
  // warning; cpu: never touch the GPU.
  bool cpu = config.transcoding.hardware == "cpu";
  vars["decoder"] = cpu ? "cpu" : "auto";
  vars["encoder"] = cpu ? "cpu" : "auto";
  for (const auto &[k, v] : extra)
    vars[k] = v;
  return vars;
}

} // namespace mirror::daemon
