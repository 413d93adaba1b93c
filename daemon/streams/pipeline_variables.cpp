#include "streams/pipeline_variables.h"

#include <gst/gst.h>

#include "config/config.h"

namespace mirror::daemon {

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
  };
  for (const auto &[k, v] : extra)
    vars[k] = v;
  return vars;
}

} // namespace mirror::daemon
