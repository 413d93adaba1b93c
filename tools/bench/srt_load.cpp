// SPDX-License-Identifier: LGPL-2.1-or-later
// mirror-srt-load: a cheap, honest SRT load generator for the ingest
// benchmarks. One process paces N streams of one MPEG-TS file, read into
// memory once, at the file's own rate (from its PCRs), in 1316-byte messages
// (7 TS packets). Nothing is re-muxed: on each pass over the file the PCRs,
// PTSs and DTSs move on by the file's duration and the continuity counters
// are renumbered, so the receiver sees one continuous stream. It reports on
// stdout, as one JSON object, what it actually sent (and what it skipped:
// a sender starved of CPU skips ahead, as a live encoder would, rather than
// burst the backlog).
//
//   mirror-srt-load --file F --streams N (--port P [--stream-id-prefix bench]
//                   | --ports P1,P2,...) [--seconds S] [--latency MS]
//
// With --port every stream calls 127.0.0.1:P with streamid=PREFIXi (mirrord's
// hub); with --ports stream i calls port Pi without a stream id (one
// srt-live-transmit listener each). Every caller has its own UDP socket, as
// separate encoders would. Stops after --seconds, or at SIGTERM/SIGINT.
#include <srt/srt.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "loadgen.h"

namespace {

constexpr size_t kTs = 188;
constexpr size_t kPerMessage = 7;
constexpr size_t kMessage = kTs * kPerMessage;
constexpr uint64_t kPcrWrap = (1ull << 33) * 300;

uint16_t
pid_of (const uint8_t *p)
{
  return uint16_t (((p[1] & 0x1f) << 8) | p[2]);
}

// The PCR (27 MHz) of a TS packet, or -1.
int64_t
pcr_of (const uint8_t *p)
{
  if (!(p[3] & 0x20) || p[4] < 7 || !(p[5] & 0x10))
    return -1;
  const uint8_t *a = p + 6;
  uint64_t base = (uint64_t (a[0]) << 25) | (uint64_t (a[1]) << 17) | (uint64_t (a[2]) << 9)
                  | (uint64_t (a[3]) << 1) | (a[4] >> 7);
  uint64_t ext = (uint64_t (a[4] & 1) << 8) | a[5];
  return int64_t (base * 300 + ext);
}

void
write_pcr (uint8_t *p, uint64_t pcr)
{
  pcr %= kPcrWrap;
  uint64_t base = pcr / 300, ext = pcr % 300;
  uint8_t *a = p + 6;
  a[0] = uint8_t (base >> 25);
  a[1] = uint8_t (base >> 17);
  a[2] = uint8_t (base >> 9);
  a[3] = uint8_t (base >> 1);
  a[4] = uint8_t (((base & 1) << 7) | 0x7e | (ext >> 8));
  a[5] = uint8_t (ext);
}

uint64_t
read_ts33 (const uint8_t *b)
{
  return (uint64_t (b[0] & 0x0e) << 29) | (uint64_t (b[1]) << 22) | (uint64_t (b[2] & 0xfe) << 14)
         | (uint64_t (b[3]) << 7) | (b[4] >> 1);
}

void
write_ts33 (uint8_t *b, uint64_t v)
{
  v &= (1ull << 33) - 1;
  b[0] = uint8_t ((b[0] & 0xf1) | ((v >> 29) & 0x0e));
  b[1] = uint8_t (v >> 22);
  b[2] = uint8_t (((v >> 14) & 0xfe) | 1);
  b[3] = uint8_t (v >> 7);
  b[4] = uint8_t (((v << 1) & 0xfe) | 1);
}

// Moves a TS packet's PCR and its PES header's PTS/DTS on by @offset_90k.
void
shift_times (uint8_t *p, uint64_t offset_90k)
{
  if (offset_90k == 0)
    return;
  int64_t pcr = pcr_of (p);
  if (pcr >= 0)
    write_pcr (p, uint64_t (pcr) + offset_90k * 300);
  if (!(p[1] & 0x40) || !(p[3] & 0x10))
    return; // no payload unit start
  size_t at = 4 + ((p[3] & 0x20) ? 1 + p[4] : 0);
  if (at + 14 > kTs)
    return;
  const uint8_t *h = p + at;
  const bool has_header = h[3] == 0xbd || (h[3] >= 0xc0 && h[3] <= 0xef);
  if (h[0] != 0 || h[1] != 0 || h[2] != 1 || !has_header)
    return; // not a PES with an optional header
  uint8_t flags = h[7] >> 6;
  if (flags & 2)
    write_ts33 (p + at + 9, read_ts33 (h + 9) + offset_90k);
  if (flags == 3 && at + 19 <= kTs)
    write_ts33 (p + at + 14, read_ts33 (h + 14) + offset_90k);
}

struct Media {
  std::vector<uint8_t> bytes; // whole TS packets, a multiple of kMessage
  double seconds = 0;         // one pass
  uint64_t pass_90k = 0;      // what the timestamps move on by per pass
};

bool
load_media (const std::string &path, Media *m, std::string *error)
{
  std::ifstream in (path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::vector<uint8_t> raw ((std::istreambuf_iterator<char> (in)), {});
  size_t start = 0;
  while (start < raw.size () && raw[start] != 0x47)
    start++;
  size_t packets = (raw.size () - start) / kTs;
  packets -= packets % kPerMessage;
  if (packets < kPerMessage * 10) {
    *error = path + " holds too little MPEG-TS";
    return false;
  }
  m->bytes.assign (raw.begin () + long (start), raw.begin () + long (start + packets * kTs));
  // The first PCR PID's first and last PCR, and how many packets apart.
  int pcr_pid = -1;
  int64_t first = -1, last = -1;
  size_t first_at = 0, last_at = 0;
  for (size_t i = 0; i < packets; i++) {
    const uint8_t *p = m->bytes.data () + i * kTs;
    int64_t pcr = pcr_of (p);
    if (pcr < 0 || (pcr_pid >= 0 && pid_of (p) != pcr_pid))
      continue;
    if (pcr_pid < 0) {
      pcr_pid = pid_of (p);
      first = pcr;
      first_at = i;
    }
    last = pcr;
    last_at = i;
  }
  if (first < 0 || last <= first || last_at <= first_at) {
    *error = path + " has no PCRs to pace by";
    return false;
  }
  double pcr_seconds = double (last - first) / 27e6;
  m->seconds = pcr_seconds * double (packets) / double (last_at - first_at);
  m->pass_90k = uint64_t (m->seconds * 90000 + 0.5);
  return true;
}

struct Stream {
  SRTSOCKET sock = SRT_INVALID_SOCK;
  std::string name;
  size_t position = 0; // next message in the file
  uint64_t passes = 0;
  uint64_t sent = 0;     // messages
  uint64_t refused = 0;  // srt_sendmsg2 said the send buffer was full
  uint64_t skipped = 0;  // messages a late tick skipped rather than burst
  uint8_t cc[8192] = {}; // next continuity counter per PID
};

// One message of @s, its times moved on by the passes so far and its
// continuity counters renumbered, into @out.
void
next_message (Stream &s, const Media &m, uint8_t *out)
{
  memcpy (out, m.bytes.data () + s.position, kMessage);
  for (size_t i = 0; i < kPerMessage; i++) {
    uint8_t *p = out + i * kTs;
    shift_times (p, s.passes * m.pass_90k);
    if (p[3] & 0x10) { // a payload: the counter moves on
      uint16_t pid = pid_of (p);
      p[3] = uint8_t ((p[3] & 0xf0) | (s.cc[pid] & 0x0f));
      s.cc[pid] = uint8_t (s.cc[pid] + 1);
    }
  }
}

bool
connect_stream (Stream &s, uint16_t port, const std::string &stream_id, int latency_ms,
                std::string *error)
{
  s.sock = srt_create_socket ();
  int live = SRTT_LIVE, no = 0, payload = int (kMessage);
  srt_setsockflag (s.sock, SRTO_TRANSTYPE, &live, sizeof live);
  srt_setsockflag (s.sock, SRTO_PAYLOADSIZE, &payload, sizeof payload);
  srt_setsockflag (s.sock, SRTO_LATENCY, &latency_ms, sizeof latency_ms);
  if (!stream_id.empty ())
    srt_setsockflag (s.sock, SRTO_STREAMID, stream_id.c_str (), int (stream_id.size ()));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons (port);
  inet_pton (AF_INET, "127.0.0.1", &sa.sin_addr);
  if (srt_connect (s.sock, reinterpret_cast<sockaddr *> (&sa), sizeof sa) == SRT_ERROR) {
    *error = s.name + ": cannot connect to port " + std::to_string (port) + ": "
             + srt_getlasterror_str () + " (reject reason "
             + std::to_string (srt_getrejectreason (s.sock)) + ")";
    return false;
  }
  // Paced here; libsrt's send call must never wait.
  srt_setsockflag (s.sock, SRTO_SNDSYN, &no, sizeof no);
  return true;
}

} // namespace

int
main (int argc, char **argv)
{
  // First: a stop that comes while the file loads must not kill the report.
  loadgen::stop_on_signals ();
  std::string file, prefix = "bench", ports_list;
  int streams = 1, latency_ms = 120;
  uint16_t port = 0;
  double seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string key = argv[i], value = argv[i + 1];
    if (key == "--file")
      file = value;
    else if (key == "--streams")
      streams = std::atoi (value.c_str ());
    else if (key == "--port")
      port = uint16_t (std::atoi (value.c_str ()));
    else if (key == "--ports")
      ports_list = value;
    else if (key == "--stream-id-prefix")
      prefix = value;
    else if (key == "--seconds")
      seconds = std::atof (value.c_str ());
    else if (key == "--latency")
      latency_ms = std::atoi (value.c_str ());
    else {
      fprintf (stderr, "mirror-srt-load: unknown option %s\n", key.c_str ());
      return 2;
    }
  }
  std::vector<uint16_t> ports = loadgen::parse_ports (ports_list);
  if (file.empty () || streams < 1 || (port == 0 && ports.size () != size_t (streams))) {
    fprintf (stderr, "usage: mirror-srt-load --file F --streams N (--port P "
                     "[--stream-id-prefix bench] | --ports P1,...,PN) [--seconds S] "
                     "[--latency MS]\n");
    return 2;
  }
  Media media;
  std::string error;
  if (!load_media (file, &media, &error)) {
    fprintf (stderr, "mirror-srt-load: %s\n", error.c_str ());
    return 1;
  }
  const size_t messages_per_pass = media.bytes.size () / kMessage;
  const double rate = double (messages_per_pass) / media.seconds; // messages/s per stream

