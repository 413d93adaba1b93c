# SPDX-License-Identifier: LGPL-2.1-or-later
"""One state machine, seen the same way over REST, D-Bus and /metrics:
a caller that leaves for good ends its stream (live -> reconnecting -> ended
-> removed, its playlists ended but reachable meanwhile); one that comes back
within the window continues it; a pull with nobody to pull from says
reconnecting, with its attempts, until a listener appears; a resumed stream
is starting until media flows again.
"""

import math
import re
import socket
import unittest

from mirrortest import DEADLINE_S, SLOWDOWN, Mirrord, Process, free_port, wait_for
from test_dbus import NAME, SessionBus

# Both stretched by SLOWDOWN: a second sender (a new gst-launch-1.0 and its
# encoder) must be back within the window, and an ended stream must still
# be listed while the test looks at it, on a busy box too.
CONFIG = f"""
ingestion:
  reconnect_window: {math.ceil(3 * SLOWDOWN)}s
  ended_retention: {math.ceil(4 * SLOWDOWN)}s
transcoding:
  enabled: false
"""


def sender(uri, log_name, seconds=None):
    """Live H.264 into srtsink; with seconds, it sends that long and leaves."""
    count = [f"num-buffers={25 * seconds}"] if seconds else []
    return Process(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", *count, "!",
         "video/x-raw,width=320,height=240,framerate=25/1", "!", "x264enc", "tune=zerolatency",
         "speed-preset=ultrafast", "key-int-max=12", "!", "h264parse", "!", "mpegtsmux",
         "alignment=7", "!", "srtsink", f"uri={uri}"], log_name=log_name)


