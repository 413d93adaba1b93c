#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A full disk under the DVR recording: mirrord's state directory on a 4 MiB
tmpfs that the test mounts (as root; where mounting is not permitted the test
says so and is skipped). An H.264 + AAC feed fills it: the recorder stops
with the alarm up (/metrics mirror_storage_disk_full 1, /health's storage
component unhealthy and the node degraded, its detail naming the full disk),
while live delivery goes on: the live playlist keeps advancing and its
newest part is served. mirrord then stops cleanly."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from mirrortest import Mirrord, wait_for
from test_feeds import audio, gst_feed, video

STREAM = "full"


def log(msg):
    print(f"test_dvr_diskfull: {msg}", file=sys.stderr, flush=True)


def metric(m, name):
    _, _, text = m.http("GET", "/metrics", raw=True)
    found = re.search(rf"^{name} (\S+)$", text.decode(), re.M)
    return float(found.group(1)) if found else None


class DiskFull(unittest.TestCase):

    def setUp(self):
        self.mount = tempfile.mkdtemp(prefix="mirror-full-")
        self.addCleanup(shutil.rmtree, self.mount, ignore_errors=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", self.mount],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): "
                          "run as root to test a full disk")
        self.addCleanup(subprocess.run, ["umount", "-l", self.mount], check=False)

    def test_full_disk_stops_recording_not_live(self):
        m = Mirrord(env={"MIRROR_STORAGE_LOCAL_CACHE_DIR": self.mount})
        feed = gst_feed(m.srt_port, STREAM, video(width=320, height=240), audio())
        try:
            wait_for(lambda: metric(m, "mirror_storage_disk_full") == 1, "the disk-full alarm",
                     deadline_s=180)
            _, _, health = m.http("GET", "/health")
            storage = health["components"]["storage"]
            self.assertEqual(storage["status"], "unhealthy", health)
            self.assertIn("the disk is full", storage["detail"])
            self.assertEqual(health["status"], "degraded", health)
            log(f"alarm up with {shutil.disk_usage(self.mount).free} bytes free: {storage['detail']}")

            # Live goes on: the playlist advances and its newest part is served.
            seq = lambda text: int(re.search(rb"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
            status, _, first = m.origin("GET", f"/live/{STREAM}/360p.m3u8")
            self.assertEqual(status, 200)
            wait_for(lambda: seq(m.origin("GET", f"/live/{STREAM}/360p.m3u8")[2]) > seq(first) + 6,
                     "the live playlist advancing on a full disk", deadline_s=30)
            status, _, text = m.origin("GET", f"/live/{STREAM}/360p.m3u8")
            part = re.findall(rb'#EXT-X-PART:[^\n]*URI="([^"]+)"', text)[-1].decode()
            status, _, body = m.origin("GET", f"/live/{STREAM}/{part}")
            self.assertEqual(status, 200)
            self.assertGreater(len(body), 100)
            self.assertGreater(metric(m, "mirror_storage_segments_dropped_total"), 0)
        finally:
            feed.stop()
            code = m.stop()
        self.assertEqual(code, 0)


if __name__ == "__main__":
    unittest.main()
