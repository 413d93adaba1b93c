#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The admin API's Server-Sent Events (GET /api/v1/events) and the
operator's controls they report, against a real mirrord:

- a client gets `retry`, then a `snapshot` with every stream, then an
  `update` each second carrying only what changed (a stream's bytes move,
  its id and state are not repeated while they stand still);
- a test pattern started over REST arrives as `stream-added`; a pause as
  `state-changed` (live -> paused) and the figures' update; a DELETE as
  `stream-removed`;
- a recorded stream's DVR window comes in the updates (storage.dvr on), and
  its viewers per protocol (connections that asked for its objects in the
  last 5 s);
- POST /api/v1/streams/{id}/drop-caller closes a real SRT caller (an
  encoder in gst-launch-1.0): `state-changed` to reconnecting, an `alarm`
  is not raised for it, and a new caller within the reconnect window makes
  it live again; a stream without a caller answers 409, an unknown one 404;
- GET /api/v1/streams/{id}/thumbnail.jpg of a transcoded stream: 503 with
  Retry-After until the transcoder has taken its first frame, then a
  320-pixel JPEG that changes as the picture moves; 409 for a stream that
  is not transcoded, 404 for an unknown one;
- with server.admin_token set, controls without the token answer 401 and
  change nothing, while the event stream stays readable;
