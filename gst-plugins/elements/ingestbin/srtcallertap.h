// Caller mode (srt://host:port?mode=caller): stock srtsrc does the SRT work,
// its source pad is left unlinked and a pad probe moves what it pushes into
// the ring, the same leaky hand-over the hubs use. The first buffer after a
// (re)connection becomes a "connected" note; srtsrc's "trying to reconnect"
// warning a "disconnected" one.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <memory>
#include <string>

#include "ingestbin/ingestring.h"

namespace mirror {

class SrtCallerTap : public std::enable_shared_from_this<SrtCallerTap> {
 public:
  SrtCallerTap (std::shared_ptr<IngestRing> ring, std::string peer)
      : ring_ (std::move (ring)), peer_ (std::move (peer))
  {}

  // Adds the probe to @srtsrc's source pad; the probe keeps this object alive.
  void attach (GstElement *srtsrc);
  // srtsrc lost the listener (its warning's text); it reconnects by itself.
  void on_connection_lost (const std::string &reason);

 private:
  static GstPadProbeReturn on_data (GstPad *pad, GstPadProbeInfo *info, gpointer user_data);

  const std::shared_ptr<IngestRing> ring_;
  const std::string peer_;
  std::atomic<bool> connected_{ false };
  std::atomic<bool> ever_connected_{ false };
};

} // namespace mirror
