// SPDX-License-Identifier: LGPL-2.1-or-later
#include "hls_viewer.h"

#include <algorithm>
#include <cmath>

namespace mirror::tools {

FollowStats::Second &
FollowStats::second_at (int64_t ns)
{
  size_t i = ns > start_ns ? (size_t)((ns - start_ns) / kNsPerSecond) : 0;
  if (seconds.size () <= i)
    seconds.resize (i + 1);
  return seconds[i];
}

void
FollowStats::count_response (const Response &r)
{
  Second &s = second_at (r.done_ns);
  ++s.responses;
  s.bytes += r.body_size;
}

void
FollowStats::count_error (const std::string &kind, const std::string &text, int64_t at_ns)
{
  ++errors[kind];
  ++second_at (at_ns).errors;
  if (first_errors.size () < 10)
    first_errors.push_back (kind + ": " + text);
}

void
FollowStats::add (const FollowStats &o)
{
  if (seconds.size () < o.seconds.size ())
    seconds.resize (o.seconds.size ());
  for (size_t i = 0; i < o.seconds.size (); ++i) {
    seconds[i].responses += o.seconds[i].responses;
    seconds[i].bytes += o.seconds[i].bytes;
    seconds[i].errors += o.seconds[i].errors;
  }
  part_latencies.insert (part_latencies.end (), o.part_latencies.begin (), o.part_latencies.end ());
  for (auto &[kind, n] : o.errors)
    errors[kind] += n;
  for (auto &e : o.first_errors)
    if (first_errors.size () < 10)
      first_errors.push_back (e);
  parts += o.parts;
  parts_caught_up += o.parts_caught_up;
  hints_withdrawn += o.hints_withdrawn;
  connections += o.connections;
  reconnects += o.reconnects;
  quic_retries += o.quic_retries;
  quic_tokens_used += o.quic_tokens_used;
  connect_ms.insert (connect_ms.end (), o.connect_ms.begin (), o.connect_ms.end ());
}

double
percentile (std::vector<double> v, double q)
{
  if (v.empty ())
    return NAN;
  std::sort (v.begin (), v.end ());
  double rank = std::ceil (q / 100.0 * (double)v.size ());
  size_t k = (size_t)std::clamp<double> (rank - 1, 0, (double)v.size () - 1);
  return v[k];
}

HlsViewer::HlsViewer (EventLoop &loop, Options options, FollowStats &stats)
    : loop_ (loop), opt_ (std::move (options)), stats_ (stats),
      retry_timer_ (loop, [this] { connect (); }), edge_timer_ (loop, [this] {
        if (!stopped_ && conn_ && !conn_->failed ())
          load_edge ();
      })
{}

HlsViewer::~HlsViewer ()
{
  *alive_ = false;
  stopped_ = true;
}

void
HlsViewer::start ()
{
  connect ();
}

void
HlsViewer::stop ()
{
  stopped_ = true;
  retry_timer_.cancel ();
  edge_timer_.cancel ();
  if (conn_)
    conn_->close ();
}

void
HlsViewer::error (const std::string &kind, const std::string &text)
{
  stats_.count_error (kind, text, monotonic_ns ());
  if (opt_.on_error)
    opt_.on_error (kind, text);
}

std::function<void (Response &&)>
HlsViewer::guard (std::function<void (Response &&)> fn)
{
  std::weak_ptr<bool> alive = alive_;
  uint64_t gen = generation_;
  return [this, alive, gen, fn = std::move (fn)] (Response &&r) {
    if (alive.expired () || stopped_ || gen != generation_ || !conn_ || conn_->failed ())
      return;
    stats_.count_response (r);
    fn (std::move (r));
  };
}

void
HlsViewer::connect ()
{
  if (stopped_)
    return;
  ++generation_;
  round_.reset ();
  ++stats_.connections;
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
    if (alive.expired () || gen != generation_)
      return;
    on_connection_closed (kind, text);
  };
  load_edge ();
}

void
HlsViewer::on_connection_closed (ErrorKind kind, const std::string &text)
{
  if (stopped_)
    return;
  error (std::string ("conn-") + error_kind_name (kind), text);
  // We run from a deferred task: the connection's own code is not on the
  // stack, so it can go now.
  conn_.reset ();
  round_.reset ();
  edge_timer_.cancel ();
  ++generation_;
  ++stats_.reconnects;
  retry_timer_.arm_in (opt_.retry_delay_ns);
}

