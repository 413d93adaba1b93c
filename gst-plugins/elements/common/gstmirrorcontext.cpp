// SPDX-License-Identifier: LGPL-2.1-or-later
#include "common/gstmirrorcontext.h"

#include <exception>

#include "registry/registry_uri.h"

// The core's GST_CONTEXT category, so GST_DEBUG=GST_CONTEXT:7 shows the whole
// context dance, ours included.
GST_DEBUG_CATEGORY_STATIC (GST_CAT_CONTEXT);
#define GST_CAT_DEFAULT GST_CAT_CONTEXT

static void
gst_mirror_context_init_debug (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_GET (GST_CAT_CONTEXT, "GST_CONTEXT");
    g_once_init_leave (&done, 1);
  }
}

GstContext *
gst_mirror_registry_context_new (std::shared_ptr<mirror::StreamRegistry> registry)
{
  // Persistent: the registry outlives any one state change of the pipeline.
  GstContext *context = gst_context_new (MIRROR_REGISTRY_CONTEXT_TYPE, TRUE);
  GstStructure *s = gst_context_writable_structure (context);
  mirror::RegistryHandle *handle = mirror::registry_handle_new (std::move (registry));
  gst_structure_set (s, MIRROR_REGISTRY_CONTEXT_FIELD, MIRROR_TYPE_REGISTRY_HANDLE, handle,
                     nullptr);
  g_boxed_free (MIRROR_TYPE_REGISTRY_HANDLE, handle);
  return context;
}

GstMirrorRegistrySlot::~GstMirrorRegistrySlot ()
{
  if (context_)
    gst_context_unref (context_);
}

std::shared_ptr<mirror::StreamRegistry>
GstMirrorRegistrySlot::get () const
{
  std::lock_guard<std::mutex> lk (lock_);
  return registry_;
}

bool
GstMirrorRegistrySlot::take_context (GstElement *element, GstContext *context)
{
  if (g_strcmp0 (gst_context_get_context_type (context), MIRROR_REGISTRY_CONTEXT_TYPE) != 0)
    return false;
  gst_mirror_context_init_debug ();

  const GstStructure *s = gst_context_get_structure (context);
  const GValue *value = gst_structure_get_value (s, MIRROR_REGISTRY_CONTEXT_FIELD);
  if (!value || !G_VALUE_HOLDS (value, MIRROR_TYPE_REGISTRY_HANDLE)) {
    GST_CAT_WARNING_OBJECT (GST_CAT_CONTEXT, element,
                            "ignoring %s context without a \"%s\" field of type %s",
                            MIRROR_REGISTRY_CONTEXT_TYPE, MIRROR_REGISTRY_CONTEXT_FIELD,
                            g_type_name (MIRROR_TYPE_REGISTRY_HANDLE));
    return false;
  }
  auto *handle = static_cast<const mirror::RegistryHandle *> (g_value_get_boxed (value));
  if (!handle || !handle->registry) {
    GST_CAT_WARNING_OBJECT (GST_CAT_CONTEXT, element, "ignoring %s context with an empty registry",
                            MIRROR_REGISTRY_CONTEXT_TYPE);
    return false;
  }

  std::shared_ptr<mirror::StreamRegistry> old;
  {
    std::lock_guard<std::mutex> lk (lock_);
    old = std::move (registry_);
    registry_ = handle->registry;
    gst_context_replace (&context_, context);
  }
  GST_CAT_INFO_OBJECT (GST_CAT_CONTEXT, element, "using registry %s from context",
                       handle->registry->describe ().c_str ());
  // `old` is released here, outside the lock.
  return true;
}

bool
GstMirrorRegistrySlot::answer_query (GstQuery *query) const
{
  const gchar *type = nullptr;
  if (GST_QUERY_TYPE (query) != GST_QUERY_CONTEXT || !gst_query_parse_context_type (query, &type)
      || g_strcmp0 (type, MIRROR_REGISTRY_CONTEXT_TYPE) != 0)
    return false;

  std::lock_guard<std::mutex> lk (lock_);
  if (!context_)
    return false;
  gst_query_set_context (query, context_);
  return true;
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
GstMirrorRegistrySlot::ensure (GstElement *element, const std::string &registry_uri)
{
  if (get ())
    return true;
  gst_mirror_context_init_debug ();

  // 1) downstream, 2) upstream: a neighbour that already has one shares it.
  // gst_element_set_context lands in the element's set_context, which calls
  // take_context.
  GstQuery *query = gst_query_new_context (MIRROR_REGISTRY_CONTEXT_TYPE);
  for (GstPadDirection direction : { GST_PAD_SRC, GST_PAD_SINK }) {
    if (get ())
      break;
    if (query_neighbours (element, query, direction)) {
      GstContext *context = nullptr;
      gst_query_parse_context (query, &context);
      if (context)
        gst_element_set_context (element, context);
    }
  }
  gst_query_unref (query);

  // 3) the parent bins or the application (mirrord sets it on the pipeline).
  if (!get ()) {
    gst_element_post_message (element, gst_message_new_need_context (GST_OBJECT_CAST (element),
                                                                     MIRROR_REGISTRY_CONTEXT_TYPE));
  }
  if (get ())
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

  GST_CAT_INFO_OBJECT (GST_CAT_CONTEXT, element, "no %s context found, made registry %s",
                       MIRROR_REGISTRY_CONTEXT_TYPE, registry->describe ().c_str ());
  GstContext *context = gst_mirror_registry_context_new (std::move (registry));
  gst_element_set_context (element, context);
  // Siblings that ask later get the same registry from the pipeline.
  gst_element_post_message (element,
                            gst_message_new_have_context (GST_OBJECT_CAST (element), context));
  return get () != nullptr;
}
