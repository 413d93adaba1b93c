#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Network faults between an SRT caller and mirrord, made by the project's
own UDP impairment relay (tools/netfault.py, on loopback: this kernel has no
netem) with a seeded schedule, 200 ms RTT throughout:

1. 5 % loss both ways, jitter and reordering: the stream stays live, the
   playlist keeps advancing, and the API (packets_lost, packets_retransmitted) and /metrics
   (mirror_srt_packets_lost_total, _retransmitted_total) count the loss and
   SRT's retransmissions.
2. 15 % loss: still live and advancing (SRT's latency window, 1 s here,
   recovers what it can; what it cannot is counted as dropped).
3. A partition longer than the peer idle timeout (2 s here; 5 s by default,
   and `netfault.py --partition 20:30` gives the issue's 30 s form): the
   silent caller is dropped at its timeout (libsrt also waits for 16 expiry
   timers, some 4 s at 200 ms RTT, so about 4-5 s here), the id is free
   again (no "already-live" refusal), and the encoder (srtsink, which calls
   again by itself) back within ingestion.reconnect_window (10 s here)
   continues the same stream and playlist after an EXT-X-DISCONTINUITY.
4. Cut off for longer than the window: the stream ends, and the same
   encoder calling back after the heal starts a new stream under the id.

One feed, one relay, one mirrord, about 45 s.

The figures seen (loss, retransmits, drop time) are printed."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import llhls
import mirrortest
from mirrortest import Mirrord, free_port, wait_for
from test_ingest import metric
from test_hls import srt_feed

STREAM = "netcam"
PEER_IDLE_S = 2.0
RECONNECT_WINDOW_S = 10.0
NETFAULT = os.path.join(mirrortest.SOURCE_ROOT, "tools", "netfault.py")


def log(msg):
    print(f"test_netfaults: {msg}", file=sys.stderr, flush=True)


class Relay:
    """tools/netfault.py between a free loopback port and mirrord's SRT
    port, driven by commands on its stdin; stopped by its PID."""

    def __init__(self, target_port, *args):
        self.port = free_port(socket.SOCK_DGRAM)
        self.log = open(os.path.join(tempfile.mkdtemp(prefix="mirror-netfault-"),
                                     "netfault.log"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, NETFAULT, "--listen", f"127.0.0.1:{self.port}",
             "--target", f"127.0.0.1:{target_port}", "--control", *args],
            stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT, text=True)
        mirrortest._started.append((self.proc, False))
        wait_for(lambda: "netfault: 127.0.0.1" in self.output(), "the relay up")

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def output(self):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc.stdin.close()
        out = self.output().strip().splitlines()[-1]
        self.log.close()
        return out


class NetFaults(unittest.TestCase):
    def setUp(self):
        self.m = Mirrord(env={
            "MIRROR_TRANSCODING_ENABLED": "false",
            # The retransmission window: 4-5 RTTs of 200 ms.
            "MIRROR_INGESTION_SRT_LATENCY": "1000ms",
            "MIRROR_INGESTION_SRT_PEER_IDLE_TIMEOUT": f"{PEER_IDLE_S:g}s",
            "MIRROR_INGESTION_RECONNECT_WINDOW": f"{RECONNECT_WINDOW_S:g}s",
        })
        self.relay = Relay(self.m.srt_port, "--loss", "0.05", "--delay-ms", "100",
                           "--jitter-ms", "5", "--reorder", "0.02", "--reorder-ms", "20",
                           "--seed", "18")
        self.feeds = []
        self.failed = True  # until the test's last line
        self.violations = {}  # llhls.py's playlist rules broken -> phase

    def tearDown(self):
        for feed in self.feeds:
            feed.stop(signal.SIGKILL)
        log("relay: " + self.relay.stop())
        code = self.m.stop()
        if code != 0 or self.failed:
            print("mirrord's log ends:\n" + self.m.output()[-6000:], file=sys.stderr)
            for f in self.feeds[-2:]:
                print("a feed's log ends:\n" + f.output()[-1500:], file=sys.stderr)
        self.assertEqual(code, 0, "mirrord did not exit cleanly")

    # --- helpers ------------------------------------------------------------

    def feed(self):
        f = srt_feed(self.relay.port, STREAM)
        self.feeds.append(f)
        return f

    def metrics(self):
        return self.m.http("GET", "/metrics")[2]

    def stream(self):
        status, _, doc = self.m.http("GET", f"/api/v1/streams/{STREAM}")
        return doc if status == 200 else None

    def playlist(self):
        return self.m.media_playlist(STREAM, "source")

    def last_msn(self):
        p = self.playlist()
        return p.complete_segments[-1].msn if p and p.complete_segments else None

    def advances(self, seconds, what):
        """The newest complete segment moves on at least twice in
        `seconds` (segments of 1 s or so) while the stream stays live."""
        start = wait_for(self.last_msn, f"a segment ({what})")
        end = time.monotonic() + seconds
        seen = start
        while time.monotonic() < end:
            doc = self.stream()
            self.assertIn(doc and doc["state"], ("live", "degraded"), f"{what}: {doc}")
            p = self.playlist()
            if p and p.complete_segments:
                seen = p.complete_segments[-1].msn
                for v in llhls.media_violations(p.text):
                    self.violations.setdefault(v, what)
            time.sleep(0.5)
        log(f"{what}: segments {start} -> {seen} in {seconds:g} s, state {doc['state']}")
        self.assertGreaterEqual(seen - start, 2, f"{what}: the playlist stood still")
        return seen

    # --- the test -----------------------------------------------------------

    def test_loss_partition_reconnect(self):
        t0 = time.monotonic()
        self.feed()
        first = wait_for(lambda: (lambda d: d and d["state"] == "live" and d)(self.stream()),
                         "the stream live through the relay", deadline_s=60)

        # 1. 5 % loss both ways, 200 ms RTT, jitter, reordering.
        self.advances(6, "5% loss")
        doc = self.stream()
        text = self.metrics()
        lost_api = doc["stats"]["packets_lost"]
        lost = metric(text, "mirror_srt_packets_lost_total", stream=STREAM)
        rexmit = metric(text, "mirror_srt_packets_retransmitted_total", stream=STREAM)
        dropped = metric(text, "mirror_srt_packets_dropped_total", stream=STREAM)
        rtt = metric(text, "mirror_srt_rtt_ms", stream=STREAM)
        rexmit_api = doc["stats"]["packets_retransmitted"]
        log(f"5% loss: API packets_lost {lost_api}, packets_retransmitted {rexmit_api} of "
            f"{doc['stats']['packets']}; metrics lost "
            f"{lost:g} retransmitted {rexmit:g} dropped {dropped:g} rtt {rtt:g} ms")
        self.assertGreater(lost_api, 0, doc["stats"])
        self.assertGreater(rexmit_api, 0, doc["stats"])
        self.assertGreater(lost, 0)
        self.assertGreater(rexmit, 0)
        self.assertGreater(rtt, 150, "the relay's 200 ms RTT is not what SRT measures")

        # 2. 15 % loss.
        self.relay.command("loss 0.15")
        self.advances(5, "15% loss")
        text = self.metrics()
        lost15 = metric(text, "mirror_srt_packets_lost_total", stream=STREAM)
        rexmit15 = metric(text, "mirror_srt_packets_retransmitted_total", stream=STREAM)
        dropped15 = metric(text, "mirror_srt_packets_dropped_total", stream=STREAM)
        log(f"15% loss: metrics lost {lost15:g} retransmitted {rexmit15:g} dropped {dropped15:g}")
        self.assertGreater(rexmit15, rexmit)
        self.relay.command("loss 0.05")

        # 3. A partition past the peer idle timeout: the caller is dropped.
        before = self.playlist()
        cut = time.monotonic()
        self.relay.command("partition")
        wait_for(lambda: metric(self.metrics(), "mirror_stream_ingestion_active", stream=STREAM) == 0,
                 "the silent caller dropped", deadline_s=PEER_IDLE_S + 10, interval_s=0.1)
        dropped_after = time.monotonic() - cut
        state = self.stream()["state"]
        log(f"partition: caller dropped after {dropped_after:.1f} s (peer idle timeout "
            f"{PEER_IDLE_S:g} s), stream {state}")
        self.assertGreaterEqual(dropped_after, PEER_IDLE_S - 0.5)
        # mirrord's own watch of the silence, not libsrt's expiry timer (which
        # came 5.2 s after the cut at this RTT): the timeout plus a tick and
        # a metrics poll.
        self.assertLess(dropped_after, PEER_IDLE_S + 2.5)
        self.assertEqual(state, "reconnecting")
        # srtsink (auto-reconnect) finds its connection broken too and
        # calls again once the network heals.
        self.relay.command("heal")
        wait_for(lambda: metric(self.metrics(), "mirror_connection_reconnects_total",
                                stream=STREAM) == 1, "the caller taken back", deadline_s=30)
        back_after = time.monotonic() - cut
        self.assertLess(back_after, RECONNECT_WINDOW_S, "back only after the window")
        again = wait_for(lambda: (lambda d: d and d["state"] == "live" and d)(self.stream()),
                         "live again", deadline_s=30)
        self.assertEqual(again["created_at"], first["created_at"], "not the same stream")
        self.assertEqual(metric(self.metrics(), "mirror_stream_ingestion_errors_total",
                                stream=STREAM, reason="already-live"), 0)

        # The same playlist goes on: sequence numbers continue past the ones
        # before the cut, with a discontinuity where the new caller starts.
        last_before = before.complete_segments[-1].msn

        def continued():
            p = self.playlist()
            if not p:
                return None
            after = [s for s in p.complete_segments if s.msn > last_before]
            return p if any(s.discontinuity for s in after) and len(after) >= 2 else None
        p = wait_for(continued, "segments after the cut behind an EXT-X-DISCONTINUITY",
                     deadline_s=30)
        self.assertEqual(p.problems, [])
        self.assertGreaterEqual(p.discontinuity_sequence + sum(s.discontinuity for s in p.segments),
                                1)
        self.assertLessEqual(p.media_sequence, last_before + 1,
                             "the playlist started over instead of going on")
        log(f"reconnected {back_after:.1f} s after the cut; playlist continues from msn "
            f"{last_before} with EXT-X-DISCONTINUITY; whole test {time.monotonic() - t0:.0f} s")
        self.advances(3, "after the reconnect")

        # 4. Cut off past the reconnect window: the stream ends, and a
        # caller with its id afterwards starts a new one.
        self.relay.command("partition")
        cut = time.monotonic()
        wait_for(lambda: self.stream()["state"] == "ended", "the stream ended past the window",
                 deadline_s=RECONNECT_WINDOW_S + 20, interval_s=0.2)
        ended_after = time.monotonic() - cut
        log(f"second partition: stream ended {ended_after:.1f} s after the cut "
            f"(reconnect window {RECONNECT_WINDOW_S:g} s)")
        self.assertGreater(ended_after, RECONNECT_WINDOW_S)
        # The same encoder, still calling back, now starts a new stream.
        self.relay.command("heal")
        new = wait_for(lambda: (lambda d: d and d["state"] == "live" and d)(self.stream()),
                       "the id publishing again after the end", deadline_s=30)
        self.assertNotEqual(new["created_at"], first["created_at"], "the ended stream came back")
        self.advances(4, "the new stream")
        # Every reload above passed llhls.py's rules (EXTINF within
        # TARGETDURATION, parts, discontinuity sequence ...).
        for v, phase in self.violations.items():
            log(f"playlist rule broken ({phase}): {v}")
        self.assertEqual(self.violations, {})
        log(f"whole test {time.monotonic() - t0:.0f} s")
        self.failed = False


if __name__ == "__main__":
    unittest.main(verbosity=2)