void
HlsViewer::retry_later ()
{
  // A fresh look at the live edge on the same connection, after a pause so
  // a refusing server is not hammered.
  round_.reset ();
  edge_timer_.arm_in (opt_.retry_delay_ns);
}

void
HlsViewer::load_edge ()
{
  Request req;
  req.path = opt_.playlist_url.path_and_query;
  req.timeout_ns = opt_.request_timeout_ns;
  conn_->fetch (std::move (req), guard ([this] (Response &&r) {
                  if (!r.ok ()) {
                    error (error_kind_name (r.error), r.error_text);
                    retry_later ();
                    return;
                  }
                  if (r.status != 200) {
                    error ("http-" + std::to_string (r.status),
                           "GET " + opt_.playlist_url.path_and_query);
                    retry_later ();
                    return;
                  }
                  std::string why;
                  auto pl = MediaPlaylist::parse (r.body, &why);
                  if (pl && pl->ended) {
                    error ("stream-ended", "the playlist has EXT-X-ENDLIST");
                    retry_later ();
                    return;
                  }
                  if (!pl || pl->preload_hint_uri.empty ()) {
                    error ("playlist", pl ? "no preload hint: not a live LL-HLS playlist" : why);
                    retry_later ();
                    return;
                  }
                  if (opt_.fetch_init && !init_fetched_ && !pl->map_uri.empty ()) {
                    init_fetched_ = true;
                    Request init;
                    init.path = opt_.playlist_url.resolve (pl->map_uri).path_and_query;
                    init.keep_body = false;
                    init.timeout_ns = opt_.request_timeout_ns;
                    std::string path = init.path;
                    conn_->fetch (std::move (init), guard ([this, path] (Response &&ir) {
                                    if (!ir.ok ())
                                      error (error_kind_name (ir.error), ir.error_text);
                                    else if (ir.status != 200)
                                      error ("http-" + std::to_string (ir.status), "GET " + path);
                                  }));
                  }
                  // Start at the edge: what is listed already is history.
                  last_requested_ = pl->last_part_position ();
                  start_round (*pl);
                }));
}

void
HlsViewer::start_round (const MediaPlaylist &pl)
{
  round_ = std::make_unique<Round> ();
  Round &round = *round_;
  round.seq = ++round_seq_;
  round.position = pl.next_part_position ();
  round.part_uri = pl.preload_hint_uri;
  // Mirror names parts part{msn}.{part}.m4s: the hint must be the next part
  // by structure, or the server and we disagree about where the edge is.
  if (auto named = mirror_part_position (pl.preload_hint_uri); named && *named != round.position)
    error ("playlist", "preload hint " + pl.preload_hint_uri + " is not part "
                           + std::to_string (round.position.first) + "."
                           + std::to_string (round.position.second));
  last_requested_ = round.position;

  Request part;
  part.path = opt_.playlist_url.resolve (round.part_uri).path_and_query;
  part.keep_body = false;
  part.keep_headers = false;
  part.timeout_ns = opt_.request_timeout_ns;
  Request playlist;
  std::string base
      = opt_.playlist_url.path_and_query.substr (0, opt_.playlist_url.path_and_query.find ('?'));
  playlist.path = base + "?_HLS_msn=" + std::to_string (round.position.first)
                  + "&_HLS_part=" + std::to_string (round.position.second);
  playlist.keep_headers = false;
  playlist.timeout_ns = opt_.request_timeout_ns;
  uint64_t seq = round.seq;
  // Part first: on HTTP/1.1 it goes out first, and its arrival is the time.
  conn_->fetch (std::move (part), guard ([this, seq] (Response &&r) {
                  if (!round_ || round_->seq != seq)
                    return;
                  round_->part = std::move (r);
                  round_step ();
                }));
  conn_->fetch (std::move (playlist), guard ([this, seq] (Response &&r) {
                  if (!round_ || round_->seq != seq)
                    return;
                  round_->playlist = std::move (r);
                  round_step ();
                }));
}

