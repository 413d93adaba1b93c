#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Part availability: Mirror's LL-HLS parts against classic HLS segments
(hlssink2 target-duration=1) made from the same live x264 feed, in one run.

    tools/bench/hls_latency.py [--build DIR] [--seconds 20] [--runs 3]
                               [--size 1280x720] [--reference-only | --mirror-only]

Mirror: a live 25 fps x264 (1 s GOP) + AAC feed goes into mirrord over SRT;
a player-like client follows the media playlist over HTTP/1.1 with blocking
reloads for the next part (_HLS_msn/_HLS_part from the preload hint) and
notes when each answer arrives. The part's start is its segment's
EXT-X-PROGRAM-DATE-TIME (mirrord stamps the wall clock at ingest when the
feed carries no capture time) plus the parts before it, so

  after part end  = arrival - (PDT of the part's start + part duration)
  from capture    = arrival - capture wall-clock of the part's first frame

The capture clock comes from the sender itself: an identity element right
after the live source prints every frame's running time as it leaves, and
those lines are timestamped on arrival (the earliest gives running time 0 on
the wall clock). Keyframes are captured every second from the first frame,
which places each segment's first frame (and so the PDT's ingest delay:
encode, mux, SRT latency) on that clock.

Reference: the same feed into hlssink2 target-duration=1; a segment is
available when it shows in the playlist file (polled every 5 ms), and its
first frame's capture time is on the same identity clock (the segment's first
PTS, from ffprobe, relative to the first segment's).

Prints p50/p99 per run, medians over the runs, and the ratio line. Not a
test. Glass-to-glass in hls.js (Chromium) is not measured here: it comes
from the e2e browser run (tests/e2e/play.mjs, hls.js latency).
"""

import argparse
import http.client
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import llhls  # noqa: E402
from mirrortest import free_port, free_port_pair  # noqa: E402

from benchproc import cpu_seconds, stop  # noqa: E402

FPS = 25
GOP = 25  # frames: 1 s
PTS_RE = re.compile(r"last-message = chain .*?pts: (\d+):(\d\d):(\d\d)\.(\d{9})")


def pct(values, q):
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(q / 100 * len(v) + 0.5)) - 1))
    return v[k]


def aac_encoder():
    for name in ("avenc_aac", "fdkaacenc", "voaacenc"):
        if subprocess.run(["gst-inspect-1.0", "--exists", name]).returncode == 0:
            return name
    return None


class CaptureClock:
    """A live x264 (+AAC) encode whose every raw frame's running time is
    printed as it leaves the source; the lines, timestamped on arrival, put
    running time on the wall clock. sink: the gst-launch words after the
    encoder ('mpegtsmux ... ! srtsink ...' or 'hlssink2 ...'), `mux` naming the
    element the audio branch links to (None: no audio)."""

    def __init__(self, size, sink, mux_pad):
        width, height = size.split("x")
        audio = []
        enc = aac_encoder()
        if mux_pad and enc:
            audio = ["audiotestsrc", "is-live=true", "!", "audio/x-raw,rate=48000,channels=2", "!",
                     enc, "!", "aacparse", "!", mux_pad]
        argv = (["stdbuf", "-oL", "gst-launch-1.0", "-v",
                 "videotestsrc", "is-live=true", "pattern=ball", "!",
                 f"video/x-raw,format=I420,width={width},height={height},framerate={FPS}/1", "!",
                 "identity", "silent=false", "!",
                 "x264enc", "tune=zerolatency", "speed-preset=ultrafast", f"key-int-max={GOP}",
                 "bframes=0", "!", "h264parse", "config-interval=-1", "!"] + sink + audio)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.offset = None       # wall - running time, the smallest seen
        self.first_pts = None    # running time of the first frame
        self.frames = 0
        self.tail = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            now = time.time()
            m = PTS_RE.search(line)
            if not m:
                self.tail = (self.tail + [line.rstrip()])[-20:]
                continue
            h, mi, s, ns = (int(x) for x in m.groups())
            pts = h * 3600 + mi * 60 + s + ns / 1e9
            if self.first_pts is None:
                self.first_pts = pts
            self.frames += 1
            off = now - pts
            if self.offset is None or off < self.offset:
                self.offset = off

    def wall(self, running_time):
        return self.offset + running_time

    def first_frame_wall(self):
        return self.wall(self.first_pts)

    def stop(self):
        stop([self.proc])


# -- Mirror ------------------------------------------------------------------


def start_mirrord(build, srt_port, http_port, https_port, admin_port, log):
    env = dict(os.environ,
               GST_PLUGIN_PATH_1_0=os.path.join(build, "gst-plugins"),
               GST_REGISTRY_1_0=os.path.join(build, "gst-registry.bin"),
               MIRROR_SERVER_ADMIN_PORT=str(admin_port), MIRROR_SERVER_ADMIN_BIND_ADDRESS="127.0.0.1",
               MIRROR_SERVER_BIND_ADDRESS="127.0.0.1",
               MIRROR_SERVER_HTTP_PORT=str(http_port),
               MIRROR_SERVER_HTTP3_PORT=str(https_port),
               MIRROR_INGESTION_SRT_PORT=str(srt_port),
               MIRROR_INGESTION_RTP_PORT=str(free_port(socket.SOCK_DGRAM)),
               MIRROR_STORAGE_LOCAL_CACHE_DIR=tempfile.mkdtemp(prefix="mirror-bench-"),
               MIRROR_MONITORING_LOG_LEVEL="warn",
               # Packaging latency: the feed as it comes (rendition source).
               MIRROR_TRANSCODING_ENABLED="false")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    return subprocess.Popen([os.path.join(build, "daemon", "mirrord")], env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


class Follower:
    """A player's playlist loop on one persistent HTTP/1.1 connection."""

    def __init__(self, port, path):
        self.port, self.path = port, path
        self.conn = None

    def get(self, query=""):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                self.conn.request("GET", self.path + query)
                r = self.conn.getresponse()
                return r.status, r.read().decode()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn:
            self.conn.close()


