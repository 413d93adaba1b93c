// SPDX-License-Identifier: LGPL-2.1-or-later
// mirror-hls-load: N concurrent LL-HLS viewers of one stream, each on its own
// connection (HTTP/3, HTTP/2 or HTTP/1.1), each following the live edge with
// blocking reloads and fetching every part. Reports requests/s, bytes/s,
// part latency from availability (p50/p99), errors by kind, and the CPU the
// load generator itself used (it shares the machine with the server).
//
//   mirror-hls-load --viewers N --url https://127.0.0.1:8443/live/cam1/source.m3u8
//                   [--h2|--http1] [--seconds S] [--ramp-per-s R] [--warmup S] [--json]
//   mirror-hls-load --static ... : the same request pattern against static
//                   files (a reference server that cannot block), see
//                   static_viewer.h
//
// One epoll loop per thread (--threads, 1 by default), each with its own
// viewers: the numbers include no thread hand-offs.
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <getopt.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <unordered_map>

#include "h3_client.h"
#include "hls_viewer.h"
#include "json_out.h"
#include "llhls_playlist.h"
#include "static_viewer.h"

using namespace mirror::tools;

namespace {

void
usage (FILE *out)
{
  fprintf (out, "usage: mirror-hls-load --viewers N --url URL-of-media-playlist [options]\n"
                "\n"
                "  --h2               HTTP/2 over TLS (ALPN h2; https:// only) instead of\n"
                "                     HTTP/3: each viewer's requests share its connection\n"
                "  --http1            HTTP/1.1 (TLS for https://) instead of HTTP/3\n"
                "  --seconds S        measure for S seconds after the ramp and warm-up (20)\n"
                "  --ramp-per-s R     start R viewers per second (1000)\n"
                "  --warmup S         seconds after the last viewer started before measuring (2)\n"
                "  --timeout S        per request (10)\n"
                "  --pin SPKI         require this server key\n"
                "  --static           reference mode: fetch the parts the playlist lists now,\n"
                "                     in turn, on a shared clock (one part duration), plus the\n"
                "                     playlist, instead of following the edge with blocking\n"
                "                     reloads (for servers of static files)\n"
                "  --server-pid PID   also report this process's CPU in the window (repeatable:\n"
                "                     the server's, e.g. nginx's worker, on the same machine)\n"
                "  --json             one JSON object on stdout\n"
                "  --threads T        T threads, each with its own loop and a share of the\n"
                "                     viewers (1): a generator that needs more than a core\n"
                "  --no-udp-gro       HTTP/3: take the server's GSO batches as single\n"
                "                     datagrams the kernel splits (on loopback, in the\n"
                "                     server's send), not whole (UDP_GRO) to split here\n"
                "  -q, --quiet        no progress lines on stderr\n"
                "  -v                 connection events on stderr\n");
}

// utime + stime of a process from /proc, in seconds; < 0 if it is gone.
double
process_cpu_seconds (int pid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen (path, "r");
  if (f == nullptr)
    return -1;
  char buf[1024];
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  // The command name may hold spaces and parentheses: fields count from
  // the last ')'.
  const char *p = strrchr (buf, ')');
  if (p == nullptr)
    return -1;
  unsigned long utime = 0, stime = 0;
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
    return -1;
  return (double)(utime + stime) / (double)sysconf (_SC_CLK_TCK);
}

double
servers_cpu_seconds (const std::vector<int> &pids)
{
  double total = 0;
  for (int pid : pids) {
    double s = process_cpu_seconds (pid);
    if (s < 0)
      return NAN;
    total += s;
  }
  return total;
}

double
cpu_seconds (const rusage &r)
{
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec
         + r.ru_stime.tv_usec / 1e6;
}

struct Window {
  int64_t from_ns, to_ns;
};

struct Summary {
  double seconds = 0;
  uint64_t responses = 0, bytes = 0, errors = 0;
  std::vector<double> latencies_ms;
  // Each part's arrival behind the first viewer that got it: the serving
  // side alone, without the ingest jitter that PROGRAM-DATE-TIME carries.
  std::vector<double> fanout_ms;
  // The same for the parts asked for before any viewer had them (the
  // requests the server could hold and answer in its fan-out), and how many
  // were asked for later than that: a viewer (the generator) behind.
  std::vector<double> fanout_held_ms;
  uint64_t asked_late = 0;
};

Summary
summarize (const FollowStats &stats, Window w)
{
  Summary s;
  s.seconds = (w.to_ns - w.from_ns) / 1e9;
  // Whole seconds only: a partial bucket at either end would skew the rate.
  size_t first = (size_t)((w.from_ns - stats.start_ns + kNsPerSecond - 1) / kNsPerSecond);
  size_t last = (size_t)((w.to_ns - stats.start_ns) / kNsPerSecond); // exclusive
  if (last > first) {
    for (size_t i = first; i < last && i < stats.seconds.size (); ++i) {
      s.responses += stats.seconds[i].responses;
      s.bytes += stats.seconds[i].bytes;
      s.errors += stats.seconds[i].errors;
    }
    s.seconds = (double)(last - first);
  }
  std::unordered_map<uint64_t, int64_t> first_arrival; // (msn, part) -> ns
  auto key = [] (const FollowStats::Sample &x) { return (uint64_t)x.msn << 16 | (uint64_t)x.part; };
  for (auto &x : stats.part_latencies) {
    if (x.msn < 0)
      continue;
    auto [it, fresh] = first_arrival.emplace (key (x), x.at_ns);
    if (!fresh && x.at_ns < it->second)
      it->second = x.at_ns;
  }
  for (auto &x : stats.part_latencies) {
    if (x.at_ns < w.from_ns || x.at_ns >= w.to_ns)
      continue;
    s.latencies_ms.push_back (x.latency_s * 1e3);
    if (x.msn < 0)
      continue;
    const int64_t first_ns = first_arrival[key (x)];
    const double behind_ms = (x.at_ns - first_ns) / 1e6;
    s.fanout_ms.push_back (behind_ms);
    if (x.sent_ns > first_ns)
      ++s.asked_late;
    else
      s.fanout_held_ms.push_back (behind_ms);
  }
  return s;
}

// The parts a static reference serves: those the playlist lists now.
bool
load_static_parts (EventLoop &loop, const Url &url, const sockaddr_storage &addr, socklen_t addrlen,
                   Protocol protocol, const ClientConfig &config, std::vector<std::string> *paths,
                   double *interval_s, std::string *error)
{
  auto conn = connect_http (loop, url, addr, addrlen, protocol, config);
  std::optional<Response> got;
  Request req;
  req.path = url.path_and_query;
  conn->fetch (std::move (req), [&] (Response &&r) {
    got = std::move (r);
    loop.quit ();
  });
  loop.run ();
  conn.reset ();
  if (!got || !got->ok () || got->status != 200) {
    *error = "GET " + url.to_string () + ": "
             + (got ? (got->ok () ? "status " + std::to_string (got->status) : got->error_text)
                    : "no response");
    return false;
  }
  auto pl = MediaPlaylist::parse (got->body, error);
  if (!pl)
    return false;
  double total = 0;
  for (auto &s : pl->segments)
    for (auto &p : s.parts) {
      paths->push_back (url.resolve (p.uri).path_and_query);
      total += p.duration;
    }
  if (paths->empty ()) {
    *error = "the playlist lists no parts";
    return false;
  }
  *interval_s = pl->part_target > 0 ? pl->part_target : total / (double)paths->size ();
  return true;
}

volatile sig_atomic_t interrupted = 0;

void
sleep_until (int64_t deadline_ns)
{
  timespec ts{ (time_t)(deadline_ns / kNsPerSecond), (long)(deadline_ns % kNsPerSecond) };
  while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR && !interrupted)
    ;
}

