# SPDX-License-Identifier: LGPL-2.1-or-later
"""Nothing accumulates in mirrord (issue 11).

One mirrord; a long-lived feed "keep" packaged as LL-HLS; then, all at
once, 200 real SRT callers with distinct ids that come and go (every fifth
one comes back within the reconnect window, the rest never do) while 10 more
stay; about 2,000 requests to the Origin over HTTP/1.1, HTTPS and HTTP/3,
on new and kept-alive connections, some abandoned half-way (a request cut
off, a held blocking reload left, a TLS handshake dropped, an HTTP/3 viewer
killed); 300 admin API calls. Afterwards, once the windows have lapsed: the
registry lists only the streams still fed, mirrord's descriptors and
threads are back within a few of where they started, no socket of its is in
CLOSE-WAIT, and /metrics keeps no series of a stream that is gone.
"""

import concurrent.futures
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

from mirrortest import (BUILD_ROOT, DEADLINE_S, SLOWDOWN, Mirrord, Process, free_port, http,
                        https, wait_for)

CHURN = os.path.join(BUILD_ROOT, "tests", "integration", "mirror-srt-churn")
HLS_LOAD = os.path.join(BUILD_ROOT, "tools", "h3", "mirror-hls-load")

CALLERS = 200
STAYING = 10
# Callers connected at a time. Under a sanitizer's slowdown every stream
# takes a few times longer to start and end, and 16 at a time kept the
# box too busy to end them as fast as they came (64 streams at once, callers
# refused): nothing accumulated, but load is not what is under test here.
CONCURRENCY = max(4, int(16 / SLOWDOWN))
# Room above the starting figures for what is legitimately lazy (a thread
# pool that grew by one, a cached descriptor).
FD_SLACK = 6
THREAD_SLACK = 4

CONFIG = """
ingestion:
  reconnect_window: 1s
  ended_retention: 1s
  max_streams: 64
  routes:
    - {match: "keep", pipeline: default}
    - {match: "*", pipeline: ingest-only}
transcoding:
  enabled: false
server:
  http_idle_timeout: 2s
  http3_idle_timeout: 2s
"""


def make_media(path, seconds=2):
    """A small H.264 MPEG-TS file (320x240 at 30 fps, a keyframe every 0.5 s)."""
    subprocess.run(
        ["gst-launch-1.0", "-q", "videotestsrc", f"num-buffers={30 * seconds}", "!",
         "video/x-raw,width=320,height=240,framerate=30/1", "!", "x264enc", "tune=zerolatency",
         "key-int-max=15", "bitrate=800", "!", "mpegtsmux", "alignment=7", "!", "filesink",
         f"location={path}"], check=True, timeout=120)


def keep_feed(port):
    """A live feed that stays for the whole test (its own process group)."""
    return Process(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!",
         "video/x-raw,width=320,height=240,framerate=30/1", "!", "x264enc", "tune=zerolatency",
         "key-int-max=15", "bitrate=500", "!", "mpegtsmux", "alignment=7", "!", "srtsink",
         f"uri=srt://127.0.0.1:{port}?streamid=keep", "wait-for-connection=false"],
        log_name="keep-feed")


class Figures:
    def __init__(self, pid):
        self.pid = pid

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def threads(self):
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def close_wait(self):
        out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True).stdout
        return [line for line in out.splitlines()
                if line.startswith("CLOSE-WAIT") and f"pid={self.pid}," in line]