def run_mirror(args, run_index):
    srt_port = free_port(socket.SOCK_DGRAM)
    http_port, https_port, admin = free_port(), free_port_pair(), free_port()
    log = tempfile.NamedTemporaryFile(prefix="mirror-bench-mirrord-", suffix=".log", delete=False)
    mirrord = start_mirrord(args.build, srt_port, http_port, https_port, admin, log)
    feed = None
    follower = Follower(http_port, f"/live/bench/{args.rendition}.m3u8")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", admin), timeout=1).close()
                break
            except OSError:
                if mirrord.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mirrord did not start (log: {log.name})")
                time.sleep(0.1)
        feed = CaptureClock(args.size, [
            "mpegtsmux", "name=mux", "alignment=7", "!", "srtsink",
            f"uri=srt://127.0.0.1:{srt_port}?streamid=bench", f"latency={args.srt_latency}"], "mux.")

        # The playlist has parts and a hint: the stream is packaged.
        deadline = time.monotonic() + 30
        pl = None
        while time.monotonic() < deadline:
            try:
                status, text = follower.get()
            except OSError:
                status, text = 0, ""
            if status == 200:
                pl = llhls.MediaPlaylist(text)
                if pl.preload_hint_position() and pl.parts:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"no LL-HLS playlist at http://127.0.0.1:{http_port}{follower.path} "
                               f"after 30 s (last status {status}; mirrord log: {log.name})")

        warm_until = time.monotonic() + 2
        end = warm_until + args.seconds
        after_end, from_capture, ingest_delays, held, part_durations = [], [], [], [], []
        violations = 0
        cpu0 = None
        while time.monotonic() < end:
            if cpu0 is None and time.monotonic() >= warm_until:
                cpu0 = (cpu_seconds(mirrord.pid), cpu_seconds(feed.proc.pid), time.monotonic())
            msn, part = pl.preload_hint_position()
            t_req = time.time()
            status, text = follower.get(f"?_HLS_msn={msn}&_HLS_part={part}")
            arrival = time.time()
            if status != 200:
                raise RuntimeError(f"blocking reload for {msn}.{part}: HTTP {status}: {text[:200]}")
            pl = llhls.MediaPlaylist(text)
            if llhls.media_violations(pl):
                violations += 1
            # The hinted part, or (a segment closed there) the next one's first.
            seg = pl.segment(msn)
            p = seg.parts[part] if seg and len(seg.parts) > part else None
            if p is None:
                nxt = pl.segment(msn + 1)
                p = nxt.parts[0] if nxt and nxt.parts else None
            if p is None or time.monotonic() < warm_until:
                continue
            start = pl.part_pdt(p)
            if start is None:
                continue
            held.append(arrival - t_req)
            after_end.append(arrival - (start + p.duration))
            part_durations.append(p.duration)
            # Capture clock: segments start on keyframes, captured every GOP
            # from the first frame; the PDT's lag behind that is the ingest delay.
            seg_pdt = pl.segment(p.msn).pdt
            if feed.offset is not None:
                since_first = seg_pdt - feed.first_frame_wall()
                gop_s = GOP / FPS
                ingest = since_first - gop_s * math.floor(since_first / gop_s)
                ingest_delays.append(ingest)
                from_capture.append(arrival - (start - ingest))
        cpu = None
        if cpu0:
            wall = time.monotonic() - cpu0[2]
            cpu = ((cpu_seconds(mirrord.pid) - cpu0[0]) / wall, (cpu_seconds(feed.proc.pid) - cpu0[1]) / wall)
        return {
            "after_end": after_end, "from_capture": from_capture, "held": held,
            "ingest": statistics.median(ingest_delays) if ingest_delays else float("nan"),
            "part": statistics.median(part_durations) if part_durations else float("nan"),
            "violations": violations, "cpu": cpu, "parts": len(after_end),
        }
    finally:
        follower.close()
        if feed:
            feed.stop()
        stop([mirrord])
        log.close()


