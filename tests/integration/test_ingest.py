# SPDX-License-Identifier: LGPL-2.1-or-later
"""Ingest end to end: real SRT callers (GStreamer srtsink, ffmpeg,
srt-live-transmit) and a real RTP sender into one mirrord on a real
redis-server; bad callers refused while the others keep flowing; a caller
that drops and comes back continues its stream, and one killed without
closing is replaced by the next caller once it has gone silent."""

import math
import os
import re
import signal
import socket
import subprocess
import tempfile
import unittest

from mirrortest import SLOWDOWN, Mirrord, Process, Redis, free_port, wait_for

SECRET = "correct horse battery"
MEDIA = tempfile.mkdtemp(prefix="mirror-media-")


def make_ts(name, video_enc, parse):
    """A short MPEG-TS file with video and AAC audio, made by GStreamer."""
    path = os.path.join(MEDIA, name)
    subprocess.run(
        ["gst-launch-1.0", "-q",
         "videotestsrc", "num-buffers=50", "pattern=ball", "!",
         "video/x-raw,width=320,height=240,framerate=25/1", "!"] + video_enc +
        ["!", parse, "!", "mpegtsmux", "name=mux", "alignment=7", "!", "filesink", f"location={path}",
         "audiotestsrc", "num-buffers=94", "!", "audio/x-raw,rate=48000,channels=2", "!",
         "avenc_aac", "!", "aacparse", "!", "mux."],
        check=True, timeout=120, stdin=subprocess.DEVNULL, capture_output=True)
    return path


def srt_uri(port, stream_id, passphrase=None):
    uri = f"srt://127.0.0.1:{port}?streamid={stream_id}"
    return uri + (f"&passphrase={passphrase}" if passphrase else "")


def ffmpeg_sender(path, port, stream_id, passphrase=None):
    uri = srt_uri(port, stream_id, passphrase) + "&pkt_size=1316"
    return Process(["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
                    "-i", path, "-c", "copy", "-f", "mpegts", uri], log_name="ffmpeg")


def slt_sender(path, port, stream_id, passphrase=None):
    """srt-live-transmit fed by a paced ffmpeg through a pipe."""
    uri = srt_uri(port, stream_id, passphrase)
    return Process(["sh", "-c",
                    f"exec ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i '{path}' -c copy "
                    f"-f mpegts - | exec srt-live-transmit -q file://con '{uri}'"],
                   log_name="slt", group=True)


def srtsink_sender(port, stream_id, passphrase=None):
    """A live HEVC + AAC encode straight into GStreamer's srtsink."""
    extra = [f"passphrase={passphrase}"] if passphrase else []
    return Process(
        ["gst-launch-1.0", "-q",
         "videotestsrc", "is-live=true", "pattern=ball", "!",
         "video/x-raw,width=320,height=240,framerate=25/1", "!",
         "x265enc", "speed-preset=ultrafast", "tune=zerolatency", "key-int-max=25", "!",
         "h265parse", "!", "mpegtsmux", "name=mux", "alignment=7", "!",
         "srtsink", f"uri=srt://127.0.0.1:{port}?streamid={stream_id}", "latency=120"] + extra +
        ["audiotestsrc", "is-live=true", "!", "audio/x-raw,rate=48000,channels=2", "!",
         "avenc_aac", "!", "aacparse", "!", "mux."],
        log_name="srtsink")


def h264_srtsink(uri, log_name):
    """A live H.264 encode, video only, into GStreamer's srtsink at uri."""
    return Process(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!",
         "video/x-raw,width=320,height=240,framerate=25/1", "!",
         "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25", "!",
         "h264parse", "!", "mpegtsmux", "alignment=7", "!", "srtsink", f"uri={uri}"],
        log_name=log_name)


def rtp_sender(port):
    # x265's CRA keyframes carry no parameter sets for rtph265pay to repeat:
    # ask the encoder to repeat them, so a late joiner can parse.
    return Process(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!",
         "video/x-raw,width=320,height=240,framerate=25/1", "!",
         "x265enc", "speed-preset=ultrafast", "tune=zerolatency", "key-int-max=25",
         "option-string=repeat-headers=1:open-gop=0", "!",
         "rtph265pay", "config-interval=-1", "ssrc=305419896", "pt=96", "!",
         "udpsink", "host=127.0.0.1", f"port={port}"],
        log_name="rtp")


