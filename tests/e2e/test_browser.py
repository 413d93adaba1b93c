#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Headless Chromium plays a live stream from mirrord with hls.js.

mirrord on free ports, on its default pipeline, gets an HEVC + AAC SRT feed
made here, which it transcodes to H.264 (640x360, the default ladder) and
packages: the product's whole path, since Chromium plays no HEVC. Debian's chromium, driven by playwright-core (web/, pinned), opens the
Origin's player page over HTTP/3 (QUIC forced to the Origin's port, its
self-signed certificate trusted by the SPKI pin mirrord logs), over
HTTPS/HTTP-1.1 and over plain HTTP, and must see playback advance with the
expected protocol. hls.js's live latency is printed for the record.
Skips (exit 77) only when chromium or web/node_modules is missing, which
tools/mirror-dev deps installs."""
import json
import os
import re
import shutil
import subprocess
import sys

from mirrortest import Mirrord, Process, wait_for

ROOT = os.environ["MIRROR_SOURCE_ROOT"]
PLAY = os.path.join(ROOT, "tests", "e2e", "play.mjs")
SKIP = 77


def feed(srt_port, stream):
    aac = next((e for e in ("avenc_aac", "fdkaacenc", "voaacenc")
                if subprocess.run(["gst-inspect-1.0", "--exists", e]).returncode == 0), None)
    audio = (f"audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=2 "
             f"! {aac} ! aacparse ! mux. " if aac else "")
    pipeline = (
        "gst-launch-1.0 -q videotestsrc is-live=true pattern=ball "
        "! video/x-raw,format=I420,width=640,height=360,framerate=25/1 "
        "! x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=800 "
        "! h265parse config-interval=-1 "
        "! mpegtsmux name=mux alignment=7 "
        f"! srtsink uri=\"srt://127.0.0.1:{srt_port}?streamid={stream}\" wait-for-connection=false "
        + audio)
    return Process(["sh", "-c", "exec " + pipeline], log_name="e2e-feed", group=True)


def play(url, expect_protocol, extra_args=()):
    r = subprocess.run(["node", PLAY, "--url", url, "--seconds", "60",
                        "--expect-protocol", expect_protocol]
                       + [f"--extra-arg={a}" for a in extra_args],
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "reason": r.stderr[-2000:]}
    print(f"{url}: {json.dumps(result)}")
    assert r.returncode == 0 and result.get("ok"), f"playback failed: {result}"
    return result


def main():
    if not os.path.exists("/usr/bin/chromium"):
        print("chromium is not installed (tools/mirror-dev deps installs it): skipping")
        return SKIP
    if not os.path.isdir(os.path.join(ROOT, "web", "node_modules", "playwright-core")):
        print("web/node_modules is missing (npm ci --prefix web): skipping")
        return SKIP
    if not shutil.which("node"):
        print("node is missing: skipping")
        return SKIP

    mirrord = Mirrord()
    sender = feed(mirrord.srt_port, "e2e")
    try:
        def ready():
            status, _, body = mirrord.origin("GET", "/live/e2e/index.m3u8")
            return status == 200 and b"mp4a" in body and b"avc1" in body
        wait_for(ready, "the e2e stream's multivariant playlist with H.264 and audio",
                 deadline_s=90)
        _, _, multivariant = mirrord.origin("GET", "/live/e2e/index.m3u8")
        assert b"RESOLUTION=640x360" in multivariant and b"hvc1" not in multivariant, multivariant

        pin = re.search(r"SPKI pin (\S+)", mirrord.output())
        assert pin, "mirrord logged no SPKI pin"
        h3 = play(f"https://127.0.0.1:{mirrord.https_port}/?stream=e2e", "h3", [
            "--enable-quic",
            f"--origin-to-force-quic-on=127.0.0.1:{mirrord.https_port}",
            f"--ignore-certificate-errors-spki-list={pin.group(1)}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
        ])
        tls = play(f"https://127.0.0.1:{mirrord.https_port}/?stream=e2e", "http/1.1")
        plain = play(f"http://127.0.0.1:{mirrord.http_port}/?stream=e2e", "http/1.1")
        for name, r in (("http/3", h3), ("https", tls), ("http", plain)):
            print(f"hls.js live latency over {name}: {r.get('latency_s')} s "
                  f"(program-date-time: {r.get('pdt_latency_s')} s)")
            # Far above what it does (about a second); below it, playback is
            # not following the live edge at all.
            assert r.get("latency_s") is not None and r["latency_s"] < 6, r
    finally:
        sender.stop()
        mirrord.stop()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
