// SPDX-License-Identifier: LGPL-2.1-or-later
// The shared things of a pipeline reach elements as GstContexts, the way GL
// displays and CUDA contexts travel: the registry ("mirror.registry") and
// the Origin ("mirror.origin"). One slot type serves both: an element finds
// what its pipeline shares (its neighbours, its parents, the application:
// mirrord sets both on every pipeline), or makes one and shares it with its
// siblings.
#pragma once

#include <gst/gst.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "origin/origin_handle.h"
#include "registry/registry_handle.h"

// What a context of one kind carries: its type and field names, the boxed
// handle type, and how a value goes in and out of a handle.
template <typename T> struct GstMirrorContextKind;

template <> struct GstMirrorContextKind<mirror::StreamRegistry> {
  static constexpr const char *type = MIRROR_REGISTRY_CONTEXT_TYPE;
  static constexpr const char *field = MIRROR_REGISTRY_CONTEXT_FIELD;
  static GType handle_type () { return MIRROR_TYPE_REGISTRY_HANDLE; }
  static std::shared_ptr<mirror::StreamRegistry> value (gconstpointer handle)
  {
    return static_cast<const mirror::RegistryHandle *> (handle)->registry;
  }
  static gpointer new_handle (std::shared_ptr<mirror::StreamRegistry> value)
  {
    return mirror::registry_handle_new (std::move (value));
  }
};

template <> struct GstMirrorContextKind<mirror::Origin> {
  static constexpr const char *type = MIRROR_ORIGIN_CONTEXT_TYPE;
  static constexpr const char *field = MIRROR_ORIGIN_CONTEXT_FIELD;
  static GType handle_type () { return MIRROR_TYPE_ORIGIN_HANDLE; }
  static std::shared_ptr<mirror::Origin> value (gconstpointer handle)
  {
    return static_cast<const mirror::OriginHandle *> (handle)->origin;
  }
  static gpointer new_handle (std::shared_ptr<mirror::Origin> value)
  {
    return mirror::origin_handle_new (std::move (value));
  }
};

// The GST_CONTEXT debug category (GST_DEBUG=GST_CONTEXT:7 shows the whole
// dance, ours included).
GstDebugCategory *gst_mirror_context_debug (void);

// A new persistent context of @type carrying @handle (a boxed @handle_type,
// consumed).
GstContext *gst_mirror_context_new (const char *type, const char *field, GType handle_type,
                                    gpointer handle);

// Asks @element's neighbours (downstream, then upstream) for a context of
// @type; the answer is set on the element. True if one answered.
bool gst_mirror_context_query_neighbours (GstElement *element, const char *type);

