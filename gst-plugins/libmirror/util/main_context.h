// SPDX-License-Identifier: LGPL-2.1-or-later
// Hands work to a GMainContext's thread: how results computed on a worker
// thread (the registry's) reach mirrord's main loop.
#pragma once

#include <functional>

#include <glib.h>

namespace mirror {

// Runs fn on context's thread (at default priority); right away if the caller
// already owns context.
void invoke_on (GMainContext *context, std::function<void ()> fn);

// Calls fn on context's thread (nullptr: the global default context) after
// ms, and again every ms for as long as it returns true. Returns the source
// id; g_source_remove (id) cancels it (on that context's thread). What fn
// captures is freed with the source.
guint timeout_add (unsigned ms, std::function<bool ()> fn, GMainContext *context = nullptr);
// Cancels a timeout_add source of context (any context, unlike
// g_source_remove); on that context's thread. Nothing for an id of 0.
void timeout_remove (guint id, GMainContext *context);

// Monotonic milliseconds, and wall-clock milliseconds since the epoch.
int64_t monotonic_ms ();
int64_t unix_ms ();

} // namespace mirror
