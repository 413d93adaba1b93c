#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mirrord archiving its DVR recording to S3, against a real S3-compatible
server (s3rver from web/node_modules, behind tests/unit/storage/s3rver.mjs,
which also checks SigV4 signatures) reached through the fault proxy
(tests/unit/storage/s3_fault_proxy.py).

With 10 s periods and storage.local.ttl 0, an H.264 + AAC feed's closed
periods are uploaded (data, index, rendition.json), marked, and then leave
local disk (their index stays). The objects are byte-identical to what was
recorded; a time-shifted playlist over an evicted period is served, its
pieces read through S3 and identical to the object's bytes; ffprobe
plays it. Then S3 fails (every PUT answered 503 SlowDown): the alarm is up
(/metrics mirror_storage_upload_failing, /health storage degraded), the live
playlist keeps advancing, nothing local is removed; when S3 recovers the
backlog drains."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

from mirrortest import SOURCE_ROOT, Mirrord, wait_for
from test_dvr import read_index
from test_feeds import audio, gst_feed, video

STREAM = "arch"
BUCKET = "mirror-archive"
PREFIX = "node1/"
STORAGE = os.path.join(SOURCE_ROOT, "tests", "unit", "storage")
PIECE_RE = re.compile(r"(360p/dvr\d+-(\d+)-(\d+)\.m4s)")


def log(msg):
    print(f"test_dvr_s3: {msg}", file=sys.stderr, flush=True)


