#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""LL-HLS in spec at the frame rates real feeds have. Live H.264 feeds at
23.976, 25, 29.97, 30, 50 and 59.94 fps (a keyframe every half second), and
one at 30 fps with B-frames, packaged as they come (rendition "source"): for
15 s of reloads every media playlist passes llhls.py's rules on its own and
against the one before it (PART-TARGET and TARGETDURATION never change, the
media sequence and parts never go back), PART-TARGET is the part duration
on the frame grid, every part but a segment's last fills 85 % of it and
none exceeds it, segments are half a second give or take a frame, and
PROGRAM-DATE-TIMEs advance as the durations do."""

import json
import re
import subprocess
import sys
import time
import unittest

import llhls
from mirrortest import LiveStreamCase, Mirrord, Process, check_reload, log_on_failure, wait_for

# (stream id, frame rate as a fraction, frames per part, B-frames)
FEEDS = [
    ("fps23", (24000, 1001), 3, 0),
    ("fps25", (25, 1), 3, 0),
    ("fps29", (30000, 1001), 3, 0),
    ("fps30", (30, 1), 3, 0),
    ("fps50", (50, 1), 5, 0),
    ("fps59", (60000, 1001), 6, 0),
    ("bframes", (30, 1), 3, 2),
]
SECONDS = 15


def feed(port, stream_id, rate, bframes):
    num, den = rate
    gop = round(num / den / 2)
    return Process(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "pattern=ball", "!",
         f"video/x-raw,format=I420,width=160,height=120,framerate={num}/{den}", "!",
         "x264enc", "speed-preset=ultrafast", f"key-int-max={gop}", f"bframes={bframes}",
         *([] if bframes else ["tune=zerolatency"]), "!", "h264parse", "config-interval=-1", "!",
         "mpegtsmux", "alignment=7", "!",
         "srtsink", f"uri=srt://127.0.0.1:{port}?streamid={stream_id}", "latency=120"],
        log_name=f"feed-{stream_id}")


def log(msg):
    print(f"test_framerates: {msg}", file=sys.stderr, flush=True)


class FrameRates(LiveStreamCase):

    @classmethod
    def setUpClass(cls):
        cls.m = Mirrord(env={"MIRROR_TRANSCODING_ENABLED": "false"})
        cls.feeds = [feed(cls.m.srt_port, sid, rate, b) for sid, rate, _, b in FEEDS]

    def media(self, stream_id):
        return self.m.media_playlist(stream_id, "source")

    def test_playlists_stay_in_spec_at_every_rate(self):
        with log_on_failure(self.m):
            self.check()

    def check(self):
        for sid, *_ in FEEDS:
            wait_for(lambda: (pl := self.media(sid)) and len(pl.complete_segments) >= 2,
                     f"{sid}: two segments", deadline_s=60)
        first, last = {}, {}
        reloads = 0
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            for sid, *_ in FEEDS:
                check_reload(self, sid, self.media(sid), last, first)
                reloads += 1
            time.sleep(0.1)  # pacing at about one part, not synchronisation
        log(f"{reloads} reloads checked")

        for sid, (num, den), frames_per_part, _ in FEEDS:
            pl = last[sid]
            frame = den / num
            self.assertAlmostEqual(pl.part_target, round(frames_per_part * frame, 5), delta=2e-5,
                                   msg=f"{sid}:\n{pl.text}")
            self.assertEqual(pl.target_duration, 1, f"{sid}:\n{pl.text}")
            advanced = pl.last_position()[0] - first[sid].last_position()[0]
            self.assertGreaterEqual(advanced, SECONDS, f"{sid} moved {advanced} segments")
            # Half a second give or take a frame: a segment is a GOP of the
            # feed's, and one whose keyframe came too late over SRT on a busy
            # box (then two GOPs, within TARGETDURATION) is the feed's doing.
            on_time = [abs(seg.duration - 0.5) <= frame + 1e-4 for seg in pl.complete_segments]
            self.assertGreaterEqual(sum(on_time), 0.9 * len(on_time), f"{sid}:\n{pl.text}")
            drift = [d for d in llhls.pdt_drift(pl) if abs(d[1]) > 0.05]
            self.assertEqual(drift, [], f"{sid} PROGRAM-DATE-TIME off its durations:\n{pl.text}")
            for seg in pl.segments:
                for p in seg.parts[:-1]:
                    self.assertGreaterEqual(p.duration, 0.85 * pl.part_target - 1e-5,
                                            f"{sid} {p.uri}:\n{pl.text}")
        # Nothing had to stretch PART-TARGET or fall short of it, by the
        # packager's own count; a part cut short at a gap is the feed's.
        _, _, metrics = self.m.http("GET", "/metrics", raw=True)
        off = re.findall(r'(?m)^mirror_hls_parts_off_grid_total\{([^}]*)\} ([0-9.e+]+)$',
                         metrics.decode())
        self.assertTrue(off, "no mirror_hls_parts_off_grid_total series")
        for labels, value in off:
            if any(f'kind="{k}"' in labels for k in ("long", "short", "long-segment")):
                self.assertEqual(float(value), 0, labels)
        log("shortened parts: " + ", ".join(f"{l}={v}" for l, v in off if 'kind="shortened"' in l))

        # B-frames passed through: ffprobe decodes them cleanly from the
        # playlist (composition offsets in trun).
        r = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_frames",
                            "-read_intervals", "%+#40", "-of", "json",
                            f"http://127.0.0.1:{self.m.http_port}/live/bframes/index.m3u8"],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", r.stderr)
        doc = json.loads(r.stdout)
        video = [s for s in doc["streams"] if s["codec_type"] == "video"]
        self.assertGreaterEqual(video[0]["has_b_frames"], 1, video)
        types = [f.get("pict_type") for f in doc["frames"] if f.get("media_type") == "video"]
        self.assertIn("B", types, types)


if __name__ == "__main__":
    unittest.main()