void
HlsViewer::report_part (const Response &r, const std::string &uri, PartPosition pos,
                        double available, bool caught_up)
{
  PartEvent ev;
  ev.position = pos;
  ev.uri = uri;
  ev.status = r.status;
  ev.bytes = r.body_size;
  if (r.body.size () >= 8)
    ev.first_box = r.body.substr (4, 4);
  ev.arrival_wall = r.done_wall;
  ev.available_wall = available;
  ev.latency_s = available >= 0 ? r.done_wall - available : 0;
  ev.caught_up = caught_up;
  ++stats_.parts;
  if (caught_up)
    ++stats_.parts_caught_up;
  if (available >= 0)
    stats_.part_latencies.push_back ({ r.done_ns, ev.latency_s, pos.first, pos.second, r.sent_ns });
  else
    error ("no-pdt", "part " + uri + ": its segment has no PROGRAM-DATE-TIME");
  if (opt_.on_part)
    opt_.on_part (ev);
}

void
HlsViewer::round_step ()
{
  Round &round = *round_;
  if (!round.part || !round.playlist)
    return;
  auto round_owned = std::move (round_);
  Response &part = *round.part;
  Response &playlist = *round.playlist;

  if (!playlist.ok () || playlist.status != 200) {
    report_part_error (part, round.part_uri);
    if (!playlist.ok ())
      error (error_kind_name (playlist.error), playlist.error_text);
    else
      error ("http-" + std::to_string (playlist.status),
             "blocking reload for part " + std::to_string (round.position.first) + "."
                 + std::to_string (round.position.second));
    retry_later ();
    return;
  }
  std::string why;
  auto pl = MediaPlaylist::parse (playlist.body, &why);
  if (pl && pl->ended) {
    error ("stream-ended", "the playlist has EXT-X-ENDLIST");
    retry_later ();
    return;
  }
  if (!pl || pl->preload_hint_uri.empty ()) {
    report_part_error (part, round.part_uri);
    error ("playlist", pl ? "blocking reload answered without a preload hint" : why);
    retry_later ();
    return;
  }
  const PlaylistPart *listed = pl->find_part (round.position);
  // The hint named the next part of a segment that then ended (the server
  // cannot know a segment's last part in advance): the blocking reload is
  // answered with the segment closed and the part never exists. Players
  // ignore the hinted part's 404 (RFC 8216bis, preload hints); so do we,
  // and count it apart.
  const PlaylistSegment *seg = pl->segment (round.position.first);
  bool hint_withdrawn
      = !listed && seg && seg->complete && (int)seg->parts.size () == round.position.second;
  if (hint_withdrawn) {
    ++stats_.hints_withdrawn;
    if (!(part.ok () && part.status == 404))
      report_part_error (part, round.part_uri);
  } else if (!listed) {
    report_part_error (part, round.part_uri);
    error ("part-not-listed", "blocking reload for part " + std::to_string (round.position.first)
                                  + "." + std::to_string (round.position.second)
                                  + " answered without it");
  } else if (part.ok () && part.status == 200) {
    report_part (part, round.part_uri, round.position, pl->part_end_time (*listed), false);
  } else {
    report_part_error (part, round.part_uri);
  }
  // Parts listed beyond the hint we asked for: the first segment's part 0
  // after a withdrawn hint is simply the next part; anything more means we
  // fell behind while busy. Fetch them all, so every part is fetched.
  bool first = true;
  for (const PlaylistPart *p : pl->parts_after (round.position)) {
    if (last_requested_ && PartPosition{ p->msn, p->index } <= *last_requested_)
      continue;
    fetch_part (*p, *pl, !(first && hint_withdrawn));
    first = false;
  }
  start_round (*pl);
}

void
HlsViewer::report_part_error (const Response &r, const std::string &uri)
{
  if (!r.ok ())
    error (error_kind_name (r.error), r.error_text);
  else if (r.status != 200)
    error ("http-" + std::to_string (r.status), "GET " + uri);
}

void
HlsViewer::fetch_part (const PlaylistPart &p, const MediaPlaylist &pl, bool late)
{
  PartPosition pos{ p.msn, p.index };
  last_requested_ = pos;
  double available = pl.part_end_time (p);
  Request req;
  req.path = opt_.playlist_url.resolve (p.uri).path_and_query;
  req.keep_body = false;
  req.keep_headers = false;
  req.timeout_ns = opt_.request_timeout_ns;
  std::string uri = p.uri;
  conn_->fetch (std::move (req), guard ([this, uri, pos, available, late] (Response &&r) {
                  if (r.ok () && r.status == 200)
                    report_part (r, uri, pos, available, late);
                  else
                    report_part_error (r, uri);
                }));
}

} // namespace mirror::tools
