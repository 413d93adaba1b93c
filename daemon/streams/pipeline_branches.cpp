// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/pipeline_branches.h"

namespace mirror::daemon {

namespace {

// Builds @description into a bin, adds it beside @element and links @pad
// to it. False and *error when it does not build or link.
bool
attach_branch (GstElement *element, GstPad *pad, const std::string &description, std::string *error)
{
  GError *err = nullptr;
  GstElement *branch = gst_parse_bin_from_description_full (description.c_str (), TRUE, nullptr,
                                                            GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!branch) {
    *error = err ? err->message : "unknown error";
    g_clear_error (&err);
    return false;
  }
  g_clear_error (&err);
  GstObject *parent = gst_object_get_parent (GST_OBJECT (element));
  gchar *name = g_strdup_printf ("%s_%s_branch", GST_OBJECT_NAME (element), GST_PAD_NAME (pad));
  gst_object_set_name (GST_OBJECT (branch), name);
  g_free (name);
  gst_bin_add (GST_BIN (parent), branch);
  gst_object_unref (parent);
  GstPad *sink = gst_element_get_static_pad (branch, "sink");
  // Running before it is linked, so the first buffer finds it PLAYING.
  gst_element_sync_state_with_parent (branch);
  GstPadLinkReturn linked = sink ? gst_pad_link (pad, sink) : GST_PAD_LINK_NOFORMAT;
  if (sink)
    gst_object_unref (sink);
  if (linked != GST_PAD_LINK_OK) {
    *error = sink ? std::string ("cannot link: ") + gst_pad_link_get_name (linked)
                  : "it has no unlinked sink pad";
    gst_element_set_locked_state (branch, TRUE);
    gst_element_set_state (branch, GST_STATE_NULL);
    gst_bin_remove (GST_BIN (GST_OBJECT_PARENT (element)), branch);
    return false;
  }
  return true;
}

struct PendingBranch {
  std::string pad, description;
};

// Links a branch when its pad appears; an error goes on the bus, naming the
// branch.
void
on_pad_added (GstElement *element, GstPad *pad, gpointer data)
{
  auto *pending = static_cast<PendingBranch *> (data);
  if (pending->pad != GST_PAD_NAME (pad) || gst_pad_is_linked (pad))
    return;
  std::string error;
  if (attach_branch (element, pad, pending->description, &error))
    return;
  std::string text
      = "branch [" + std::string (GST_OBJECT_NAME (element)) + "." + pending->pad + "]: " + error;
  GError *err = g_error_new_literal (GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, text.c_str ());
  gst_element_post_message (element, gst_message_new_error (GST_OBJECT (element), err, nullptr));
  g_error_free (err);
}

// Whether @element can have a pad named @pad: a pad template whose name or
// %u/%d pattern matches it.
bool
may_have_pad (GstElement *element, const std::string &pad)
{
  for (GList *l = gst_element_class_get_pad_template_list (GST_ELEMENT_GET_CLASS (element)); l;
       l = l->next) {
    std::string templ = GST_PAD_TEMPLATE_NAME_TEMPLATE (GST_PAD_TEMPLATE (l->data));
    size_t conv = templ.find ('%');
    if (conv == std::string::npos) {
      if (templ == pad)
        return true;
      continue;
    }
    if (pad.compare (0, conv, templ, 0, conv) != 0 || pad.size () <= conv)
      continue;
    std::string rest = pad.substr (conv);
    if (rest.find_first_not_of ("0123456789") == std::string::npos && templ.size () == conv + 2)
      return true;
  }
  return false;
}

} // namespace

bool
set_up_branches (GstElement *pipeline, const PipelineLibrary::Parts &parts, std::string *error)
{
  for (const auto &b : parts.branches) {
    std::string where = "branch [" + b.element + "." + b.pad + "]: ";
    GstElement *element = gst_bin_get_by_name (GST_BIN (pipeline), b.element.c_str ());
    if (!element) {
      *error = where + "the pipeline has no element named \"" + b.element + "\"";
      return false;
    }
    bool ok = true;
    if (GstPad *pad = gst_element_get_static_pad (element, b.pad.c_str ())) {
      ok = attach_branch (element, pad, b.description, error);
      gst_object_unref (pad);
    } else if (!may_have_pad (element, b.pad)) {
      *error = "no pad \"" + b.pad + "\" on " + GST_OBJECT_NAME (gst_element_get_factory (element));
      ok = false;
    } else {
      // Built once now, so a description that does not build fails here.
      GError *err = nullptr;
      GstElement *check = gst_parse_bin_from_description_full (
          b.description.c_str (), TRUE, nullptr, GST_PARSE_FLAG_FATAL_ERRORS, &err);
      if (check) {
        gst_object_unref (gst_object_ref_sink (check));
        g_signal_connect_data (
            element, "pad-added", G_CALLBACK (on_pad_added),
            new PendingBranch{ b.pad, b.description },
            [] (gpointer data, GClosure *) { delete static_cast<PendingBranch *> (data); },
            GConnectFlags (0));
      } else {
        *error = err ? err->message : "unknown error";
        ok = false;
      }
      g_clear_error (&err);
    }
    gst_object_unref (element);
    if (!ok) {
      *error = where + *error;
      return false;
    }
  }
  return true;
}

} // namespace mirror::daemon