- several clients at once get the same events; a client that goes away is
  forgotten (the next update still reaches the others)."""

import http.client
import json
import sys
import tempfile
import threading
import time
import unittest

from mirrortest import Mirrord, log_on_failure, wait_for
from test_hls import srt_feed

TOKEN = "console-test-token-0123456789"


def log(msg):
    print(f"test_events: {msg}", file=sys.stderr, flush=True)


class Events:
    """One SSE client: a thread reading events into a list."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/v1/events", headers={"Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        self.headers = dict(self.resp.getheaders())
        self.events = []  # (name, data) in order; retry lines as ("retry", value)
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        name, data = None, []
        try:
            while True:
                line = self.resp.readline()  # chunked framing removed
                if not line:
                    break
                line = line.decode().rstrip("\n")
                if line == "":
                    if name or data:
                        with self.lock:
                            self.events.append((name or "message",
                                                json.loads("\n".join(data)) if data else None))
                    name, data = None, []
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line.startswith("retry: "):
                    with self.lock:
                        self.events.append(("retry", int(line[7:])))
        except (OSError, ValueError, AttributeError):  # closed by close()
            pass
        self.closed = True

    def seen(self, name=None, where=lambda d: True):
        with self.lock:
            return [d for n, d in self.events if (name is None or n == name) and where(d)]

    def wait(self, name, where=lambda d: True, what=None, deadline_s=None):
        return wait_for(lambda: self.seen(name, where), what or f"event {name}",
                        deadline_s=deadline_s)[-1]

    def close(self):
        self.conn.close()


def stream_delta(update, sid):
    return next((s for s in update["streams"] if s["id"] == sid), None)


class EventStream(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.dvr_dir = tempfile.TemporaryDirectory(prefix="mirror-events-")
        cls.m = Mirrord(env={"MIRROR_TRANSCODING_ENABLED": "false",
                             "MIRROR_INGESTION_RECONNECT_WINDOW": "30s",
                             "MIRROR_STORAGE_DVR_ENABLED": "true",
                             "MIRROR_STORAGE_LOCAL_CACHE_DIR": cls.dvr_dir.name})

    @classmethod
    def tearDownClass(cls):
        code = cls.m.stop()
        cls.dvr_dir.cleanup()
        assert code == 0, f"mirrord exited with {code}:\n{cls.m.output()[-4000:]}"

    def test_snapshot_updates_and_events(self):
        with log_on_failure(self.m):
            self.m.create_testsrc("tiles1")
            ev = Events(self.m.admin_port)
            other = Events(self.m.admin_port)
            try:
                self.assertEqual(ev.resp.status, 200)
                self.assertTrue(ev.headers["Content-Type"].startswith("text/event-stream"),
                                ev.headers)
                self.assertEqual(ev.headers.get("Cache-Control"), "no-store")
                snap = ev.wait("snapshot")
                self.assertEqual(ev.seen()[0], 1000, "retry first")  # retry: 1000
                ids = [s["id"] for s in snap["streams"]]
                self.assertIn("tiles1", ids)
                tile = next(s for s in snap["streams"] if s["id"] == "tiles1")
                for key in ("state", "node_id", "stats", "pipeline", "uptime_ms"):
                    self.assertIn(key, tile)
                self.assertIn("http_port", snap["origin"])

                # Updates carry what moved, not what stood still.
                def moved(u):
                    d = stream_delta(u, "tiles1")
                    return d is not None and "stats" in d and "state" not in d
                u = ev.wait("update", moved, "an update where only figures moved")
                self.assertNotIn("node_id", stream_delta(u, "tiles1"))

                # A new stream, a pause, a delete: each as it happens.
                self.m.create_testsrc("tiles2")
                added = ev.wait("stream-added", lambda d: d["id"] == "tiles2")
                self.assertIn("stats", added)
                status, _, _ = self.m.http("POST", "/api/v1/streams/tiles1/pause")
                self.assertEqual(status, 200)
                ch = ev.wait("state-changed", lambda d: d["id"] == "tiles1" and d["to"] == "paused")
                self.assertEqual(ch["from"], "live")
                ev.wait("update", lambda u: (stream_delta(u, "tiles1") or {}).get("state") == "paused",
                        "the paused state in an update")
                status, _, _ = self.m.http("DELETE", "/api/v1/streams/tiles2")
                self.assertEqual(status, 204)
                ev.wait("stream-removed", lambda d: d["id"] == "tiles2")
                # The second client saw the same.
                other.wait("stream-removed", lambda d: d["id"] == "tiles2")
            finally:
                ev.close()
            # One client gone: the other goes on getting updates.
            n = len(other.seen("update"))
            wait_for(lambda: len(other.seen("update")) >= n + 2, "updates after a client left")
            other.close()
            self.m.http("DELETE", "/api/v1/streams/tiles1")

    def test_drop_caller(self):
        with log_on_failure(self.m):
            ev = Events(self.m.admin_port)
            feeds = [srt_feed(self.m.srt_port, "cam")]
            try:
                ev.wait("snapshot")
                wait_for(lambda: self.m.stream_state("cam") == "live", "cam live", deadline_s=60)
                # Unknown stream, and a stream with no caller.
                status, _, doc = self.m.http("POST", "/api/v1/streams/nosuch/drop-caller")
                self.assertEqual(status, 404, doc)
                self.m.create_testsrc("nocaller")
                status, _, doc = self.m.http("POST", "/api/v1/streams/nocaller/drop-caller")
                self.assertEqual((status, doc["code"]), (409, "CONFLICT"), doc)

                # A viewer over HTTP/1.1 counts in the updates.
                wait_for(lambda: self.m.origin("GET", "/live/cam/index.m3u8")[0] == 200,
                         "cam's playlist")
                ev.wait("update", lambda u: ((stream_delta(u, "cam") or {}).get("viewers") or {})
                        .get("http1", 0) >= 1, "cam's HTTP/1.1 viewer in an update", deadline_s=30)
                # Its recording's window, in an update (read every 10 s).
                ev.wait("update", lambda u: ((stream_delta(u, "cam") or {}).get("dvr") or {})
                        .get("seconds", 0) > 0, "cam's DVR window in an update", deadline_s=60)
                # The caller's round trip, as the SRT socket measures it.
                doc = wait_for(lambda: (lambda d: d if d and "rtt_ms" in d else None)(
                    self.m.http("GET", "/api/v1/streams/cam")[2]), "cam's RTT")
                self.assertGreaterEqual(doc["rtt_ms"], 0, doc)
                status, _, doc = self.m.http("POST", "/api/v1/streams/cam/drop-caller")
                self.assertEqual(status, 202, doc)
                self.assertTrue(doc["dropped"].startswith("127.0.0.1:"), doc)
                self.assertEqual(doc["reconnect_window_ms"], 30000)
                # The stream's own log lines, the drop among them.
                wait_for(lambda: any("dropping caller" in l["message"]
                                     for l in self.m.http("GET", "/api/v1/streams/cam")[2]["log"]),
                         "the drop in cam's log lines")
                ev.wait("state-changed", lambda d: d["id"] == "cam" and d["to"] == "reconnecting",
                        "cam reconnecting after the drop", deadline_s=30)
                self.assertEqual(ev.seen("alarm", lambda d: d["id"] == "cam"), [])
                # The encoder gave up (srtsink fails on a closed connection);
                # a new one within the window continues the stream.
                feeds.append(srt_feed(self.m.srt_port, "cam"))
                ev.wait("state-changed", lambda d: d["id"] == "cam" and d["to"] == "live",
                        "cam live again", deadline_s=60)
            finally:
                ev.close()
                for f in feeds:
                    f.stop()
            for sid in ("cam", "nocaller"):
                self.m.http("DELETE", f"/api/v1/streams/{sid}")


class Thumbnails(unittest.TestCase):

    def test_thumbnail_of_a_transcoded_stream(self):
        m = Mirrord(env={"MIRROR_TRANSCODING_RENDITIONS": "180p:320x180@200k"})
        feed = srt_feed(m.srt_port, "thumbs")
        try:
            with log_on_failure(m):
                wait_for(lambda: m.stream_state("thumbs") == "live", "thumbs live", deadline_s=60)
                first = m.http("GET", "/api/v1/streams/thumbs/thumbnail.jpg", raw=True)
                if first[0] == 503:
                    self.assertEqual(first[1].get("retry-after"), "1", first[1])

                def jpeg():
                    status, headers, body = m.http("GET", "/api/v1/streams/thumbs/thumbnail.jpg",
                                                   raw=True)
                    return body if status == 200 else None
                one = wait_for(jpeg, "a thumbnail", deadline_s=30)
                self.assertEqual(one[:3], b"\xff\xd8\xff", "not a JPEG")
                # The ball moves: another frame within a few seconds.
                wait_for(lambda: (b := jpeg()) and b != one, "a newer thumbnail", deadline_s=30)
                status, _, doc = m.http("GET", "/api/v1/streams/nosuch/thumbnail.jpg")
                self.assertEqual(status, 404, doc)
                m.create_testsrc("plain")
                status, _, doc = m.http("GET", "/api/v1/streams/plain/thumbnail.jpg")
                self.assertEqual((status, doc["code"]), (409, "CONFLICT"), doc)
        finally:
            feed.stop()
            self.assertEqual(m.stop(), 0)


class Token(unittest.TestCase):

    def test_controls_need_the_token(self):
        m = Mirrord(env={"MIRROR_TRANSCODING_ENABLED": "false",
                         "MIRROR_SERVER_ADMIN_TOKEN": TOKEN})
        try:
            with log_on_failure(m):
                m.create_testsrc("guarded", token=TOKEN)
                ev = Events(m.admin_port)
                try:
                    ev.wait("snapshot")
                    for method, path in (("POST", "/api/v1/streams/guarded/pause"),
                                         ("POST", "/api/v1/streams/guarded/drop-caller"),
                                         ("DELETE", "/api/v1/streams/guarded")):
                        status, _, doc = m.http(method, path)
                        self.assertEqual(status, 401, (path, doc))
                    self.assertEqual(m.stream_state("guarded"), "live")
                    status, _, _ = m.http("POST", "/api/v1/streams/guarded/pause", token=TOKEN)
                    self.assertEqual(status, 200)
                    ev.wait("state-changed", lambda d: d["to"] == "paused")
                finally:
                    ev.close()
        finally:
            self.assertEqual(m.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
