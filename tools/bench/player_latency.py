#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Glass-to-glass in a real player: hls.js in headless Chromium plays a live
stream from mirrord over HTTP/3, HTTPS and HTTP, and, as the reference, the
same feed as classic HLS from hlssink2 (target-duration=1) served as files.

    tools/bench/player_latency.py [--seconds 60] [--runs 1] [--only mirrord|reference]

The feed is the browser test's: 640x360 25 fps HEVC (x265 zerolatency) + AAC
from GStreamer over SRT into mirrord's default pipeline (transcoded to the
360p H.264 rendition, packaged as LL-HLS); for the reference the same encode
as H.264 (hlssink2 takes no HEVC) straight into hlssink2. The player page is
the Origin's own (hls.js `lowLatencyMode: true`, no latency settings), and
for the reference a page with the same hls.js and settings. Sender, server
and Chromium share this box.

For each it samples the page every 250 ms (tests/e2e/play.mjs --follow) and
prints, after the first 10 s: hls.js's distance to the live edge (`latency`)
and now minus the playing frame's program date-time, p50 and p99; stalls
(playing, then not, after the first frame); the time from loading the page to
the first frame. For mirrord it also samples the 360p playlist and the
stream's API entry meanwhile and breaks the time down (see breakdown ()).
Then, for mirrord, the time from a new caller's connection to its stream's
first part being fetchable (`--new-streams` of them).
Not a test.
"""

import argparse
import functools
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "integration"))

from benchproc import stop  # noqa: E402
import llhls  # noqa: E402
import srt_ingest  # noqa: E402
from srt_ingest import free_tcp_port, free_udp_port  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAY = os.path.join(ROOT, "tests", "e2e", "play.mjs")
HLSJS = os.path.join(ROOT, "web", "node_modules", "hls.js", "dist", "hls.min.js")
WARMUP_S = 10.0

REFERENCE_PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline></video>
<script src="hls.min.js"></script><script>
const video = document.getElementById('v');
const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.5,
                      liveSyncOnStallIncrease: 0.2 });
hls.loadSource('playlist.m3u8'); hls.attachMedia(video); video.play().catch(() => {});
window.mirrorPlayer = { stats () {
  return { playing: !video.paused && !video.ended && video.readyState > 2,
           currentTime: video.currentTime,
           latency: hls.latestLevelDetails ? hls.latency : null,
           pdtLatency: hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : null,
           protocol: 'http/1.1', errors: [] };
} };
</script>"""


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def x265_feed(uri):
    return ("videotestsrc is-live=true pattern=ball ! "
            "video/x-raw,format=I420,width=640,height=360,framerate=25/1 ! "
            "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 "
            "bitrate=800 ! h265parse config-interval=-1 ! mpegtsmux name=mux alignment=7 ! "
            f"srtsink uri=\"{uri}\" wait-for-connection=false "
            "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 ! "
            "avenc_aac ! aacparse ! mux.")


def follow(url, seconds, extra=()):
    """The page's samples over seconds (play.mjs --follow)."""
    r = subprocess.run(["node", PLAY, "--url", url, "--seconds", str(seconds), "--follow"]
                       + [f"--extra-arg={a}" for a in extra],
                       capture_output=True, text=True, timeout=seconds + 90)
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith('{"t"')]


class EdgeSampler:
    """Four times a second while a player plays: how old the newest part of
    the 360p playlist is (now minus the end of its last part, by the
    segment's PROGRAM-DATE-TIME and the parts' durations), and the
    transcode's frame latency p50 (the stream's API entry)."""

    def __init__(self, http_port, admin_port):
        self.http_port, self.admin_port = http_port, admin_port
        self.ages, self.transcode = [], []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        start = time.monotonic()
        while self.running:
            time.sleep(0.25)
            if time.monotonic() - start < WARMUP_S:
                continue
            try:
                _, body = get(self.http_port, "/live/cam/360p.m3u8")
                now = time.time()
                pl = llhls.MediaPlaylist(body.decode())
                part = pl.last_part
                if part is not None and pl.part_pdt(part) is not None:
                    self.ages.append(now - (pl.part_pdt(part) + part.duration))
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.admin_port}/api/v1/streams/cam", timeout=5) as r:
                    doc = json.loads(r.read())
                if doc.get("transcode", {}).get("latency_p50_ms") is not None:
                    self.transcode.append(doc["transcode"]["latency_p50_ms"] / 1000)
            except (OSError, ValueError):
                pass

    def stop(self):
        self.running = False
        self.thread.join()


def summarize(name, samples):
    first = next((s for s in samples if s.get("playing")), None)
    after = [s for s in samples if s.get("t", 0) >= WARMUP_S]
    lat = [s["latency"] for s in after if s.get("latency") is not None]
    pdt = [s["pdtLatency"] for s in after if s.get("pdtLatency") is not None]
    stalls, was = 0, False
    for s in samples:
        if first and s["t"] > first["t"]:
            stalls += was and not s.get("playing")
        was = bool(s.get("playing"))
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    print(f"{name}: hls.js latency p50 {fmt(pct(lat, 0.5))} p99 {fmt(pct(lat, 0.99))} s; "
          f"now - playing PDT p50 {fmt(pct(pdt, 0.5))} p99 {fmt(pct(pdt, 0.99))} s; "
          f"stalls {stalls}; first frame {fmt(first['t'] if first else None)} s after load; "
          f"protocol {samples[-1].get('protocol') if samples else '-'}", flush=True)
    return {"latency_p50": pct(lat, 0.5), "pdt_p50": pct(pdt, 0.5), "stalls": stalls}