# -- Reference: hlssink2 ------------------------------------------------------


def first_pts(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=start_time", "-of", "json", path], capture_output=True, text=True)
    try:
        return float(json.loads(r.stdout)["streams"][0]["start_time"])
    except (ValueError, KeyError, IndexError):
        return None


def run_reference(args, run_index):
    out = tempfile.mkdtemp(prefix="hlssink2-bench-")
    playlist = os.path.join(out, "playlist.m3u8")
    feed = CaptureClock(args.size, [
        "hlssink2", "name=hls", "target-duration=1", "playlist-length=5", "max-files=1000",
        f"location={out}/seg%05d.ts", f"playlist-location={playlist}"], "hls.audio")
    appeared = {}
    try:
        warm_until = time.monotonic() + 2
        end = warm_until + args.seconds
        last = None
        cpu0 = None
        while time.monotonic() < end + 2.5:  # segments begun in the window get time to close
            if cpu0 is None and time.monotonic() >= warm_until:
                cpu0 = (cpu_seconds(feed.proc.pid), time.monotonic())
            try:
                with open(playlist) as f:
                    text = f.read()
            except OSError:
                text = ""
            if text != last:
                now = time.time()
                last = text
                for line in text.splitlines():
                    if line.endswith(".ts") and line not in appeared:
                        appeared[line] = now
            if feed.proc.poll() is not None:
                raise RuntimeError("hlssink2 pipeline exited:\n" + "\n".join(feed.tail))
            time.sleep(0.005)
        cpu = None
        if cpu0:
            cpu = (cpu_seconds(feed.proc.pid) - cpu0[0]) / (time.monotonic() - cpu0[1])
    finally:
        feed.stop()
    # Each segment's first frame on the capture clock: its first PTS relative
    # to segment 0's, which starts with the first frame.
    names = sorted(os.path.basename(n) for n in appeared)
    base = first_pts(os.path.join(out, "seg00000.ts"))
    delays = []
    warm_wall = feed.first_frame_wall() + 2
    for name in names:
        pts = first_pts(os.path.join(out, name))
        if pts is None or base is None or feed.offset is None:
            continue
        first_frame = feed.wall(feed.first_pts + (pts - base))
        if first_frame < warm_wall:
            continue
        delays.append(appeared[name] - first_frame)
    shutil.rmtree(out, ignore_errors=True)
    return {"from_capture": delays, "cpu": cpu, "segments": len(delays)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build dir with daemon/mirrord")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--rendition", default="source")
    ap.add_argument("--srt-latency", type=int, default=120, help="the feed's srtsink latency (ms)")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--reference-only", action="store_true")
    only.add_argument("--mirror-only", action="store_true")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)

    print(f"feed: {args.size} {FPS} fps x264 ultrafast zerolatency, GOP {GOP} frames, AAC; "
          f"{args.runs} runs of {args.seconds:.0f} s; ms; medians over runs of each run's figure")
    mir, ref = [], []
    for i in range(args.runs):
        if not args.reference_only:
            try:
                r = run_mirror(args, i)
                mir.append(r)
                cpu = f"mirrord {r['cpu'][0]:.2f} cores, sender {r['cpu'][1]:.2f}" if r["cpu"] else ""
                print(f"run {i + 1} Mirror: {r['parts']} parts of ~{r['part'] * 1000:.0f} ms; "
                      f"after part end p50 {pct(r['after_end'], 50) * 1000:.0f} p99 {pct(r['after_end'], 99) * 1000:.0f}; "
                      f"from capture p50 {pct(r['from_capture'], 50) * 1000:.0f} p99 {pct(r['from_capture'], 99) * 1000:.0f}; "
                      f"ingest delay (encode+SRT) {r['ingest'] * 1000:.0f}; "
                      f"playlists breaking rules: {r['violations']}; {cpu}", flush=True)
            except (RuntimeError, OSError) as e:
                print(f"run {i + 1} Mirror: failed: {e}", flush=True)
        if not args.mirror_only:
            r = run_reference(args, i)
            ref.append(r)
            cpu = f"; pipeline {r['cpu']:.2f} cores" if r["cpu"] else ""
            print(f"run {i + 1} hlssink2: {r['segments']} segments; from capture "
                  f"p50 {pct(r['from_capture'], 50) * 1000:.0f} p99 {pct(r['from_capture'], 99) * 1000:.0f}{cpu}",
                  flush=True)

    def med(runs, key, q):
        vals = [pct(r[key], q) for r in runs if r[key]]
        return statistics.median(vals) if vals else float("nan")

    print()
    if mir:
        part = statistics.median(r["part"] for r in mir)
        p99_end = med(mir, "after_end", 99)
        print(f"Mirror part available after part end (PDT + duration): p50 {med(mir, 'after_end', 50) * 1000:.0f} "
              f"p99 {p99_end * 1000:.0f} ms (target p99 <= part duration + 30 = {part * 1000 + 30:.0f} ms: "
              f"{'met' if p99_end <= part + 0.030 else 'NOT met'})")
        print(f"Mirror part available after its first frame's capture: p50 {med(mir, 'from_capture', 50) * 1000:.0f} "
              f"p99 {med(mir, 'from_capture', 99) * 1000:.0f} ms (includes encode and SRT latency "
              f"{args.srt_latency} ms)")
    if ref:
        print(f"hlssink2 segment available after its first frame's capture: "
              f"p50 {med(ref, 'from_capture', 50) * 1000:.0f} p99 {med(ref, 'from_capture', 99) * 1000:.0f} ms "
              f"(BENCHMARKS.md reference: 2.0 s)")
    if mir and ref:
        a, b = med(ref, "from_capture", 50), med(mir, "from_capture", 50)
        print(f"ratio: classic HLS segment / Mirror part, first frame to available (p50): {a / b:.1f}x")
    print("glass-to-glass in hls.js (Chromium) is not measured here: see the e2e browser run "
          "(tests/e2e/play.mjs, hls.js latency)")


if __name__ == "__main__":
    main()
