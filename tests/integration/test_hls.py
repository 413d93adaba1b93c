# SPDX-License-Identifier: LGPL-2.1-or-later
"""LL-HLS end to end: a live H.264 + AAC SRT feed made by GStreamer, a real
mirrord packaging it, and what players see on its Origin (plain HTTP/1.1 and
HTTPS): the playlists pass llhls.py's rules while they advance, ffprobe reads
the stream, blocking reloads and preload-hinted parts are answered once the
part exists, errors are 400/404, and the headers players and CDNs rely on."""

import http.client as httplib
import json
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import unittest

import llhls
from mirrortest import LiveStreamCase, Process, wait_for

STREAM = "cam1"
LIVE = f"/live/{STREAM}"
# Slack for a busy 2-core CI box, on top of one part duration.
SLACK_S = 0.150


def aac_encoder():
    for name in ("avenc_aac", "fdkaacenc", "voaacenc"):
        if subprocess.run(["gst-inspect-1.0", "--exists", name]).returncode == 0:
            return name
    raise unittest.SkipTest("no AAC encoder in GStreamer (install gstreamer1.0-libav)")


def srt_feed(port, stream_id, host="127.0.0.1", log_name="hls-feed"):
    """Live 320x240 25 fps H.264 (1 s GOPs, 4:2:0 as players want) + AAC into
    srtsink, like a camera, calling host."""
    return Process(
        ["gst-launch-1.0", "-q",
         "videotestsrc", "is-live=true", "pattern=ball", "!",
         "video/x-raw,format=I420,width=320,height=240,framerate=25/1", "!",
         "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25", "bframes=0", "!",
         "h264parse", "config-interval=-1", "!", "mpegtsmux", "name=mux", "alignment=7", "!",
         "srtsink", f"uri=srt://{host}:{port}?streamid={stream_id}", "latency=120",
         "audiotestsrc", "is-live=true", "!", "audio/x-raw,rate=48000,channels=2", "!",
         aac_encoder(), "!", "aacparse", "!", "mux."],
        log_name=log_name)


def log(msg):
    print(f"test_hls: {msg}", file=sys.stderr, flush=True)


def box_type(data):
    return data[4:8] if len(data) >= 8 else b""


def max_age(cache_control):
    m = re.search(r"max-age=(\d+)", cache_control or "")
    return int(m.group(1)) if m else None


