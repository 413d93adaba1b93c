#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mirrord's default pipeline transcodes: an HEVC SRT feed with MP2 audio
becomes an H.264 ladder with AAC, listed in the multivariant playlist and
readable by ffprobe; the chain in use shows in the API and /metrics; and
transcoding.max_sessions turns a stream away with CAPACITY_FULL."""
import json
import re
import subprocess
import unittest

from mirrortest import LiveStreamCase, Process, wait_for

LADDER = "360p:640x360@400k,180p:320x180@150k,source"


def hevc_feed(port, stream_id):
    """Live 480x270 25 fps HEVC (1 s GOPs) + MPEG-1 layer II audio, like a
    contribution encoder that sends no AAC."""
    return Process(
        ["gst-launch-1.0", "-q",
         "videotestsrc", "is-live=true", "pattern=ball", "!",
         "video/x-raw,format=I420,width=480,height=270,framerate=25/1", "!",
         "x265enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25",
         "bitrate=600", "!", "h265parse", "config-interval=-1", "!",
         "mpegtsmux", "name=mux", "alignment=7", "!",
         "srtsink", f"uri=srt://127.0.0.1:{port}?streamid={stream_id}", "latency=120",
         "audiotestsrc", "is-live=true", "!", "audio/x-raw,rate=48000,channels=2", "!",
         "avenc_mp2", "!", "mpegaudioparse", "!", "mux."],
        log_name="transcode-feed")


class Transcode(LiveStreamCase):
    @classmethod
    def setUpClass(cls):
        def ladder_live():
            status, _, body = cls.m.origin("GET", "/live/cam1/index.m3u8")
            text = body.decode(errors="replace")
            # Every rendition and the audio have media.
            return status == 200 and text.count("#EXT-X-STREAM-INF") == 3 \
                and "mp4a.40.2" in text and text

        cls.multivariant = cls.start_live(
            {"MIRROR_TRANSCODING_RENDITIONS": LADDER, "MIRROR_TRANSCODING_MAX_SESSIONS": "1"},
            lambda m: hevc_feed(m.srt_port, "cam1"),
            lambda: wait_for(ladder_live, "the ladder's multivariant playlist", deadline_s=120))

    def variant(self, name):
        lines = self.multivariant.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("#EXT-X-STREAM-INF") and lines[i + 1] == f"{name}.m3u8":
                return line
        self.fail(f"no variant {name} in:\n{self.multivariant}")

    def test_ladder_in_the_multivariant_playlist(self):
        v360 = self.variant("360p")
        self.assertIn("RESOLUTION=640x360", v360)
        self.assertRegex(v360, r'CODECS="avc1\.4[dD][0-9A-Fa-f]{4},mp4a\.40\.2"')
        self.assertIn("FRAME-RATE=25.000", v360)
        self.assertIn('AUDIO="audio"', v360)
        self.assertIn("RESOLUTION=320x180", self.variant("180p"))
        source = self.variant("source")
        self.assertIn("RESOLUTION=480x270", source)
        self.assertIn("hvc1.", source)
        # The encoders' real rates: the peak over a segment, within reason.
        bw = int(re.search(r"BANDWIDTH=(\d+)", v360).group(1))
        self.assertLess(bw, 2_000_000, v360)

    def test_ffprobe_reads_h264_and_aac(self):
        url = f"http://127.0.0.1:{self.m.http_port}/live/cam1/360p.m3u8"
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                            "stream=codec_name,profile,width,height", "-of", "json", url],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        streams = json.loads(r.stdout)["streams"]
        video = [s for s in streams if s.get("codec_name") == "h264"]
        self.assertTrue(video, streams)
        self.assertEqual((video[0]["width"], video[0]["height"]), (640, 360))
        self.assertEqual(video[0]["profile"], "Main")
        url = f"http://127.0.0.1:{self.m.http_port}/live/cam1/audio.m3u8"
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                            "-of", "json", url], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["streams"][0]["codec_name"], "aac")

    def test_every_segment_starts_independent(self):
        _, _, body = self.m.origin("GET", "/live/cam1/360p.m3u8")
        text = body.decode()
        parts = re.findall(r'#EXT-X-PART:DURATION=[0-9.]+,URI="360p/part(\d+)\.(\d+)\.m4s"(,INDEPENDENT=YES)?',
                           text)
        self.assertTrue(parts, text)
        for msn, index, independent in parts:
            if index == "0":
                self.assertTrue(independent, f"part {msn}.0 is not independent:\n{text}")
        # Segments follow the 500 ms keyframe cadence, not the feed's 1 s GOPs.
        durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
        self.assertTrue(durations and max(durations) < 0.75, durations)

    def test_chain_in_api_and_metrics(self):
        def chain():
            _, _, doc = self.m.http("GET", "/api/v1/streams/cam1")
            t = doc.get("transcode") if isinstance(doc, dict) else None
            return t if t and t.get("frames_out", 0) > 0 else None
        t = wait_for(chain, "transcode stats in GET /api/v1/streams/cam1", deadline_s=30)
        self.assertEqual(t["decoder"], "avdec_h265")
        self.assertEqual(t["encoder"], "x264enc")
        self.assertEqual(t["hardware"], "cpu")
        self.assertGreaterEqual(t["latency_p99_ms"], t["latency_p50_ms"])
        _, _, metrics = self.m.http("GET", "/metrics")
        self.assertRegex(metrics, r'mirror_transcode_info\{[^}]*decoder="avdec_h265"[^}]*\} 1')
        self.assertRegex(metrics, r'mirror_transcode_frames_total\{[^}]*kind="out"[^}]*\} [1-9]')

    def test_max_sessions_refuses_with_capacity_full(self):
        status, _, doc = self.m.http("POST", "/api/v1/streams", {"id": "cam2"})
        self.assertEqual(status, 429, doc)
        self.assertEqual(doc["code"], "CAPACITY_FULL")
        self.assertIn("transcoding.max_sessions", doc["message"])
        # The refusal cost nothing else.
        status, _, _ = self.m.http("GET", "/api/v1/streams/cam1")
        self.assertEqual(status, 200)
        self.assertIn("refused, 1 transcoding sessions already", self.m.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
