#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Cluster playback with a real player: two mirrords on one redis-server, an
H.264 + AAC SRT feed into node A, and Chromium's hls.js opening node B's
player page for the stream. B answers the first playlist with one 302 to A's
server.public_url; hls.js resolves everything after it against A and plays
from there, so B redirects once per player start, not once per part (its
mirror_origin_redirects_total stays at a few while hls.js fetches hundreds
of parts). Skips (exit 77) only when chromium or web/node_modules
is missing."""
import signal
import sys

from mirrortest import Mirrord, Redis, free_port, wait_for
from test_browser import SKIP, browser_missing, play
from test_hls import srt_feed


def node(redis):
    port = free_port()
    m = Mirrord(env={"MIRROR_REDIS_ADDR": f"127.0.0.1:{redis.port}",
                     "MIRROR_TRANSCODING_ENABLED": "false",
                     "MIRROR_SERVER_HTTP_PORT": str(port),
                     "MIRROR_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    m.public_url = f"http://127.0.0.1:{port}"
    return m


def counter(m, name):
    _, _, text = m.http("GET", "/metrics", raw=True)
    for line in text.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0


def main():
    if missing := browser_missing():
        print(f"{missing}: skipping")
        return SKIP

    redis = Redis()
    a = b = feed = None
    try:
        a, b = node(redis), node(redis)
        feed = srt_feed(a.srt_port, "clustered")
        path = "/live/clustered/index.m3u8"

        def ready():
            status, _, body = a.origin("GET", path)
            return status == 200 and b"mp4a" in body and b"avc1" in body
        wait_for(ready, "the stream's video and audio on node A", deadline_s=60)
        wait_for(lambda: b.origin("GET", path)[0] == 302, "node B redirecting its viewers")
        before = counter(b, "mirror_origin_redirects_total")
        served_before = counter(a, "mirror_origin_requests_total")

        r = play(f"http://127.0.0.1:{b.http_port}/?stream=clustered", "http/1.1")
        redirects = counter(b, "mirror_origin_redirects_total") - before
        served = counter(a, "mirror_origin_requests_total") - served_before
        print(f"hls.js through node B: latency {r.get('latency_s')} s; node B redirected "
              f"{redirects:.0f} request(s), node A served {served:.0f}")
        # One per player start and per look the page takes for the stream
        # when playback stalls (a busy box: the page restarts hls.js), never
        # one per part or playlist reload.
        assert 1 <= redirects <= 10, f"{redirects} redirects for one viewer"
        assert served >= 10 * redirects, f"node A served {served} requests, B redirected {redirects}"
    finally:
        for p in (feed, a, b):
            if p:
                p.stop(signal.SIGTERM)
        redis.stop()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