def breakdown(name, result, sampler):
    """Where the time goes, p50s in ms. Before the PROGRAM-DATE-TIME: the
    sender's encode (not measured) and SRT's latency (configured); after it,
    the newest part's age (a frame waits in its part until the next frame
    closes it, through the transcode, then is published) and how far behind
    the newest part the player plays (its buffer: PART-HOLD-BACK and what
    its loading adds)."""
    age, transcode = pct(sampler.ages, 0.5), pct(sampler.transcode, 0.5)
    pdt = result.get("pdt_p50")
    ms = lambda v: "-" if v is None else f"{v * 1000:.0f}"
    behind = pdt - age if pdt is not None and age is not None else None
    print(f"{name} breakdown (p50, ms): sender encode (not measured) + SRT latency 120 "
          f"(configured) | then: transcode {ms(transcode)}, newest part's age {ms(age)} "
          f"(transcode included), player behind the newest part {ms(behind)} "
          f"= now - playing PDT {ms(pdt)}", flush=True)
    result.update({"edge_age_p50": age, "transcode_p50": transcode, "behind_p50": behind})


def wait_for(predicate, what, deadline_s=90):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def get(port, path, tls=False):
    import ssl
    ctx = ssl._create_unverified_context() if tls else None
    scheme = "https" if tls else "http"
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}{path}", timeout=5,
                                context=ctx) as r:
        return r.status, r.read()


def run_mirrord(args):
    srt = free_udp_port()
    http_port, https_port = free_tcp_port(), free_udp_port()
    mirrord, admin, log = srt_ingest.start_mirrord(
        srt, free_udp_port(), {"MIRROR_SERVER_HTTP_PORT": str(http_port),
                               "MIRROR_SERVER_HTTP3_PORT": str(https_port)}, config_text="{}\n")
    feed = subprocess.Popen(["sh", "-c", "exec gst-launch-1.0 -q " + x265_feed(
        f"srt://127.0.0.1:{srt}?streamid=cam")], start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: b"#EXT-X-PART:" in get(http_port, "/live/cam/360p.m3u8")[1], "parts")
        pin = None
        with open(log) as f:
            for line in f:
                if "SPKI pin" in line:
                    pin = line.split("SPKI pin", 1)[1].split()[0]
        results = {}
        for name, url, extra in (
                ("mirrord http/3", f"https://127.0.0.1:{https_port}/?stream=cam",
                 ["--enable-quic", f"--origin-to-force-quic-on=127.0.0.1:{https_port}",
                  f"--ignore-certificate-errors-spki-list={pin}",
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]),
                ("mirrord https", f"https://127.0.0.1:{https_port}/?stream=cam", []),
                ("mirrord http", f"http://127.0.0.1:{http_port}/?stream=cam", [])):
            sampler = EdgeSampler(http_port, admin)
            try:
                results[name] = summarize(name, follow(url, args.seconds, extra))
            finally:
                sampler.stop()
            breakdown(name, results[name], sampler)
        # A new caller's first part: from the SRT connection to a fetchable part.
        firsts = []
        for i in range(args.new_streams):
            sid = f"new{i}"
            t0 = time.monotonic()
            p = subprocess.Popen(["sh", "-c", "exec gst-launch-1.0 -q " + x265_feed(
                f"srt://127.0.0.1:{srt}?streamid={sid}")], start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_for(lambda: b"#EXT-X-PART:" in get(http_port, f"/live/{sid}/360p.m3u8")[1],
                         f"{sid}'s first part", deadline_s=30)
                firsts.append(time.monotonic() - t0)
            finally:
                stop([p])
        if firsts:
            print(f"mirrord new stream, sender start to first part listed: p50 "
                  f"{statistics.median(firsts):.2f} s, p99 {pct(firsts, 0.99):.2f} s "
                  f"({len(firsts)} streams; includes the sender's own start and x265's first "
                  f"frame)", flush=True)
        return results
    finally:
        stop([feed, mirrord])


def run_reference(args):
    out = tempfile.mkdtemp(prefix="player-latency-ref-")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write(REFERENCE_PAGE)
    os.symlink(HLSJS, os.path.join(out, "hls.min.js"))
    feed = subprocess.Popen(
        ["sh", "-c", "exec gst-launch-1.0 -q videotestsrc is-live=true pattern=ball ! "
         "video/x-raw,format=I420,width=640,height=360,framerate=25/1 ! "
         "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=800 ! "
         "h264parse ! hlssink2 name=hls target-duration=1 playlist-length=5 max-files=100 "
         f"location={out}/seg%05d.ts playlist-location={out}/playlist.m3u8 "
         "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 ! "
         "avenc_aac ! aacparse ! hls.audio"], start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_tcp_port()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=out)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        wait_for(lambda: os.path.exists(os.path.join(out, "playlist.m3u8")), "hlssink2's playlist")
        return {"reference": summarize("hlssink2 + hls.js http",
                                       follow(f"http://127.0.0.1:{port}/index.html", args.seconds))}
    finally:
        server.shutdown()
        stop([feed])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--new-streams", type=int, default=5)
    ap.add_argument("--only", choices=["mirrord", "reference"])
    args = ap.parse_args()
    for run in range(args.runs):
        print(f"run {run + 1}: {args.seconds} s per player, figures after the first "
              f"{WARMUP_S:.0f} s", flush=True)
        mine = run_mirrord(args) if args.only != "reference" else {}
        ref = run_reference(args) if args.only != "mirrord" else {}
        r = ref.get("reference", {}).get("latency_p50")
        for name, m in mine.items():
            if r and m.get("latency_p50"):
                print(f"{name}: latency {m['latency_p50'] / r:.2f}x the reference's", flush=True)


if __name__ == "__main__":
    main()
