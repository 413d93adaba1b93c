// SPDX-License-Identifier: LGPL-2.1-or-later
#include "static_viewer.h"

namespace mirror::tools {

StaticViewer::StaticViewer (EventLoop &loop, Options options, FollowStats &stats, size_t first_part)
    : loop_ (loop), opt_ (std::move (options)), stats_ (stats),
      next_part_ (first_part % opt_.part_paths.size ()), tick_timer_ (loop, [this] { round (); }),
      retry_timer_ (loop, [this] { connect (); })
{}

StaticViewer::~StaticViewer ()
{
  *alive_ = false;
  stopped_ = true;
}

void
StaticViewer::start ()
{
  connect ();
}

void
StaticViewer::stop ()
{
  stopped_ = true;
  tick_timer_.cancel ();
  retry_timer_.cancel ();
  if (conn_)
    conn_->close ();
}

void
StaticViewer::error (const std::string &kind, const std::string &text)
{
  stats_.count_error (kind, text, monotonic_ns ());
}

void
StaticViewer::connect ()
{
  if (stopped_)
    return;
  ++generation_;
  ++stats_.connections;
  pending_ = 0;
  conn_ = connect_http (loop_, opt_.playlist_url, opt_.addr, opt_.addrlen, opt_.protocol,
                        opt_.config);
  std::weak_ptr<bool> alive = alive_;
  uint64_t gen = generation_;
  conn_->on_ready = [this, alive, gen] {
    if (alive.expired () || gen != generation_ || !conn_)
      return;
    auto &i = conn_->info ();
    stats_.connect_ms.push_back ((i.handshake_ns - i.started_ns) / 1e6);
    stats_.quic_retries += i.used_retry;
    stats_.quic_tokens_used += i.used_token;
  };
  conn_->on_closed = [this, alive, gen] (ErrorKind kind, const std::string &text) {
    if (alive.expired () || gen != generation_ || stopped_)
      return;
    error (std::string ("conn-") + error_kind_name (kind), text);
    conn_.reset ();
    tick_timer_.cancel ();
    ++generation_;
    ++stats_.reconnects;
    retry_timer_.arm_in (opt_.retry_delay_ns);
  };
  // Join the shared schedule at its next tick.
  int64_t now = monotonic_ns ();
  tick_ = now <= opt_.epoch_ns ? 0 : (now - opt_.epoch_ns) / opt_.interval_ns + 1;
  tick_timer_.arm_at (opt_.epoch_ns + tick_ * opt_.interval_ns);
}

void
StaticViewer::round ()
{
  if (stopped_ || !conn_)
    return;
  std::weak_ptr<bool> alive = alive_;
  uint64_t gen = generation_;
  int64_t tick_ns = opt_.epoch_ns + tick_ * opt_.interval_ns;
  auto guard = [this, alive, gen] () {
    return !alive.expired () && !stopped_ && gen == generation_ && conn_ && !conn_->failed ();
  };
  pending_ = 2;
  Request part;
  part.path = opt_.part_paths[next_part_];
  part.keep_body = false;
  part.keep_headers = false;
  part.timeout_ns = opt_.request_timeout_ns;
  next_part_ = (next_part_ + 1) % opt_.part_paths.size ();
  std::string path = part.path;
  conn_->fetch (std::move (part), [this, guard, path, tick_ns] (Response &&r) {
    if (!guard ())
      return;
    stats_.count_response (r);
    if (!r.ok ())
      error (error_kind_name (r.error), r.error_text);
    else if (r.status != 200)
      error ("http-" + std::to_string (r.status), "GET " + path);
    else {
      ++stats_.parts;
      stats_.part_latencies.push_back ({ r.done_ns, (r.done_ns - tick_ns) / 1e9 });
    }
    round_done ();
  });
  Request playlist;
  playlist.path = opt_.playlist_url.path_and_query;
  playlist.keep_headers = false;
  playlist.timeout_ns = opt_.request_timeout_ns;
  conn_->fetch (std::move (playlist), [this, guard] (Response &&r) {
    if (!guard ())
      return;
    stats_.count_response (r);
    if (!r.ok ())
      error (error_kind_name (r.error), r.error_text);
    else if (r.status != 200)
      error ("http-" + std::to_string (r.status), "GET " + opt_.playlist_url.path_and_query);
    round_done ();
  });
}

void
StaticViewer::round_done ()
{
  if (--pending_ > 0)
    return;
  // Next tick; when behind, at once (the backlog is the measurement).
  ++tick_;
  tick_timer_.arm_at (opt_.epoch_ns + tick_ * opt_.interval_ns);
}

} // namespace mirror::tools
