#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory per stream on the default path (SRT ingest -> H.264 transcode ->
CMAF LL-HLS with the default 10 s window), against one ffmpeg per stream
doing the same job (transcode to 640x360 400k + fMP4 HLS of 0.5 s segments).

    tools/bench/memory.py [--streams 1,2,4] [--settle 15]

The feed is a 720p25 H.264 + AAC file generated once into build/bench-media/
and looped by a paced ffmpeg caller per stream. mirrord's RSS is read from
/proc before any stream and once every stream has been live for --settle
seconds (the playlist window full); the figure is the growth divided by the
number of streams. The reference is the RSS of each ffmpeg, the same media
read at its own pace (-re). Target: under 64 MiB per stream. Not a test.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.join(ROOT, "build")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("MIRROR_BUILD_ROOT", BUILD)
from mirrortest import Mirrord  # noqa: E402

from benchmedia import H264_720P_4M, HEVC_1080P_50M, media  # noqa: E402
from benchproc import rss_bytes, stop  # noqa: E402

MEDIA = None  # main () makes it


def paced(args):
    return subprocess.Popen(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop",
                             "-1", "-i", MEDIA] + args,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_live(m, ids, deadline_s=60):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        status, _, body = m.http("GET", "/api/v1/streams")
        if status == 200:
            live = {s["id"] for s in body["streams"] if s["state"] == "live"}
            if ids <= live:
                return
        time.sleep(0.5)
    raise RuntimeError(f"streams {sorted(ids)} did not all go live")


def mirror_rss(n, settle):
    """(RSS growth per stream, growth per stream after the first, idle RSS):
    the first stream also maps the codec libraries, once per process."""
    m = Mirrord(env={"MIRROR_MONITORING_LOG_LEVEL": "warn",
                     "GST_PLUGIN_PATH_1_0": os.path.join(BUILD, "gst-plugins"),
                     "GST_REGISTRY_1_0": os.path.join(BUILD, "gst-registry.bin")})
    senders = []

    def start(i):
        senders.append(paced(["-c", "copy", "-f", "mpegts",
                              f"srt://127.0.0.1:{m.srt_port}?streamid=mem{i}&pkt_size=1316"]))

    try:
        time.sleep(2)  # the Origin's and libsrt's threads up
        idle = rss_bytes(m.pid)
        start(0)
        wait_live(m, {"mem0"})
        time.sleep(settle)
        first = rss_bytes(m.pid)
        for i in range(1, n):
            start(i)
        wait_live(m, {f"mem{i}" for i in range(n)})
        if n > 1:
            time.sleep(settle)
        last = rss_bytes(m.pid)
        further = (last - first) / (n - 1) if n > 1 else float("nan")
        return (last - idle) / n, further, idle
    finally:
        stop(senders)
        m.stop()


def ffmpeg_rss(n, settle):
    out = tempfile.mkdtemp(prefix="mirror-bench-hls-")
    procs = []
    try:
        for i in range(n):
            os.makedirs(os.path.join(out, str(i)))
            procs.append(paced([
                "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "veryfast",
                "-tune", "zerolatency", "-b:v", "400k", "-g", "12", "-c:a", "copy",
                "-bsf:a", "aac_adtstoasc",
                "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "0.5",
                "-hls_list_size", "20", "-hls_flags", "delete_segments",
                os.path.join(out, str(i), "index.m3u8")]))
        time.sleep(settle + 5)
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"reference ffmpeg exited with {p.returncode}")
        return sum(rss_bytes(p.pid) for p in procs) / n
    finally:
        stop(procs)
        shutil.rmtree(out, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="1,2,4")
    ap.add_argument("--settle", type=float, default=15,
                    help="seconds every stream runs before RSS is read (window 10 s)")
    ap.add_argument("--hevc", action="store_true",
                    help="feed the 1080p30 HEVC 50 Mbit/s media of srt_ingest.py instead "
                    "(about a core per stream to decode)")
    args = ap.parse_args()
    global MEDIA
    MEDIA = media(BUILD, HEVC_1080P_50M if args.hevc else H264_720P_4M)
    print(f"media: {os.path.basename(MEDIA)}; MiB of RSS")
    print(f"{'streams':>7} {'mirrord idle':>12} {'mirrord per stream':>18} {'after the first':>15} "
          f"{'ffmpeg per stream':>17} {'ratio':>5}")
    for n in [int(x) for x in args.streams.split(",")]:
        per_stream, further, idle = mirror_rss(n, args.settle)
        reference = ffmpeg_rss(n, args.settle)
        print(f"{n:>7} {idle / 2**20:>12.1f} {per_stream / 2**20:>18.1f} "
              f"{further / 2**20:>15.1f} {reference / 2**20:>17.1f} "
              f"{per_stream / reference:>5.2f}", flush=True)


if __name__ == "__main__":
    main()
