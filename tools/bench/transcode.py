#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Transcode speed: mirrortranscodebin against ffmpeg on the default job
(1080p30 HEVC 50 Mbit/s -> H.264 640x360 400 kbit/s, veryfast, zerolatency).

    tools/bench/transcode.py [--build DIR] [--runs 3] [--stock]

Both tools process the whole file as fast as they can. Mirror runs
`filesrc ! tsdemux ! h265parse ! mirrortranscodebin name=t t.src_0 ! fakesink`
(src_0, a request pad, by name); the reference is
`ffmpeg -i in.ts -vf scale=640:360 -c:v libx264 -preset veryfast -tune zerolatency -b:v 400k -f null -`.
--stock adds the stock GStreamer chain (avdec_h265 ! videoconvertscale !
x264enc). Prints, per tool, the median fps over the runs and the CPU it used
(getrusage of the children), the ratio mirror/ffmpeg (target >= 1.0), the
same ratio in CPU-seconds (steadier on a shared box) and how many real-time
30 fps streams one core carries. Media: BENCHMARKS.md's recipe,
reused from <build>/bench-media/ or build/bench-media/, else generated (10 s)
into <build>/bench-media/. Not a test: the box is shared, read the ratio.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchmedia import HEVC_1080P_50M, media

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def find_or_make_media(build):
    """The BENCHMARKS media: the one in build (or the source tree's build/)
    if either has it, else made in build."""
    for d in (build, os.path.join(ROOT, "build")):
        if os.path.exists(os.path.join(d, "bench-media", HEVC_1080P_50M[0])):
            return media(d, HEVC_1080P_50M)
    return media(build, HEVC_1080P_50M)


def probe(media):
    """(frames, seconds, frame rate) of the first video stream."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
         "stream=nb_read_packets,r_frame_rate", "-of", "default=nw=1", media],
        capture_output=True, text=True, check=True).stdout
    fields = dict(line.split("=", 1) for line in out.split())
    num, den = fields["r_frame_rate"].split("/")
    rate = int(num) / int(den)
    frames = int(fields["nb_read_packets"])
    return frames, frames / rate, rate


def timed(cmd, env):
    """Wall seconds and children CPU seconds (user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    run = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({run.returncode}):\n{run.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory holding gst-plugins/ (default: build)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stock", action="store_true", help="also time the stock GStreamer chain")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    plugins = os.path.join(build, "gst-plugins")
    if not os.path.isdir(plugins):
        sys.exit(f"no {plugins}: build first (meson setup {args.build} && ninja -C {args.build})")
    for tool in ("gst-launch-1.0", "ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")

    media = find_or_make_media(build)
    frames, seconds, rate = probe(media)
    regdir = tempfile.mkdtemp(prefix="bench-transcode-")
    env = dict(os.environ, GST_PLUGIN_PATH_1_0=plugins,
               GST_REGISTRY_1_0=os.path.join(regdir, "registry.bin"))
    # Warm the private registry so no run pays for the plugin scan.
    subprocess.run(["gst-inspect-1.0", "mirrortranscodebin"], env=env, check=True,
                   stdout=subprocess.DEVNULL)

    jobs = {
        "mirror": ["gst-launch-1.0", "-q", "filesrc", f"location={media}", "!", "tsdemux", "!",
                   "h265parse", "!", "mirrortranscodebin", "name=t", "t.src_0", "!", "fakesink"],
        "ffmpeg": ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", media, "-vf", "scale=640:360",
                   "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "400k",
                   "-f", "null", "-"],
    }
    if args.stock:
        jobs["stock gst"] = [
            "gst-launch-1.0", "-q", "filesrc", f"location={media}", "!", "tsdemux", "!",
            "h265parse", "!", "avdec_h265", "!", "videoconvertscale", "!",
            "video/x-raw,width=640,height=360", "!", "x264enc", "speed-preset=veryfast",
            "tune=zerolatency", "bitrate=400", "!", "fakesink"]

    results = {name: [] for name in jobs}
    for i in range(args.runs):
        for name, cmd in jobs.items():  # interleaved: load changes hit both alike
            wall, cpu = timed(cmd, env)
            results[name].append((wall, cpu))
            print(f"run {i + 1} {name:10s} {frames / wall:6.1f} fps  {cpu:6.1f} CPU-s",
                  file=sys.stderr)
    shutil.rmtree(regdir, ignore_errors=True)

    print(f"input: {media}: {frames} frames, {seconds:.1f} s at {rate:g} fps; "
          f"{os.cpu_count()} cores; {args.runs} runs, medians")
    fps, cpus = {}, {}
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = cpus[name] = statistics.median(c for _, c in runs)
        fps[name] = frames / wall
        # CPU-seconds per second of media = cores one real-time stream needs.
        cores_per_stream = cpu / seconds
        print(f"{name:10s} {fps[name]:6.1f} fps  {wall:6.2f} s wall  {cpu:6.2f} CPU-s  "
              f"{cpu / wall:4.2f} cores busy  {cores_per_stream:4.2f} cores per real-time stream"
              f"  {1 / cores_per_stream:4.2f} real-time {rate:g} fps streams per core")
    print(f"ratio mirror/ffmpeg: {fps['mirror'] / fps['ffmpeg']:.2f}x (target >= 1.0)")
    # On a shared box the wall time follows the CPU share the scheduler gives;
    # the CPU used for the same work is the steadier comparison.
    print(f"CPU efficiency mirror/ffmpeg (ffmpeg CPU-s / mirror CPU-s): "
          f"{cpus['ffmpeg'] / cpus['mirror']:.2f}x")
    if "stock gst" in fps:
        print(f"ratio mirror/stock gst: {fps['mirror'] / fps['stock gst']:.2f}x")


if __name__ == "__main__":
    main()
