#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Time-shifted playback and clips from mirrord's DVR recording.

An H.264 + AAC feed plays into mirrord's default pipeline (360p and audio)
for about 20 s. Then, on the stream's own paths:

- a past range (?start=&end=) is a VOD multivariant playlist and VOD media
  playlists that pass the time-shifted rules (llhls.dvr_violations), whose
  pieces of the period files are the recorded bytes (and the period files
  serve Range requests over HTTP/1.1 and HTTP/3), and which ffprobe reads
  with as many frames as they list;
- an open range (?start= only) is an EVENT playlist that grows: a blocking
  reload for the next segment is answered once the recorder has it, and a
  delta update passes the rules;
- clip.mp4 of a range is one MP4 with both tracks whose duration ffprobe
  reads as the range's, within a recorded segment at each end, and which
  serves byte ranges;
- malformed, reversed, over-long and future ranges are 400 with a JSON
  message naming the parameter; ranges with nothing recorded are 404, and
  so is a period file that does not exist; a byte range past a file's end
  is 416;
- ffmpeg (what ffplay runs, without a window) decodes a VOD range and an
  EVENT window, and seeks 6 s into a clip;
- after the feed has stopped and the stream has left the live store, the
  same VOD range still plays; when it comes back, a range over the outage
  lists a discontinuity there."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from llhls import MediaPlaylist, dvr_violations, multivariant_violations
from mirrortest import BUILD_ROOT, Mirrord, wait_for
from test_dvr import segments
from test_feeds import audio, gst_feed, video

STREAM = "shift"
H3GET = os.path.join(BUILD_ROOT, "tools", "h3", "mirror-h3get")
# A piece of a period file, as time-shifted playlists name them.
PIECE_RE = re.compile(r"(([\w-]+)/dvr(\d+)-(\d+)-(\d+)\.(?:m4s|mp4))")


def pieces(text):
    """(uri, period file relative to the rendition folders, offset, length)
    of the init and every segment a playlist names, in order."""
    return [(m.group(1), f"{m.group(2)}/{m.group(3)}", int(m.group(4)), int(m.group(5)))
            for m in PIECE_RE.finditer(text)]


def log(msg):
    print(f"test_dvr_playback: {msg}", file=sys.stderr, flush=True)


