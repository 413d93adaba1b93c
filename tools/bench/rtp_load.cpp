// SPDX-License-Identifier: LGPL-2.1-or-later
// mirror-rtp-load: a cheap RTP load generator for the ingest benchmarks. One
// process replays a capture of one RTP stream (a file of datagrams, each
// preceded by its length as 2 bytes big-endian) as N streams, each from its
// own UDP socket with its own SSRC, paced evenly at the capture's own rate.
// On each pass over the capture the RTP timestamps move on by its duration
// and sequence numbers keep counting, so a receiver sees one continuous
// stream. It reports on stdout, as one JSON object, what it actually sent.
//
//   mirror-rtp-load --file F --streams N (--port P | --ports P1,...,PN)
//                   [--seconds S] [--ssrc FIRST]
//
// With --port every stream goes to 127.0.0.1:P (mirrord's RTP hub, which
// tells them apart by SSRC); with --ports stream i goes to port Pi. Stops
// after --seconds, or at SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

uint32_t
read32 (const uint8_t *p)
{
  return (uint32_t (p[0]) << 24) | (uint32_t (p[1]) << 16) | (uint32_t (p[2]) << 8) | p[3];
}

void
write32 (uint8_t *p, uint32_t v)
{
  p[0] = uint8_t (v >> 24);
  p[1] = uint8_t (v >> 16);
  p[2] = uint8_t (v >> 8);
  p[3] = uint8_t (v);
}

struct Capture {
  std::vector<std::vector<uint8_t>> packets;
  uint64_t bytes = 0;
  uint32_t first_ts = 0;
  uint32_t pass_ts = 0; // what the RTP timestamps move on by per pass
  double seconds = 0;   // one pass
};

bool
load_capture (const std::string &path, Capture *c, std::string *error)
{
  std::ifstream in (path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::vector<uint8_t> raw ((std::istreambuf_iterator<char> (in)), {});
  size_t at = 0;
  while (at + 2 <= raw.size ()) {
    size_t length = (size_t (raw[at]) << 8) | raw[at + 1];
    at += 2;
    if (at + length > raw.size ())
      break;
    if (length >= 12 && (raw[at] >> 6) == 2) {
      c->packets.emplace_back (raw.begin () + long (at), raw.begin () + long (at + length));
      c->bytes += length;
    }
    at += length;
  }
  if (c->packets.size () < 100) {
    *error = path + " holds too few RTP packets";
    return false;
  }
  // The capture's span, plus one frame (the smallest timestamp step seen).
  c->first_ts = read32 (c->packets.front ().data () + 4);
  uint32_t last = c->first_ts, step = UINT32_MAX;
  for (const auto &p : c->packets) {
    uint32_t ts = read32 (p.data () + 4);
    if (ts != last && ts - last < step && int32_t (ts - last) > 0)
      step = ts - last;
    if (int32_t (ts - last) > 0)
      last = ts;
  }
  if (step == UINT32_MAX || last == c->first_ts) {
    *error = path + ": its RTP timestamps do not advance";
    return false;
  }
  c->pass_ts = last - c->first_ts + step;
  c->seconds = double (c->pass_ts) / 90000.0;
  return true;
}

struct Stream {
  int fd = -1;
  sockaddr_in to{};
  uint32_t ssrc = 0;
  size_t position = 0; // next packet of the capture
  uint32_t passes = 0;
  uint16_t seq = 0;
  uint64_t sent = 0, bytes = 0, refused = 0;
  uint64_t skipped_bytes = 0; // a late tick skips rather than bursts
};

} // namespace

