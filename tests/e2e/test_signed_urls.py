#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Signed playback URLs (server.playback_token_key) with real players.

mirrord with a key signs a URL itself (`mirrord sign-url`); an H.264 SRT
feed goes in as it comes (no transcoding). Without a token, with an expired
one or with another stream's, every object is 403 and nothing is held. With
it, ffprobe reads the stream through the signed multivariant URL alone
(it follows the URIs the Origin gave it, each carrying the token), and
Chromium's hls.js plays the player page opened with ?stream=&token= over
HTTP/2 and plain HTTP/1.1 with no code of its own for the token.
Skips (exit 77) only when chromium or web/node_modules is missing."""
import hashlib
import hmac
import os
import shutil
import subprocess
import sys
import time

from mirrortest import Mirrord, run_mirrord_once, wait_for
from test_browser import SKIP, play
from test_hls import srt_feed

KEY = "e2e-signing-key-0123456789"


def main():
    # The signing tool first: no key, no tokens; a bad duration is refused.
    code, out = run_mirrord_once(["sign-url", "cam"])
    assert code == 2 and "playback_token_key" in out, out
    env = {"MIRROR_SERVER_PLAYBACK_TOKEN_KEY": KEY, "MIRROR_TRANSCODING_ENABLED": "false"}
    code, out = run_mirrord_once(["sign-url", "cam", "soon"], env=env)
    assert code == 2 and "soon" in out, out
    code, out = run_mirrord_once(["sign-url", "signed", "10m"], env=env)
    assert code == 0, out
    token = out.split()[0]
    expiry, mac = token.split(".")
    # What any other tool (a CMS, a CDN edge) computes from the same key.
    assert mac == hmac.new(KEY.encode(), f"signed:{expiry}".encode(), hashlib.sha256).hexdigest()
    assert 590 <= int(expiry) - time.time() <= 610, (expiry, time.time())

    m = Mirrord(env=env)
    feed = srt_feed(m.srt_port, "signed")
    try:
        live = f"/live/signed/index.m3u8?token={token}"
        wait_for(lambda: m.origin("GET", live)[0] == 200, "the signed multivariant playlist",
                 deadline_s=60)
        status, _, body = m.origin("GET", live)
        assert f"?token={token}" in body.decode(), body
        stale = hmac.new(KEY.encode(), b"signed:1000", hashlib.sha256).hexdigest()
        other = hmac.new(KEY.encode(), f"other:{expiry}".encode(), hashlib.sha256).hexdigest()
        for query, why in (("", "needs a playback token"),
                           (f"?token=1000.{stale}", "expired"),
                           (f"?token={expiry}.{other}", "not valid for this stream"),
                           ("?token=garbage", "malformed")):
            status, _, body = m.origin("GET", "/live/signed/index.m3u8" + query)
            assert status == 403 and why in body.decode(), (query, status, body)
        # A blocking reload without a token is refused at once, not held.
        t0 = time.monotonic()
        status, _, _ = m.origin("GET", "/live/signed/source.m3u8?_HLS_msn=99999&_HLS_part=0",
                                timeout=5)
        assert status == 403 and time.monotonic() - t0 < 2, status

        def refused():
            _, _, text = m.http("GET", "/metrics", raw=True)
            line = [x for x in text.decode().splitlines()
                    if x.startswith("mirror_origin_token_refused_total")]
            return line and float(line[0].split()[-1]) >= 5
        wait_for(refused, "mirror_origin_token_refused_total counting the five refusals")

        # ffprobe follows the URIs it was given, every one signed (tried
        # until the young stream has whole segments of both media).
        url = f"http://127.0.0.1:{m.http_port}{live}"

        def probed():
            r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                                "-of", "csv=p=0", url], capture_output=True, text=True, timeout=60)
            codecs = sorted(set(r.stdout.split()))
            return codecs if r.returncode == 0 and codecs == ["aac", "h264"] else None
        print(f"ffprobe on the signed URL: {wait_for(probed, 'ffprobe reading h264 and aac')}")

        if not os.path.exists("/usr/bin/chromium") or not shutil.which("node") or not os.path.isdir(
                os.path.join(os.environ["MIRROR_SOURCE_ROOT"], "web", "node_modules", "playwright-core")):
            print("chromium, node or web/node_modules is missing: the browser part is skipped")
            return SKIP
        for url, proto in ((f"https://127.0.0.1:{m.https_port}/?stream=signed&token={token}", "h2"),
                           (f"http://127.0.0.1:{m.http_port}/?stream=signed&token={token}",
                            "http/1.1")):
            r = play(url, proto)
            print(f"hls.js on the signed URL over {proto}: latency {r.get('latency_s')} s")
    finally:
        feed.stop()
        m.stop()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