  srt_startup ();
  srt_setloglevel (LOG_ERR);
  std::vector<Stream> all (static_cast<size_t> (streams));
  for (int i = 0; i < streams; i++) {
    Stream &s = all[size_t (i)];
    s.name = port ? prefix + std::to_string (i) : "stream " + std::to_string (i);
    // Streams start at different places in the file, as separate feeds would.
    s.position = (messages_per_pass * size_t (i) / size_t (streams)) * kMessage;
    if (!connect_stream (s, port ? port : ports[size_t (i)], port ? s.name : "", latency_ms,
                         &error)) {
      fprintf (stderr, "mirror-srt-load: %s\n", error.c_str ());
      return 1;
    }
  }

  // Every millisecond, each stream sends what its rate says is due. A
  // message libsrt refuses (its send buffer full) waits for the next tick.
  // A tick that comes late (this process starved of CPU) sends at most
  // kMaxLateMs worth and skips the rest, as a live encoder that cannot send
  // the past would: a catch-up burst of half a second's media overflows a
  // receiver's buffer, which would measure the sender, not the receiver.
  constexpr double kMaxLateMs = 100;
  const uint64_t max_burst = uint64_t (rate * kMaxLateMs / 1000) + 1;
  const int64_t start = loadgen::now_ns ();
  timespec next;
  clock_gettime (CLOCK_MONOTONIC, &next);
  uint8_t message[kMessage];
  std::vector<bool> pending (all.size (), false);
  std::vector<std::vector<uint8_t>> held (all.size (), std::vector<uint8_t> (kMessage));
  while (!loadgen::stopping) {
    const double elapsed = double (loadgen::now_ns () - start) / 1e9;
    if (seconds > 0 && elapsed >= seconds)
      break;
    const uint64_t due = uint64_t (elapsed * rate);
    for (size_t i = 0; i < all.size (); i++) {
      Stream &s = all[i];
      while (!pending[i] && s.sent + s.skipped + max_burst < due) {
        s.skipped++;
        s.position += kMessage;
        if (s.position >= media.bytes.size ()) {
          s.position = 0;
          s.passes++;
        }
      }
      while (s.sent + s.skipped < due) {
        uint8_t *out = pending[i] ? held[i].data () : message;
        if (!pending[i])
          next_message (s, media, out);
        if (srt_sendmsg2 (s.sock, reinterpret_cast<char *> (out), int (kMessage), nullptr)
            == SRT_ERROR) {
          if (srt_getlasterror (nullptr) != SRT_EASYNCSND) {
            fprintf (stderr, "mirror-srt-load: %s: %s\n", s.name.c_str (), srt_getlasterror_str ());
            loadgen::stopping = true;
          }
          s.refused++;
          if (!pending[i])
            memcpy (held[i].data (), out, kMessage);
          pending[i] = true;
          break;
        }
        pending[i] = false;
        s.sent++;
        s.position += kMessage;
        if (s.position >= media.bytes.size ()) {
          s.position = 0;
          s.passes++;
        }
      }
    }
    loadgen::wait_next_tick (&next);
  }
  const double elapsed = double (loadgen::now_ns () - start) / 1e9;

  uint64_t sent = 0, refused = 0, retransmitted = 0, skipped = 0;
  for (Stream &s : all) {
    SRT_TRACEBSTATS perf{};
    if (srt_bstats (s.sock, &perf, 0) != SRT_ERROR)
      retransmitted += uint64_t (std::max (perf.pktRetransTotal, 0));
    sent += s.sent;
    refused += s.refused;
    skipped += s.skipped;
    srt_close (s.sock);
  }
  srt_cleanup ();
  const double nominal_bps = rate * kMessage * 8;
  printf ("{\"streams\": %d, \"seconds\": %.3f, \"stream_bitrate\": %.0f, "
          "\"messages_sent\": %" PRIu64 ", \"bytes_sent\": %" PRIu64 ", "
          "\"sent_share\": %.4f, \"refused\": %" PRIu64 ", \"skipped\": %" PRIu64 ", "
          "\"retransmitted\": %" PRIu64 "}\n",
          streams, elapsed, nominal_bps, sent, sent * kMessage,
          elapsed > 0 ? double (sent) / (rate * elapsed * double (streams)) : 0.0, refused, skipped,
          retransmitted);
  return 0;
}