int
main (int argc, char **argv)
{
  // First: a stop that comes while the file loads must not kill the report.
  loadgen::stop_on_signals ();
  std::string file, ports_list;
  int streams = 1;
  uint16_t port = 0;
  double seconds = 0;
  uint32_t first_ssrc = 0x10000000;
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
    else if (key == "--seconds")
      seconds = std::atof (value.c_str ());
    else if (key == "--ssrc")
      first_ssrc = uint32_t (std::strtoul (value.c_str (), nullptr, 0));
    else {
      fprintf (stderr, "mirror-rtp-load: unknown option %s\n", key.c_str ());
      return 2;
    }
  }
  std::vector<uint16_t> ports = loadgen::parse_ports (ports_list);
  if (file.empty () || streams < 1 || (port == 0 && ports.size () != size_t (streams))) {
    fprintf (stderr, "usage: mirror-rtp-load --file F --streams N (--port P | --ports "
                     "P1,...,PN) [--seconds S] [--ssrc FIRST]\n");
    return 2;
  }
  Capture capture;
  std::string error;
  if (!load_capture (file, &capture, &error)) {
    fprintf (stderr, "mirror-rtp-load: %s\n", error.c_str ());
    return 1;
  }
  const double byte_rate = double (capture.bytes) / capture.seconds; // per stream

  std::vector<Stream> all (static_cast<size_t> (streams));
  for (size_t i = 0; i < all.size (); i++) {
    Stream &s = all[i];
    s.fd = socket (AF_INET, SOCK_DGRAM, 0);
    int buffer = 4 << 20;
    setsockopt (s.fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    s.to.sin_family = AF_INET;
    s.to.sin_port = htons (port ? port : ports[i]);
    inet_pton (AF_INET, "127.0.0.1", &s.to.sin_addr);
    s.ssrc = first_ssrc + uint32_t (i);
    // Streams start at different places in the capture, as separate feeds
    // would, each on a keyframe's neighbourhood being unlikely: the
    // receiver waits for parameter sets as any late joiner does.
    s.position = capture.packets.size () * i / all.size ();
    s.seq = uint16_t (i * 1000);
  }

  // Every millisecond, each stream sends what its byte rate says is due; a
  // late tick (this process starved of CPU) sends at most 100 ms worth and
  // skips the rest, as a live encoder would (see mirror-srt-load).
  const double max_burst = byte_rate * 0.100;
  const int64_t start = loadgen::now_ns ();
  timespec next;
  clock_gettime (CLOCK_MONOTONIC, &next);
  std::vector<uint8_t> out (65536);
  while (!loadgen::stopping) {
    const double elapsed = double (loadgen::now_ns () - start) / 1e9;
    if (seconds > 0 && elapsed >= seconds)
      break;
    const double due = elapsed * byte_rate;
    for (Stream &s : all) {
      while (double (s.bytes + s.skipped_bytes) + max_burst < due) {
        const auto &p = capture.packets[s.position];
        s.skipped_bytes += p.size (); // never made, as far as the receiver can tell
        if (++s.position == capture.packets.size ()) {
          s.position = 0;
          s.passes++;
        }
      }
      while (double (s.bytes + s.skipped_bytes) < due) {
        const auto &p = capture.packets[s.position];
        memcpy (out.data (), p.data (), p.size ());
        out[2] = uint8_t (s.seq >> 8);
        out[3] = uint8_t (s.seq);
        write32 (out.data () + 4, read32 (p.data () + 4) + s.passes * capture.pass_ts);
        write32 (out.data () + 8, s.ssrc);
        if (sendto (s.fd, out.data (), p.size (), 0, reinterpret_cast<sockaddr *> (&s.to),
                    sizeof s.to)
            < 0) {
          s.refused++;
          break; // the socket buffer is full: the next tick tries again
        }
        s.sent++;
        s.bytes += p.size ();
        s.seq++;
        if (++s.position == capture.packets.size ()) {
          s.position = 0;
          s.passes++;
        }
      }
    }
    loadgen::wait_next_tick (&next);
  }
  const double elapsed = double (loadgen::now_ns () - start) / 1e9;
  uint64_t sent = 0, bytes = 0, refused = 0;
  for (Stream &s : all) {
    sent += s.sent;
    bytes += s.bytes;
    refused += s.refused;
    close (s.fd);
  }
  printf ("{\"streams\": %d, \"seconds\": %.3f, \"stream_bitrate\": %.0f, "
          "\"packets_sent\": %" PRIu64 ", \"bytes_sent\": %" PRIu64 ", \"sent_share\": %.4f, "
          "\"refused\": %" PRIu64 ", \"first_ssrc\": %u}\n",
          streams, elapsed, byte_rate * 8, sent, bytes,
          elapsed > 0 ? double (bytes) / (byte_rate * elapsed * double (streams)) : 0.0, refused,
          first_ssrc);
  return 0;
}
