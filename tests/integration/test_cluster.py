# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two mirrords on one real redis-server: one cluster-wide list, one owner per
stream id, streams that survive Redis going away, entries of a dead node
that lapse; and cluster playback: a viewer who asks the node that does not
own a stream is redirected once to the owner's public URL (the directory in
the registry: the owner's URL, load and the stream's epoch), and plays."""

import signal
import subprocess
import sys
import threading
import unittest
import urllib.request

import llhls

from mirrortest import Mirrord, Redis, free_port, free_port_pair, http, video_feed, wait_for


def log(msg):
    print(f"test_cluster: {msg}", file=sys.stderr, flush=True)


def probed_codecs(url):
    """The codecs ffprobe finds at url once the stream has whole segments (a
    young stream has only parts, which FFmpeg's HLS demuxer does not read)."""
    def codecs():
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", url], capture_output=True, text=True, timeout=60)
        return r.returncode == 0 and r.stdout.split()
    return wait_for(codecs, f"ffprobe reading {url}", deadline_s=60, interval_s=0.5)


def ids(m):
    status, _, doc = m.http("GET", "/api/v1/streams")
    assert status == 200, doc
    return sorted(s["id"] for s in doc["streams"])


class Cluster(unittest.TestCase):
    def setUp(self):
        self.redis = Redis()
        env = {"MIRROR_REDIS_ADDR": f"127.0.0.1:{self.redis.port}",
               "MIRROR_REGISTRY_HEARTBEAT_TIMEOUT": "3s",
               "MIRROR_REGISTRY_HEARTBEAT_INTERVAL": "500ms",
               # The feed as it comes: packaging is what these tests need.
               "MIRROR_TRANSCODING_ENABLED": "false"}
        self.feeds = []
        self.env = env
        self.m1 = self.node(env)
        self.m2 = self.node(env)
        self.extra = []

    @staticmethod
    def node(env, **more):
        """A mirrord whose server.public_url is its own plain HTTP port."""
        port = free_port()
        m = Mirrord(env=dict(env, MIRROR_SERVER_HTTP_PORT=str(port),
                             MIRROR_SERVER_PUBLIC_URL=f"http://127.0.0.1:{port}", **more))
        m.public_url = f"http://127.0.0.1:{port}"
        return m

    def tearDown(self):
        for feed in self.feeds:
            feed.stop(signal.SIGKILL)
        for m in [self.m1, self.m2] + self.extra:
            m.stop(signal.SIGKILL if not m.running() else signal.SIGTERM)
        self.redis.stop()

    def test_one_list_one_owner(self):
        self.m1.create_testsrc("a")
        self.m2.create_testsrc("b")
        for m in (self.m1, self.m2):
            wait_for(lambda: ids(m) == ["a", "b"], "both streams listed on both nodes")

        status, _, doc = self.m2.http("GET", "/api/v1/streams/a")
        self.assertEqual(status, 200)
        self.assertFalse(doc["local"])
        _, _, mine = self.m1.http("GET", "/api/v1/streams/a")
        self.assertTrue(mine["local"])
        self.assertEqual(doc["node_id"], mine["node_id"])
        self.assertNotEqual(doc["node_id"], self.m2.http("GET", "/api/v1/streams/b")[2]["node_id"])

        status, _, doc = self.m2.http("POST", "/api/v1/streams", {"id": "a", "pipeline": "testsrc"})
        self.assertEqual(status, 409)
        self.assertEqual(doc["code"], "ALREADY_EXISTS")
        # Only the owner acts on a stream.
        self.assertEqual(self.m2.http("POST", "/api/v1/streams/a/pause")[0], 404)
        self.assertEqual(self.m2.http("DELETE", "/api/v1/streams/a")[0], 404)
        self.assertEqual(self.m1.stream_state("a"), "live")

        self.assertEqual(self.m1.http("DELETE", "/api/v1/streams/a")[0], 204)
        wait_for(lambda: ids(self.m2) == ["b"], "a gone from node 2's list")

    def test_any_node_sends_a_viewer_to_the_owner(self):
        self.feeds.append(video_feed(self.m1.srt_port, "a"))
        path = "/live/a/index.m3u8"
        wait_for(lambda: self.m1.origin("GET", path)[0] == 200, "a's playlist on its owner",
                 deadline_s=60)

        # The directory: node 2 sees where a is served, by whom, how busy.
        def entry():
            status, _, doc = self.m2.http("GET", "/api/v1/streams/a")
            return doc if status == 200 and doc.get("owner_load", {}).get("streams") else None
        doc = wait_for(entry, "a's entry with its owner's load, on node 2")
        self.assertFalse(doc["local"])
        self.assertEqual(doc["owner_url"], self.m1.public_url)
        self.assertGreaterEqual(doc["epoch"], 1)
        self.assertEqual(doc["owner_load"]["streams"], 1)
        first_epoch = doc["epoch"]

        # One redirect, the query kept; the owner answers the rest itself.
        status, headers, _ = wait_for(
            lambda: (r := http(self.m2.http_port, "GET", path + "?x=1", raw=True))[0] == 302 and r,
            "node 2 redirecting a's viewers (its directory refreshed)")
        self.assertEqual(headers["location"], self.m1.public_url + path + "?x=1")
        self.assertEqual(headers.get("cache-control"), "no-cache")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.m2.http_port}{path}", timeout=20) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.geturl().startswith(self.m1.public_url), r.geturl())
            self.assertTrue(r.read().startswith(b"#EXTM3U"))
        # A real player through node 2: ffprobe follows the redirect and
        # reads a's video from node 1 (its relative URIs resolve there).
        codecs = probed_codecs(f"http://127.0.0.1:{self.m2.http_port}{path}")
        log(f"ffprobe through node 2: {codecs}")
        self.assertIn("h264", codecs)
        # Its own streams a node never redirects; unknown ones are 404.
        self.assertEqual(self.m1.origin("GET", path)[0], 200)
        self.assertEqual(self.m2.origin("GET", "/live/nobody/index.m3u8")[0], 404)
        _, _, metrics = self.m2.http("GET", "/metrics")
        self.assertRegex(metrics, r'mirror_origin_redirects_total(\{[^}]*\})? [1-9]')

        # The owner dies; its entry lapses and the camera calls node 2,
        # which takes the stream on in the next epoch and serves it itself.
        self.m1.stop(signal.SIGKILL)
        self.feeds[0].stop(signal.SIGKILL)
        wait_for(lambda: "a" not in ids(self.m2), "a's entry lapsing with its owner")
        self.feeds.append(video_feed(self.m2.srt_port, "a"))
        wait_for(lambda: self.m2.origin("GET", path)[0] == 200, "a's playlist on node 2",
                 deadline_s=60)
        _, _, moved = self.m2.http("GET", "/api/v1/streams/a")
        self.assertTrue(moved["local"])
        self.assertEqual(moved["epoch"], first_epoch + 1)
        self.assertEqual(moved["owner_url"], self.m2.public_url)

    def test_a_relaying_node_asks_the_owner_once_per_object(self):
        relay = self.node(self.env, MIRROR_SERVER_CLUSTER_PLAYBACK="relay")
        self.extra.append(relay)
        self.feeds.append(video_feed(self.m1.srt_port, "r"))
        wait_for(lambda: self.m1.origin("GET", "/live/r/index.m3u8")[0] == 200,
                 "r's playlist on its owner", deadline_s=60)
        # The relay answers with the owner's bytes, at its own URL.
        status, headers, body = wait_for(
            lambda: (r := relay.origin("GET", "/live/r/index.m3u8"))[0] == 200 and r,
            "the relaying node answering for r")
        self.assertEqual(body, self.m1.origin("GET", "/live/r/index.m3u8")[2])
        self.assertNotIn("location", headers)

        def upstream():
            _, _, text = relay.http("GET", "/metrics")
            for line in text.splitlines():
                if line.startswith('mirror_origin_relay_total{result="upstream"}'):
                    return float(line.split()[-1])
            return 0.0

        # 40 viewers at once, each asking for the next part and the playlist
        # that will list it (both held by the owner until the part exists):
        # one upstream request for each, the rest coalesced.
        pl = llhls.MediaPlaylist(self.m1.origin("GET", "/live/r/source.m3u8")[2].decode())
        msn, part = pl.next_part_position()
        objects = [f"/live/r/source.m3u8?_HLS_msn={msn}&_HLS_part={part}",
                   f"/live/r/source/part{msn}.{part}.m4s"]
        before = upstream()
        answers = []

        def viewer(path):
            answers.append((path, relay.origin("GET", path, timeout=30)))
        threads = [threading.Thread(target=viewer, args=(objects[i % 2],)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(a[1][0] for a in answers), [200] * 40,
                         [(p, a[0], a[2][:200]) for p, a in answers if a[0] != 200])
        part_bodies = {a[1][2] for a in answers if a[0] == objects[1]}
        self.assertEqual(len(part_bodies), 1)
        self.assertEqual(part_bodies.pop(), self.m1.origin("GET", objects[1])[2])
        went_up = upstream() - before
        log(f"40 held requests through the relay: {went_up:.0f} went to the owner")
        self.assertLessEqual(went_up, 4)
        # A player through the relay: ffprobe reads r's video from node 3.
        self.assertIn("h264", probed_codecs(f"http://127.0.0.1:{relay.http_port}/live/r/index.m3u8"))

    def test_a_relay_trusts_its_owners_self_signed_certificate(self):
        """An owner whose public URL is HTTPS on its own self-signed
        certificate: the relaying node trusts it by the SPKI pin the owner
        announces in its entries, and by nothing else."""
        port = free_port_pair()
        owner = Mirrord(env=dict(self.env, MIRROR_SERVER_HTTP3_PORT=str(port),
                                 MIRROR_SERVER_PUBLIC_URL=f"https://127.0.0.1:{port}"))
        self.extra.append(owner)
        relay = self.node(self.env, MIRROR_SERVER_CLUSTER_PLAYBACK="relay")
        self.extra.append(relay)
        self.feeds.append(video_feed(owner.srt_port, "tls"))
        path = "/live/tls/index.m3u8"
        wait_for(lambda: owner.origin("GET", path)[0] == 200, "tls's playlist on its owner",
                 deadline_s=60)
        _, _, doc = wait_for(lambda: (r := relay.http("GET", "/api/v1/streams/tls"))[0] == 200
                             and r[2].get("owner_tls_pin") and r, "the owner's pin in its entry")
        self.assertEqual(len(doc["owner_tls_pin"]), 44)
        wait_for(lambda: relay.origin("GET", path)[0] == 200,
                 "the relaying node answering for tls over HTTPS")
        # The owner's answer, as the relay passes it on. Its BANDWIDTH is
        # re-measured while the stream warms up: the two are compared
        # fetched together, until a pair falls within one measurement.
        wait_for(lambda: relay.origin("GET", path)[2] == owner.origin("GET", path, tls=True)[2],
                 "the relay's index.m3u8 the same as the owner's", deadline_s=30, interval_s=0.2)
        self.assertIn("h264", probed_codecs(f"http://127.0.0.1:{relay.http_port}{path}"))

    def test_redis_restart_reregisters_within_5s(self):
        self.m1.create_testsrc("a")
        self.m2.create_testsrc("b")
        port = self.redis.port
        self.redis.stop(signal.SIGKILL)

        # Streams keep flowing; health says the registry is gone.
        wait_for(lambda: self.m1.http("GET", "/health")[0] == 503, "health 503 without Redis")
        self.assertEqual(self.m1.stream_state("a"), "live")
        self.assertEqual(self.m2.stream_state("b"), "live")

        self.redis = Redis(port=port)   # empty: nothing persisted
        wait_for(lambda: sorted(self.redis.command("SMEMBERS", "mirror:streams")) == ["a", "b"],
                 "both streams registered again", deadline_s=5.0 + 5.0)
        wait_for(lambda: self.m1.http("GET", "/health")[0] == 200, "health 200 again")
        wait_for(lambda: ids(self.m2) == ["a", "b"], "cluster list back")

    def test_a_dead_nodes_entries_lapse(self):
        self.m1.create_testsrc("a")
        self.m2.create_testsrc("b")
        wait_for(lambda: ids(self.m2) == ["a", "b"], "both listed")
        self.m1.stop(signal.SIGKILL)   # no chance to unregister
        wait_for(lambda: ids(self.m2) == ["b"], "a lapses after registry.heartbeat_timeout")
        # And its id is free again.
        self.m2.create_testsrc("a")


if __name__ == "__main__":
    unittest.main(verbosity=2)
