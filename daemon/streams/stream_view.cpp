// SPDX-License-Identifier: LGPL-2.1-or-later
#include "streams/stream_view.h"

#include <algorithm>

namespace mirror::daemon {

void
read_transcode_stats (const GstStructure *s, TranscodeView *t)
{
  auto text = [s] (const char *field) {
    const gchar *v = gst_structure_get_string (s, field);
    return std::string (v ? v : "");
  };
  auto count = [s] (const char *field) -> uint64_t {
    guint64 u = 0;
    gint i = 0;
    guint ui = 0;
    if (gst_structure_get_uint64 (s, field, &u))
      return u;
    if (gst_structure_get_uint (s, field, &ui))
      return ui;
    if (gst_structure_get_int (s, field, &i))
      return (uint64_t)std::max (i, 0);
    return 0;
  };
  auto real = [s] (const char *field) {
    gdouble d = 0;
    return gst_structure_get_double (s, field, &d) ? d : 0.0;
  };
  t->present = true;
  t->decoder = text ("decoder");
  t->encoder = text ("encoder");
  t->hardware = text ("hardware");
  t->frames_in = count ("frames-in");
  t->frames_out = count ("frames-out");
  t->frames_dropped = count ("frames-dropped");
  t->latency_p50_ms = real ("latency-p50-ms");
  t->latency_p99_ms = real ("latency-p99-ms");
  if (const gchar *step = gst_structure_get_string (s, "shed-step"))
    t->shed_step = step;
  t->lag_ms = real ("lag-ms");
  t->shed_encoder = count ("shed-encoder-drops");
  t->shed_nonref = count ("shed-nonref-drops");
  t->shed_keyframes = count ("shed-keyframe-drops");
  t->shed_catch_up = count ("shed-catchup-drops");
}

} // namespace mirror::daemon
