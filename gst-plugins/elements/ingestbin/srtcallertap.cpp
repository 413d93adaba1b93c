#include "ingestbin/srtcallertap.h"

namespace mirror {

void
SrtCallerTap::attach (GstElement *srtsrc)
{
  GstPad *pad = gst_element_get_static_pad (srtsrc, "src");
  auto *held = new std::shared_ptr<SrtCallerTap> (shared_from_this ());
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM, on_data, held, [] (gpointer data) {
    delete static_cast<std::shared_ptr<SrtCallerTap> *> (data);
  });
  gst_object_unref (pad);
}

void
SrtCallerTap::on_connection_lost (const std::string &reason)
{
  if (connected_.exchange (false))
    ring_->note ({ IngestNote::Kind::kDisconnected, peer_, reason, g_get_monotonic_time () });
}

// On srtsrc's streaming thread.
GstPadProbeReturn
SrtCallerTap::on_data (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  SrtCallerTap *self = static_cast<std::shared_ptr<SrtCallerTap> *> (user_data)->get ();
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS)
      self->ring_->note (
          { IngestNote::Kind::kEnded, self->peer_, "srtsrc ended", g_get_monotonic_time () });
    // Stream-start, caps, segment: the ring source makes its own.
    return GST_PAD_PROBE_DROP;
  }

  if (!self->connected_.exchange (true)) {
    // What follows a reconnection does not continue the old packet stream.
    if (self->ever_connected_.exchange (true))
      self->ring_->mark_discont ();
    self->ring_->note ({ IngestNote::Kind::kConnected, self->peer_, {}, g_get_monotonic_time () });
  }
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    self->ring_->push (GST_PAD_PROBE_INFO_BUFFER (info));
  } else if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    for (guint i = 0; i < gst_buffer_list_length (list); i++)
      self->ring_->push (gst_buffer_ref (gst_buffer_list_get (list, i)));
    gst_buffer_list_unref (list);
  }
  // HANDLED: the data is the ring's now, and srtsrc sees GST_FLOW_OK.
  GST_PAD_PROBE_INFO_DATA (info) = nullptr;
  return GST_PAD_PROBE_HANDLED;
}

} // namespace mirror
