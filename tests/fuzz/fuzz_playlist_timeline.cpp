// SPDX-License-Identifier: LGPL-2.1-or-later
// The CMAF part cutter and the LL-HLS playlist generator on random
// timelines: samples with regular steps, jitter, gaps, timestamps going
// backwards or jumping, MPEG-TS wraps, missing keyframes, flushes (EOS or a
// caps change) and discontinuities. Each part the cutter hands out is
// published into a StreamStore as mirrorh3sink does (PART-TARGET announced as
// mirrorcmafmux does), and every media playlist rendered on the way, full and
// delta, must keep the LL-HLS rules, and each full one the rules between
// reloads against the one before. The rules are the one copy the unit tests
// use (tests/unit/hls/playlist_rules.h): tests/integration/llhls.py, run
// here as one long-lived checker process (starting Python per input would
// leave a few inputs a second).
//
// Input: a few bytes of setup (frame rate, part and segment durations), then
// two bytes per event.
#include <fuzzer/FuzzedDataProvider.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <glib.h>

#include "../unit/hls/hls_test_feed.h"
#include "cmaf/part_cutter.h"
#include "fuzz_check.h"
#include "hls/stream_store.h"

namespace {

constexpr int64_t kMs = 1000000;
constexpr size_t kMaxEvents = 400;

// llhls.py behind a pipe: "P <len>\n<playlist>" asks for a playlist's
// violations, "R <len> <len>\n<previous><current>" for those between two
// reloads; the answer is one violation a line, then "END".
constexpr const char *kCheckerScript = R"(
import os, sys
sys.path.insert(0, os.path.join(os.environ['MIRROR_SOURCE_ROOT'], 'tests', 'integration'))
import llhls
i, o = sys.stdin.buffer, sys.stdout
while True:
    head = i.readline().split()
    if not head:
        break
    texts = [i.read(int(n)).decode() for n in head[1:]]
    bad = llhls.violations(texts[0]) if head[0] == b'P' else llhls.reload_violations(*texts)
    for b in bad:
        o.write(b.replace('\n', ' ') + '\n')
    o.write('END\n')
    o.flush()
)";

class Checker {
 public:
  Checker ()
  {
    const char *argv[] = { "python3", "-c", kCheckerScript, nullptr };
    GError *error = nullptr;
    FUZZ_CHECK (g_spawn_async_with_pipes (nullptr, const_cast<char **> (argv), nullptr,
                                          G_SPAWN_SEARCH_PATH, nullptr, nullptr, nullptr, &to_,
                                          &from_, nullptr, &error),
                error ? error->message : "python3");
  }

  std::vector<std::string> playlist (const std::string &text) { return ask ("P", { &text }); }
  std::vector<std::string> reload (const std::string &previous, const std::string &current)
  {
    return ask ("R", { &previous, &current });
  }

 private:
  // Raw reads and writes, retried on EINTR: libFuzzer's -timeout ticks
  // SIGALRM every second, which stdio would take for an error.
  std::vector<std::string> ask (const char *what, std::vector<const std::string *> texts)
  {
    std::string out = what;
    for (const auto *t : texts)
      out += " " + std::to_string (t->size ());
    out += "\n";
    for (const auto *t : texts)
      out += *t;
    for (size_t at = 0; at < out.size ();) {
      ssize_t n = write (to_, out.data () + at, out.size () - at);
      FUZZ_CHECK (n > 0 || errno == EINTR, "the checker (llhls.py) died");
      at += n > 0 ? size_t (n) : 0;
    }
    std::vector<std::string> bad;
    while (true) {
      size_t nl;
      while ((nl = pending_.find ('\n')) == std::string::npos) {
        char buf[4096];
        ssize_t n = read (from_, buf, sizeof buf);
        FUZZ_CHECK (n > 0 || (n < 0 && errno == EINTR), "the checker (llhls.py) died");
        if (n > 0)
          pending_.append (buf, size_t (n));
      }
      std::string line = pending_.substr (0, nl);
      pending_.erase (0, nl + 1);
      if (line == "END")
        return bad;
      bad.push_back (line);
    }
  }

  int to_ = -1;
  int from_ = -1;
  std::string pending_;
};

