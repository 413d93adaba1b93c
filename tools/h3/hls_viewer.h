// SPDX-License-Identifier: LGPL-2.1-or-later
// One LL-HLS viewer at the live edge, as a low-latency player behaves: it
// asks for the part the preload hint names and, at the same time, for the
// playlist with a blocking reload (_HLS_msn/_HLS_part) for that same part;
// both are answered when the part exists. Then the next hint. Over HTTP/1.1
// the two requests share the one connection in turn (part first, so its
// arrival is what is timed); over HTTP/3 and HTTP/2 they are concurrent
// streams.
//
// A part's availability is its segment's PROGRAM-DATE-TIME plus the parts
// before it plus its own duration: the earliest it could exist. Its latency
// is the arrival of its last byte minus that.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "h3_client.h"
#include "llhls_playlist.h"

namespace mirror::tools {

struct PartEvent {
  PartPosition position;
  std::string uri;
  int status = 0;
  uint64_t bytes = 0;
  std::string first_box; // "moof", "styp", ... (4 chars) or empty
  double available_wall = -1;
  double arrival_wall = 0;
  double latency_s = 0;   // arrival - available; meaningless if available_wall < 0
  bool caught_up = false; // fetched late, after we fell behind the hint
};

// Shared by every viewer of a run (one thread: no locking).
struct FollowStats {
  struct Second {
    uint64_t responses = 0; // complete HTTP responses, any status
    uint64_t bytes = 0;     // body bytes
    uint64_t errors = 0;
  };
  struct Sample {
    int64_t at_ns;    // monotonic arrival
    double latency_s; // from availability
    int64_t msn = -1; // which part (-1: not a live part)
    int part = 0;
    int64_t sent_ns = 0; // monotonic: the request was handed to its connection
  };
  int64_t start_ns = 0;
  std::vector<Second> seconds; // by whole seconds since start_ns
  std::vector<Sample> part_latencies;
  std::map<std::string, uint64_t> errors; // by kind
  std::vector<std::string> first_errors;  // a few, with their text
  uint64_t parts = 0, parts_caught_up = 0;
  // Preload hints for a part that never came (its segment ended first).
  uint64_t hints_withdrawn = 0;
  uint64_t connections = 0, reconnects = 0;        // opened; lost (each followed by a new one)
  uint64_t quic_retries = 0, quic_tokens_used = 0; // handshakes that needed / skipped Retry
  std::vector<double> connect_ms;                  // start to handshake done

  Second &second_at (int64_t ns);
  void count_response (const Response &r);
  void count_error (const std::string &kind, const std::string &text, int64_t at_ns);
  // Another run's counts (one of mirror-hls-load's threads), same start_ns.
  void add (const FollowStats &other);
};

class HlsViewer {
 public:
  struct Options {
    Protocol protocol = Protocol::h3;
    Url playlist_url;
    sockaddr_storage addr{};
    socklen_t addrlen = 0;
    ClientConfig config;
    bool fetch_init = true;
    int64_t request_timeout_ns = 10 * kNsPerSecond;
    int64_t retry_delay_ns = kNsPerSecond;
    std::function<void (const PartEvent &)> on_part;
    std::function<void (const std::string &kind, const std::string &text)> on_error;
  };

  HlsViewer (EventLoop &loop, Options options, FollowStats &stats);
  ~HlsViewer ();
  HlsViewer (const HlsViewer &) = delete;
  HlsViewer &operator= (const HlsViewer &) = delete;

  void start ();
  // Closes the connection (cleanly) and ignores whatever is still on its way.
  void stop ();
  bool connected () const { return conn_ && conn_->ready (); }

 private:
  struct Round {
    uint64_t seq = 0;
    PartPosition position;
    std::string part_uri;
    std::optional<Response> part;
    std::optional<Response> playlist;
  };

  void connect ();
  void on_connection_closed (ErrorKind kind, const std::string &text);
  void load_edge ();
  void start_round (const MediaPlaylist &pl);
  void round_step ();
  void fetch_part (const PlaylistPart &part, const MediaPlaylist &pl, bool late);
  void report_part_error (const Response &r, const std::string &uri);
  void retry_later ();
  // A request's callback is for us only if it comes from the connection we
  // have now and that connection is still up (a dead one reports once,
  // through on_closed).
  std::function<void (Response &&)> guard (std::function<void (Response &&)> fn);
  void error (const std::string &kind, const std::string &text);
  void report_part (const Response &r, const std::string &uri, PartPosition pos, double available,
                    bool caught_up);

  EventLoop &loop_;
  Options opt_;
  FollowStats &stats_;
  std::unique_ptr<HttpConnection> conn_;
  uint64_t generation_ = 0;
  bool stopped_ = false;
  bool init_fetched_ = false;
  std::optional<PartPosition> last_requested_;
  std::unique_ptr<Round> round_;
  uint64_t round_seq_ = 0;
  Timer retry_timer_; // reconnect
  Timer edge_timer_;  // reload the live edge after an error
  std::shared_ptr<bool> alive_ = std::make_shared<bool> (true);
};

// Nearest-rank percentile of values (sorted or not); NaN when empty.
double percentile (std::vector<double> values, double q);

} // namespace mirror::tools
