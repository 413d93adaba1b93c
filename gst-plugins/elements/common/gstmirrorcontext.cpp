// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common/gstmirrorcontext.h"

#include <exception>

#include "registry/registry_uri.h"

GstDebugCategory *
gst_mirror_context_debug (void)
{
  static GstDebugCategory *category = nullptr;
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    category = _gst_debug_get_category ("GST_CONTEXT");
    if (!category)
      category = _gst_debug_category_new ("GST_CONTEXT", 0, "GstContext");
    g_once_init_leave (&done, 1);
  }
  return category;
}

GstContext *
gst_mirror_context_new (const char *type, const char *field, GType handle_type, gpointer handle)
{
  // Persistent: what it carries outlives any one state change of the pipeline.
  GstContext *context = gst_context_new (type, TRUE);
  gst_structure_set (gst_context_writable_structure (context), field, handle_type, handle, nullptr);
  g_boxed_free (handle_type, handle);
  return context;
}

GstContext *
gst_mirror_registry_context_new (std::shared_ptr<mirror::StreamRegistry> registry)
{
  return gst_mirror_context_new (MIRROR_REGISTRY_CONTEXT_TYPE, MIRROR_REGISTRY_CONTEXT_FIELD,
                                 MIRROR_TYPE_REGISTRY_HANDLE,
                                 mirror::registry_handle_new (std::move (registry)));
}

namespace {

gboolean
query_peer (const GValue *item, GValue *value, gpointer user_data)
{
  auto *pad = GST_PAD (g_value_get_object (item));
  if (gst_pad_peer_query (pad, GST_QUERY (user_data))) {
    g_value_set_boolean (value, TRUE);
    return FALSE; // found: stop iterating
  }
  return TRUE;
}

// Asks the peers of @element's pads of one direction; true if one answered.
bool
query_neighbours (GstElement *element, GstQuery *query, GstPadDirection direction)
{
  GstIterator *it = direction == GST_PAD_SRC ? gst_element_iterate_src_pads (element)
                                             : gst_element_iterate_sink_pads (element);
  GValue found = G_VALUE_INIT;
  g_value_init (&found, G_TYPE_BOOLEAN);
  g_value_set_boolean (&found, FALSE);
  while (gst_iterator_fold (it, query_peer, &found, query) == GST_ITERATOR_RESYNC) {
    g_value_set_boolean (&found, FALSE);
    gst_iterator_resync (it);
  }
  gst_iterator_free (it);
  return g_value_get_boolean (&found);
}

} // namespace

bool
gst_mirror_context_query_neighbours (GstElement *element, const char *type)
{
  // gst_element_set_context lands in the element's set_context, which takes it.
  GstQuery *query = gst_query_new_context (type);
  bool found = false;
  for (GstPadDirection direction : { GST_PAD_SRC, GST_PAD_SINK }) {
    if (query_neighbours (element, query, direction)) {
      GstContext *context = nullptr;
      gst_query_parse_context (query, &context);
      if (context) {
        gst_element_set_context (element, context);
        found = true;
        break;
      }
    }
  }
  gst_query_unref (query);
  return found;
}

bool
GstMirrorRegistrySlot::ensure (GstElement *element, const std::string &registry_uri)
{
  if (find (element))
    return true;

  // 4) nobody has one (a gst-launch-1.0 prototype): make it and share it.
  std::string error;
  std::shared_ptr<mirror::StreamRegistry> registry;
  try {
    mirror::RegistryOptions options;
    options.uri = registry_uri;
    registry = mirror::make_registry (options, &error);
  } catch (const std::exception &e) {
    error = e.what ();
    registry.reset ();
  }
  if (!registry) {
    // The URI may hold a Redis password.
    std::string shown = mirror::redact_registry_uri (registry_uri);
    GST_ELEMENT_ERROR (element, RESOURCE, SETTINGS,
                       ("%s: cannot use registry=\"%s\": %s", GST_OBJECT_NAME (element),
                        shown.c_str (), error.empty () ? "unknown error" : error.c_str ()),
                       ("make_registry failed for property \"registry\" = \"%s\"", shown.c_str ()));
    return false;
  }

  GST_CAT_INFO_OBJECT (gst_mirror_context_debug (), element,
                       "no %s context found, made registry %s", MIRROR_REGISTRY_CONTEXT_TYPE,
                       registry->describe ().c_str ());
  // Siblings that ask later get the same registry from the pipeline.
  share (element, std::move (registry));
  return true;
}