Checker *checker;

// The longest segment of a playlist, its EXTINF rounded as TARGETDURATION is.
long
longest_rounded_extinf (const std::string &text)
{
  long longest = 0;
  for (size_t at = text.find ("#EXTINF:"); at != std::string::npos;
       at = text.find ("#EXTINF:", at + 1))
    longest = std::max (longest, std::lround (std::strtod (text.c_str () + at + 8, nullptr)));
  return longest;
}

void
check (std::vector<std::string> bad, const std::string &what, const std::string &text)
{
  // TARGETDURATION grows, by design (hls/hls_timing.h), when a segment comes
  // out longer than announced: a GOP longer than the segment duration, a
  // keyframe lost. That is the source's doing, and the timeline makes it on
  // purpose; a change with no such segment behind it is still a breach.
  const long longest = longest_rounded_extinf (text);
  std::erase_if (bad, [&] (const std::string &v) {
    long from = 0, to = 0;
    return std::sscanf (v.c_str (), "TARGETDURATION changed from %ld to %ld", &from, &to) == 2
           && to > from && longest > from;
  });
  if (bad.empty ())
    return;
  std::string all;
  for (const auto &v : bad)
    all += "\n  " + v;
  FUZZ_CHECK (false, what + " breaks the LL-HLS rules:" + all + "\n" + text);
}

struct Setup {
  int64_t frame_ns;
  int64_t part_ns;
  int64_t segment_ns;
};

} // namespace

extern "C" int
LLVMFuzzerInitialize (int *, char ***)
{
  g_log_set_always_fatal (GLogLevelFlags (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR));
  // The checker is found from the source root (meson's test env sets it).
  if (!g_getenv ("MIRROR_SOURCE_ROOT"))
    g_setenv ("MIRROR_SOURCE_ROOT", MIRROR_FUZZ_SOURCE_ROOT, FALSE);
  checker = new Checker ();
  return 0;
}

