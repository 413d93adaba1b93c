// SPDX-License-Identifier: LGPL-2.1-or-later
#include "util/main_context.h"

namespace mirror {

void
invoke_on (GMainContext *context, std::function<void ()> fn)
{
  auto *heap = new std::function<void ()> (std::move (fn));
  g_main_context_invoke_full (
      context, G_PRIORITY_DEFAULT,
      [] (gpointer data) -> gboolean {
        (*static_cast<std::function<void ()> *> (data)) ();
        return G_SOURCE_REMOVE;
      },
      heap, [] (gpointer data) { delete static_cast<std::function<void ()> *> (data); });
}

guint
timeout_add (unsigned ms, std::function<bool ()> fn, GMainContext *context)
{
  GSource *source = g_timeout_source_new (ms);
  g_source_set_callback (
      source,
      [] (gpointer data) -> gboolean {
        return (*static_cast<std::function<bool ()> *> (data)) () ? G_SOURCE_CONTINUE
                                                                  : G_SOURCE_REMOVE;
      },
      new std::function<bool ()> (std::move (fn)),
      [] (gpointer data) { delete static_cast<std::function<bool ()> *> (data); });
  guint id = g_source_attach (source, context);
  g_source_unref (source);
  return id;
}

void
timeout_remove (guint id, GMainContext *context)
{
  if (GSource *source = id ? g_main_context_find_source_by_id (context, id) : nullptr)
    g_source_destroy (source);
}

int64_t
monotonic_ms ()
{
  return g_get_monotonic_time () / 1000;
}

int64_t
unix_ms ()
{
  return g_get_real_time () / 1000;
}

} // namespace mirror
