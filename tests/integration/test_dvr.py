#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""DVR recording on mirrord's default pipeline (360p transcode and audio).

An H.264 + AAC feed plays for a few seconds: every rendition's segments
are in {cache_dir}/dvr/{stream}/{rendition}/{period}.cmf with an index
(64-byte records, each with its CRC-32) whose segments follow one another
(numbers consecutive, times advancing as the durations do) and match what
the live playlist lists; the period file, init and fragments as published,
is a fragmented MP4 that ffprobe reads with the recorded duration. Then
mirrord is killed with SIGKILL and started again on the same state
directory: what was indexed before is still there and valid, and the new
process appends after it, its first segment marked a discontinuity."""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

from mirrortest import SLOWDOWN, Mirrord, wait_for
from test_feeds import audio, gst_feed, video

STREAM = "dvr"
RECORD = struct.Struct("<IBBxxIIQqqQQII")
MAGIC = 0x5852494D


def log(msg):
    print(f"test_dvr: {msg}", file=sys.stderr, flush=True)


def read_index(path):
    """The valid records of an index file, as dicts, and the byte count
    they cover (what a reader trusts: up to the first damaged record)."""
    records = []
    with open(path, "rb") as f:
        data = f.read()
    for at in range(0, len(data) - RECORD.size + 1, RECORD.size):
        chunk = data[at:at + RECORD.size]
        (magic, kind, flags, generation, parts, msn, wallclock, duration, offset, length,
         merged, crc) = RECORD.unpack(chunk)
        if magic != MAGIC or crc != zlib.crc32(chunk[:60]):
            break
        records.append(dict(kind="init" if kind == 1 else "segment", independent=bool(flags & 1),
                            discontinuity=bool(flags & 2), gap=bool(flags & 4), msn=msn,
                            wallclock=wallclock, duration=duration, offset=offset,
                            length=length, parts=parts, segments=max(1, merged)))
    return records, len(records) * RECORD.size


def periods(state_dir, rendition, stream=STREAM):
    d = os.path.join(state_dir, "dvr", stream, rendition)
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, n[:-4]) for n in os.listdir(d) if n.endswith(".idx"))


def segments(state_dir, rendition, stream=STREAM):
    out = []
    for base in periods(state_dir, rendition, stream):
        out += [r for r in read_index(base + ".idx")[0] if r["kind"] == "segment"]
    return out


class Recording(unittest.TestCase):

    def check_period(self, base):
        """Every record points inside the data file; the file ends where
        the records do; segments follow one another."""
        records, valid = read_index(base + ".idx")
        self.assertEqual(os.path.getsize(base + ".idx"), valid, base)
        self.assertTrue(records and records[0]["kind"] == "init", records[:1])
        size = os.path.getsize(base + ".cmf")
        self.assertEqual(max(r["offset"] + r["length"] for r in records), size)
        segs = [r for r in records if r["kind"] == "segment"]
        for a, b in zip(segs, segs[1:]):
            if b["discontinuity"]:
                continue
            # A recorded segment may hold several live ones (a short one
            # merged with the next, up to storage.dvr.segment_length).
            self.assertEqual(b["msn"], a["msn"] + a["segments"], (a, b))
            # PDTs advance as the durations do, give or take what the part
            # cutter's clock map corrects in a stream's first seconds (up
            # to 0.1 s measured here on the audio; 0.18 s after a restart on
            # a busy box, where the first buffers come in a burst; those
            # bursts grow with a sanitizer's slowdown).
            self.assertGreater(b["wallclock"], a["wallclock"], (a, b))
            slack = (300_000_000 if a["discontinuity"] else 150_000_000) * SLOWDOWN
            self.assertLess(abs(b["wallclock"] - (a["wallclock"] + a["duration"])), slack,
                            (a, b))
        return records

    def test_recorded_killed_and_recorded_on(self):
        # Kept across the kill (Mirrord.stop removes its own state dir).
        state = tempfile.mkdtemp(prefix="mirror-dvr-state-")
        self.addCleanup(shutil.rmtree, state, ignore_errors=True)
        m = Mirrord(env={"MIRROR_STORAGE_LOCAL_CACHE_DIR": state})
        feed = gst_feed(m.srt_port, STREAM, video(), audio())
        try:
            wait_for(lambda: len(segments(state, "360p")) >= 8 and len(segments(state, "audio")) >= 8,
                     "8 recorded segments per rendition", deadline_s=60)
            for rendition in ("360p", "audio"):
                for base in periods(state, rendition):
                    self.check_period(base)
            # What the live playlist lists is what was recorded.
            _, _, text = m.origin("GET", f"/live/{STREAM}/360p.m3u8")
            listed = {int(n) for n in re.findall(r"360p/seg(\d+)\.m4s", text.decode())}
            recorded = {r["msn"] for r in segments(state, "360p")}
            self.assertTrue(listed & recorded, (sorted(listed), sorted(recorded)))
            self.assertLessEqual(max(recorded), max(listed))

            # The period file is a fragmented MP4 as it stands: every frame
            # the index accounts for is there.
            base = periods(state, "360p")[-1]
            probe = json.loads(subprocess.run(
                ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
                 "stream=codec_name,width,height,avg_frame_rate,nb_read_packets", "-of", "json",
                 base + ".cmf"], capture_output=True, text=True, check=True).stdout)["streams"][0]
            self.assertEqual((probe["codec_name"], probe["width"], probe["height"]),
                             ("h264", 640, 360))
            num, den = map(int, probe["avg_frame_rate"].split("/"))
            indexed = [r for r in read_index(base + ".idx")[0] if r["kind"] == "segment"]
            expected = sum(r["duration"] for r in indexed) / 1e9 * num / den
            log(f"ffprobe: {probe['nb_read_packets']} frames in {base}.cmf, "
                f"{expected:.1f} by the index")
            self.assertLess(abs(int(probe["nb_read_packets"]) - expected), 2)

            # The API, /metrics and /health say so.
            status, _, info = m.http("GET", f"/api/v1/streams/{STREAM}")
            self.assertEqual(status, 200)
            dvr = info["dvr"]
            self.assertEqual(dvr["renditions"], ["360p", "audio"], dvr)
            self.assertGreater(dvr["seconds"], 3.5, dvr)
            self.assertGreater(dvr["bytes"], 10_000, dvr)
            self.assertTrue(dvr["start"] < dvr["end"], dvr)
            _, _, metrics = m.http("GET", "/metrics", raw=True)
            recorded = re.search(rb"^mirror_storage_segments_recorded_total (\S+)$", metrics, re.M)
            self.assertTrue(recorded and float(recorded.group(1)) >= 16, metrics[-2000:])
            self.assertIn(b"mirror_storage_disk_full 0", metrics)
            _, _, health = m.http("GET", "/health")
            self.assertEqual(health["components"]["storage"]["status"], "ok", health)

            before = {rendition: segments(state, rendition) for rendition in ("360p", "audio")}
            m.stop(signal.SIGKILL)
            # The same ports and state directory (the environment's).
            m = Mirrord(env={k: v for k, v in m.env.items() if k.startswith("MIRROR_")})
            wait_for(lambda: len(segments(state, "360p")) >= len(before["360p"]) + 4,
                     "segments recorded after the restart", deadline_s=60)
            for rendition in ("360p", "audio"):
                for base in periods(state, rendition):
                    self.check_period(base)
                after = segments(state, rendition)
                old = before[rendition]
                # Nothing indexed before the kill was lost (the newest may
                # have been torn; it was never indexed then).
                self.assertEqual([r["msn"] for r in after[:len(old)]], [r["msn"] for r in old])
                first_new = after[len(old)]
                self.assertTrue(first_new["discontinuity"], first_new)
                self.assertGreater(first_new["wallclock"], old[-1]["wallclock"])
                log(f"{rendition}: {len(old)} segments before the kill, {len(after)} after")
        finally:
            feed.stop()
            code = m.stop()
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