def metric(text, name, **labels):
    """The value of one series in a Prometheus text page, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


class Ingest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hevc = make_ts("hevc_aac.ts", ["x265enc", "speed-preset=ultrafast", "key-int-max=25"],
                           "h265parse")
        cls.h264 = make_ts("h264_aac.ts", ["x264enc", "speed-preset=ultrafast", "key-int-max=25"],
                           "h264parse")
        cls.redis = Redis()
        cls.srt_port = free_port(socket.SOCK_DGRAM)
        cls.m = Mirrord(env={
            "MIRROR_REDIS_ADDR": f"127.0.0.1:{cls.redis.port}",
            "MIRROR_INGESTION_SRT_PORT": str(cls.srt_port),
            "MIRROR_INGESTION_SRT_ALLOW_LIST": "cam*,rtp-*,junk",
            # Ingest is under test: package the feeds as they come.
            "MIRROR_TRANSCODING_ENABLED": "false",
            "MIRROR_INGESTION_SRT_STREAM_PASSPHRASES":
                f"cam-secure={SECRET},cam-locked={SECRET} too",
            # Stretched by SLOWDOWN: the caller started again after a
            # SIGKILL must be back within it on a busy box.
            "MIRROR_INGESTION_RECONNECT_WINDOW": f"{math.ceil(5 * SLOWDOWN)}s",
        })
        cls.rtp_port = int(cls.m.env["MIRROR_INGESTION_RTP_PORT"])
        cls.senders = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.senders:
            s.stop(signal.SIGKILL)
        code = cls.m.stop()
        cls.redis.stop()
        assert code == 0, cls.m.output()

    def start(self, sender):
        self.senders.append(sender)
        return sender

    def stream(self, stream_id):
        status, _, doc = self.m.http("GET", f"/api/v1/streams/{stream_id}")
        return doc if status == 200 else None

    def wait_live(self, stream_id, codec):
        def flowing():
            doc = self.stream(stream_id)
            return (doc and doc["state"] == "live" and doc["stats"]["codec"] == codec
                    and doc["stats"]["bitrate_bps"] > 0 and doc)
        return wait_for(flowing, f"stream {stream_id} live with {codec}", deadline_s=60)

    def metrics(self):
        return self.m.http("GET", "/metrics")[2]

    def test_1_four_peers_then_bad_callers(self):
        self.start(srtsink_sender(self.srt_port, "cam1"))
        self.start(ffmpeg_sender(self.h264, self.srt_port, "cam2"))
        self.start(slt_sender(self.hevc, self.srt_port, "cam3"))
        self.start(rtp_sender(self.rtp_port))
        self.start(ffmpeg_sender(self.hevc, self.srt_port, "cam-secure", SECRET))

        docs = {
            "cam1": self.wait_live("cam1", "h265"),
            "cam2": self.wait_live("cam2", "h264"),
            "cam3": self.wait_live("cam3", "h265"),
            "rtp-305419896": self.wait_live("rtp-305419896", "h265"),
            "cam-secure": self.wait_live("cam-secure", "h265"),
        }
        for stream_id, doc in docs.items():
            self.assertEqual(doc["stats"]["width"], 320, stream_id)
            self.assertEqual(doc["stats"]["height"], 240, stream_id)
            self.assertTrue(doc["local"])
        self.assertTrue(docs["cam1"]["peer"].startswith("127.0.0.1:"), docs["cam1"])
        # All of them registered in the real Redis.
        members = set(self.redis.command("SMEMBERS", "mirror:streams"))
        self.assertTrue(set(docs) <= members, members)

        # Wrong and missing passphrase, an id outside the allow-list, a second
        # caller for a live id: each refused at the handshake and counted.
        self.start(ffmpeg_sender(self.hevc, self.srt_port, "cam-locked", "wrong passphrase!"))
        self.start(slt_sender(self.hevc, self.srt_port, "cam-locked"))
        self.start(slt_sender(self.h264, self.srt_port, "intruder"))
        self.start(ffmpeg_sender(self.h264, self.srt_port, "cam2"))

        def rejected(stream_id, reason):
            return metric(self.metrics(), "mirror_stream_ingestion_errors_total",
                          stream=stream_id, reason=reason) > 0
        wait_for(lambda: rejected("intruder", "not-allowed"), "intruder refused")
        wait_for(lambda: rejected("cam2", "already-live"), "second cam2 caller refused")
        wait_for(lambda: rejected("cam-locked", "bad-passphrase"), "bad passphrases refused")
        self.assertIsNone(self.stream("intruder"))
        self.assertIsNone(self.stream("cam-locked"))
        self.assertIn("intruder", self.m.output())

        # libsrt's own figures reach /metrics.
        text = self.metrics()
        self.assertIn('mirror_srt_rtt_ms{stream="cam1"}', text)
        self.assertGreater(metric(text, "mirror_srt_receive_rate_mbps", stream="cam1"), 0)
        self.assertGreater(metric(text, "mirror_stream_ingestion_bytes_total", stream="cam2"), 0)
        # The ring's buffer latency: every chunk counted, each in some bucket.
        chunks = metric(text, "mirror_ingest_buffer_latency_seconds_count", stream="cam2")
        self.assertGreater(chunks, 0)
        self.assertEqual(metric(text, "mirror_ingest_buffer_latency_seconds_bucket", stream="cam2",
                                le="+Inf"), chunks)

        # A TS-less payload fails only its own stream.
        pacer = ("import os, sys, time\n"
                 "while True:\n"
                 "    sys.stdout.buffer.write(os.urandom(1316 * 10)); sys.stdout.flush(); time.sleep(0.02)\n")
        self.start(Process(["sh", "-c", f"python3 -c '{pacer}' | exec srt-live-transmit -q file://con "
                            f"'{srt_uri(self.srt_port, 'junk')}'"], log_name="junk", group=True))
        doc = wait_for(lambda: (lambda d: d and d["state"] == "error" and d)(self.stream("junk")),
                       "junk stream in error", deadline_s=60)
        self.assertIn("MPEG-TS", doc["message"])

        for stream_id in docs:
            self.assertEqual(self.stream(stream_id)["state"], "live", stream_id)
        self.assertEqual(self.stream("cam2")["peer"], docs["cam2"]["peer"])

    def test_2_reconnect_within_window_continues(self):
        sender = self.start(ffmpeg_sender(self.h264, self.srt_port, "cam-re"))
        first = self.wait_live("cam-re", "h264")
        sender.stop(signal.SIGKILL)
        wait_for(lambda: metric(self.metrics(), "mirror_stream_ingestion_active", stream="cam-re") == 0,
                 "disconnect seen")
        self.start(ffmpeg_sender(self.h264, self.srt_port, "cam-re"))
        wait_for(lambda: metric(self.metrics(), "mirror_connection_reconnects_total",
                                stream="cam-re") == 1, "one reconnect counted")
        again = self.wait_live("cam-re", "h264")
        self.assertEqual(again["created_at"], first["created_at"])
        self.assertIn("reconnected", self.m.output())

    def test_2b_passphrase_rotation_spares_the_live_caller(self):
        old, new = "rotate me first", "rotated secret two"
        put = lambda body, sid="cam-rot": self.m.http("PUT", f"/api/v1/streams/{sid}/passphrase",
                                                      body=body)
        status, _, doc = put({"passphrase": "short"})
        self.assertEqual(status, 400)
        self.assertIn("5 characters", doc["message"])
        self.assertEqual(put({"passphrase": old}, sid="-bad")[0], 400)
        self.assertEqual(put({})[0], 400)
        status, _, doc = put({"passphrase": old})
        self.assertEqual((status, doc["passphrase"]), (200, "set"), doc)

        live = self.start(ffmpeg_sender(self.h264, self.srt_port, "cam-rot", old))
        self.wait_live("cam-rot", "h264")
        self.assertEqual(put({"passphrase": new})[0], 200)
        # The live caller goes on: its bytes keep coming after the rotation.
        sent = metric(self.metrics(), "mirror_stream_ingestion_bytes_total", stream="cam-rot")
        wait_for(lambda: metric(self.metrics(), "mirror_stream_ingestion_bytes_total",
                                stream="cam-rot") > sent + 100000, "the live caller streaming on")
        self.assertEqual(self.stream("cam-rot")["state"], "live")

        # Once it leaves, the old passphrase is refused and the new one let in.
        live.stop(signal.SIGKILL)
        wait_for(lambda: metric(self.metrics(), "mirror_stream_ingestion_active",
                                stream="cam-rot") == 0, "disconnect seen")
        refused = metric(self.metrics(), "mirror_stream_ingestion_errors_total", stream="cam-rot",
                         reason="bad-passphrase")
        stale = self.start(ffmpeg_sender(self.h264, self.srt_port, "cam-rot", old))
        wait_for(lambda: metric(self.metrics(), "mirror_stream_ingestion_errors_total",
                                stream="cam-rot", reason="bad-passphrase") > refused,
                 "the old passphrase refused")
        stale.stop(signal.SIGKILL)
        self.start(ffmpeg_sender(self.h264, self.srt_port, "cam-rot", new))
        wait_for(lambda: metric(self.metrics(), "mirror_stream_ingestion_active",
                                stream="cam-rot") == 1, "the new passphrase let in")
        self.assertNotIn(old, self.m.output())
        self.assertNotIn(new, self.m.output())

    def test_3_rtp_noise_makes_no_stream(self):
        unmapped = bytes([0x80, 120, 0, 1, 0, 0, 0, 1, 0, 0, 0x12, 0x34]) + b"x" * 100
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(20):
                s.sendto(b"this is not RTP", ("127.0.0.1", self.rtp_port))
                s.sendto(unmapped, ("127.0.0.1", self.rtp_port))

        def counted():
            text = self.metrics()
            return (metric(text, "mirror_rtp_packets_dropped_total", reason="not-rtp") >= 20 and
                    metric(text, "mirror_rtp_packets_dropped_total",
                           reason="unmapped-payload-type") >= 20)
        wait_for(counted, "non-RTP and unmapped datagrams counted")
        self.assertIsNone(self.stream("rtp-4660"))

    def test_4_pull_from_a_remote_listener(self):
        port = free_port(socket.SOCK_DGRAM)
        self.start(h264_srtsink(f"srt://:{port}?mode=listener", "listener"))
        status, _, doc = self.m.http("POST", "/api/v1/streams", {
            "id": "pulled", "uri": f"srt://127.0.0.1:{port}?mode=caller&streamid=pulled"})
        self.assertEqual(status, 201, doc)
        self.wait_live("pulled", "h264")
        self.assertEqual(self.m.http("DELETE", "/api/v1/streams/pulled")[0], 204)

    def test_5_a_video_only_feed_drains_on_delete(self):
        # No audio in the feed: the audio branch of its pipeline is never fed,
        # and must not hold back the EOS that stops the stream.
        self.start(h264_srtsink(srt_uri(self.srt_port, "cam-video"), "video-only"))
        self.wait_live("cam-video", "h264")
        self.assertEqual(self.m.http("DELETE", "/api/v1/streams/cam-video")[0], 204)
        self.assertIn("stream cam-video: stopped", self.m.output())
        self.assertNotIn("stream cam-video: no EOS in time", self.m.output())
        # Every stream's source joined mirrord's own SRT and RTP hubs as they
        # are, without a warning about options its URI never named.
        self.assertNotIn("the options of this user are ignored", self.m.output())
        self.assertNotIn("ignoring bind address", self.m.output())


class SilentCaller(unittest.TestCase):
    """An encoder killed without closing its connection (SIGKILL) and started
    again: libsrt would take its peer idle timeout (60 s here) to notice the
    old connection is gone, so without more the new caller would be refused
    as already-live. Once the old caller has sent nothing for 1.5 s, the new
    one takes its place and the stream goes on."""

    def test_a_new_caller_replaces_a_silent_one(self):
        path = make_ts("h264_swap.ts", ["x264enc", "speed-preset=ultrafast", "key-int-max=25"],
                       "h264parse")
        m = Mirrord(env={"MIRROR_TRANSCODING_ENABLED": "false",
                         "MIRROR_INGESTION_SRT_PEER_IDLE_TIMEOUT": "60s",
                         "MIRROR_INGESTION_RECONNECT_WINDOW": "60s"})
        senders = []
        try:
            def state():
                status, _, doc = m.http("GET", "/api/v1/streams/cam-swap")
                return doc["state"] if status == 200 else None
            senders.append(ffmpeg_sender(path, m.srt_port, "cam-swap"))
            wait_for(lambda: state() == "live", "cam-swap live", deadline_s=60)
            senders[0].stop(signal.SIGKILL)
            # The heartbeat says stalled after 3 s without media: by then the
            # caller has been silent long enough to be replaced.
            wait_for(lambda: state() == "stalled", "cam-swap stalled")
            senders.append(ffmpeg_sender(path, m.srt_port, "cam-swap"))
            metrics = lambda: m.http("GET", "/metrics")[2]
            wait_for(lambda: metric(metrics(), "mirror_connection_reconnects_total",
                                    stream="cam-swap") == 1, "the new caller taken in")
            wait_for(lambda: state() == "live", "cam-swap live again")
            self.assertIn("takes its place", m.output())
            self.assertEqual(metric(metrics(), "mirror_stream_ingestion_errors_total",
                                    stream="cam-swap", reason="already-live"), 0)
        finally:
            for s in senders:
                s.stop(signal.SIGKILL)
            code = m.stop()
        self.assertEqual(code, 0, m.output()[-4000:])


if __name__ == "__main__":
    unittest.main(verbosity=2)
