# SPDX-License-Identifier: LGPL-2.1-or-later
"""Two mirrords on one real redis-server: one cluster-wide list, one owner per
stream id, streams that survive Redis going away, entries of a dead node
that lapse."""

import signal
import unittest

from mirrortest import Mirrord, Redis, wait_for


def ids(m):
    status, _, doc = m.http("GET", "/api/v1/streams")
    assert status == 200, doc
    return sorted(s["id"] for s in doc["streams"])


class Cluster(unittest.TestCase):
    def setUp(self):
        self.redis = Redis()
        env = {"MIRROR_REDIS_ADDR": f"127.0.0.1:{self.redis.port}",
               "MIRROR_REGISTRY_HEARTBEAT_TIMEOUT": "3s",
               "MIRROR_REGISTRY_HEARTBEAT_INTERVAL": "500ms"}
        self.m1 = Mirrord(env=env)
        self.m2 = Mirrord(env=env)

    def tearDown(self):
        for m in (self.m1, self.m2):
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
