// SPDX-License-Identifier: LGPL-2.1-or-later
// mirrord's side of the SRT and RTP hubs: it opens them with the config's
// options before any pipeline exists, and turns a new caller or RTP session
// into a stream (a pipeline whose mirroringestbin attaches to the hub).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <glib.h>

namespace mirror {
class Metrics;
class SrtHub;
class RtpHub;
} // namespace mirror

namespace mirror::daemon {

struct Config;
class HealthBoard;
class StreamManager;

class IngestListeners {
 public:
  IngestListeners (const Config &config, StreamManager &streams, Metrics &metrics,
                   HealthBoard &health);
  ~IngestListeners ();
  IngestListeners (const IngestListeners &) = delete;
  IngestListeners &operator= (const IngestListeners &) = delete;

  // Opens both listeners; false and *error naming the key and port otherwise.
  bool start (std::string *error);
  // Stops taking new callers (existing pipelines keep their hub references).
  void stop ();
  // An SRT stream's passphrase for callers admitted from now on (rotation;
  // the live caller goes on): "" unencrypted, none: the config's again.
  // False when there is no SRT listener.
  bool set_srt_passphrase (const std::string &stream_id, std::optional<std::string> passphrase);
  // Drops the stream's SRT caller; its address, or nothing when none is
  // connected (or no SRT listener runs).
  std::optional<std::string> drop_srt_caller (const std::string &stream_id);

 private:
  void on_srt_caller (const std::string &stream_id, const std::string &peer);
  std::string rtp_stream_id (uint32_t ssrc, const std::string &source) const;
  void count_rtp_drops ();

  const Config &config_;
  StreamManager &streams_;
  Metrics &metrics_;
  HealthBoard &health_;
  std::shared_ptr<SrtHub> srt_;
  std::shared_ptr<RtpHub> rtp_;
  guint rtp_counter_timer_ = 0;
  uint64_t counted_not_rtp_ = 0;
  uint64_t counted_unmapped_ = 0;
  // Handlers run on hub threads and may outlive a stop(); they check this.
  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);
};

} // namespace mirror::daemon
