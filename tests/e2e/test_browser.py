#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Headless Chromium plays a live stream from mirrord with hls.js.

mirrord on free ports, on its default pipeline, gets an HEVC + AAC SRT feed
made here, which it transcodes to H.264 (640x360, the default ladder) and
packages: the product's whole path, since Chromium plays no HEVC. Debian's chromium, driven by playwright-core (web/, pinned), opens the
Origin's player page over HTTP/3 (QUIC forced to the Origin's port, its
self-signed certificate trusted by the SPKI pin mirrord logs), over HTTPS
(HTTP/2 by ALPN, and HTTP/1.1 with Chromium's HTTP/2 turned off) and over
plain HTTP, and must see playback advance with the
expected protocol. hls.js's live latency is printed for the record. Then,
while hls.js plays, the caller comes back with H.264 where it sent HEVC,
and mirrord is restarted: playback must move again each time.
Skips (exit 77) only when chromium or web/node_modules is missing, which
tools/mirror-dev deps installs."""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from mirrortest import Mirrord, Process, wait_for

ROOT = os.environ["MIRROR_SOURCE_ROOT"]
PLAY = os.path.join(ROOT, "tests", "e2e", "play.mjs")
SKIP = 77
# From the restarted stream's first part (or the caller's return in H.264)
# to playback moving again: issue 15's bound. The page looks for the stream
# after a network error, a stall or the end of what the playlist listed, and
# starts a fresh hls.js as soon as it has media on a timeline the player
# never loaded; the store starts audio with the video, so a fresh hls.js
# starts cleanly on a young stream. Measured here: 0.52 to 2.7 s over 40 runs
# (restart), 0.26 to 1.5 s (codec change).
RECOVERY_S = 3.0


def feed(srt_port, stream, codec="h265"):
    """HEVC (or H.264) + AAC over SRT; SIGINT ends it with EOS, so the
    caller closes its connection."""
    aac = next((e for e in ("avenc_aac", "fdkaacenc", "voaacenc")
                if subprocess.run(["gst-inspect-1.0", "--exists", e]).returncode == 0), None)
    audio = (f"audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=2 "
             f"! {aac} ! aacparse ! mux. " if aac else "")
    video = ("x265enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=800 "
             "! h265parse config-interval=-1 " if codec == "h265" else
             "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bitrate=800 "
             "! h264parse config-interval=-1 ")
    pipeline = (
        "gst-launch-1.0 -q -e videotestsrc is-live=true pattern=ball "
        "! video/x-raw,format=I420,width=640,height=360,framerate=25/1 "
        f"! {video}"
        "! mpegtsmux name=mux alignment=7 "
        f"! srtsink uri=\"srt://127.0.0.1:{srt_port}?streamid={stream}\" wait-for-connection=false "
        + audio)
    return Process(["sh", "-c", "exec " + pipeline], log_name="e2e-feed", group=True)


def play(url, expect_protocol, extra_args=(), seek_fraction=None, scrub_back=None):
    r = subprocess.run(["node", PLAY, "--url", url, "--seconds", "60",
                        "--expect-protocol", expect_protocol]
                       + [f"--extra-arg={a}" for a in extra_args]
                       + ([f"--seek-fraction={seek_fraction}"] if seek_fraction is not None else [])
                       + ([f"--scrub-back={scrub_back}"] if scrub_back is not None else []),
                       capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False, "reason": r.stderr[-2000:]}
    print(f"{url}: {json.dumps(result)}")
    assert r.returncode == 0 and result.get("ok"), f"playback failed: {result}"
    return result


class Follower:
    """hls.js playing `url` in headless Chromium for `seconds`, whatever
    happens; its samples (four a second) come through next()."""

    def __init__(self, url, seconds=75):
        self.proc = subprocess.Popen(["node", PLAY, "--url", url, "--seconds", str(seconds),
                                      "--follow"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.samples = queue.Queue()
        threading.Thread(target=lambda: [self.samples.put(json.loads(line))
                                         for line in self.proc.stdout
                                         if line.startswith("{")], daemon=True).start()

    def next(self):
        return self.samples.get(timeout=20)

    def playing(self, for_s=2):
        """Returns once playback has moved for_s seconds."""
        first = None
        while True:
            s = self.next()
            if s.get("playing"):
                first = s["currentTime"] if first is None else first
                if s["currentTime"] - first >= for_s:
                    return
            assert s.get("t", 0) < 30, f"hls.js did not play: {s}"

    def moving_again(self, limit_s=45):
        """Seconds from now to playback moving again (playing, and half a
        second further than a sample taken at most a second and a half
        earlier), and the samples up to then."""
        back = time.monotonic()
        while not self.samples.empty():  # what the page said before this moment
            self.samples.get_nowait()
        after = []
        while True:
            s = self.next()
            s["since_back"] = round(time.monotonic() - back, 3)
            after.append(s)
            moved = [a for a in after[:-1] if s.get("playing")
                     and s["t"] - a["t"] <= 1.5 and s["currentTime"] - a["currentTime"] >= 0.5]
            if moved:
                return s["since_back"], after
            assert s["since_back"] < limit_s, f"hls.js did not recover: {after[-8:]}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def restarted(mirrord, stream):
    """hls.js plays the stream over plain HTTP; mirrord is stopped (SIGTERM)
    and started again on the same ports while the feed calls again by
    itself. Returns (the restarted mirrord, seconds from the new stream's
    first listed part to playback moving again, the samples after it)."""
    follower = Follower(f"http://127.0.0.1:{mirrord.http_port}/?stream={stream}")
    try:
        follower.playing()
        ports = {name: str(value) for name, value in (
            ("MIRROR_SERVER_ADMIN_PORT", mirrord.admin_port),
            ("MIRROR_SERVER_HTTP_PORT", mirrord.http_port),
            ("MIRROR_SERVER_HTTP3_PORT", mirrord.https_port),
            ("MIRROR_INGESTION_SRT_PORT", mirrord.srt_port),
            ("MIRROR_INGESTION_RTP_PORT", mirrord.rtp_port),
            ("MIRROR_STORAGE_LOCAL_CACHE_DIR", mirrord.env["MIRROR_STORAGE_LOCAL_CACHE_DIR"]))}
        code = mirrord.stop()
        assert code == 0, f"mirrord exited with {code}"
        mirrord = Mirrord(env=ports, wait_ready=False)
    except BaseException:
        follower.stop()
        raise
    try:
        mirrord.wait_ready()
    except BaseException:
        print("the restarted mirrord's log:\n" + mirrord.output()[-4000:], flush=True)
        mirrord.stop()
        follower.stop()
        raise
    try:
        def listed():
            status, _, body = mirrord.origin("GET", f"/live/{stream}/360p.m3u8", timeout=5)
            return status == 200 and b"#EXT-X-PART:" in body
        wait_for(listed, "the restarted stream's first part", deadline_s=60, interval_s=0.05)
        recovery, after = follower.moving_again()
        return mirrord, recovery, after
    except BaseException:
        mirrord.stop()
        raise
    finally:
        follower.stop()


def codec_changed(mirrord, sender, stream):
    """hls.js plays the stream over plain HTTP; the HEVC caller ends and an
    H.264 one takes its place on the same stream id. Returns (the new
    sender, seconds from the new caller's start to playback moving again,
    the samples after it)."""
    follower = Follower(f"http://127.0.0.1:{mirrord.http_port}/?stream={stream}")
    try:
        follower.playing()
        sender.stop(sig=signal.SIGINT)
        sender = feed(mirrord.srt_port, stream, codec="h264")

        def switched():
            status, _, info = mirrord.http("GET", f"/api/v1/streams/{stream}")
            return status == 200 and info["stats"].get("codec") == "h264" and info
        info = wait_for(switched, "the stream's input in H.264", deadline_s=60, interval_s=0.05)
        recovery, after = follower.moving_again()
        # Past the player's buffer: what it plays now came after the change.
        follower.playing(for_s=3)
        # Still the same stream: it never ended or restarted on the way (on
        # a busy box a few frames dropped before the encoder say degraded).
        assert info.get("pipeline_restarts", 0) == 0 and info["state"] in ("live", "degraded"), info
        return sender, recovery, after
    finally:
        follower.stop()


def browser_missing():
    """Why the browser tests cannot run here (they then skip), or None."""
    if not os.path.exists("/usr/bin/chromium"):
        return "chromium is not installed (tools/mirror-dev deps installs it)"
    if not os.path.isdir(os.path.join(ROOT, "web", "node_modules", "playwright-core")):
        return "web/node_modules is missing (npm ci --prefix web)"
    if not shutil.which("node"):
        return "node is missing"
    return None


def main():
    if missing := browser_missing():
        print(f"{missing}: skipping")
        return SKIP

    # Kept across the restart below, as /var/lib/mirror is.
    state = tempfile.mkdtemp(prefix="mirror-e2e-state-")
    mirrord = Mirrord(env={"MIRROR_STORAGE_LOCAL_CACHE_DIR": state})
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
        h2 = play(f"https://127.0.0.1:{mirrord.https_port}/?stream=e2e", "h2")
        tls = play(f"https://127.0.0.1:{mirrord.https_port}/?stream=e2e", "http/1.1",
                   ["--disable-http2"])
        plain = play(f"http://127.0.0.1:{mirrord.http_port}/?stream=e2e", "http/1.1")
        for name, r in (("http/3", h3), ("http/2", h2), ("https http/1.1", tls), ("http", plain)):
            print(f"hls.js live latency over {name}: {r.get('latency_s')} s "
                  f"(program-date-time: {r.get('pdt_latency_s')} s)")
            # Far above what it does (about a second); below it, playback is
            # not following the live edge at all.
            assert r.get("latency_s") is not None and r["latency_s"] < 6, r

        # The recording: a past range plays as VOD and seeks; an open range
        # from 20 s ago plays as a growing EVENT playlist.
        status, _, window = mirrord.origin("GET", "/live/e2e/dvr.json")
        assert status == 200, window
        window = json.loads(window)
        start = round(window["start"] + 1, 3)
        end = min(start + 12, round(window["end"] - 1, 3))
        assert end - start > 8, window
        vod = play(f"https://127.0.0.1:{mirrord.https_port}/?stream=e2e&start={start}&end={end}",
                   "h2", seek_fraction=0.6)
        print(f"hls.js on a {end - start:.1f} s VOD range: duration {vod.get('duration_s')} s, "
              f"sought from {vod.get('seeked_from_s')} to {vod.get('seeked_to_s')} s and played on")
        assert vod["shifted"] and abs(vod["duration_s"] - (end - start)) < 1.5, vod
        assert vod["seeked_to_s"] > 0.5 * vod["duration_s"], vod
        event = play(f"http://127.0.0.1:{mirrord.http_port}/?stream=e2e&start={round(time.time()) - 20}",
                     "http/1.1")
        assert event["shifted"], event
        # The page's scrubber: from live, 10 s back into the recording.
        scrubbed = play(f"http://127.0.0.1:{mirrord.http_port}/?stream=e2e", "http/1.1", scrub_back=10)
        assert scrubbed["shifted"] and f"start={scrubbed['scrubbed_to']}" in scrubbed["page_url"], scrubbed

        # The caller comes back with H.264 where it sent HEVC: the stream
        # goes on (a new decoder, a discontinuity) and so does playback.
        sender, recovery, after = codec_changed(mirrord, sender, "e2e")
        print(f"hls.js moving again {recovery} s after the caller came back in H.264; "
              f"errors it saw: {after[-1].get('errors')}")
        assert recovery <= RECOVERY_S, (recovery, after)

        # A restart of mirrord while hls.js plays: the new stream numbers on
        # from the old one, after a discontinuity, and playback goes on.
        mirrord, recovery, after = restarted(mirrord, "e2e")
        print(f"hls.js moving again {recovery} s after the restarted stream's first part; "
              f"errors it saw: {after[-1].get('errors')}")
        if recovery > RECOVERY_S / 2:  # what the page went through, for the log
            for s in after:
                print({k: s.get(k) for k in ("since_back", "playing", "currentTime", "buffer",
                                             "latency", "ranges")}, s.get("errors", [])[-2:])
        assert recovery <= RECOVERY_S, (recovery, after)
    finally:
        sender.stop()
        mirrord.stop()
        shutil.rmtree(state, ignore_errors=True)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
