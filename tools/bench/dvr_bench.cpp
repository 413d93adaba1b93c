// SPDX-License-Identifier: LGPL-2.1-or-later
// mirror-dvr-bench: the DVR's own parts, driven without a live feed, for
// tools/bench/dvr.py (which runs the reference tools beside it).
//
//   mirror-dvr-bench record DIR STREAMS SECONDS [nosync]
//       STREAMS streams of the default ladder (360p at 400 kbit/s in 5
//       parts per 500 ms segment, AAC at 128 kbit/s) for SECONDS of media,
//       through the Recorder with fdatasync as mirrord runs it, in real
//       time: each stream's segments as its packager completes them, the
//       streams spread over the 500 ms. Prints one JSON line: media bytes,
//       bytes on disk, the recorder's p99/max batch latency, the process's
//       CPU seconds (the recorder's thread; the feeding loop sleeps).
//       nosync: without fdatasync (what durability costs).
//   mirror-dvr-bench playlist DIR HOURS
//       HOURS of index for one rendition (500 ms segments, 10-minute
//       periods; no media), then a VOD playlist of all of it from the index
//       files, cold (first read) and warm (cached): milliseconds and bytes.
//   mirror-dvr-bench upload DIR ENDPOINT BUCKET WORKERS
//       every closed period under DIR to S3 through the Uploader (the
//       S3RVER test credentials); prints seconds and bytes.
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <glib.h>

#include "hls/dvr_playlist.h"
#include "storage/dvr_reader.h"
#include "storage/recorder.h"
#include "storage/segment_index.h"
#include "storage/uploader.h"

using namespace mirror;