// What one element uses of one kind. Thread-safe: set_context and queries
// may come from any thread.
template <typename T> class GstMirrorContextSlot {
  using Kind = GstMirrorContextKind<T>;

 public:
  GstMirrorContextSlot () = default;
  GstMirrorContextSlot (const GstMirrorContextSlot &) = delete;
  GstMirrorContextSlot &operator= (const GstMirrorContextSlot &) = delete;
  ~GstMirrorContextSlot ()
  {
    if (context_)
      gst_context_unref (context_);
  }

  std::shared_ptr<T> get () const
  {
    std::lock_guard<std::mutex> lk (lock_);
    return value_;
  }
  // Whether the value came from the pipeline (not made by this element).
  bool from_pipeline () const
  {
    std::lock_guard<std::mutex> lk (lock_);
    return value_ && !made_here_;
  }

  // From the element's set_context vfunc: true if @context was of this kind
  // and is now in use. Chain up to the parent class either way.
  bool take_context (GstElement *element, GstContext *context)
  {
    if (g_strcmp0 (gst_context_get_context_type (context), Kind::type) != 0)
      return false;
    const GValue *v = gst_structure_get_value (gst_context_get_structure (context), Kind::field);
    gconstpointer handle
        = v && G_VALUE_HOLDS (v, Kind::handle_type ()) ? g_value_get_boxed (v) : nullptr;
    std::shared_ptr<T> value = handle ? Kind::value (handle) : nullptr;
    if (!value) {
      GST_CAT_WARNING_OBJECT (gst_mirror_context_debug (), element,
                              "ignoring %s context without a usable \"%s\" field", Kind::type,
                              Kind::field);
      return false;
    }
    std::shared_ptr<T> old;
    {
      std::lock_guard<std::mutex> lk (lock_);
      if (value == value_)
        return true; // our own, announced back to us
      old = std::move (value_);
      value_ = std::move (value);
      made_here_ = false;
      gst_context_replace (&context_, context);
    }
    GST_CAT_INFO_OBJECT (gst_mirror_context_debug (), element, "using the %s from the context",
                         Kind::type);
    return true; // `old` goes here, outside the lock
  }

  // Answers a GST_QUERY_CONTEXT of this kind; false for another kind or
  // when nothing is known yet (let the default handler forward it).
  bool answer_query (GstQuery *query) const
  {
    const gchar *type = nullptr;
    if (GST_QUERY_TYPE (query) != GST_QUERY_CONTEXT || !gst_query_parse_context_type (query, &type)
        || g_strcmp0 (type, Kind::type) != 0)
      return false;
    std::lock_guard<std::mutex> lk (lock_);
    if (!context_)
      return false;
    gst_query_set_context (query, context_);
    return true;
  }

  // The pipeline's: asks the neighbours, then the parents and the
  // application (GST_MESSAGE_NEED_CONTEXT). nullptr when nobody has one.
  std::shared_ptr<T> find (GstElement *element)
  {
    if (auto value = get ())
      return value;
    gst_mirror_context_query_neighbours (element, Kind::type);
    if (!get ())
      gst_element_post_message (
          element, gst_message_new_need_context (GST_OBJECT_CAST (element), Kind::type));
    return get ();
  }

  // One the element made itself (a gst-launch-1.0 prototype): in use here,
  // and announced (GST_MESSAGE_HAVE_CONTEXT) so that siblings share it.
  void share (GstElement *element, std::shared_ptr<T> value)
  {
    GstContext *context = gst_mirror_context_new (Kind::type, Kind::field, Kind::handle_type (),
                                                  Kind::new_handle (value));
    {
      std::lock_guard<std::mutex> lk (lock_);
      value_ = std::move (value);
      made_here_ = true;
      gst_context_replace (&context_, context);
    }
    // The element's own list of contexts holds it too (set_context, which
    // finds it already in use here).
    gst_element_set_context (element, context);
    gst_element_post_message (element,
                              gst_message_new_have_context (GST_OBJECT_CAST (element), context));
  }

  // Lets the value go (one this element made; the pipeline's stays).
  void reset ()
  {
    std::shared_ptr<T> old;
    std::lock_guard<std::mutex> lk (lock_);
    old = std::move (value_);
    made_here_ = false;
    if (context_)
      gst_context_unref (context_);
    context_ = nullptr;
  }

 private:
  mutable std::mutex lock_;
  std::shared_ptr<T> value_;
  bool made_here_ = false;
  GstContext *context_ = nullptr;
};

// A new persistent "mirror.registry" context carrying @registry.
GstContext *gst_mirror_registry_context_new (std::shared_ptr<mirror::StreamRegistry> registry);

// The registry an element uses: the pipeline's, else one made from the
// element's `registry` property (on NULL->READY).
class GstMirrorRegistrySlot : public GstMirrorContextSlot<mirror::StreamRegistry> {
 public:
  // Finds the pipeline's; failing that makes one from @registry_uri and
  // shares it. Posts GST_ELEMENT_ERROR and returns false if @registry_uri is
  // unusable.
  bool ensure (GstElement *element, const std::string &registry_uri);
};

using GstMirrorOriginSlot = GstMirrorContextSlot<mirror::Origin>;
