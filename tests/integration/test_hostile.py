#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile clients on the viewer ports, from one address, while a viewer
follows the live edge over HTTP/3: slowloris heads, oversized heads and URLs,
thousands of held blocking reloads, and clients that never read. The limits
hold (per connection and per address; mirrord's memory bounded) and the
well-behaved viewer keeps its latency and gets every part."""
import json
import os
import re
import socket
import subprocess
import unittest

from mirrortest import BUILD_ROOT, SLOWDOWN, Mirrord, wait_for
from test_ingest import metric
from test_hls import srt_feed

PER_ADDRESS = 150
LOADER = os.path.join(BUILD_ROOT, "tools", "h3", "mirror-hls-load")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Mirrord(env={"MIRROR_TRANSCODING_ENABLED": "false",
                             "MIRROR_SERVER_MAX_CONNECTIONS_PER_ADDRESS": str(PER_ADDRESS)})
        cls.feed = srt_feed(cls.m.srt_port, "cam")
        wait_for(lambda: b"#EXT-X-PRELOAD-HINT" in cls.m.origin("GET", "/live/cam/source.m3u8")[2],
                 "the stream's playlist", deadline_s=60)

    @classmethod
    def tearDownClass(cls):
        cls.feed.stop()
        assert cls.m.stop() == 0, cls.m.output()[-4000:]

    def follow(self, seconds):
        """A good viewer over HTTP/3 for @seconds: mirror-hls-load's figures."""
        r = subprocess.run([LOADER, "--json", "-q", "--viewers", "3", "--warmup", "1",
                            "--seconds", str(seconds),
                            "--url", f"https://127.0.0.1:{self.m.https_port}/live/cam/source.m3u8"],
                           capture_output=True, text=True, timeout=seconds + 60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        return json.loads(r.stdout)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.m.http_port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        return s

    def next_reload(self):
        _, _, body = self.m.origin("GET", "/live/cam/source.m3u8")
        msn = int(re.search(rb"#EXT-X-MEDIA-SEQUENCE:(\d+)", body).group(1))
        segments = len(re.findall(rb"^#EXTINF", body, re.M))
        # Two segments ahead: held for a second or more, within the limit of
        # how far ahead a reload may ask.
        return f"/live/cam/source.m3u8?_HLS_msn={msn + segments + 2}&_HLS_part=0"

    def test_limits_hold_and_the_viewer_keeps_its_latency(self):
        calm = self.follow(6)
        rss_before = rss_kib(self.m.pid)
        # What to ask for, while this address may still connect.
        reload = self.next_reload()
        _, _, body = self.m.origin("GET", "/live/cam/source.m3u8")
        seg = re.findall(rb"^(source/seg\d+\.m4s)$", body, re.M)[0].decode()
        socks = []
        try:
            # Slowloris: heads that never end.
            for _ in range(20):
                s = self.connect()
                s.sendall(b"GET /live/cam/source.m3u8 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                socks.append(s)
            # Oversized heads and URLs: 431 and closed.
            for head in (b"GET /live/cam/source.m3u8 HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
                         b"GET /" + b"b" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):
                s = self.connect()
                s.sendall(head)
                reply = s.recv(200)
                self.assertTrue(reply.startswith(b"HTTP/1.1 431"), reply)
                s.close()
            # Thousands of held blocking reloads: 16 pipelined on every
            # connection this address may open, and then more connections.
            request = f"GET {reload} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            for _ in range(PER_ADDRESS + 100):
                try:
                    s = self.connect()
                    s.sendall(request * 16)
                    socks.append(s)
                except OSError:
                    break
            # Clients that never read: segments asked for, 16 at a time
            # (refused too, this address being at its cap by now).
            for _ in range(10):
                try:
                    s = self.connect()
                    s.sendall(f"GET /live/cam/{seg} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 16)
                    socks.append(s)
                except OSError:
                    break

            # The peak of what it holds: its connections' caps, no more.
            def metrics():
                return self.m.http("GET", "/metrics", raw=True)[2].decode()
            held = max(metric(metrics(), "mirror_origin_held_requests") for _ in range(5))
            under_attack = self.follow(6)
            refused = metric(metrics(), "mirror_http_connections_refused_total", protocol="tcp",
                             limit="address")
            rss_during = rss_kib(self.m.pid)
        finally:
            for s in socks:
                s.close()

        print(f"good viewer p99: calm {calm['latency_p99_ms']} ms, under attack "
              f"{under_attack['latency_p99_ms']} ms; held now {held:.0f}, refused per address "
              f"{refused:.0f}, RSS {rss_before} -> {rss_during} KiB")
        # The address got its share and no more; what it held is bounded by
        # its connections' caps (8 held each).
        self.assertGreater(refused, 0)
        self.assertGreater(held, PER_ADDRESS)
        self.assertLessEqual(held, PER_ADDRESS * 8 + 16)
        # Memory: bounded, far from a per-request or per-byte-unread growth.
        self.assertLess(rss_during - rss_before, 200 * 1024)
        # The well-behaved viewer: every part, no errors, its usual latency
        # (within a part-target's slack of the calm run, on a busy box).
        self.assertEqual(sum(under_attack["errors"].values()), 0, under_attack["errors"])
        self.assertLess(under_attack["latency_p99_ms"],
                        max(2 * calm["latency_p99_ms"], calm["latency_p99_ms"] + 300 * SLOWDOWN))

        # The attackers gone: their connections and held requests are too.
        def drained():
            t = self.m.http("GET", "/metrics", raw=True)[2].decode()
            return metric(t, "mirror_origin_held_requests") <= 3 and t
        wait_for(drained, "the attackers' held requests cancelled")

        # HTTP/3 has the same cap per address, on its own count: viewers over
        # it from this address beyond the cap are refused at the handshake.
        crowd = subprocess.run([LOADER, "--json", "-q", "--viewers", str(PER_ADDRESS + 30),
                                "--warmup", "1", "--seconds", "2", "--timeout", "3", "--url",
                                f"https://127.0.0.1:{self.m.https_port}/live/cam/source.m3u8"],
                               capture_output=True, text=True, timeout=120)
        text = self.m.http("GET", "/metrics", raw=True)[2].decode()
        quic_refused = metric(text, "mirror_http_connections_refused_total", protocol="quic",
                              limit="address")
        print(f"HTTP/3 viewers over the cap: {quic_refused:.0f} refused; "
              f"{crowd.stdout[-300:]!r}")
        self.assertGreaterEqual(quic_refused, 30)


if __name__ == "__main__":
    unittest.main(verbosity=2)