class Hls(LiveStreamCase):
    @classmethod
    def setUpClass(cls):
        def ready():
            cls.mv = wait_for(cls.multivariant_with_audio, "multivariant playlist with video and audio",
                              deadline_s=60, interval_s=0.1)
            cls.video_uri = cls.mv.variants[0]["URI"]
            cls.audio_uri = cls.mv.audio_group(cls.mv.variants[0]["AUDIO"])[0]["URI"]
            # Both renditions have parts listed and a preload hint.
            for uri in (cls.video_uri, cls.audio_uri):
                wait_for(lambda: cls.hinted(uri), f"{uri} with parts", deadline_s=30)
        # The packaging of the feed itself (rendition "source"): transcoding
        # has its own test.
        cls.start_live({"MIRROR_TRANSCODING_ENABLED": "false"},
                       lambda m: srt_feed(m.srt_port, STREAM), ready)

    # -- helpers -----------------------------------------------------------

    @classmethod
    def get(cls, path, tls=False, headers=None, timeout=20):
        return cls.m.origin("GET", path, tls=tls, headers=headers, timeout=timeout)

    @classmethod
    def text(cls, path, tls=False, timeout=20):
        status, headers, body = cls.get(path, tls=tls, timeout=timeout)
        assert status == 200, (path, status, body[:300])
        return body.decode()

    @classmethod
    def multivariant_with_audio(cls):
        status, _, body = cls.get(f"{LIVE}/index.m3u8", timeout=5)
        if status != 200:
            return None
        mv = llhls.Multivariant(body.decode())
        if mv.variants and "AUDIO" in mv.variants[0] and "mp4a" in mv.variants[0].get("CODECS", ""):
            return mv
        return None

    @classmethod
    def hinted(cls, uri):
        status, _, body = cls.get(f"{LIVE}/{uri}", timeout=5)
        return status == 200 and llhls.MediaPlaylist(body.decode()).preload_hint_position()

    @classmethod
    def playlist(cls, uri, query="", tls=False, timeout=20):
        return llhls.MediaPlaylist(cls.text(f"{LIVE}/{uri}{query}", tls=tls, timeout=timeout))

    def assertRules(self, pl, what):
        self.assertEqual(llhls.media_violations(pl), [], f"{what}:\n{pl.text}")

    # -- a) multivariant -----------------------------------------------------

    def test_a_multivariant(self):
        status, headers, body = self.get(f"{LIVE}/index.m3u8")
        self.assertEqual(status, 200)
        self.assertIn("mpegurl", headers.get("content-type", "").lower())
        text = body.decode()
        self.assertEqual(llhls.multivariant_violations(text), [], text)
        mv = llhls.Multivariant(text)
        self.assertEqual(len(mv.variants), 1, text)
        v = mv.variants[0]
        self.assertEqual(v["URI"], "source.m3u8", text)
        codecs = v["CODECS"].split(",")
        self.assertTrue(any(re.fullmatch(r"avc1\.[0-9A-Fa-f]{6}", c) for c in codecs), text)
        self.assertIn("mp4a.40.2", codecs, text)
        self.assertEqual(v.get("RESOLUTION"), "320x240", text)
        self.assertGreater(int(v["BANDWIDTH"]), 0)
        audio = mv.audio_group(v["AUDIO"])
        self.assertEqual(len(audio), 1, text)
        self.assertEqual(audio[0]["URI"], "audio.m3u8", text)
        self.assertEqual(audio[0].get("DEFAULT"), "YES", text)
        # Same text over HTTPS.
        self.assertEqual(self.text(f"{LIVE}/index.m3u8", tls=True), text)

    def test_a_stream_list(self):
        status, headers, body = self.get("/live/index.json")
        self.assertEqual(status, 200, body)
        self.assertIn("json", headers.get("content-type", ""))
        doc = json.loads(body)
        self.assertIn(STREAM, json.dumps(doc), doc)

    # -- b) media playlists over ~5 s of reloads -----------------------------

    def test_b_media_playlists_advance_and_pass_the_rules(self):
        first, last, count = {}, {}, 0
        sc_lines = {}
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            for uri in (self.video_uri, self.audio_uri):
                pl = self.playlist(uri)
                self.assertRules(pl, uri)
                if uri in last:
                    self.assertEqual(llhls.reload_violations(last[uri], pl), [],
                                     f"{uri} reload:\n{last[uri].text}\n---\n{pl.text}")
                first.setdefault(uri, pl)
                last[uri] = pl
                sc_lines[uri] = next(l for l in pl.lines if l.startswith("#EXT-X-SERVER-CONTROL"))
                count += 1
            time.sleep(0.1)  # pacing at about one part, not synchronisation
        log(f"{count} playlist reloads checked")

        for uri, rendition in ((self.video_uri, "source"), (self.audio_uri, "audio")):
            a, b = first[uri], last[uri]
            advanced = b.last_position()[0] - a.last_position()[0]
            self.assertGreaterEqual(advanced, 3, f"{uri} moved {advanced} segments in 5 s")
            self.assertGreaterEqual(b.version, 9)
            self.assertEqual(b.target_duration, 1, b.text)
            self.assertGreater(b.part_target, 0.05, b.text)
            self.assertLessEqual(b.part_target, 0.5, b.text)
            self.assertTrue(all(m.startswith(f"{rendition}/init") and m.endswith(".mp4") for m in b.maps), b.text)
            self.assertTrue(all(p.uri.startswith(f"{rendition}/part") for p in b.parts), b.text)
            self.assertTrue(all(s.uri.startswith(f"{rendition}/seg") for s in b.complete_segments), b.text)
            # Every segment starts on an independent part (a keyframe for video).
            self.assertTrue(all(s.parts[0].independent for s in b.segments if s.parts), b.text)
            # The other rendition is reported.
            other = "audio.m3u8" if rendition == "source" else "source.m3u8"
            self.assertIn(other, [r.get("URI") for r in b.rendition_reports], b.text)
            # PROGRAM-DATE-TIME is the wall clock at ingest: the newest part
            # ended moments ago (generous: latency, clock rounding, busy CI).
            newest = b.last_part
            edge = b.part_pdt(newest) + newest.duration
            self.assertLess(abs(time.time() - edge), 5.0, f"{uri} edge PDT is {time.time() - edge:.3f} s old")
        # Each rendition's PART-TARGET is its own frame grid, fixed from the
        # first reload on: 3 frames at 25 fps, 5 AAC frames at 48 kHz; its
        # PART-HOLD-BACK three of them; TARGETDURATION is the stream's.
        for uri, want in ((self.video_uri, 0.12), (self.audio_uri, 0.10667)):
            self.assertAlmostEqual(first[uri].part_target, want, places=5, msg=first[uri].text)
            self.assertAlmostEqual(last[uri].part_target, want, places=5, msg=last[uri].text)
            self.assertIn(f"PART-HOLD-BACK={3 * want:.5f}", sc_lines[uri])
        self.assertEqual(first[self.video_uri].target_duration, first[self.audio_uri].target_duration)

    def test_b_delta_update(self):
        # A delta update skips what starts more than CAN-SKIP-UNTIL before the
        # edge: wait until the window is that long.
        full = self.playlist(self.video_uri)
        csu = float(full.server_control["CAN-SKIP-UNTIL"])

        def long_enough():
            pl = self.playlist(self.video_uri)
            span = sum(s.duration for s in pl.complete_segments)
            return span > csu + 2 * pl.target_duration and pl
        full = wait_for(long_enough, f"a window longer than CAN-SKIP-UNTIL={csu}", deadline_s=60,
                        interval_s=0.5)
        delta = self.playlist(self.video_uri, "?_HLS_skip=YES")
        self.assertRules(delta, "delta update")
        self.assertTrue(delta.has_skip, delta.text)
        self.assertGreater(delta.skipped, 0)
        self.assertEqual(llhls.reload_violations(full, delta), [])
        # What the delta lists is the tail of the full playlist.
        self.assertGreaterEqual(delta.segments[0].msn, full.media_sequence)
        first_listed = delta.segments[0]
        self.assertLess(time.time() - first_listed.pdt, csu + 3 * delta.target_duration, delta.text)

    # -- c) ffprobe ----------------------------------------------------------

    def ffprobe(self, url, extra=()):
        if not shutil.which("ffprobe"):
            self.skipTest("no ffprobe")
        r = subprocess.run(["ffprobe", "-v", "error", *extra, "-show_streams", "-show_packets",
                            "-read_intervals", "%+#60", "-of", "json", url],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", r.stderr)
        doc = json.loads(r.stdout)
        streams = {s["codec_type"]: s for s in doc.get("streams", [])}
        self.assertEqual(streams["video"]["codec_name"], "h264", doc["streams"])
        self.assertEqual((streams["video"]["width"], streams["video"]["height"]), (320, 240))
        self.assertEqual(streams["audio"]["codec_name"], "aac", doc["streams"])
        self.assertEqual(int(streams["audio"]["sample_rate"]), 48000)
        packets = doc.get("packets", [])
        self.assertTrue(any(p["codec_type"] == "video" for p in packets), "no video packets read")
        return doc

    def test_c_ffprobe_http(self):
        self.ffprobe(f"http://127.0.0.1:{self.m.http_port}{LIVE}/index.m3u8")

    def test_c_ffprobe_https(self):
        r = subprocess.run(["ffprobe", "-h", "protocol=tls"], capture_output=True, text=True)
        if "tls_verify" not in r.stdout:
            self.skipTest("ffprobe has no -tls_verify")
        self.ffprobe(f"https://127.0.0.1:{self.m.https_port}{LIVE}/index.m3u8", ["-tls_verify", "0"])

    # -- d) blocking reload and preload-hinted parts -------------------------

    def held_round(self):
        """One next part: a held playlist request, a held part request and a
        poller that records when the part first shows in a plain reload."""
        pl = self.playlist(self.video_uri)
        msn, part = pl.preload_hint_position()
        part_uri = f"source/part{msn}.{part}.m4s"
        listed = '#EXT-X-PART:DURATION='
        out = {}
        give_up = time.monotonic() + 3 * pl.target_duration

        def poller():
            conn = httplib.HTTPConnection("127.0.0.1", self.m.http_port, timeout=10)
            try:
                while time.monotonic() < give_up:
                    conn.request("GET", f"{LIVE}/{self.video_uri}")
                    body = conn.getresponse().read().decode()
                    if any(l.startswith(listed) and f'URI="{part_uri}"' in l for l in body.splitlines()):
                        out["seen"] = time.monotonic()
                        return
                    time.sleep(0.005)
            finally:
                conn.close()

        def held_playlist():
            t0 = time.monotonic()
            status, _, body = self.get(f"{LIVE}/{self.video_uri}?_HLS_msn={msn}&_HLS_part={part}", timeout=10)
            out["playlist"] = (status, body.decode(), t0, time.monotonic())

        def held_part():
            t0 = time.monotonic()
            status, headers, body = self.get(f"{LIVE}/{part_uri}", timeout=10)
            out["part"] = (status, headers, body, t0, time.monotonic())

        threads = [threading.Thread(target=f) for f in (poller, held_playlist, held_part)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        return pl, msn, part, part_uri, out

    def test_d_blocking_reload_and_preload_hint(self):
        part_target = self.playlist(self.video_uri).part_target
        td = self.playlist(self.video_uri).target_duration
        after_seen, waits = [], []
        for _ in range(6):
            pl, msn, part, part_uri, out = self.held_round()
            status, body, t0, t1 = out["playlist"]
            self.assertEqual(status, 200, body)
            held = llhls.MediaPlaylist(body)
            self.assertRules(held, "held playlist")
            self.assertIn(part_uri, [p.uri for p in held.parts], body)
            self.assertLess(t1 - t0, 3 * td, "held playlist took longer than 3 target durations")
            waits.append(t1 - t0)

            status, headers, data, p0, p1 = out["part"]
            self.assertEqual(status, 200, data[:200])
            self.assertIn(box_type(data), (b"moof", b"styp"), data[:16])
            self.assertLess(p1 - p0, 3 * td, "held part took longer than 3 target durations")
            self.assertEqual(int(headers.get("content-length", len(data))), len(data))

            if "seen" in out:
                after_seen.append(t1 - out["seen"])
        log(f"held playlist waits (s): {[round(w, 3) for w in waits]}; "
            f"answer minus poller's first sight (s): {[round(d, 3) for d in after_seen]}")
        self.assertTrue(after_seen, "the poller never saw a part")
        # Held answers come within a part duration (+CI slack) of the part's
        # appearance; the median, since a busy box can stall any one request.
        self.assertLessEqual(statistics.median(after_seen), part_target + SLACK_S, after_seen)
        self.assertLessEqual(statistics.median(waits), 2 * part_target + SLACK_S, waits)

    def test_d_every_preload_hint_comes_true(self):
        # A player that fetches each hint as it appears (Safari's does) gets
        # that very part, at segment boundaries too, never a 404.
        boundaries = fetched = 0
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for uri in (self.video_uri, self.audio_uri):
                pl = self.playlist(uri)
                hint = [h["URI"] for h in pl.preload_hints if h.get("TYPE") == "PART"]
                self.assertEqual(len(hint), 1, pl.text)
                status, _, data = self.get(f"{LIVE}/{hint[0]}", timeout=10)
                self.assertEqual(status, 200, f"hinted {hint[0]}: {data[:200]!r}\n{pl.text}")
                self.assertIn(box_type(data), (b"moof", b"styp"))
                after = self.playlist(uri)
                self.assertIn(hint[0], [p.uri for p in after.parts], after.text)
                fetched += 1
                boundaries += hint[0].endswith(".0.m4s")
        log(f"{fetched} hinted parts fetched, {boundaries} of them first parts of a segment")
        self.assertGreaterEqual(boundaries, 3)
        _, _, metrics = self.m.http("GET", "/metrics", raw=True)
        self.assertRegex(metrics.decode(), r"(?m)^mirror_origin_hint_misses_total 0$")

    def test_d_blocking_msn_only_waits_for_the_segment(self):
        pl = self.playlist(self.video_uri)
        msn = pl.next_part_position()[0]
        t0 = time.monotonic()
        held = self.playlist(self.video_uri, f"?_HLS_msn={msn}", timeout=10)
        took = time.monotonic() - t0
        self.assertRules(held, "held for a segment")
        self.assertTrue(held.segment(msn) and held.segment(msn).complete, held.text)
        self.assertLess(took, 3 * pl.target_duration)

    def test_d_many_concurrent_held_requests(self):
        pl = self.playlist(self.video_uri)
        msn, part = pl.preload_hint_position()
        results = []

        def one(i):
            if i % 2:
                path = f"{LIVE}/{self.video_uri}?_HLS_msn={msn}&_HLS_part={part}"
            else:
                path = f"{LIVE}/source/part{msn}.{part}.m4s"
            try:
                results.append((path, self.get(path, tls=i % 4 == 3, timeout=10)[0]))
            except Exception as e:  # noqa: BLE001 - reported below
                results.append((path, repr(e)))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(len(results), 16)
        self.assertTrue(all(status == 200 for _, status in results), results)

    # -- e) errors -----------------------------------------------------------

    def test_e_errors(self):
        pl = self.playlist(self.video_uri)
        msn, part = pl.preload_hint_position()
        old = pl.complete_segments[-1].msn

        def status(path):
            t0 = time.monotonic()
            s = self.get(path, timeout=10)[0]
            self.assertLess(time.monotonic() - t0, 1.0, f"{path} was held")
            return s
        self.assertEqual(status(f"{LIVE}/{self.video_uri}?_HLS_msn={msn + 100}"), 400)
        self.assertEqual(status(f"{LIVE}/{self.video_uri}?_HLS_msn={msn + 100}&_HLS_part=0"), 400)
        self.assertEqual(status(f"{LIVE}/{self.video_uri}?_HLS_part=1"), 400)
        self.assertEqual(status(f"{LIVE}/{self.video_uri}?_HLS_msn=abc"), 400)
        self.assertEqual(status(f"{LIVE}/{self.video_uri}?_HLS_skip=MAYBE"), 400)
        self.assertEqual(status("/live/no-such-stream/index.m3u8"), 404)
        self.assertEqual(status("/live/no-such-stream/source.m3u8"), 404)
        self.assertEqual(status(f"{LIVE}/no-such-rendition.m3u8"), 404)
        self.assertEqual(status(f"{LIVE}/source/part{old}.999.m4s"), 404)
        self.assertEqual(status(f"{LIVE}/no-such-rendition/part{msn}.0.m4s"), 404)
        self.assertEqual(status(f"{LIVE}/source/seg{msn + 1000}.m4s"), 404)
        self.assertIn(status(f"{LIVE}/../../etc/passwd"), (400, 404))

    # -- f) headers ----------------------------------------------------------

    def test_f_headers(self):
        pl = self.playlist(self.video_uri)
        seg = pl.complete_segments[-1]
        objects = {
            "multivariant": f"{LIVE}/index.m3u8",
            "playlist": f"{LIVE}/{self.video_uri}",
            "init": f"{LIVE}/{pl.maps[-1]}",
            "part": f"{LIVE}/{pl.parts[0].uri}",
            "segment": f"{LIVE}/{seg.uri}",
        }
        got = {}
        for tls in (False, True):
            for name, path in objects.items():
                status, headers, body = self.get(path, tls=tls)
                self.assertEqual(status, 200, (name, path, tls))
                self.assertEqual(headers.get("access-control-allow-origin"), "*", (name, headers))
                self.assertIn("cache-control", headers, (name, headers))
                got[name] = (headers, body)
        for name in ("multivariant", "playlist"):
            cc = got[name][0]["cache-control"]
            age = max_age(cc)
            self.assertTrue("no-cache" in cc or "no-store" in cc or (age is not None and age <= 1), (name, cc))
            self.assertIn("mpegurl", got[name][0].get("content-type", "").lower())
        for name in ("part", "segment", "init"):
            cc = got[name][0]["cache-control"]
            age = max_age(cc)
            self.assertTrue("immutable" in cc or (age is not None and age >= 60), (name, cc))
            self.assertNotIn("no-store", cc)
        self.assertEqual(box_type(got["init"][1]), b"ftyp")
        self.assertIn(box_type(got["segment"][1]), (b"moof", b"styp"))
        self.assertIn("mp4", got["init"][0].get("content-type", ""))

    # -- g) admin API --------------------------------------------------------

    def test_g_playback_urls(self):
        status, _, doc = self.m.http("GET", f"/api/v1/streams/{STREAM}")
        self.assertEqual(status, 200, doc)
        playback = doc["playback"]
        self.assertRegex(playback["hls"], rf"^https://[^/]+:{self.m.https_port}{LIVE}/index\.m3u8$")
        self.assertRegex(playback["http"], rf"^http://[^/]+:{self.m.http_port}{LIVE}/index\.m3u8$")
        self.assertRegex(playback["player"], rf"^https://[^/]+:{self.m.https_port}/\?stream={STREAM}$")


if __name__ == "__main__":
    unittest.main(verbosity=2)
