// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ingestbin/ingesttransport.h"

namespace mirror {

namespace {

// Counters come as int, uint, int64 or uint64 depending on the element.
guint64
structure_u64 (const GstStructure *s, const char *field)
{
  const GValue *v = gst_structure_get_value (s, field);
  if (!v)
    return 0;
  if (G_VALUE_HOLDS_UINT64 (v))
    return g_value_get_uint64 (v);
  if (G_VALUE_HOLDS_INT64 (v))
    return (guint64)MAX (g_value_get_int64 (v), 0);
  if (G_VALUE_HOLDS_INT (v))
    return (guint64)MAX (g_value_get_int (v), 0);
  if (G_VALUE_HOLDS_UINT (v))
    return g_value_get_uint (v);
  return 0;
}

} // namespace

void
transport_figures_from_srt_hub (const SrtConnectionStats &stats, TransportFigures *f)
{
  f->bytes = stats.bytes_received;
  f->packets = stats.packets_received;
  f->lost = stats.packets_lost;
  f->dropped = stats.packets_dropped;
  f->retransmitted = stats.packets_retransmitted;
  f->rtt_ms = stats.rtt_ms;
  f->rate_mbps = stats.receive_rate_mbps;
  if (!stats.peer.empty ())
    f->peer = stats.peer;
}

void
transport_figures_from_rtpbin (GstElement *rtpbin, GstElement *jitterbuffer, guint32 ssrc,
                               TransportFigures *f)
{
  GObject *session = nullptr;
  g_signal_emit_by_name (rtpbin, "get-internal-session", 0, &session);
  if (session) {
    GObject *source = nullptr;
    g_signal_emit_by_name (session, "get-source-by-ssrc", ssrc, &source);
    if (source) {
      GstStructure *s = nullptr;
      g_object_get (source, "stats", &s, nullptr);
      if (s) {
        f->packets = structure_u64 (s, "packets-received");
        f->lost = structure_u64 (s, "packets-lost");
        gst_structure_free (s);
      }
      g_object_unref (source);
    }
    g_object_unref (session);
  }
  if (jitterbuffer) {
    GstStructure *s = nullptr;
    g_object_get (jitterbuffer, "stats", &s, nullptr);
    if (s) {
      // Too late for the jitter buffer, or seen twice: not played out.
      f->dropped = structure_u64 (s, "num-late") + structure_u64 (s, "num-duplicates");
      f->retransmitted = structure_u64 (s, "rtx-count");
      gst_structure_free (s);
    }
  }
}

} // namespace mirror
