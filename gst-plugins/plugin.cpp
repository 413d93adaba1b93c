// SPDX-License-Identifier: LGPL-2.1-or-later
// The mirrorlive plugin: every Mirror element, registered for
// gst-inspect-1.0, gst-launch-1.0 and mirrord alike.
#include <gst/gst.h>

#include "gstmirrorelements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (mirroringestbin, plugin);
  ret |= GST_ELEMENT_REGISTER (mirrorheartbeat, plugin);
  ret |= GST_ELEMENT_REGISTER (mirrortranscodebin, plugin);
  ret |= GST_ELEMENT_REGISTER (mirroraudiobin, plugin);
  ret |= GST_ELEMENT_REGISTER (mirrorcmafmux, plugin);
  ret |= GST_ELEMENT_REGISTER (mirrorh3sink, plugin);

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, mirrorlive,
                   "Mirror live-video origin: ingest, heartbeat, transcode, CMAF and LL-HLS "
                   "over HTTP/3",
                   plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