class NothingAccumulates(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mirror-accumulation-")
        cls.media = os.path.join(cls.tmp, "media.ts")
        make_media(cls.media)
        cls.m = Mirrord(config=CONFIG)
        cls.feed = keep_feed(cls.m.srt_port)
        cls.figures = Figures(cls.m.pid)

    @classmethod
    def tearDownClass(cls):
        cls.feed.stop()
        code = cls.m.stop()
        assert code == 0, f"mirrord exited with {code}:\n{cls.m.output()[-4000:]}"

    # -- helpers

    def counter(self, name):
        _, _, text = self.m.http("GET", "/metrics")
        found = re.search(rf"(?m)^{name}(?:{{}})? (\S+)", text)
        return float(found.group(1)) if found else 0.0

    def listed(self):
        status, _, doc = self.m.http("GET", "/api/v1/streams")
        self.assertEqual(status, 200)
        return {s["id"]: s["state"] for s in doc["streams"]}

    def media_playlist(self):
        status, _, body = self.m.origin("GET", "/live/keep/source.m3u8")
        return body.decode() if status == 200 else None

    def next_part(self):
        """(msn, part) of the part after the newest one: a blocking reload."""
        text = self.media_playlist()
        msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text).group(1))
        segments = text.count("#EXTINF")
        parts_after = text.split("#EXTINF")[-1].count("#EXT-X-PART:")
        return msn + segments, parts_after + 1

    def churn(self, count, stay):
        self.churn_log = tempfile.NamedTemporaryFile(prefix="mirror-churn-", suffix=".log",
                                                     delete=False)
        return subprocess.Popen(
            [CHURN, "--port", str(self.m.srt_port), "--file", self.media, "--count", str(count),
             "--concurrency", str(CONCURRENCY), "--seconds", "1.0", "--reconnect-every", "5",
             "--stay", str(stay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.churn_log, text=True)

    def origin_requests(self, total):
        """About `total` Origin requests over HTTP/1.1 and HTTPS, new and kept
        alive, a tenth of them abandoned half-way. Returns the count done."""
        done = 0
        paths = ["/live/keep/index.m3u8", "/live/keep/source.m3u8", "/live/index.json"]

        def one_connection(i):
            tls = i % 2 == 1
            port = self.m.https_port if tls else self.m.http_port
            raw = socket.create_connection(("127.0.0.1", port), timeout=20)
            sock = ssl._create_unverified_context().wrap_socket(raw) if tls else raw
            n = 0
            try:
                kind = i % 10
                if kind == 7:      # cut off half-way through the request line
                    sock.sendall(b"GET /live/keep/sou")
                    return 1
                if kind == 8:      # a blocking reload, left while held
                    msn, part = self.next_part()
                    sock.sendall(f"GET /live/keep/source.m3u8?_HLS_msn={msn}&_HLS_part={part} "
                                 f"HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                    time.sleep(0.05)
                    return 1
                # Kept alive: several requests on one connection, all read.
                reader = sock.makefile("rb")
                for k in range(8):
                    sock.sendall(f"GET {paths[k % 3]} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                    status = reader.readline()
                    self.assertIn(b" 200 ", status)
                    length = 0
                    while True:
                        line = reader.readline()
                        if line in (b"\r\n", b""):
                            break
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    reader.read(length)
                    n += 1
                return n
            finally:
                sock.close()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for n in pool.map(one_connection, range(total // 7)):
                done += n
        # TLS handshakes that never finish, and connections never used.
        for i in range(10):
            s = socket.create_connection(("127.0.0.1", self.m.https_port if i % 2 else
                                          self.m.http_port))
            if i % 2:
                s.sendall(b"\x16\x03\x01\x00\x05hello")
            s.close()
        return done

    def admin_calls(self, total):
        for i in range(total):
            path = ["/api/v1/streams", "/health", "/metrics", "/api/v1/stats",
                    "/api/v1/streams/keep"][i % 5]
            status, _, _ = self.m.http("GET", path)
            self.assertIn(status, (200, 503))

    def http3_load(self, seconds):
        """HTTP/3 viewers following the live edge; the run is cut short by
        SIGKILL, so its connections and held requests are simply left."""
        proc = subprocess.Popen(
            [HLS_LOAD, "--viewers", "8", "--seconds", str(seconds), "--warmup", "0", "--json",
             "-q", "--url", f"https://127.0.0.1:{self.m.https_port}/live/keep/source.m3u8"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return proc

    # -- the test

    def test_nothing_accumulates(self):
        wait_for(lambda: self.listed().get("keep") == "live", "the keep feed live",
                 deadline_s=60)
        wait_for(lambda: self.media_playlist() and "#EXT-X-PART:" in self.media_playlist(),
                 "keep's LL-HLS playlist")

        # Warm-up: one of everything, so that lazily made thread pools and
        # caches exist before the figures are taken.
        warm = self.churn(3, 0)
        warm.communicate(timeout=120)
        self.origin_requests(35)
        self.admin_calls(10)
        h3 = self.http3_load(2)
        h3.communicate(timeout=60)
        wait_for(lambda: set(self.listed()) == {"keep"}, "warm-up streams gone")
        time.sleep(3)  # the idle timeouts of the warm-up's connections (2 s) pass
        fds0, threads0 = self.figures.fds(), self.figures.threads()
        requests0, created0 = self.counter("mirror_origin_requests_total"), \
            self.counter("mirror_streams_created_total")
        print(f"start: {fds0} descriptors, {threads0} threads", flush=True)

        # Everything at once. A few connections are opened and then left
        # alone: the idle timeout is what closes them.
        idle = [socket.create_connection(("127.0.0.1", port))
                for port in (self.m.http_port, self.m.https_port, self.m.admin_port)]
        churn = self.churn(CALLERS, STAYING)
        h3 = self.http3_load(30)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            origin = pool.submit(self.origin_requests, 2100)
            admin = pool.submit(self.admin_calls, 300)
            origin_done = origin.result(timeout=600)
            admin.result(timeout=600)
        time.sleep(2)
        h3.send_signal(signal.SIGKILL)  # viewers gone without a goodbye
        h3.wait()
        out, err = churn.stdout.readline(), ""
        summary = json.loads(out)
        print(f"churn: {summary}; origin requests: {origin_done}", flush=True)
        with open(self.churn_log.name) as f:
            refusals = f.read()
        self.assertEqual(summary["refused"], 0, refusals + "\nmirrord:\n" + "\n".join(
            line for line in self.m.output().splitlines() if "reject" in line or "refused" in line))
        self.assertEqual(summary["connected"], CALLERS)
        self.assertEqual(summary["reconnected"], CALLERS // 5)
        requests = self.counter("mirror_origin_requests_total") - requests0
        print(f"Origin requests (HTTP/1.1, HTTPS, HTTP/3): {requests}", flush=True)
        self.assertGreaterEqual(requests, 2000)
        # Every caller became a stream of its own (a returning one did not).
        self.assertGreaterEqual(self.counter("mirror_streams_created_total") - created0,
                                CALLERS + STAYING)

        # The callers that stay are still fed; every other stream goes.
        fed = {f"fed-{i}" for i in range(STAYING)} | {"keep"}
        wait_for(lambda: set(self.listed()) == fed, "only the fed streams listed",
                 deadline_s=120)
        self.assertTrue(all(state in ("live", "stalled") for state in self.listed().values()),
                        self.listed())

        # The staying callers leave too: their streams end and go.
        churn.stdin.close()
        churn.wait(timeout=60)
        wait_for(lambda: set(self.listed()) == {"keep"}, "the staying callers' streams gone",
                 deadline_s=60)

        for sock in idle:
            sock.settimeout(DEADLINE_S)
            self.assertEqual(sock.recv(1), b"", "an idle connection was not closed")
            sock.close()

        def settled():
            fds, threads = self.figures.fds(), self.figures.threads()
            return (fds <= fds0 + FD_SLACK and threads <= threads0 + THREAD_SLACK
                    and not self.figures.close_wait(), (fds, threads))
        ok = False
        end = time.monotonic() + 60
        while time.monotonic() < end and not ok:
            ok, now = settled()
            time.sleep(0.5)
        fds, threads = self.figures.fds(), self.figures.threads()
        print(f"after: {fds} descriptors, {threads} threads, "
              f"{len(self.figures.close_wait())} in CLOSE-WAIT", flush=True)
        self.assertLessEqual(fds, fds0 + FD_SLACK, "descriptors accumulated")
        self.assertLessEqual(threads, threads0 + THREAD_SLACK, "threads accumulated")
        self.assertEqual(self.figures.close_wait(), [])

        # What an operator alerts on says the same, and nothing is kept for
        # the streams that are gone.
        _, _, metrics = self.m.http("GET", "/metrics")
        reported = int(float(re.search(r"^mirror_process_open_fds (\S+)", metrics, re.M).group(1)))
        self.assertLessEqual(abs(reported - self.figures.fds()), 2)
        self.assertRegex(metrics, r"(?m)^mirror_process_threads \d+")
        self.assertRegex(metrics, r"(?m)^process_resident_memory_bytes \d")
        self.assertNotIn('stream="churn-', metrics)
        self.assertNotIn('stream="fed-', metrics)
        self.assertRegex(metrics, r'(?m)^mirror_origin_held_requests 0')
        self.assertRegex(metrics, r'(?m)^mirror_http_connections\{server="origin"\} 0')
        self.assertRegex(metrics, r'(?m)^mirror_http_held_abandoned_total\{server="origin"\} [1-9]')
        self.assertRegex(metrics, r'(?m)^mirror_http_idle_closed_total\{server="origin"\} [1-9]')


if __name__ == "__main__":
    unittest.main(verbosity=2)