// One thread's viewers, loop and counts.
struct Shard {
  EventLoop loop;
  FollowStats stats;
  std::vector<std::unique_ptr<HlsViewer>> live;
  std::vector<std::unique_ptr<StaticViewer>> fixed;
  size_t first = 0;   // the index of its first viewer among all
  size_t viewers = 0; // its share
  size_t connected_at_end = 0;

  size_t started () const { return live.size () + fixed.size (); }
  size_t connected () const
  {
    size_t n = 0;
    for (auto &v : live)
      n += v->connected ();
    for (auto &v : fixed)
      n += v->connected ();
    return n;
  }
};

void
on_interrupt (int)
{
  interrupted = 1;
}

} // namespace

int
main (int argc, char **argv)
{
  static const option long_options[] = {
    { "viewers", required_argument, nullptr, 'n' },
    { "url", required_argument, nullptr, 'u' },
    { "http1", no_argument, nullptr, '1' },
    { "h2", no_argument, nullptr, '2' },
    { "seconds", required_argument, nullptr, 's' },
    { "ramp-per-s", required_argument, nullptr, 'r' },
    { "warmup", required_argument, nullptr, 'w' },
    { "timeout", required_argument, nullptr, 't' },
    { "pin", required_argument, nullptr, 'p' },
    { "static", no_argument, nullptr, 'S' },
    { "server-pid", required_argument, nullptr, 'P' },
    { "json", no_argument, nullptr, 'j' },
    { "quiet", no_argument, nullptr, 'q' },
    { "threads", required_argument, nullptr, 'T' },
    { "no-udp-gro", no_argument, nullptr, 'G' },
    { "help", no_argument, nullptr, 'h' },
    { nullptr, 0, nullptr, 0 },
  };
  // GnuTLS writes to TCP sockets with plain send (): a peer that closes
  // must not kill us with SIGPIPE. Ctrl-C ends the run early, with a report.
  signal (SIGPIPE, SIG_IGN);
  signal (SIGINT, on_interrupt);
  signal (SIGTERM, on_interrupt);
  size_t viewers = 0;
  std::string url_text;
  Protocol protocol = Protocol::h3;
  int protocol_options = 0;
  double seconds = 20, ramp = 1000, warmup = 2, timeout_s = 10;
  bool json = false, quiet = false, static_mode = false;
  size_t threads = 1;
  ClientConfig config;
  std::vector<int> server_pids;
  int c;
  while ((c = getopt_long (argc, argv, "n:u:qvh", long_options, nullptr)) != -1) {
    switch (c) {
    case 'n':
      viewers = (size_t)atol (optarg);
      break;
    case 'u':
      url_text = optarg;
      break;
    case '1':
      protocol = Protocol::http1;
      ++protocol_options;
      break;
    case '2':
      protocol = Protocol::h2;
      ++protocol_options;
      break;
    case 's':
      seconds = atof (optarg);
      break;
    case 'r':
      ramp = atof (optarg);
      break;
    case 'w':
      warmup = atof (optarg);
      break;
    case 't':
      timeout_s = atof (optarg);
      break;
    case 'p':
      config.tls.spki_pin = optarg;
      break;
    case 'S':
      static_mode = true;
      break;
    case 'P':
      server_pids.push_back (atoi (optarg));
      break;
    case 'j':
      json = true;
      break;
    case 'q':
      quiet = true;
      break;
    case 'T':
      threads = (size_t)atol (optarg);
      break;
    case 'G':
      config.udp_gro = false;
      break;
    case 'v':
      ++config.verbose;
      break;
    case 'h':
      usage (stdout);
      return 0;
    default:
      usage (stderr);
      return 2;
    }
  }
  auto url = Url::parse (url_text);
  if (viewers == 0 || !url || ramp <= 0 || seconds <= 0 || threads == 0 || threads > 64) {
    usage (stderr);
    return 2;
  }
  if (protocol_options > 1) {
    fprintf (stderr, "mirror-hls-load: --h2 and --http1 exclude each other\n");
    return 2;
  }
  if (protocol != Protocol::http1 && url->scheme != "https") {
    fprintf (stderr, "mirror-hls-load: %s needs an https:// URL (or use --http1)\n",
             protocol == Protocol::h3 ? "HTTP/3" : "HTTP/2");
    return 2;
  }
  // One socket per viewer, plus a few for ourselves.
  uint64_t fds = raise_fd_limit ();
  if (fds < viewers + 32) {
    fprintf (stderr,
             "mirror-hls-load: %zu viewers need %zu file descriptors, the limit is %llu "
             "(ulimit -n)\n",
             viewers, viewers + 32, (unsigned long long)fds);
    return 1;
  }
  sockaddr_storage addr;
  socklen_t addrlen;
  std::string error;
  if (!resolve (*url, &addr, &addrlen, &error)) {
    fprintf (stderr, "mirror-hls-load: %s\n", error.c_str ());
    return 1;
  }
  config.connect_timeout_ns = (int64_t)(timeout_s * kNsPerSecond);

  EventLoop loop;
  std::vector<std::string> static_parts;
  double interval_s = 0;
  if (static_mode
      && !load_static_parts (loop, *url, addr, addrlen, protocol, config, &static_parts,
                             &interval_s, &error)) {
    fprintf (stderr, "mirror-hls-load: --static: %s\n", error.c_str ());
    return 1;
  }

  HlsViewer::Options hopt;
  hopt.protocol = protocol;
  hopt.playlist_url = *url;
  hopt.addr = addr;
  hopt.addrlen = addrlen;
  hopt.config = config;
  hopt.request_timeout_ns = (int64_t)(timeout_s * kNsPerSecond);
  const int64_t start_ns = monotonic_ns ();
  StaticViewer::Options sopt;
  sopt.protocol = protocol;
  sopt.playlist_url = *url;
  sopt.addr = addr;
  sopt.addrlen = addrlen;
  sopt.config = config;
  sopt.part_paths = static_parts;
  sopt.interval_ns = (int64_t)(interval_s * kNsPerSecond);
  sopt.epoch_ns = start_ns;
  sopt.request_timeout_ns = hopt.request_timeout_ns;

  int64_t ramp_ns = (int64_t)((double)viewers / ramp * kNsPerSecond);
  int64_t measure_from = start_ns + ramp_ns + (int64_t)(warmup * kNsPerSecond);
  int64_t measure_to = measure_from + (int64_t)(seconds * kNsPerSecond);
  const int64_t window_end = measure_to; // the shards' (measure_to may end early)

  // The viewers in --threads shares, each on a thread and a loop of its own.
  threads = std::min (threads, viewers);
  std::vector<std::unique_ptr<Shard>> shards;
  for (size_t i = 0, first = 0; i < threads; ++i) {
    auto sh = std::make_unique<Shard> ();
    sh->first = first;
    sh->viewers = viewers / threads + (i < viewers % threads ? 1 : 0);
    sh->stats.start_ns = start_ns;
    first += sh->viewers;
    shards.push_back (std::move (sh));
  }

  auto run_shard = [&] (Shard &sh, bool report_progress) {
    EventLoop &loop = sh.loop;
    // Ramp: the shard's viewers start at its share of R per second, checked
    // every 10 ms.
    const double shard_ramp = ramp * (double)sh.viewers / (double)viewers;
    std::function<void ()> ramp_step;
    Timer ramper (loop, [&] { ramp_step (); });
    ramp_step = [&] {
      int64_t elapsed = monotonic_ns () - start_ns;
      size_t due = std::min (sh.viewers, (size_t)((double)elapsed / 1e9 * shard_ramp) + 1);
      while (sh.started () < due) {
        if (static_mode) {
          sh.fixed.push_back (
              std::make_unique<StaticViewer> (loop, sopt, sh.stats, sh.first + sh.started ()));
          sh.fixed.back ()->start ();
        } else {
          sh.live.push_back (std::make_unique<HlsViewer> (loop, hopt, sh.stats));
          sh.live.back ()->start ();
        }
      }
      if (sh.started () < sh.viewers)
        ramper.arm_in (10 * kNsPerMs);
    };
    ramp_step ();

    // Progress, once a second: enough to see a run go wrong while it runs
    // (the first shard's own viewers when there are several).
    size_t last_second = 0;
    FollowStats &stats = sh.stats;
    std::function<void ()> progress_step;
    Timer progress (loop, [&] { progress_step (); });
    progress_step = [&] {
      size_t sec = (size_t)((monotonic_ns () - stats.start_ns) / kNsPerSecond);
      if (sec >= 1 && sec - 1 < stats.seconds.size () && sec - 1 >= last_second) {
        auto &b = stats.seconds[sec - 1];
        std::vector<double> lat;
        int64_t from = stats.start_ns + (int64_t)(sec - 1) * kNsPerSecond;
        for (auto it = stats.part_latencies.rbegin (); it != stats.part_latencies.rend (); ++it) {
          if (it->at_ns < from)
            break;
          if (it->at_ns < from + kNsPerSecond)
            lat.push_back (it->latency_s * 1e3);
        }
        fprintf (stderr,
                 "t=%3zus %sviewers %zu/%zu connected %zu | %llu resp/s %.1f MB/s | part p50 %.1f "
                 "p99 %.1f ms | errors %llu%s\n",
                 sec, threads > 1 ? "thread 1: " : "", sh.started (), sh.viewers, sh.connected (),
                 (unsigned long long)b.responses, b.bytes / 1e6, percentile (lat, 50),
                 percentile (lat, 99), (unsigned long long)b.errors,
                 monotonic_ns () >= measure_from ? " *" : "");
        last_second = sec;
      }
      progress.arm_in (kNsPerSecond);
    };
    if (report_progress)
      progress.arm_in (kNsPerSecond);

    std::function<void ()> watch_step;
    Timer watch (loop, [&] { watch_step (); });
    watch_step = [&] {
      if (interrupted)
        loop.quit ();
      else
        watch.arm_in (100 * kNsPerMs);
    };
    watch_step ();
    loop.run_until (window_end);
    sh.connected_at_end = sh.connected ();
    progress.cancel ();
    ramper.cancel ();
    watch.cancel ();
    for (auto &v : sh.live)
      v->stop ();
    for (auto &v : sh.fixed)
      v->stop ();
    // Let the CONNECTION_CLOSEs and FINs leave before the sockets go.
    loop.run_until (monotonic_ns () + 200 * kNsPerMs);
    sh.live.clear ();
    sh.fixed.clear ();
  };

  std::vector<std::thread> workers;
  for (size_t i = 1; i < shards.size (); ++i)
    workers.emplace_back (run_shard, std::ref (*shards[i]), false);

  // The window, on a thread that only sleeps between its two readings
  // (RUSAGE_SELF counts every thread); the first shard runs on this one.
  rusage ru_start{}, ru_end{};
  bool window_open = false;
  double server_cpu_start = NAN, server_cpu = NAN;
  std::thread window ([&] {
    while (!interrupted && monotonic_ns () < measure_from)
      sleep_until (std::min (measure_from, monotonic_ns () + 100 * kNsPerMs));
    if (interrupted)
      return;
    getrusage (RUSAGE_SELF, &ru_start);
    server_cpu_start = servers_cpu_seconds (server_pids);
    window_open = true;
    while (!interrupted && monotonic_ns () < measure_to)
      sleep_until (std::min (measure_to, monotonic_ns () + 100 * kNsPerMs));
    measure_to = std::min (measure_to, monotonic_ns ());
    getrusage (RUSAGE_SELF, &ru_end);
    server_cpu = servers_cpu_seconds (server_pids) - server_cpu_start;
  });
  run_shard (*shards[0], !quiet);
  for (auto &w : workers)
    w.join ();
  window.join ();
  if (!window_open) {
    // Interrupted before the window: report what ran, ramp included.
    measure_from = start_ns;
    measure_to = monotonic_ns ();
    ru_start = rusage{};
    getrusage (RUSAGE_SELF, &ru_end);
    server_cpu = NAN;
    window_open = true;
  }
  size_t connected_at_end = 0;
  for (auto &sh : shards)
    connected_at_end += sh->connected_at_end;
  // Their counts as one run's.
  FollowStats stats;
  stats.start_ns = start_ns;
  for (auto &sh : shards)
    stats.add (sh->stats);

  Summary s = summarize (stats, { measure_from, measure_to });
  double cpu = window_open ? cpu_seconds (ru_end) - cpu_seconds (ru_start) : NAN;
  double cpu_total = cpu_seconds (ru_end);
  double p50 = percentile (s.latencies_ms, 50), p99 = percentile (s.latencies_ms, 99),
         pmax = percentile (s.latencies_ms, 100);
  double rps = s.responses / s.seconds, bps = s.bytes / s.seconds;
  const char *proto = protocol == Protocol::h3   ? "h3"
                      : protocol == Protocol::h2 ? "h2"
                      : url->scheme == "https"   ? "http/1.1+tls"
                                                 : "http/1.1";
  if (json) {
    JsonWriter j;
    j.begin_object ();
    j.field ("url", url->to_string ());
    j.field ("protocol", proto);
    j.field ("mode", static_mode ? "static" : "live");
    j.field ("viewers", (double)viewers);
    j.field ("connected_at_end", (double)connected_at_end);
    j.field ("window_s", s.seconds);
    j.field ("responses", (double)s.responses);
    j.field ("requests_per_s", rps);
    j.field ("bytes_per_s", bps);
    j.field ("parts", (double)s.latencies_ms.size ());
    j.field ("latency_p50_ms", p50);
    j.field ("latency_p99_ms", p99);
    j.field ("latency_max_ms", pmax);
    j.field ("fanout_p50_ms", percentile (s.fanout_ms, 50));
    j.field ("fanout_p99_ms", percentile (s.fanout_ms, 99));
    j.field ("fanout_held_p99_ms", percentile (s.fanout_held_ms, 99));
    j.field ("parts_asked_late", (double)s.asked_late);
    j.field ("errors_in_window", (double)s.errors);
    j.field ("errors", stats.errors);
    j.field ("first_errors", stats.first_errors);
    j.field ("hints_withdrawn", (double)stats.hints_withdrawn);
    j.field ("parts_caught_up", (double)stats.parts_caught_up);
    j.field ("connections", (double)stats.connections);
    j.field ("connections_lost", (double)stats.reconnects);
    j.field ("connect_p50_ms", percentile (stats.connect_ms, 50));
    j.field ("connect_p99_ms", percentile (stats.connect_ms, 99));
    j.field ("quic_retries", (double)stats.quic_retries);
    j.field ("quic_tokens_used", (double)stats.quic_tokens_used);
    j.field ("cpu_s_window", cpu);
    j.field ("cpu_cores_window", cpu / s.seconds);
    j.field ("cpu_s_total", cpu_total);
    j.field ("max_rss_mib", ru_end.ru_maxrss / 1024.0);
    j.field ("server_cpu_s_window", server_pids.empty () ? NAN : server_cpu);
    j.field ("server_cpu_cores_window", server_pids.empty () ? NAN : server_cpu / s.seconds);
    j.end_object ();
    printf ("%s\n", j.str ().c_str ());
  } else {
    printf ("mirror-hls-load: %zu %s viewers (%s) of %s, %zu connected at the end\n", viewers,
            proto, static_mode ? "static reference pattern" : "live edge, blocking reload",
            url->to_string ().c_str (), connected_at_end);
    printf ("  window %.0f s: %.0f requests/s, %.2f MB/s, %zu parts\n", s.seconds, rps, bps / 1e6,
            s.latencies_ms.size ());
    printf ("  part latency from %s: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
            static_mode ? "its tick" : "availability", p50, p99, pmax);
    if (!static_mode)
      printf ("  part arrival behind the first viewer to get it: p50 %.1f ms, p99 %.1f ms; "
              "asked for before that %.1f ms p99, after it %llu parts (viewers behind)\n",
              percentile (s.fanout_ms, 50), percentile (s.fanout_ms, 99),
              percentile (s.fanout_held_ms, 99), (unsigned long long)s.asked_late);
    printf ("  errors in window %llu; whole run:", (unsigned long long)s.errors);
    if (stats.errors.empty ())
      printf (" none");
    for (auto &[k, v] : stats.errors)
      printf (" %s=%llu", k.c_str (), (unsigned long long)v);
    printf ("\n");
    for (auto &e : stats.first_errors)
      printf ("    %s\n", e.c_str ());
    printf ("  hints withdrawn at segment ends %llu, parts fetched late %llu, connections %llu "
            "(%llu lost), connect p50 %.2f ms p99 %.2f ms\n",
            (unsigned long long)stats.hints_withdrawn, (unsigned long long)stats.parts_caught_up,
            (unsigned long long)stats.connections, (unsigned long long)stats.reconnects,
            percentile (stats.connect_ms, 50), percentile (stats.connect_ms, 99));
    if (protocol == Protocol::h3)
      printf ("  QUIC handshakes after a Retry %llu, with a NEW_TOKEN token %llu\n",
              (unsigned long long)stats.quic_retries, (unsigned long long)stats.quic_tokens_used);
    printf ("  load generator CPU: %.2f s in the window (%.2f cores), %.2f s in all; max RSS "
            "%.0f MiB\n",
            cpu, cpu / s.seconds, cpu_total, ru_end.ru_maxrss / 1024.0);
    if (!server_pids.empty ())
      printf ("  server CPU (pid%s", server_pids.size () > 1 ? "s" : "");
    for (size_t i = 0; i < server_pids.size (); ++i)
      printf ("%s%d", i ? "," : " ", server_pids[i]);
    if (!server_pids.empty ())
      printf ("): %.2f s in the window (%.2f cores)\n", server_cpu, server_cpu / s.seconds);
  }
  return 0;
}
