// Stream states as the lowercase words used in JSON, the REST API and logs.
#include "registry/stream_registry.h"

namespace mirror {

namespace {

struct StateName {
  StreamState state;
  std::string_view name;
};

constexpr StateName kStateNames[] = {
  { StreamState::kStarting, "starting" }, { StreamState::kLive, "live" },
  { StreamState::kPaused, "paused" },     { StreamState::kStalled, "stalled" },
  { StreamState::kError, "error" },       { StreamState::kStopping, "stopping" },
};

} // namespace

const char *
to_string (StreamState state)
{
  for (const auto &entry : kStateNames)
    if (entry.state == state)
      return entry.name.data ();
  return "unknown";
}

std::optional<StreamState>
stream_state_from_string (std::string_view text)
{
  for (const auto &entry : kStateNames)
    if (entry.name == text)
      return entry.state;
  return std::nullopt;
}

} // namespace mirror
