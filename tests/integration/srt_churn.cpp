// SPDX-License-Identifier: LGPL-2.1-or-later
// mirror-srt-churn: many real SRT callers (libsrt) that come and go, for the
// test that proves nothing accumulates in mirrord.
//
//   mirror-srt-churn --port P --file media.ts [--count 200] [--concurrency 20]
//                    [--prefix churn-] [--seconds 1.0] [--rate-kbps 2000]
//                    [--reconnect-every 5] [--gap-ms 300]
//                    [--stay 0 --stay-prefix fed-]
//
// Callers prefix0 .. prefix(count-1) each send --seconds of the file (paced at
// --rate-kbps, TS packets in 1316-byte payloads) and close; every
// --reconnect-every-th one comes back with the same id after --gap-ms and
// sends again. --stay callers (stay-prefix0 ..) connect first and send the
// file in a loop until stdin closes. A refused connection is tried again up
// to 4 times, 0.5 s apart, as an encoder would. Prints one JSON line with the
// counts; exits 1 when a caller could not connect at all.
#include <netinet/in.h>
#include <poll.h>
#include <srt/srt.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  int port = 0;
  std::string file;
  int count = 200;
  int concurrency = 20;
  std::string prefix = "churn-";
  double seconds = 1.0;
  int rate_kbps = 2000;
  int reconnect_every = 5;
  int gap_ms = 300;
  int stay = 0;
  std::string stay_prefix = "fed-";
};

std::vector<char> media;
std::atomic<int> connected{ 0 }, refused{ 0 }, reconnected{ 0 }, retried{ 0 };
std::atomic<bool> stop_staying{ false };

int
connect_caller (int port, const std::string &id)
{
  SRTSOCKET sock = srt_create_socket ();
  int latency = 120;
  srt_setsockflag (sock, SRTO_LATENCY, &latency, sizeof latency);
  srt_setsockflag (sock, SRTO_STREAMID, id.c_str (), (int)id.size ());
  // A busy box may take a while to answer a handshake.
  int connect_timeout_ms = 10000;
  srt_setsockflag (sock, SRTO_CONNTIMEO, &connect_timeout_ms, sizeof connect_timeout_ms);
  sockaddr_in to = {};
  to.sin_family = AF_INET;
  to.sin_port = htons ((uint16_t)port);
  to.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (srt_connect (sock, (sockaddr *)&to, sizeof to) == SRT_ERROR) {
    fprintf (stderr, "mirror-srt-churn: %s refused: %s (%s)\n", id.c_str (),
             srt_getlasterror_str (), srt_rejectreason_str (srt_getrejectreason (sock)));
    srt_close (sock);
    return -1;
  }
  return sock;
}

// Sends the file from offset *at, paced, for seconds (or until *stop); false
// when the connection broke.
bool
send_for (SRTSOCKET sock, double seconds, size_t *at, int rate_kbps,
          const std::atomic<bool> *stop = nullptr)
{
  const size_t payload = 1316;
  const auto start = std::chrono::steady_clock::now ();
  size_t sent = 0;
  for (;;) {
    double elapsed
        = std::chrono::duration<double> (std::chrono::steady_clock::now () - start).count ();
    if ((seconds > 0 && elapsed >= seconds) || (stop && stop->load ()))
      return true;
    // Paced: no further ahead of the rate than one payload.
    double due = elapsed * rate_kbps * 1000 / 8;
    if (sent > due) {
      std::this_thread::sleep_for (std::chrono::milliseconds (2));
      continue;
    }
    if (*at + payload > media.size ())
      *at = 0;
    if (srt_sendmsg2 (sock, media.data () + *at, (int)payload, nullptr) == SRT_ERROR)
      return false;
    *at += payload;
    sent += payload;
  }
}

