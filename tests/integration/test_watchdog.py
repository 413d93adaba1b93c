#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The watchdog restarts a wedged pipeline without dropping its caller.

mirrord runs a pipeline that wedges on purpose: the heartbeat sees the feed's
media, a leaky queue drops what the branch after it cannot take, and that
branch waits an hour for each buffer's time, so nothing ever reaches the sink.
With ingestion.pipeline_stall_timeout at 3 s the stream must say `stalled`
("no output for N s while its input arrives; pipeline restarted"), be counted
in the API and mirror_pipeline_restarts_total, and its new pipeline must get
the same SRT caller's data (the stream is live again, one connection all
along); after five restarts in a row without output the stream fails and the
caller is let go."""
import os
import re
import shutil
import tempfile
import unittest

from mirrortest import Mirrord, Process, log_on_failure, wait_for

WEDGED = """\
mirroringestbin name=ingest uri="${uri}" stream-id="${stream_id}"
    ring-size=${ring_size} reconnect-window=${reconnect_window}
ingest.video_0 ! mirrorheartbeat name=heartbeat stream-id="${stream_id}"
  ! queue leaky=downstream max-size-buffers=2
  ! identity sync=true ts-offset=3600000000000 ! fakesink sync=false async=false
"""


def sender(port, stream_id):
    return Process(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "!",
         "video/x-raw,width=320,height=240,framerate=25/1", "!", "x264enc", "tune=zerolatency",
         "speed-preset=ultrafast", "key-int-max=12", "!", "h264parse", "!", "mpegtsmux",
         "alignment=7", "!", "srtsink", f"uri=srt://127.0.0.1:{port}?streamid={stream_id}"],
        log_name="watchdog-feed")


class Watchdog(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.pipelines = tempfile.mkdtemp(prefix="mirror-wedged-")
        with open(os.path.join(cls.pipelines, "default.pipeline"), "w") as f:
            f.write(WEDGED)
        cls.m = Mirrord(config=f"""
ingestion:
  pipelines_dir: {cls.pipelines}
  pipeline_stall_timeout: 3s
  ended_retention: 60s
transcoding:
  enabled: false
""")
        cls.feed = sender(cls.m.srt_port, "cam")

    @classmethod
    def tearDownClass(cls):
        cls.feed.stop()
        code = cls.m.stop()
        shutil.rmtree(cls.pipelines, ignore_errors=True)
        assert code == 0, f"mirrord exited with {code}:\n{cls.m.output()[-4000:]}"

    def stream(self):
        status, _, doc = self.m.http("GET", "/api/v1/streams/cam")
        return doc if status == 200 else None

    def restarts_metric(self):
        _, _, text = self.m.http("GET", "/metrics", raw=True)
        found = re.search(rb'^mirror_pipeline_restarts_total\{stream="cam"\} ([0-9.e+]+)$',
                          text, re.M)
        return float(found.group(1)) if found else 0.0

    def test_wedged_pipeline_is_restarted_with_its_caller_kept(self):
        with log_on_failure(self.m):
            self.check_restarts()

    def check_restarts(self):
        # The first restart, and its new pipeline's heartbeat sees the same
        # caller's media: live again.
        def restarted_and_live():
            doc = self.stream()
            return doc and doc.get("pipeline_restarts", 0) >= 1 and doc["state"] == "live"
        wait_for(restarted_and_live, "a restart, then media through the new pipeline")
        log = self.m.output()
        self.assertRegex(log, r"stream cam: no output for [0-9]+ s while its input arrives; "
                              r"pipeline restarted \(restart 1\)")
        self.assertRegex(log, r"stream cam: live -> stalled: no output for [0-9]+ s while its "
                              r"input arrives; pipeline restarted \(restart 1\)")
        peer = self.stream()["peer"]
        self.assertTrue(peer)

        wait_for(lambda: self.stream()["pipeline_restarts"] >= 2, "a second restart")
        wait_for(lambda: self.restarts_metric() >= 2, "mirror_pipeline_restarts_total")
        # One caller all along: connected once, held across each restart.
        log = self.m.output()
        self.assertEqual(len(re.findall(r"stream 'cam' connected from", log)), 1, log[-4000:])
        self.assertGreaterEqual(
            len(re.findall(r"stream 'cam' detached, holding its caller", log)), 2)
        self.assertTrue(self.feed.running(), self.feed.output())
        wait_for(lambda: self.stream()["state"] == "live", "live after the second restart")
        self.assertEqual(self.stream()["peer"], peer)

        # Five restarts in a row with nothing out: the stream fails, with why,
        # and lets its caller go (srtsink calls again at once, and its new
        # stream replaces the failed one: the log is what stays).
        # The state change's own line: the warning naming the same cause is
        # logged a moment before it, so waiting for that alone races it.
        failed = (r"stream cam: live -> error: no output for [0-9]+ s while its input "
                  r"arrives, after 5 restarts in a row")
        wait_for(lambda: re.search(failed, self.m.output()), "the stream to fail",
                 deadline_s=60)
        log = self.m.output()
        self.assertIn("pipeline restarted (restart 5)", log)
        self.assertNotIn("(restart 6)", log)
        self.assertIn("stream 'cam' detached, closing its caller", log)

if __name__ == "__main__":
    unittest.main()
