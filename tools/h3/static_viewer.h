// SPDX-License-Identifier: LGPL-2.1-or-later
// The reference side of the viewer benchmark: a server that only has static
// files (nginx) cannot hold a blocking reload, so a "viewer" of it requests
// on a clock instead. Every part duration (one shared schedule for all
// viewers, as live-edge viewers all wake when a part appears) it fetches the
// next part of a fixed list and then the playlist, the same two requests a
// live viewer makes per part. A part's latency is its arrival minus its
// tick; a viewer that falls behind runs its rounds back to back, and the
// backlog shows as latency.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "h3_client.h"
#include "hls_viewer.h"

namespace mirror::tools {

class StaticViewer {
 public:
  struct Options {
    Protocol protocol = Protocol::http1;
    Url playlist_url;
    sockaddr_storage addr{};
    socklen_t addrlen = 0;
    ClientConfig config;
    std::vector<std::string> part_paths; // fetched in turn, forever
    int64_t interval_ns = 0;             // one part duration
    int64_t epoch_ns = 0;                // tick 0 of the shared schedule
    int64_t request_timeout_ns = 10 * kNsPerSecond;
    int64_t retry_delay_ns = kNsPerSecond;
  };

  StaticViewer (EventLoop &loop, Options options, FollowStats &stats, size_t first_part);
  ~StaticViewer ();
  StaticViewer (const StaticViewer &) = delete;
  StaticViewer &operator= (const StaticViewer &) = delete;

  void start ();
  void stop ();
  bool connected () const { return conn_ && conn_->ready (); }

 private:
  void connect ();
  void schedule_next ();
  void round ();
  void round_done ();
  void error (const std::string &kind, const std::string &text);

  EventLoop &loop_;
  Options opt_;
  FollowStats &stats_;
  std::unique_ptr<HttpConnection> conn_;
  size_t next_part_;
  int64_t tick_ = 0; // the schedule tick of the round in flight
  int pending_ = 0;  // requests of this round still out
  uint64_t generation_ = 0;
  bool stopped_ = false;
  Timer tick_timer_;
  Timer retry_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);
};

} // namespace mirror::tools
