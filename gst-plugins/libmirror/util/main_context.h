// Hands work to a GMainContext's thread: how results computed on a worker
// thread (the registry's) reach mirrord's main loop.
#pragma once

#include <functional>

#include <glib.h>

namespace mirror {

// Runs fn on context's thread (at default priority); right away if the caller
// already owns context.
void invoke_on (GMainContext *context, std::function<void ()> fn);

// Monotonic milliseconds, and wall-clock milliseconds since the epoch.
int64_t monotonic_ms ();
int64_t unix_ms ();

} // namespace mirror