extern "C" int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  FuzzedDataProvider in (data, size);
  static const int64_t kFrames[] = { 33366667, 33333333, 40000000, 16683333, 21333333 };
  static const int64_t kParts[] = { 100 * kMs, 200 * kMs, 333 * kMs, 500 * kMs };
  static const int64_t kSegments[] = { 1000 * kMs, 2000 * kMs, 500 * kMs, 4000 * kMs };
  Setup setup{ in.PickValueInArray (kFrames), in.PickValueInArray (kParts),
               in.PickValueInArray (kSegments) };
  if (setup.part_ns > setup.segment_ns)
    setup.part_ns = setup.segment_ns;
  const int gop = in.ConsumeIntegralInRange<int> (1, 90);

  mirror::StreamConfig config = mirror::test::default_config ();
  config.part_target_ns = setup.part_ns;
  config.segment_target_ns = setup.segment_ns;
  config.playlist_length_ns = 6 * setup.segment_ns;
  mirror::StreamStore store ("fuzz", config);
  mirror::RenditionInfo info = mirror::test::video_info ("video");
  FUZZ_CHECK (store.add_rendition (info) && store.set_init ("video", mirror::test::fake_init ()),
              "the rendition is refused");

  mirror::cmaf::PartCutter cutter (90000, uint64_t (setup.part_ns), uint64_t (setup.segment_ns), 1,
                                   double (setup.frame_ns));
  int64_t dts = in.ConsumeBool () ? 0 : in.ConsumeIntegralInRange<int64_t> (0, 95443717688888LL);
  uint64_t wallclock = uint64_t (mirror::test::kStartWallclock);
  uint64_t announced_target = 0;
  bool discont_pending = false;
  int frame = 0;
  std::string previous; // the last full playlist checked

  auto publish = [&] (const mirror::cmaf::Part &part) {
    const uint64_t target = cutter.part_target_ns ();
    if (target != announced_target) {
      announced_target = target;
      info.part_target_ns = int64_t (target);
      store.add_rendition (info);
    }
    mirror::PartInput p;
    p.msn = part.media_sequence;
    p.part_index = part.part_index;
    p.segment_start = part.segment_start;
    p.duration_ns = int64_t (part.duration_ns);
    p.independent = part.independent;
    p.last_in_segment = part.last_in_segment;
    p.shortened = part.shortened;
    if (part.wallclock_ns)
      p.wallclock_ns = int64_t (part.wallclock_ns);
    p.bytes = mirror::Bytes::copy ("part " + std::to_string (part.media_sequence) + "."
                                   + std::to_string (part.part_index));
    if (discont_pending || part.timeline_break)
      store.mark_discontinuity ("video");
    discont_pending = false;
    store.add_part ("video", p);
    for (bool delta : { false, true }) {
      auto text = store.media_playlist ("video", delta);
      FUZZ_CHECK (text && text->rfind ("#EXTM3U\n", 0) == 0, "no playlist, or not one");
      if (!delta && *text == previous)
        break; // nothing new to check (a held audio part, a refused one)
      check (checker->playlist (*text), delta ? "a delta playlist" : "a playlist", *text);
      if (!delta) {
        if (!previous.empty ())
          check (checker->reload (previous, *text), "a reload", previous + "\n-- then --\n" + *text);
        previous = *text;
      }
    }
  };

  for (size_t event = 0; event < kMaxEvents && in.remaining_bytes () > 0; ++event) {
    const uint8_t op = in.ConsumeIntegral<uint8_t> ();
    const uint8_t arg = in.ConsumeIntegral<uint8_t> ();
    int64_t step = setup.frame_ns;
    bool sync = frame % gop == 0;
    switch (op % 16) {
    case 0: // jitter, as MPEG-TS rounding and irregular sources give
      step += (int64_t (arg) - 128) * 20000;
      break;
    case 1: // a gap: frames lost
      step *= 1 + arg % 60;
      break;
    case 2: // backwards: a source restarted or repeated
      step = -int64_t (arg) * setup.frame_ns;
      break;
    case 3: // a jump ahead past anything a sample could last
      step = int64_t (arg + 1) * 1000 * kMs;
      break;
    case 4: // the 33-bit MPEG-TS clock wraps
      dts = dts % 95443717688888LL;
      step = 95443717688888LL - dts + (arg % 4) * setup.frame_ns;
      break;
    case 5: // EOS or a caps change
      if (auto part = cutter.flush ())
        publish (*part);
      frame = 0;
      continue;
    case 6: // a discontinuity from upstream (a DISCONT buffer)
      discont_pending = true;
      break;
    case 7: // a keyframe out of turn, or one missing
      sync = !sync;
      break;
    case 8: // a repeated timestamp
      step = 0;
      break;
    default:
      break;
    }
    dts += step;
    // Arrival: the media's pace, now and then late (a network stall).
    wallclock += uint64_t (std::max<int64_t> (step, 0)) + (op % 16 == 9 ? arg * 10 * kMs : 0);
    mirror::cmaf::TimedSample sample;
    sample.dts_ns = dts;
    sample.pts_ns = dts + (op & 0x10 ? 2 * setup.frame_ns : 0);
    sample.duration_ns = op & 0x20 ? -1 : setup.frame_ns;
    sample.size = 1000 + arg;
    sample.sync = sync;
    sample.wallclock_ns = wallclock;
    auto pushed = cutter.push (sample);
    if (pushed.closed) {
      const auto &part = *pushed.closed;
      FUZZ_CHECK (part.duration_ns <= cutter.part_target_ns () + 1,
                  "a part of " + std::to_string (part.duration_ns) + " ns over its target "
                      + std::to_string (cutter.part_target_ns ()));
      publish (part);
    }
    ++frame;
  }
  if (in.remaining_bytes () == 0 && size % 2) {
    if (auto part = cutter.flush ())
      publish (*part);
    store.finish ("video");
    auto text = store.media_playlist ("video", false);
    FUZZ_CHECK (text, "no playlist after EXT-X-ENDLIST");
    // A rendition that ended before any media lists nothing (no MAP, no
    // date): the rules are for playlists with media.
    if (!previous.empty ()) {
      check (checker->playlist (*text), "the ended playlist", *text);
      check (checker->reload (previous, *text), "the last reload", previous + "\n-- then --\n" + *text);
    }
  }
  return 0;
}