namespace {

constexpr int64_t kS = 1000000000LL;

double
seconds_since (std::chrono::steady_clock::time_point t)
{
  return std::chrono::duration<double> (std::chrono::steady_clock::now () - t).count ();
}

double
process_cpu_s ()
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return double (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + double (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

uint64_t
tree_bytes (const std::string &dir)
{
  uint64_t total = 0;
  GDir *d = g_dir_open (dir.c_str (), 0, nullptr);
  if (!d)
    return 0;
  while (const char *name = g_dir_read_name (d)) {
    const std::string path = dir + "/" + name;
    struct stat st;
    if (stat (path.c_str (), &st) != 0)
      continue;
    total += S_ISDIR (st.st_mode) ? tree_bytes (path) : uint64_t (st.st_size);
  }
  g_dir_close (d);
  return total;
}

int
record (const std::string &dir, int streams, int seconds, bool sync)
{
  RecorderOptions o;
  o.dir = dir;
  o.retention_ns = 0;
  o.sync = sync;
  Recorder recorder (o);
  // Bytes of one part: 400 kbit/s over 100 ms; one AAC segment's worth.
  const Bytes video_part = Bytes::take (std::vector<uint8_t> (5000, 0x42));
  const Bytes audio_part = Bytes::take (std::vector<uint8_t> (8000, 0x17));
  const Bytes init = Bytes::take (std::vector<uint8_t> (700, 0x01));
  const int64_t t0 = g_get_real_time () * 1000 / (600 * kS) * (600 * kS);
  uint64_t media = 0, dropped = 0;
  const double cpu0 = process_cpu_s ();
  const auto began = std::chrono::steady_clock::now ();
  for (int seg = 0; seg < seconds * 2; seg++) {
    for (int s = 0; s < streams; s++) {
      // Stream s completes its segments s/STREAMS of a segment after stream 0.
      std::this_thread::sleep_until (
          began
          + std::chrono::microseconds (int64_t (seg) * 500000 + int64_t (s) * 500000 / streams));
      for (int r = 0; r < 2; r++) {
        RecordedSegment out;
        out.stream = "bench" + std::to_string (s);
        out.rendition = r == 0 ? "360p" : "audio";
        out.msn = uint64_t (seg);
        out.wallclock_ns = t0 + int64_t (seg) * kS / 2;
        out.duration_ns = kS / 2;
        out.independent = true;
        out.init = init;
        out.info.name = out.rendition;
        out.info.codecs = r == 0 ? "avc1.64001e" : "mp4a.40.2";
        if (r == 0)
          for (int p = 0; p < 5; p++)
            out.parts.push_back (video_part);
        else
          out.parts.push_back (audio_part);
        for (const Bytes &p : out.parts)
          media += p.size ();
        // As mirrord does: never wait for the disk; a full queue drops.
        while (!recorder.submit (out)) {
          dropped++;
          recorder.flush ();
        }
      }
    }
  }
  recorder.flush ();
  const double wall = seconds_since (began);
  const double cpu = process_cpu_s () - cpu0;
  const RecorderCounters c = recorder.counters ();
  std::printf ("{\"streams\": %d, \"media_seconds\": %d, \"media_bytes\": %llu, "
               "\"disk_bytes\": %llu, \"segments\": %llu, \"wall_s\": %.3f, \"cpu_s\": %.3f, "
               "\"write_p99_ms\": %.3f, \"write_max_ms\": %.3f, \"retried_full_queue\": %llu}\n",
               streams, seconds, (unsigned long long)media, (unsigned long long)tree_bytes (dir),
               (unsigned long long)c.segments, wall, cpu, c.write_p99_s * 1000,
               c.write_max_s * 1000, (unsigned long long)dropped);
  return 0;
}

int
playlist (const std::string &dir, int hours)
{
  // The index files a day of recording leaves: one record per 500 ms.
  const int64_t period = 600 * kS;
  const int64_t t0 = (g_get_real_time () * 1000 - int64_t (hours) * 3600 * kS) / period * period;
  const std::string rdir = Recorder::rendition_dir (dir, "day", "360p");
  g_mkdir_with_parents (rdir.c_str (), 0755);
  uint64_t msn = 0;
  for (int64_t p = 0; p < int64_t (hours) * 6; p++) {
    const int64_t start = t0 + p * period;
    std::vector<uint8_t> bytes;
    IndexRecord init;
    init.kind = IndexKind::kInit;
    init.length = 700;
    uint8_t rec[kIndexRecordSize];
    encode_index_record (init, rec);
    bytes.insert (bytes.end (), rec, rec + kIndexRecordSize);
    uint64_t offset = 700;
    for (int i = 0; i < 1200; i++) {
      IndexRecord r;
      r.independent = true;
      r.msn = msn++;
      r.wallclock_ns = start + int64_t (i) * kS / 2;
      r.duration_ns = kS / 2;
      r.offset = offset;
      r.length = 25000;
      r.parts = 5;
      offset += r.length;
      encode_index_record (r, rec);
      bytes.insert (bytes.end (), rec, rec + kIndexRecordSize);
    }
    const std::string base = rdir + "/" + std::to_string (start / kS);
    g_file_set_contents ((base + ".idx").c_str (), (const char *)bytes.data (),
                         gssize (bytes.size ()), nullptr);
    g_file_set_contents ((base + ".cmf").c_str (), "", 0, nullptr);
  }
  DvrReader reader (dir, period);
  std::string text;
  size_t segments = 0;
  double ms[2];
  for (int pass = 0; pass < 2; pass++) {
    const auto began = std::chrono::steady_clock::now ();
    auto records = reader.segments ("day", "360p", t0, LLONG_MAX);
    auto groups = group_dvr_segments (records, kDvrGroupTargetNs, true);
    DvrPlaylistInput in;
    in.rendition = "360p";
    in.groups = &groups;
    text = render_dvr_playlist (in);
    ms[pass] = seconds_since (began) * 1000;
    segments = groups.size ();
  }
  std::printf ("{\"hours\": %d, \"recorded_segments\": %llu, \"playlist_segments\": %zu, "
               "\"bytes\": %zu, \"cold_ms\": %.2f, \"warm_ms\": %.2f}\n",
               hours, (unsigned long long)msn, segments, text.size (), ms[0], ms[1]);
  return 0;
}

int
upload (const std::string &dir, const std::string &endpoint, const std::string &bucket, int workers)
{
  S3Config c;
  c.endpoint = endpoint;
  c.bucket = bucket;
  c.access_key_id = "S3RVER";
  c.secret_access_key = "S3RVER";
  c.prefix = "bench/";
  UploaderOptions o;
  o.dir = dir;
  o.workers = workers;
  o.retention_ns = 0;
  o.rescan_us = 3600LL * 1000 * 1000;
  auto client = std::make_shared<S3Client> (c);
  const auto began = std::chrono::steady_clock::now ();
  Uploader uploader (o, client, nullptr);
  const bool idle = uploader.wait_idle (3600LL * 1000 * 1000);
  const double wall = seconds_since (began);
  const UploaderCounters u = uploader.counters ();
  std::printf ("{\"ok\": %s, \"periods\": %llu, \"bytes\": %llu, \"wall_s\": %.3f, "
               "\"failed\": %llu, \"requests\": %llu, \"retries\": %llu}\n",
               idle ? "true" : "false", (unsigned long long)u.uploads_ok,
               (unsigned long long)u.bytes_uploaded, wall, (unsigned long long)u.uploads_failed,
               (unsigned long long)client->counters ().requests,
               (unsigned long long)client->counters ().retries);
  return idle && u.uploads_failed == 0 ? 0 : 1;
}

} // namespace

int
main (int argc, char **argv)
{
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "record" && (argc == 5 || (argc == 6 && std::string (argv[5]) == "nosync")))
    return record (argv[2], atoi (argv[3]), atoi (argv[4]), argc == 5);
  if (cmd == "playlist" && argc == 4)
    return playlist (argv[2], atoi (argv[3]));
  if (cmd == "upload" && argc == 6)
    return upload (argv[2], argv[3], argv[4], atoi (argv[5]));
  std::fprintf (stderr, "usage: mirror-dvr-bench record DIR STREAMS SECONDS [nosync]\n"
                        "       mirror-dvr-bench playlist DIR HOURS\n"
                        "       mirror-dvr-bench upload DIR ENDPOINT BUCKET WORKERS\n");
  return 2;
}
