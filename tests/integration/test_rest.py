# SPDX-License-Identifier: LGPL-2.1-or-later
"""The admin REST API against a real mirrord over real HTTP."""

import json
import os
import shutil
import tempfile
import unittest

from mirrortest import Mirrord, SOURCE_ROOT, free_port, wait_for

TOKEN = "s3cret-token"


class StreamLifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Mirrord()

    @classmethod
    def tearDownClass(cls):
        assert cls.m.stop() == 0, cls.m.output()

    def test_create_get_pause_resume_delete(self):
        m = self.m
        doc = m.create_testsrc("cam1")
        self.assertEqual(doc["id"], "cam1")
        self.assertTrue(doc["local"])
        self.assertEqual(doc["pipeline"], "testsrc")

        status, _, listing = m.http("GET", "/api/v1/streams")
        self.assertEqual(status, 200)
        self.assertIn("cam1", [s["id"] for s in listing["streams"]])
        self.assertEqual(listing["count"], len(listing["streams"]))

        # The heartbeat element reports through the registry.
        def stats():
            status, _, s = m.http("GET", "/api/v1/streams/cam1/stats")
            return status == 200 and s["bytes"] > 0 and s["codec"] == "raw" and s
        s = wait_for(stats, "cam1 stats with bytes")
        self.assertEqual(s["width"], 320)
        self.assertEqual(s["height"], 180)

        status, _, doc = m.http("POST", "/api/v1/streams/cam1/pause")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["state"], "paused")
        self.assertEqual(m.stream_state("cam1"), "paused")

        status, _, doc = m.http("POST", "/api/v1/streams/cam1/resume")
        self.assertEqual(status, 200, doc)
        wait_for(lambda: m.stream_state("cam1") == "live", "cam1 live again")

        status, _, _ = m.http("DELETE", "/api/v1/streams/cam1")
        self.assertEqual(status, 204)
        status, _, doc = m.http("GET", "/api/v1/streams/cam1")
        self.assertEqual(status, 404)
        self.assertEqual(doc["code"], "NOT_FOUND")

    def test_secrets_in_a_source_uri_are_masked(self):
        # A pull whose URI carries its SRT passphrase (nobody answers it):
        # the API shows the URI and the description it runs with the value
        # masked, and the log does not print it.
        m = self.m
        port = free_port()
        status, _, doc = m.http("POST", "/api/v1/streams", {
            "id": "pullsecret",
            "uri": f"srt://127.0.0.1:{port}?mode=caller&passphrase=do-not-show-1234"})
        self.assertEqual(status, 201, doc)
        try:
            self.assertIn("passphrase=***", doc["source"])
            status, _, doc = m.http("GET", "/api/v1/streams/pullsecret")
            self.assertEqual(status, 200, doc)
            self.assertIn("passphrase=***", doc["source"])
            self.assertIn("passphrase=***", doc["description"])
            self.assertIn("mirroringestbin", doc["description"])
            _, _, listing = m.http("GET", "/api/v1/streams")
            self.assertNotIn("do-not-show-1234", json.dumps(listing))
            self.assertNotIn("do-not-show-1234", json.dumps(doc))
            self.assertNotIn("do-not-show-1234", m.output())
        finally:
            m.http("DELETE", "/api/v1/streams/pullsecret")

    def test_duplicate_id_is_refused(self):
        m = self.m
        m.create_testsrc("dup")
        status, _, doc = m.http("POST", "/api/v1/streams", {"id": "dup", "pipeline": "testsrc"})
        self.assertEqual(status, 409)
        self.assertEqual(doc["code"], "ALREADY_EXISTS")
        self.assertIn("dup", doc["message"])
        self.assertEqual(m.http("DELETE", "/api/v1/streams/dup")[0], 204)

    def test_errors_are_json_with_seed_codes(self):
        m = self.m
        cases = [
            ("GET", "/api/v1/streams/nope", None, None, 404, "NOT_FOUND"),
            ("GET", "/api/v1/streams/nope/stats", None, None, 404, "NOT_FOUND"),
            ("POST", "/api/v1/streams/nope/pause", None, None, 404, "NOT_FOUND"),
            ("POST", "/api/v1/streams/nope/resume", None, None, 404, "NOT_FOUND"),
            ("DELETE", "/api/v1/streams/nope", None, None, 404, "NOT_FOUND"),
            ("GET", "/api/v1/nothing-here", None, None, 404, "NOT_FOUND"),
            ("POST", "/api/v1/streams", None, '{"id": "x", ', 400, "INVALID_INPUT"),
            ("POST", "/api/v1/streams", None, "[1, 2]", 400, "INVALID_INPUT"),
            ("POST", "/api/v1/streams", None, "", 400, "INVALID_INPUT"),
            ("POST", "/api/v1/streams", {"pipeline": "testsrc"}, None, 400, "INVALID_INPUT"),
            ("POST", "/api/v1/streams", {"id": 42}, None, 400, "INVALID_INPUT"),
            ("POST", "/api/v1/streams", {"id": "bad id!"}, None, 400, "INVALID_INPUT"),
            ("POST", "/api/v1/streams", {"id": "ok", "pipeline": "nosuch"}, None, 400, "INVALID_INPUT"),
            ("PUT", "/api/v1/streams", None, None, 405, "INVALID_INPUT"),
        ]
        for method, path, body, raw, want_status, want_code in cases:
            with self.subTest(method=method, path=path, body=body, raw=raw):
                status, headers, doc = m.http(method, path, body=body, raw_body=raw)
                self.assertEqual(status, want_status, doc)
                self.assertIn("application/json", headers["content-type"])
                self.assertEqual(doc["code"], want_code)
                self.assertTrue(doc["message"])
        # None of those created anything.
        _, _, listing = m.http("GET", "/api/v1/streams")
        self.assertNotIn("ok", [s["id"] for s in listing["streams"]])

    def test_malformed_json_message_names_the_problem(self):
        status, _, doc = self.m.http("POST", "/api/v1/streams", raw_body='{"id": ')
        self.assertEqual(status, 400)
        self.assertIn("malformed JSON", doc["message"])

    def test_system_stats(self):
        self.m.create_testsrc("sys1")
        status, _, doc = self.m.http("GET", "/api/v1/stats")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(doc["streams"]["local"], 1)
        self.assertEqual(doc["registry"]["backend"], "memory://")
        self.assertTrue(doc["registry"]["connected"])
        self.assertGreater(doc["process"]["rss_bytes"], 0)
        self.assertTrue(doc["version"])
        self.assertEqual(self.m.http("DELETE", "/api/v1/streams/sys1")[0], 204)

    def test_health(self):
        status, _, doc = self.m.http("GET", "/health")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["components"]["registry"]["status"], "ok")
        self.assertEqual(doc["components"]["listeners"]["admin"]["status"], "ok")
        self.assertIn("failed", doc["components"]["pipelines"])

    def test_metrics(self):
        self.m.create_testsrc("met1")
        self.m.http("GET", "/api/v1/streams")
        status, headers, text = self.m.http("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn("text/plain", headers["content-type"])
        for family in ("mirror_build_info", "mirror_streams", "mirror_api_requests_total",
                       "mirror_registry_connected", "mirror_uptime_seconds",
                       "mirror_streams_created_total"):
            self.assertIn(f"# TYPE {family} ", text)
        self.assertRegex(text, r'mirror_streams\{state="live"\} [1-9]')
        self.assertIn('route="/api/v1/streams"', text)
        self.assertEqual(self.m.http("DELETE", "/api/v1/streams/met1")[0], 204)

    def test_openapi_document_matches_the_repo_and_the_routes(self):
        status, _, served = self.m.http("GET", "/api/v1/openapi.json")
        self.assertEqual(status, 200)
        with open(os.path.join(SOURCE_ROOT, "daemon/api/openapi.json")) as f:
            self.assertEqual(served, json.load(f))
        self.assertTrue(served["openapi"].startswith("3."))
        paths = served["paths"]
        for path, method in [("/api/v1/streams", "get"), ("/api/v1/streams", "post"),
                             ("/api/v1/streams/{id}", "get"), ("/api/v1/streams/{id}", "delete"),
                             ("/api/v1/streams/{id}/stats", "get"),
                             ("/api/v1/streams/{id}/pause", "post"),
                             ("/api/v1/streams/{id}/resume", "post"),
                             ("/api/v1/streams/{id}/passphrase", "put"),
                             ("/api/v1/streams/{id}/drop-caller", "post"),
                             ("/api/v1/streams/{id}/thumbnail.jpg", "get"),
                             ("/api/v1/events", "get"),
                             ("/api/v1/stats", "get"), ("/health", "get"), ("/metrics", "get")]:
            self.assertIn(method, paths.get(path, {}), f"{method.upper()} {path} not documented")


class AdminToken(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Mirrord(env={"MIRROR_SERVER_ADMIN_TOKEN": TOKEN})

    @classmethod
    def tearDownClass(cls):
        assert cls.m.stop() == 0, cls.m.output()

    def test_mutations_need_the_token(self):
        m = self.m
        for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
            with self.subTest(token=token):
                status, headers, doc = m.http("POST", "/api/v1/streams",
                                              {"id": "guarded", "pipeline": "testsrc"}, token=token)
                self.assertEqual(status, 401)
                self.assertEqual(doc["code"], "UNAUTHORIZED")
                self.assertIn("bearer", headers.get("www-authenticate", "").lower())
        # Nothing was created by the refused calls.
        status, _, listing = m.http("GET", "/api/v1/streams")
        self.assertEqual(status, 200)
        self.assertEqual(listing["streams"], [])

        m.create_testsrc("guarded", token=TOKEN)
        self.assertEqual(m.http("POST", "/api/v1/streams/guarded/pause")[0], 401)
        self.assertEqual(m.stream_state("guarded"), "live")
        self.assertEqual(m.http("DELETE", "/api/v1/streams/guarded")[0], 401)
        self.assertEqual(m.http("GET", "/api/v1/streams/guarded")[0], 200)
        self.assertEqual(m.http("DELETE", "/api/v1/streams/guarded", token=TOKEN)[0], 204)


class Limits(unittest.TestCase):
    def test_capacity_full(self):
        m = Mirrord(env={"MIRROR_INGESTION_MAX_STREAMS": "1"})
        try:
            m.create_testsrc("one")
            status, _, doc = m.http("POST", "/api/v1/streams", {"id": "two", "pipeline": "testsrc"})
            self.assertEqual(status, 429)
            self.assertEqual(doc["code"], "CAPACITY_FULL")
            self.assertIn("max_streams", doc["message"])
            self.assertEqual(m.stream_state("one"), "live")
        finally:
            self.assertEqual(m.stop(), 0, m.output())


class PipelineFailure(unittest.TestCase):
    def test_a_failing_pipeline_stops_alone(self):
        pipelines = tempfile.mkdtemp(prefix="mirror-pipelines-")
        shutil.copy(os.path.join(SOURCE_ROOT, "pipelines/testsrc.pipeline"), pipelines)
        shutil.copy(os.path.join(SOURCE_ROOT, "pipelines/default.pipeline"), pipelines)
        with open(os.path.join(pipelines, "broken.pipeline"), "w") as f:
            f.write("# fails when it starts\nfilesrc location=/nonexistent/${stream_id} ! fakesink\n")
        m = Mirrord(env={"MIRROR_INGESTION_PIPELINES_DIR": pipelines})
        try:
            m.create_testsrc("healthy")
            status, _, doc = m.http("POST", "/api/v1/streams", {"id": "bad", "pipeline": "broken"})
            self.assertEqual(status, 201, doc)
            wait_for(lambda: m.stream_state("bad") == "error", "stream bad in error")
            _, _, doc = m.http("GET", "/api/v1/streams/bad")
            self.assertIn("nonexistent", doc["message"])
            self.assertEqual(m.stream_state("healthy"), "live")
            status, _, health = m.http("GET", "/health")
            self.assertEqual(status, 200)
            self.assertEqual(health["components"]["pipelines"]["failed"], 1)
            self.assertEqual(m.http("POST", "/api/v1/streams/bad/pause")[0], 400)
            self.assertEqual(m.http("DELETE", "/api/v1/streams/bad")[0], 204)
            self.assertEqual(m.stream_state("healthy"), "live")
        finally:
            self.assertEqual(m.stop(), 0, m.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
