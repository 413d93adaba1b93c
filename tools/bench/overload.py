#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Overload: N paced 1080p30 HEVC 50 Mbit/s feeds into mirrord's default
pipeline (transcode to the ladder, LL-HLS) on a box that cannot transcode
them all in real time, against one ffmpeg per feed doing the same transcode.

For each stream it samples, once a second, how far the newest part of its
first video rendition is behind the clock (now minus the part's program
date-time: what a player's distance to live starts from), the transcoder's
shedding step and frames shed, and the stream's state; it prints p50/p99 of
that live lag, the frames shed by step and the state timeline. The
reference is ffmpeg (`-re` input, libx265 decode, libx264 veryfast
zerolatency 640x360 at 400 kbit/s), one per feed at once: its lag is wall
time minus the media time it has transcoded, which grows without bound once
the box is short of CPU.

  tools/bench/overload.py [--streams 1,2,3,4] [--seconds 60] [--only mirrord]

Exits 1 when a mirrord stream's live lag went past segment_duration + 1 s
(1.5 s) after its first 5 s, or it froze (no new part for 5 s).
"""

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmedia import HEVC_1080P_50M, media  # noqa: E402
from benchproc import stop  # noqa: E402
import srt_ingest  # noqa: E402
from srt_ingest import BUILD, LOADGEN, free_udp_port, http_json  # noqa: E402

BOUND_S = 1.5  # packaging.segment_duration (0.5 s) + 1 s
WARMUP_S = 5.0


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def newest_part_pdt(playlist):
    """The program date-time (unix seconds) of the newest part of an LL-HLS
    media playlist, or None."""
    pdt = None  # start of the segment the next lines belong to
    newest = None
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            text = line.split(":", 1)[1].replace("Z", "+00:00")
            pdt = datetime.datetime.fromisoformat(text).timestamp()
            offset = 0.0
        elif pdt is None:
            continue
        elif line.startswith("#EXT-X-PART:"):
            duration = float(re.search(r"DURATION=([0-9.]+)", line).group(1))
            newest = pdt + offset
            offset += duration
        elif line.startswith("#EXTINF:"):
            pdt += float(line.split(":", 1)[1].split(",")[0])
            offset = 0.0
    return newest


def rendition_url(http_port, stream_id):
    base = f"http://127.0.0.1:{http_port}/live/{stream_id}/"
    for line in http_get(base + "index.m3u8").splitlines():
        if line and not line.startswith("#"):
            return base + line
    raise RuntimeError(f"{stream_id}: no rendition in its multivariant playlist")


def run_mirrord(n, seconds):
    srt_port, http_port = free_udp_port(), srt_ingest.free_tcp_port()
    # The default route: transcode to the ladder and package it.
    mirrord, admin, log_path = srt_ingest.start_mirrord(
        srt_port, free_udp_port(), {"MIRROR_SERVER_HTTP_PORT": str(http_port)},
        config_text="transcoding:\n  max_sessions: 64\n")
    senders = None
    try:
        senders = srt_ingest.Senders(n, port=srt_port)
        ids = [f"bench{i}" for i in range(n)]
        urls = {}
        deadline = time.monotonic() + 60
        while len(urls) < n:
            for i in ids:
                if i not in urls:
                    try:
                        urls[i] = rendition_url(http_port, i)
                    except OSError:
                        pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(urls)} of {n} streams published; log {log_path}")
            time.sleep(0.2)
        samples = {i: [] for i in ids}  # (t, lag or None, state, step)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            tick = time.monotonic()
            listed = {s["id"]: s for s in http_json(admin, "/api/v1/streams")["streams"]}
            for i in ids:
                try:
                    pdt = newest_part_pdt(http_get(urls[i]))
                except OSError:
                    pdt = None
                s = listed.get(i, {})
                t = s.get("transcode", {})
                lag = None if pdt is None else time.time() - pdt
                samples[i].append((tick - t0, lag, s.get("state", "gone"),
                                   t.get("shed_step", "-"), t.get("shed", {})))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        return samples, log_path
    finally:
        stop(([*senders.procs] if senders else []) + [mirrord])


def run_ffmpeg(n, seconds, path):
    procs = []
    for _ in range(n):
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", path,
             "-an", "-vf", "scale=640:360", "-c:v", "libx264", "-preset", "veryfast",
             "-tune", "zerolatency", "-b:v", "400k", "-f", "null", "-", "-progress", "pipe:1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True))
    for p in procs:
        os.set_blocking(p.stdout.fileno(), False)
    t0 = time.monotonic()
    out_time = [0.0] * n
    buffers = [""] * n
    lags = [[] for _ in range(n)]
    while time.monotonic() - t0 < seconds:
        time.sleep(1.0)
        for k, p in enumerate(procs):
            try:
                chunk = p.stdout.read()
            except (BlockingIOError, TypeError):
                chunk = None
            if chunk:
                buffers[k] += chunk
                for m in re.finditer(r"out_time_us=(\d+)", buffers[k]):
                    out_time[k] = int(m.group(1)) / 1e6
                buffers[k] = buffers[k][-200:]
            lags[k].append((time.monotonic() - t0, time.monotonic() - t0 - out_time[k]))
    stop(procs)
    return lags


def quantiles(values):
    if not values:
        return "-", "-"
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return f"{pick(0.5):.2f}", f"{pick(0.99):.2f}"


def timeline(states):
    out, last = [], None
    for t, state in states:
        if state != last:
            out.append(f"{t:.0f}s {state}")
            last = state
    return ", ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="1,2,3,4")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--only", choices=["mirrord", "reference"])
    args = ap.parse_args()
    if not os.path.exists(LOADGEN):
        sys.exit(f"{LOADGEN} is missing: build first (tools/mirror-dev build)")
    path = media(BUILD, HEVC_1080P_50M)
    srt_ingest.MEDIA = path
    missed = []
    print(f"runs of {args.seconds:.0f} s; live lag in s (p50/p99 after the first "
          f"{WARMUP_S:.0f} s); bound {BOUND_S} s", flush=True)
    for n in [int(x) for x in args.streams.split(",")]:
        if args.only != "reference":
            samples, log_path = run_mirrord(n, args.seconds)
            for i, rows in samples.items():
                lags = [lag for t, lag, *_ in rows if t >= WARMUP_S and lag is not None]
                p50, p99 = quantiles(lags)
                shed = rows[-1][4] if rows else {}
                steps = sorted({step for *_, step, _ in rows if step not in ("none", "-")})
                frozen = any(lag is None for t, lag, *_ in rows if t >= WARMUP_S)
                print(f"{n} streams mirrord  {i}: live lag p50 {p50} p99 {p99} max "
                      f"{max(lags) if lags else float('nan'):.2f}; shed {shed}; steps "
                      f"{', '.join(steps) or 'none'}; states: "
                      f"{timeline([(t, s) for t, _, s, *_ in rows])}", flush=True)
                if not lags or max(lags) > BOUND_S:
                    missed.append(f"{n} streams {i}: live lag up to "
                                  f"{max(lags) if lags else float('inf'):.2f} s")
                if frozen:
                    missed.append(f"{n} streams {i}: no playlist answer at some point")
            print(f"  (mirrord log: {log_path})", flush=True)
        if args.only != "mirrord":
            for k, rows in enumerate(run_ffmpeg(n, args.seconds, path)):
                lags = [lag for t, lag in rows if t >= WARMUP_S]
                p50, p99 = quantiles(lags)
                print(f"{n} streams ffmpeg   #{k}: lag p50 {p50} p99 {p99} at the end "
                      f"{rows[-1][1]:.2f}", flush=True)
    for line in missed:
        print("MISSED", line)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