class TimeShift(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="mirror-dvr-play-")
        cls.m = Mirrord(env={"MIRROR_STORAGE_LOCAL_CACHE_DIR": cls.state})
        cls.feed = gst_feed(cls.m.srt_port, STREAM, video(), audio())
        try:
            # 16 s of both renditions recorded.
            wait_for(lambda: len(segments(cls.state, "360p", STREAM)) >= 32
                     and len(segments(cls.state, "audio", STREAM)) >= 32,
                     "16 s recorded per rendition", deadline_s=90)
        except BaseException:
            print(cls.m.output()[-4000:], file=sys.stderr)
            cls.feed.stop()
            cls.m.stop()
            shutil.rmtree(cls.state, ignore_errors=True)
            raise
        first = segments(cls.state, "360p", STREAM)[0]["wallclock"] / 1e9
        # A range inside what is recorded, its ends not on segment bounds.
        cls.start = round(first + 2.3, 3)
        cls.end = round(first + 12.7, 3)

    @classmethod
    def tearDownClass(cls):
        cls.feed.stop()
        code = cls.m.stop()
        shutil.rmtree(cls.state, ignore_errors=True)
        assert code == 0, f"mirrord exited with {code}"

    def get(self, path, **kw):
        return self.m.origin("GET", path, **kw)

    def vod(self, rendition):
        status, headers, body = self.get(
            f"/live/{STREAM}/{rendition}.m3u8?start={self.start}&end={self.end}")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/vnd.apple.mpegurl")
        return body.decode()

    def period_file(self, name):
        """The local file of "360p/1796566200"."""
        return os.path.join(self.state, "dvr", STREAM, name + ".cmf")

    # -- VOD ---------------------------------------------------------------

    def test_vod_playlists_follow_the_rules_and_cover_the_range(self):
        status, _, body = self.get(f"/live/{STREAM}/index.m3u8?start={self.start}&end={self.end}")
        self.assertEqual(status, 200, body)
        text = body.decode()
        self.assertEqual(multivariant_violations(text), [], text)
        query = re.search(r"360p\.m3u8\?(\S+)", text).group(1)
        self.assertIn(f'URI="audio.m3u8?{query}"', text)
        for rendition in ("360p", "audio"):
            text = self.vod(rendition)
            self.assertEqual(dvr_violations(text), [], text)
            pl = MediaPlaylist(text)
            self.assertIn("#EXT-X-PLAYLIST-TYPE:VOD", text)
            self.assertTrue(pl.ended)
            first, last = pl.segments[0], pl.segments[-1]
            # Starts at or before start (on an independent segment), ends at
            # or after end, within a recorded segment (0.5 s) each side.
            self.assertLessEqual(first.pdt, self.start + 0.01, text)
            self.assertGreater(first.pdt, self.start - 0.6, text)
            self.assertGreaterEqual(last.pdt + last.duration, self.end - 0.01, text)
            self.assertLess(last.pdt + last.duration, self.end + 0.6, text)
            log(f"{rendition}: {len(pl.segments)} segments, "
                f"{sum(s.duration for s in pl.segments):.2f} s for a {self.end - self.start:.1f} s range")

    def test_pieces_are_the_recorded_bytes(self):
        text = self.vod("360p")
        listed = pieces(text)
        self.assertGreater(len(listed), 2, text)
        self.assertNotIn("#EXT-X-BYTERANGE", text)
        for uri, name, offset, length in listed:
            status, headers, body = self.get(f"/live/{STREAM}/{uri}")
            self.assertEqual(status, 200, body[:200])
            with open(self.period_file(name), "rb") as f:
                f.seek(offset)
                self.assertEqual(body, f.read(length), uri)
            self.assertEqual(headers["content-type"],
                             "video/mp4" if uri.endswith(".mp4") else "video/iso.segment")
        # The period file whole, in Range requests, over HTTP/1.1 and HTTP/3;
        # a range within a piece; a range past the end.
        uri, name, offset, length = listed[1]
        whole = f"/live/{STREAM}/{name.replace('/', '/dvr')}.mp4"
        size = os.path.getsize(self.period_file(name))
        with open(self.period_file(name), "rb") as f:
            f.seek(offset)
            expected = f.read(length)
        status, headers, body = self.get(whole, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
        self.assertEqual(status, 206, body[:200])
        self.assertEqual(body, expected)
        self.assertEqual(headers["content-range"], f"bytes {offset}-{offset + length - 1}/{size}")
        self.assertEqual(headers["accept-ranges"], "bytes")
        status, headers, body = self.get(f"/live/{STREAM}/{uri}", headers={"Range": "bytes=10-19"})
        self.assertEqual((status, body), (206, expected[10:20]))
        self.assertEqual(headers["content-range"], f"bytes 10-19/{length}")
        url = f"https://127.0.0.1:{self.m.https_port}{whole}"
        r = subprocess.run([H3GET, "--json", "-H", f"Range: bytes={offset}-{offset + length - 1}",
                            "-o", os.path.join(self.state, "h3.bin"), url],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        doc = json.loads(r.stdout)
        self.assertEqual((doc.get("error"), doc.get("status"), doc.get("protocol")),
                         ("", 206, "h3"), r.stdout + r.stderr)
        with open(os.path.join(self.state, "h3.bin"), "rb") as g:
            self.assertEqual(g.read(), expected)
        # The period may still be recording: the file grows while the test
        # runs (slow builds see it), so "past the end" is well past it.
        size = os.path.getsize(self.period_file(name))
        past = size + 10_000_000
        status, headers, _ = self.get(whole, headers={"Range": f"bytes={past}-"})
        self.assertEqual(status, 416)
        self.assertRegex(headers["content-range"], r"^bytes \*/[0-9]+$")
        self.assertGreaterEqual(int(headers["content-range"].split("/")[1]), size)
        # A piece past the file's end does not exist.
        status, _, _ = self.get(f"/live/{STREAM}/{name.replace('/', '/dvr')}-{past}-100.m4s")
        self.assertEqual(status, 404)

    def recorded_frames(self, rendition):
        """Frames in the recorded bytes a VOD playlist lists, read by ffprobe
        from the period files here (the init, then each piece)."""
        text = self.vod(rendition)
        local = os.path.join(self.state, f"listed-{rendition}.mp4")
        with open(local, "wb") as out:
            for _, name, offset, length in pieces(text):
                with open(self.period_file(name), "rb") as f:
                    f.seek(offset)
                    out.write(f.read(length))
        probe = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets",
             "-of", "json", local], capture_output=True, text=True, timeout=60,
            check=True).stdout)["streams"]
        return int(probe[0]["nb_read_packets"])

    def test_ffprobe_reads_every_listed_frame(self):
        text = self.vod("360p")
        listed = sum(s.duration for s in MediaPlaylist(text).segments)
        url = (f"http://127.0.0.1:{self.m.http_port}/live/{STREAM}/index.m3u8"
               f"?start={self.start}&end={self.end}")
        probe = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-count_packets", "-show_entries",
             "stream=codec_type,codec_name,nb_read_packets", "-of", "json", url],
            capture_output=True, text=True, timeout=120, check=True).stdout)["streams"]
        kinds = {s["codec_type"]: s for s in probe}
        self.assertEqual(set(kinds), {"video", "audio"}, probe)
        frames = int(kinds["video"]["nb_read_packets"])
        recorded = self.recorded_frames("360p")
        log(f"ffprobe: {frames} video frames over {listed:.2f} s listed, {recorded} recorded")
        self.assertEqual(frames, recorded)
        # The transcoder may drop a frame or two when the machine is busy.
        self.assertLess(abs(frames - listed * 30), 15, (frames, listed))

    # -- EVENT -------------------------------------------------------------

    def test_open_range_is_an_event_playlist_that_grows(self):
        path = f"/live/{STREAM}/360p.m3u8?start={self.start}"
        status, _, body = self.get(path)
        self.assertEqual(status, 200, body)
        text = body.decode()
        self.assertEqual(dvr_violations(text), [], text)
        self.assertIn("#EXT-X-PLAYLIST-TYPE:EVENT", text)
        self.assertNotIn("#EXT-X-ENDLIST", text)
        pl = MediaPlaylist(text)
        n = len(pl.segments)
        # The next segment: held until the recorder has written it (a 6 s
        # group of 500 ms segments), then listed after the same ones.
        status, _, body = self.get(f"{path}&_HLS_msn={n}", timeout=60)
        self.assertEqual(status, 200, body)
        grown = body.decode()
        self.assertTrue(grown.startswith(text.split("#EXT-X-PROGRAM-DATE-TIME")[0]), grown)
        self.assertEqual(len(MediaPlaylist(grown).segments), n + 1, grown)
        self.assertEqual([s.uri for s in MediaPlaylist(grown).segments[:n]], [s.uri for s in pl.segments])
        # Far ahead is refused; a delta update follows the rules.
        status, _, body = self.get(f"{path}&_HLS_msn={n + 5}")
        self.assertEqual(status, 400, body)
        status, _, body = self.get(f"{path}&_HLS_skip=YES")
        self.assertEqual(status, 200, body)
        self.assertEqual(dvr_violations(body.decode()), [], body.decode())

    # -- clips -------------------------------------------------------------

    def test_clip_is_one_mp4_of_the_range(self):
        path = f"/live/{STREAM}/clip.mp4?start={self.start}&end={self.end}"
        status, headers, body = self.get(path)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers["content-type"], "video/mp4")
        self.assertEqual(headers["accept-ranges"], "bytes")
        self.assertEqual(int(headers["content-length"]), len(body))
        clip = os.path.join(self.state, "clip.mp4")
        with open(clip, "wb") as f:
            f.write(body)
        probe = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
             "format=duration:stream=codec_type,nb_read_frames,duration", "-of", "json", clip],
            capture_output=True, text=True, timeout=60, check=True).stdout)
        duration = float(probe["format"]["duration"])
        kinds = {s["codec_type"]: s for s in probe["streams"]}
        log(f"clip: {len(body)} bytes, {duration:.2f} s for a {self.end - self.start:.1f} s range, "
            f"{probe['streams']}")
        # The range, from the recorded segment it starts in to the one it
        # ends in (500 ms each, a little more where a busy encoder put its
        # keyframe late), the file's duration spanning both tracks, whose
        # segment edges differ by up to an audio frame group.
        span = self.end - self.start
        self.assertGreater(duration, span - 0.1, probe)
        self.assertLess(duration, span + 1.6, probe)
        self.assertEqual(set(kinds), {"video", "audio"})
        # The same segments as the VOD playlist of the range: the same frames.
        self.assertEqual(int(kinds["video"]["nb_read_frames"]), self.recorded_frames("360p"))
        # A byte range of it is those bytes.
        status, headers, part = self.get(path, headers={"Range": "bytes=100-1099"})
        self.assertEqual(status, 206)
        self.assertEqual(part, body[100:1100])
        self.assertEqual(headers["content-range"], f"bytes 100-1099/{len(body)}")

    # -- errors ------------------------------------------------------------

    def test_bad_ranges_are_400_and_missing_ones_404(self):
        now = time.time()
        bad = {
            "start=noon": "start",
            f"start={self.start}&end=tomorrow": "end",
            f"start={self.end}&end={self.start}": "end",
            f"start={now - 90000}&end={now - 10}": "end",
            f"start={now + 3600}": "start",
            f"end={self.end}": "start",
        }
        for query, parameter in bad.items():
            for obj in ("index.m3u8", "360p.m3u8", "clip.mp4"):
                status, headers, body = self.get(f"/live/{STREAM}/{obj}?{query}")
                self.assertEqual(status, 400, (obj, query, body))
                self.assertEqual(headers["content-type"], "application/json")
                doc = json.loads(body)
                self.assertEqual(doc["parameter"], parameter, (obj, query, doc))
                self.assertIn(STREAM, doc["error"])
        status, _, body = self.get(f"/live/{STREAM}/clip.mp4?start={self.start}")
        self.assertEqual((status, json.loads(body)["parameter"]), (400, "end"))
        # Before anything was recorded, and a stream that never was.
        for path in (f"/live/{STREAM}/360p.m3u8?start={now - 7200}&end={now - 7100}",
                     f"/live/{STREAM}/index.m3u8?start={now - 7200}&end={now - 7100}",
                     f"/live/nosuch/index.m3u8?start={self.start}&end={self.end}",
                     f"/live/{STREAM}/clip.mp4?start={now - 7200}&end={now - 7100}",
                     f"/live/{STREAM}/360p/dvr12345.mp4"):
            status, _, body = self.get(path)
            self.assertEqual(status, 404, (path, body))

    # -- after the stream -------------------------------------------------

    def ffmpeg_frames(self, *args):
        """Video frames ffmpeg decodes from ARGS (inputs and options) in 2 s."""
        r = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", *args, "-t", "2", "-map", "0:v",
                            "-f", "null", "-", "-progress", "pipe:1"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        frames = [int(v) for v in re.findall(r"^frame=(\d+)$", r.stdout, re.M)]
        return frames[-1] if frames else 0

    def test_ffmpeg_plays_ranges_and_seeks_in_clips(self):
        # What ffplay runs, without a window. FFmpeg 5.1's HLS demuxer cannot
        # seek in any fMP4 playlist (its own -hls_segment_type fmp4 output
        # included: 0 frames after -ss), so the ranges play from their start
        # here; hls.js seeks in them (tests/e2e). The clip is one MP4: it seeks.
        for query in (f"start={self.start}&end={self.end}", f"start={self.start}"):
            url = f"http://127.0.0.1:{self.m.http_port}/live/{STREAM}/index.m3u8?{query}"
            frames = self.ffmpeg_frames("-i", url)
            log(f"ffmpeg, 2 s of ?{query}: {frames} frames decoded")
            self.assertGreaterEqual(frames, 50, query)
        clip = (f"http://127.0.0.1:{self.m.http_port}/live/{STREAM}/clip.mp4"
                f"?start={self.start}&end={self.end}")
        frames = self.ffmpeg_frames("-ss", "6", "-i", clip)
        log(f"ffmpeg, 2 s from 6 s into the clip: {frames} frames decoded")
        self.assertGreaterEqual(frames, 50)

    def test_zz_recording_outlives_the_stream(self):
        self.feed.stop()
        wait_for(lambda: self.get(f"/live/{STREAM}/360p.m3u8")[0] == 404,
                 "the stream gone from the live store", deadline_s=60)
        text = self.vod("360p")
        self.assertEqual(dvr_violations(text), [], text)
        status, _, _ = self.get(f"/live/{STREAM}/clip.mp4?start={self.start}&end={self.end}")
        self.assertEqual(status, 200)
        # The stream comes back: a range over the outage shows it as a
        # discontinuity, PDTs jumping only there.
        gone = time.time()
        TimeShift.feed = gst_feed(self.m.srt_port, STREAM, video(), audio())
        wait_for(lambda: segments(self.state, "360p", STREAM)[-1]["wallclock"] / 1e9 > gone + 4,
                 "4 s recorded after the outage", deadline_s=90)
        status, _, body = self.get(f"/live/{STREAM}/360p.m3u8?start={self.start}&end={gone + 4}")
        self.assertEqual(status, 200, body)
        text = body.decode()
        self.assertEqual(dvr_violations(text), [], text)
        self.assertIn("#EXT-X-DISCONTINUITY\n", text)
        log("a range over the outage: " + ", ".join(
            f"{s.pdt:.1f}+{s.duration:.1f}{' (discontinuity)' if s.discontinuity else ''}"
            for s in MediaPlaylist(text).segments))


if __name__ == "__main__":
    unittest.main()
