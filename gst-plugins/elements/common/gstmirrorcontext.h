// SPDX-License-Identifier: LGPL-2.1-or-later
// The registry's GstContext ("mirror.registry"): how an element finds the
// registry its pipeline shares, or makes one from its `registry` property and
// shares it with its siblings, the way GL displays and CUDA contexts travel.
#pragma once

#include <gst/gst.h>

#include <memory>
#include <mutex>
#include <string>

#include "registry/registry_handle.h"

// A new persistent "mirror.registry" context carrying @registry.
GstContext *gst_mirror_registry_context_new (std::shared_ptr<mirror::StreamRegistry> registry);

// The registry an element uses. Filled by set_context, by the context query
// dance on NULL->READY, or by making one from the element's `registry`
// property. Thread-safe: set_context and queries may come from any thread.
class GstMirrorRegistrySlot {
 public:
  GstMirrorRegistrySlot () = default;
  GstMirrorRegistrySlot (const GstMirrorRegistrySlot &) = delete;
  GstMirrorRegistrySlot &operator= (const GstMirrorRegistrySlot &) = delete;
  ~GstMirrorRegistrySlot ();

  std::shared_ptr<mirror::StreamRegistry> get () const;

  // From the element's set_context vfunc; true if @context was a registry
  // context and is now in use. Chain up to the parent class either way.
  bool take_context (GstElement *element, GstContext *context);

  // On NULL->READY: asks downstream, then upstream, then the application
  // (GST_MESSAGE_NEED_CONTEXT); failing those makes a registry from
  // @registry_uri and announces it (GST_MESSAGE_HAVE_CONTEXT). Posts
  // GST_ELEMENT_ERROR and returns false if @registry_uri is unusable.
  bool ensure (GstElement *element, const std::string &registry_uri);

  // Answers a GST_QUERY_CONTEXT for "mirror.registry"; false if it is another
  // type or no registry is known yet (then let the default handler forward it).
  bool answer_query (GstQuery *query) const;

 private:
  mutable std::mutex lock_;
  std::shared_ptr<mirror::StreamRegistry> registry_;
  GstContext *context_ = nullptr;
};