class Child:
    """A helper server that prints its port(s) as one line and exits when
    its stdin closes; stopped by its PID."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=sys.stderr, text=True)
        self.ports = [int(p) for p in self.proc.stdout.readline().split()]
        if not self.ports:
            raise AssertionError(f"{argv[:3]} printed no port")

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def proxy_command(port, command):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((command + "\n").encode())
        return s.makefile().readline().strip()


def s3_get(port, key):
    """The object's bytes, fetched with curl's own SigV4 signing."""
    r = subprocess.run(["curl", "-sS", "--fail", "--aws-sigv4", "aws:amz:us-east-1:s3",
                        "--user", "S3RVER:S3RVER", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                        f"http://127.0.0.1:{port}/{BUCKET}/{PREFIX}{key}"],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"GET {key}: {r.stderr.decode()}")
    return r.stdout


def metric(m, name, labels=""):
    _, _, text = m.http("GET", "/metrics", raw=True)
    found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text.decode(), re.M)
    return float(found.group(1)) if found else None


class Archive(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        module = os.path.join(SOURCE_ROOT, "web", "node_modules", "s3rver", "package.json")
        if not os.path.exists(module):
            raise AssertionError(f"{module} is missing: npm ci --prefix web")
        cls.state = tempfile.mkdtemp(prefix="mirror-dvr-s3-")
        cls.s3 = Child(["node", "--openssl-legacy-provider", os.path.join(STORAGE, "s3rver.mjs"),
                        "--bucket", BUCKET, "--port", "0"])
        cls.proxy = Child(["python3", os.path.join(STORAGE, "s3_fault_proxy.py"),
                           str(cls.s3.ports[0])])
        cls.m = Mirrord(env={
            "MIRROR_STORAGE_LOCAL_CACHE_DIR": cls.state,
            "MIRROR_STORAGE_DVR_PERIOD_LENGTH": "10s",
            "MIRROR_STORAGE_LOCAL_TTL": "0s",
            "MIRROR_STORAGE_S3_ENABLED": "true",
            "MIRROR_STORAGE_S3_BUCKET": BUCKET,
            "MIRROR_STORAGE_S3_ENDPOINT": f"http://127.0.0.1:{cls.proxy.ports[0]}",
            "MIRROR_STORAGE_S3_ACCESS_KEY_ID": "S3RVER",
            "MIRROR_STORAGE_S3_SECRET_ACCESS_KEY": "S3RVER",
            "MIRROR_STORAGE_S3_PREFIX": PREFIX,
        })
        cls.feed = gst_feed(cls.m.srt_port, STREAM, video(), audio())

    @classmethod
    def tearDownClass(cls):
        cls.feed.stop()
        code = cls.m.stop()
        cls.proxy.stop()
        cls.s3.stop()
        shutil.rmtree(cls.state, ignore_errors=True)
        assert code == 0, f"mirrord exited with {code}"

    def rdir(self, rendition):
        return os.path.join(self.state, "dvr", STREAM, rendition)

    def bases(self, rendition, suffix):
        d = self.rdir(rendition)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, n[:-len(suffix)]) for n in os.listdir(d) if n.endswith(suffix))

    def evicted(self, rendition):
        """Periods uploaded and gone from local disk: a marker and an index, no data."""
        return [b for b in self.bases(rendition, ".s3")
                if os.path.exists(b + ".idx") and not os.path.exists(b + ".cmf")]

    def test_archive_then_outage(self):
        # Two periods of each rendition closed, uploaded and left to S3.
        wait_for(lambda: len(self.evicted("360p")) >= 2 and len(self.evicted("audio")) >= 2,
                 "two periods per rendition uploaded and evicted", deadline_s=120)
        for rendition in ("360p", "audio"):
            for base in self.evicted(rendition)[:2]:
                period = os.path.basename(base)
                key = f"{STREAM}/{rendition}/{period}"
                with open(base + ".s3") as f:
                    data_size, index_size = map(int, f.read().split())
                data = s3_get(self.s3.ports[0], key + ".cmf")
                index = s3_get(self.s3.ports[0], key + ".idx")
                self.assertEqual(len(data), data_size)
                with open(base + ".idx", "rb") as f:
                    self.assertEqual(index, f.read())
                self.assertEqual(len(index), index_size)
            info = json.loads(s3_get(self.s3.ports[0], f"{STREAM}/{rendition}/rendition.json"))
            self.assertEqual(info["name"], rendition)
        self.assertGreaterEqual(metric(self.m, "mirror_storage_uploads_total", '{result="ok"}'), 4)
        _, _, info = self.m.http("GET", f"/api/v1/streams/{STREAM}")
        dvr = info["dvr"]
        self.assertGreaterEqual(dvr["uploaded_periods"], 4, dvr)
        self.assertLess(dvr["local_periods"], dvr["periods"], dvr)
        self.assertTrue(dvr["vod"].startswith(f"/live/{STREAM}/index.m3u8?start="), dvr)

        # A range inside an evicted period (the fullest: the first may hold
        # only the stream's first seconds), played from S3.
        base = max(self.evicted("360p"), key=lambda b: os.path.getsize(b + ".idx"))
        start = int(os.path.basename(base))
        records = [r for r in read_index(base + ".idx")[0] if r["kind"] == "segment"]
        first_s = records[0]["wallclock"] / 1e9
        last_s = (records[-1]["wallclock"] + records[-1]["duration"]) / 1e9
        self.assertGreater(last_s - first_s, 4, records)
        t1, t2 = round(first_s + 0.7, 3), round(min(first_s + 6.7, last_s - 0.3), 3)
        path = f"/live/{STREAM}/360p.m3u8?start={t1}&end={t2}"
        status, _, body = self.m.origin("GET", path)
        self.assertEqual(status, 200, body)
        text = body.decode()
        data = s3_get(self.s3.ports[0], f"{STREAM}/360p/{start}.cmf")
        listed = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in PIECE_RE.finditer(text)]
        self.assertTrue(listed, text)
        for uri, offset, length in listed:
            status, headers, got = self.m.origin("GET", f"/live/{STREAM}/{uri}")
            self.assertEqual(status, 200, got[:200])
            self.assertEqual(got, data[offset:offset + length])
        status, _, got = self.m.origin("GET", f"/live/{STREAM}/360p/dvr{start}.mp4",
                                       headers={"Range": "bytes=100-199"})
        self.assertEqual((status, got), (206, data[100:200]))
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
             "stream=codec_type,nb_read_packets", "-of", "json",
             f"http://127.0.0.1:{self.m.http_port}/live/{STREAM}/index.m3u8"
             f"?start={t1}&end={t2}"],
            capture_output=True, text=True, timeout=120, check=True)
        streams = {s["codec_type"]: int(s["nb_read_packets"])
                   for s in json.loads(probe.stdout)["streams"]}
        log(f"ffprobe over S3-only media: {streams}")
        self.assertGreater(streams.get("video", 0), 90, probe.stdout)
        status, _, clip = self.m.origin("GET", f"/live/{STREAM}/clip.mp4?start={t1}&end={t2}")
        self.assertEqual(status, 200, clip[:200])

        # S3 fails: every PUT is refused. Live goes on, the alarm is up, and
        # nothing leaves local disk.
        self.assertEqual(proxy_command(self.proxy.ports[1], "fault slowdown 100000 PUT /"), "ok")
        before = metric(self.m, "mirror_storage_uploads_total", '{result="ok"}')
        wait_for(lambda: metric(self.m, "mirror_storage_upload_failing") == 1,
                 "the upload alarm", deadline_s=90)
        _, _, health = self.m.http("GET", "/health")
        self.assertEqual(health["components"]["storage"]["status"], "unhealthy", health)
        self.assertEqual(health["status"], "degraded", health)
        self.assertIn("SlowDown", health["components"]["storage"]["detail"])
        _, _, first = self.m.origin("GET", f"/live/{STREAM}/360p.m3u8")
        seq = lambda t: int(re.search(rb"#EXT-X-MEDIA-SEQUENCE:(\d+)", t).group(1))
        wait_for(lambda: seq(self.m.origin("GET", f"/live/{STREAM}/360p.m3u8")[2]) > seq(first) + 4,
                 "the live playlist advancing while S3 fails", deadline_s=30)
        waiting = [b for b in self.bases("360p", ".cmf") if not os.path.exists(b + ".s3")]
        self.assertTrue(waiting)
        self.assertGreaterEqual(metric(self.m, "mirror_storage_upload_backlog"), 1)

        # S3 is back: the backlog drains, the alarm goes down.
        self.assertEqual(proxy_command(self.proxy.ports[1], "clear"), "ok")
        wait_for(lambda: metric(self.m, "mirror_storage_upload_failing") == 0
                 and metric(self.m, "mirror_storage_uploads_total", '{result="ok"}') > before,
                 "the backlog draining once S3 is back", deadline_s=180)
        for b in waiting:
            wait_for(lambda: os.path.exists(b + ".s3") or not os.path.exists(b + ".idx"),
                     f"{b} uploaded", deadline_s=180)
        ok = metric(self.m, "mirror_storage_uploads_total", '{result="ok"}')
        failed = metric(self.m, "mirror_storage_uploads_total", '{result="failed"}')
        log(f"uploads: {ok:.0f} ok, {failed:.0f} failed attempts (retried)")


if __name__ == "__main__":
    unittest.main()