class Lifecycle(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.bus = SessionBus()
        cls.m = Mirrord(config=CONFIG, env={"DBUS_SESSION_BUS_ADDRESS": cls.bus.address,
                                            "MIRROR_MONITORING_DBUS": "session"})
        wait_for(lambda: cls.bus.has_owner(NAME), "mirrord on the bus")
        cls.monitor = Process(["gdbus", "monitor", "--session", "--dest", NAME],
                              env=cls.bus.env, log_name="gdbus-monitor")
        wait_for(lambda: f"The name {NAME} is owned by" in cls.monitor.output(),
                 "gdbus monitor to find mirrord")

    @classmethod
    def tearDownClass(cls):
        cls.monitor.stop()
        code = cls.m.stop()
        cls.bus.stop()
        assert code == 0, f"mirrord exited with {code}:\n{cls.m.output()[-4000:]}"

    def stream(self, stream_id):
        status, _, doc = self.m.http("GET", f"/api/v1/streams/{stream_id}")
        return doc if status == 200 else None

    def state(self, stream_id):
        doc = self.stream(stream_id)
        return doc["state"] if doc else None

    def signals(self, stream_id):
        """The states D-Bus announced for stream_id, in order."""
        return re.findall(rf"StreamStatusChanged \('{re.escape(stream_id)}', '([a-z]+)'",
                          self.monitor.output())

    def signals_from(self, stream_id, first, count):
        """The states D-Bus announced for stream_id from the first `first` on,
        once at least count of them have reached the monitor (REST may say a
        state before gdbus monitor has printed its signal)."""
        def arrived():
            states = self.signals(stream_id)
            tail = states[states.index(first):] if first in states else []
            return tail if len(tail) >= count else None
        return wait_for(arrived, f"{count} D-Bus states of {stream_id} from {first}")

    def gauge(self, state):
        _, _, text = self.m.http("GET", "/metrics")
        found = re.search(rf'(?m)^mirror_streams{{state="{state}"}} (\S+)', text)
        return float(found.group(1)) if found else None

    def test_a_caller_that_leaves_for_good_ends_its_stream(self):
        feed = sender(f"srt://127.0.0.1:{self.m.srt_port}?streamid=gone", "gone", seconds=4)
        wait_for(lambda: self.state("gone") == "live", "gone live", deadline_s=60)
        created = self.stream("gone")["created_at"]
        feed.wait(timeout=DEADLINE_S)  # it sent its 4 s and left
        wait_for(lambda: self.state("gone") == "ended", "gone ended", deadline_s=60)
        doc = self.stream("gone")
        self.assertIn("reconnect window", doc["message"])
        self.assertEqual(doc["pipeline_state"], "NULL")  # released
        self.assertEqual(doc["created_at"], created)
        self.assertEqual(self.gauge("ended"), 1)
        # Its playlists stay reachable, ended, as long as it is listed.
        status, _, body = self.m.origin("GET", "/live/gone/source.m3u8")
        self.assertEqual(status, 200)
        self.assertIn(b"#EXT-X-ENDLIST", body)
        wait_for(lambda: self.stream("gone") is None, "gone removed after the retention")
        self.assertEqual(self.m.origin("GET", "/live/gone/source.m3u8")[0], 404)
        self.assertEqual(self.signals_from("gone", "live", 3), ["live", "reconnecting", "ended"])
        wait_for(lambda: "StreamRemoved ('gone',)" in self.monitor.output(), "StreamRemoved")
        self.assertEqual(self.gauge("ended"), 0)

    def test_a_caller_back_within_the_window_continues(self):
        uri = f"srt://127.0.0.1:{self.m.srt_port}?streamid=back"
        first = sender(uri, "back-1", seconds=3)
        wait_for(lambda: self.state("back") == "live", "back live", deadline_s=60)
        created = self.stream("back")["created_at"]
        first.wait(timeout=DEADLINE_S)
        wait_for(lambda: self.state("back") == "reconnecting", "back reconnecting")
        second = sender(uri, "back-2")
        try:
            wait_for(lambda: self.state("back") == "live", "back live again", deadline_s=60)
            self.assertEqual(self.stream("back")["created_at"], created)
            self.assertEqual(self.signals_from("back", "live", 3)[:3],
                             ["live", "reconnecting", "live"])
        finally:
            second.stop()
        self.assertEqual(self.m.http("DELETE", "/api/v1/streams/back")[0], 204)

    def test_a_pull_keeps_trying_and_says_so(self):
        port = free_port(socket.SOCK_DGRAM)
        status, _, doc = self.m.http("POST", "/api/v1/streams", {
            "id": "pull", "uri": f"srt://127.0.0.1:{port}?mode=caller&streamid=pull"})
        self.assertEqual(status, 201, doc)
        wait_for(lambda: "attempt 2 failed" in (self.stream("pull") or {}).get("message", ""),
                 "the pull's second failed attempt", deadline_s=60)
        doc = self.stream("pull")
        self.assertEqual(doc["state"], "reconnecting")
        self.assertIn(f"pulling from 127.0.0.1:{port}", doc["message"])
        self.assertIn("next in 2.0 s", doc["message"])
        listener = sender(f"srt://:{port}?mode=listener", "pull-listener")
        try:
            wait_for(lambda: self.state("pull") == "live", "the pull live", deadline_s=60)
        finally:
            listener.stop()
        self.assertEqual(self.m.http("DELETE", "/api/v1/streams/pull")[0], 204)

    def test_resume_is_starting_until_media_flows(self):
        self.m.create_testsrc("paused1")
        self.assertEqual(self.m.http("POST", "/api/v1/streams/paused1/pause")[0], 200)
        self.assertEqual(self.state("paused1"), "paused")
        self.assertEqual(self.m.http("POST", "/api/v1/streams/paused1/resume")[0], 200)
        wait_for(lambda: self.state("paused1") == "live", "paused1 live again")
        self.assertEqual(self.signals_from("paused1", "paused", 3), ["paused", "starting", "live"])
        self.assertEqual(self.m.http("DELETE", "/api/v1/streams/paused1")[0], 204)


if __name__ == "__main__":
    unittest.main(verbosity=2)