void
churn_one (const Options &o, int index)
{
  std::string id = o.prefix + std::to_string (index);
  size_t at = 0;
  int rounds = o.reconnect_every > 0 && index % o.reconnect_every == 0 ? 2 : 1;
  for (int round = 0; round < rounds; round++) {
    if (round > 0)
      std::this_thread::sleep_for (std::chrono::milliseconds (o.gap_ms));
    // As an encoder does: a refused connection is tried again (a caller
    // back very soon may find its old connection not yet noticed gone).
    SRTSOCKET sock = -1;
    for (int attempt = 0; attempt < 5 && sock < 0; attempt++) {
      if (attempt > 0) {
        retried++;
        std::this_thread::sleep_for (std::chrono::milliseconds (500));
      }
      sock = connect_caller (o.port, id);
    }
    if (sock < 0) {
      refused++;
      return;
    }
    (round == 0 ? connected : reconnected)++;
    send_for (sock, o.seconds, &at, o.rate_kbps);
    srt_close (sock);
  }
}

bool
parse (int argc, char **argv, Options *o)
{
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&] () -> const char * { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--port")
      o->port = atoi (next ());
    else if (a == "--file")
      o->file = next ();
    else if (a == "--count")
      o->count = atoi (next ());
    else if (a == "--concurrency")
      o->concurrency = std::max (1, atoi (next ()));
    else if (a == "--prefix")
      o->prefix = next ();
    else if (a == "--seconds")
      o->seconds = atof (next ());
    else if (a == "--rate-kbps")
      o->rate_kbps = std::max (100, atoi (next ()));
    else if (a == "--reconnect-every")
      o->reconnect_every = atoi (next ());
    else if (a == "--gap-ms")
      o->gap_ms = atoi (next ());
    else if (a == "--stay")
      o->stay = atoi (next ());
    else if (a == "--stay-prefix")
      o->stay_prefix = next ();
    else {
      fprintf (stderr, "mirror-srt-churn: unknown argument %s\n", a.c_str ());
      return false;
    }
  }
  return o->port > 0 && !o->file.empty ();
}

} // namespace

int
main (int argc, char **argv)
{
  Options o;
  if (!parse (argc, argv, &o)) {
    fprintf (stderr,
             "usage: mirror-srt-churn --port P --file media.ts [options] (see the source)\n");
    return 2;
  }
  std::ifstream in (o.file, std::ios::binary);
  media.assign (std::istreambuf_iterator<char> (in), std::istreambuf_iterator<char> ());
  if (media.size () < 1316) {
    fprintf (stderr, "mirror-srt-churn: %s: too short\n", o.file.c_str ());
    return 2;
  }
  srt_startup ();
  srt_setloglevel (LOG_ERR);

  // The callers that stay, until stdin closes.
  std::vector<std::thread> staying;
  std::atomic<int> stay_connected{ 0 };
  for (int i = 0; i < o.stay; i++)
    staying.emplace_back ([&o, i, &stay_connected] () {
      std::string id = o.stay_prefix + std::to_string (i);
      SRTSOCKET sock = connect_caller (o.port, id);
      if (sock < 0) {
        refused++;
        return;
      }
      stay_connected++;
      size_t at = 0;
      send_for (sock, 0, &at, o.rate_kbps, &stop_staying);
      srt_close (sock);
    });

  std::atomic<int> next{ 0 };
  std::vector<std::thread> workers;
  for (int w = 0; w < o.concurrency; w++)
    workers.emplace_back ([&] () {
      for (int i = next++; i < o.count; i = next++)
        churn_one (o, i);
    });
  for (auto &t : workers)
    t.join ();
  printf ("{\"connected\": %d, \"reconnected\": %d, \"retried\": %d, \"refused\": %d, "
          "\"staying\": %d}\n",
          connected.load (), reconnected.load (), retried.load (), refused.load (),
          stay_connected.load ());
  fflush (stdout);

  if (o.stay > 0) {
    char c;
    while (read (STDIN_FILENO, &c, 1) > 0) {
    }
    stop_staying = true;
  }
  for (auto &t : staying)
    t.join ();
  srt_cleanup ();
  return refused.load () ? 1 : 0;
}
