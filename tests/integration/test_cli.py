# SPDX-License-Identifier: LGPL-2.1-or-later
"""mirrord as a command: version, bad configs (exit 2, one line), signals."""

import os
import shutil
import signal
import tempfile
import unittest

from mirrortest import SLOWDOWN, Mirrord, Redis, free_port, run_mirrord_once, wait_for


def one_line(output):
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{output}"
    return lines[0]


class Version(unittest.TestCase):
    def test_version(self):
        code, out = run_mirrord_once(["version"])
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"mirrord \d+\.\d+\.\d+")
        self.assertIn("git commit:", out)
        self.assertRegex(out, r"built: \w{3} +\d+ \d{4} \d\d:\d\d:\d\d")

    def test_usage_error_exits_2(self):
        code, out = run_mirrord_once(["--frobnicate"])
        self.assertEqual(code, 2)
        self.assertIn("--frobnicate", out)
        code, out = run_mirrord_once(["--log-level", "loud"])
        self.assertEqual(code, 2)
        self.assertIn("loud", out)


class BadConfig(unittest.TestCase):
    def run_config(self, text=None, env=None, path=None):
        args = []
        if text is not None:
            folder = tempfile.mkdtemp(prefix="mirror-cfg-")
            self.addCleanup(shutil.rmtree, folder, ignore_errors=True)
            path = os.path.join(folder, "mirror.yaml")
            with open(path, "w") as f:
                f.write(text)
        if path is not None:
            args = ["--config", path]
        # A fixed admin port would collide; a bad config must stop before binding anyway.
        return run_mirrord_once(args, env=env)

    def assert_rejected(self, code, out, *needles):
        self.assertEqual(code, 2, out)
        line = one_line(out)
        for needle in needles:
            self.assertIn(needle, line)
        return line

    def test_unknown_key(self):
        code, out = self.run_config("server:\n  admn_port: 9091\n")
        line = self.assert_rejected(code, out, "server.admn_port", "allowed")
        self.assertIn("admin_port", line)

    def test_wrong_type(self):
        code, out = self.run_config("server:\n  admin_port: abc\n")
        self.assert_rejected(code, out, "server.admin_port", "abc", "allowed")

    def test_port_out_of_range(self):
        code, out = self.run_config("ingestion:\n  srt:\n    port: 70000\n")
        self.assert_rejected(code, out, "ingestion.srt.port", "70000", "65535")

    def test_bitrate_below_100k(self):
        code, out = self.run_config("transcoding:\n  output_bitrate: 50k\n")
        self.assert_rejected(code, out, "transcoding.output_bitrate", "50k", "allowed")

    def test_s3_without_bucket(self):
        code, out = self.run_config("storage:\n  s3:\n    enabled: true\n")
        self.assert_rejected(code, out, "storage.s3.bucket", "allowed")

    def test_unreadable_file(self):
        code, out = self.run_config(path="/nonexistent/mirror.yaml")
        self.assert_rejected(code, out, "/nonexistent/mirror.yaml")

    def test_malformed_yaml(self):
        code, out = self.run_config("server:\n  admin_port: [1, 2\n  http_port: 8080\n")
        self.assert_rejected(code, out, "line")

    def test_env_override_is_validated(self):
        code, out = run_mirrord_once([], env={"MIRROR_SERVER_ADMIN_PORT": "0"})
        self.assert_rejected(code, out, "MIRROR_SERVER_ADMIN_PORT", "server.admin_port")

    def test_redis_unreachable_exits_2(self):
        port = free_port()
        code, out = run_mirrord_once([], env={"MIRROR_REDIS_ADDR": f"127.0.0.1:{port}",
                                              "MIRROR_REDIS_CONNECT_TIMEOUT": "500ms",
                                              "MIRROR_SERVER_ADMIN_PORT": str(free_port())})
        self.assertEqual(code, 2, out)
        self.assertIn(f"127.0.0.1:{port}", out)
        self.assertIn("redis.allow_degraded", out)

    def test_check_config_prints_effective_values(self):
        code, out = run_mirrord_once(["check-config"], env={"MIRROR_INGESTION_SRT_LATENCY": "250ms"})
        self.assertEqual(code, 0, out)
        self.assertIn("latency: 250ms", out)

    def test_check_config_never_prints_a_secret(self):
        secrets = {"MIRROR_SERVER_ADMIN_TOKEN": "tok-SECRET-1",
                   "MIRROR_REDIS_PASSWORD": "redis-SECRET-2",
                   "MIRROR_INGESTION_SRT_PASSPHRASE": "srt-SECRET-33",
                   "MIRROR_STORAGE_S3_SECRET_ACCESS_KEY": "s3-SECRET-4"}
        code, out = run_mirrord_once(["check-config"], env=secrets)
        self.assertEqual(code, 0, out)
        self.assertNotIn("SECRET", out)
        self.assertIn('admin_token: "***"', out)
        self.assertIn('password: "***"', out)
        self.assertIn('secret_access_key: "***"', out)

    def test_admin_api_off_loopback_needs_a_token(self):
        code, out = self.run_config("server:\n  admin_bind_address: 0.0.0.0\n")
        self.assert_rejected(code, out, "server.admin_bind_address", "0.0.0.0", "admin_token",
                             "admin_insecure")


class RenderPipeline(unittest.TestCase):
    def test_renders_the_description_mirrord_would_run(self):
        code, out = run_mirrord_once(["render-pipeline", "ingest-only", "stream_id=cam1"],
                                     env={"MIRROR_INGESTION_SRT_PORT": "6123"})
        self.assertEqual(code, 0, out)
        self.assertIn('uri="srt://:6123?streamid=cam1"', out)
        self.assertIn('stream-id="cam1"', out)
        self.assertIn("ring-size=4194304", out)
        self.assertNotIn("${", out)

    def test_values_are_escaped_and_unknown_names_refused(self):
        code, out = run_mirrord_once(["render-pipeline", "testsrc", 'stream_id=a"b'])
        self.assertEqual(code, 0, out)
        self.assertIn('stream-id="a\\"b"', out)
        code, out = run_mirrord_once(["render-pipeline", "nope"])
        self.assertEqual(code, 2)
        self.assertIn("nope", out)
        self.assertIn("testsrc", out)


class AdminBinding(unittest.TestCase):
    def listening(self, port):
        """The local IPv4 addresses listening on @port (from /proc/net/tcp)."""
        found = set()
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, p = local.split(":")
                if state == "0A" and int(p, 16) == port:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))) + f":{port}")
        return found

    def test_no_token_binds_loopback_and_says_how_to_open_it(self):
        # The empty default, not the loopback address the helper sets.
        m = Mirrord(env={"MIRROR_SERVER_ADMIN_BIND_ADDRESS": ""})
        try:
            self.assertEqual(self.listening(m.admin_port), {f"127.0.0.1:{m.admin_port}"})
            self.assertIn("this host only", m.output())
            self.assertNotIn("admin API OPEN", m.output())
        finally:
            self.assertEqual(m.stop(), 0, m.output())

    def test_admin_insecure_opens_it_with_a_warning(self):
        m = Mirrord(env={"MIRROR_SERVER_ADMIN_BIND_ADDRESS": "0.0.0.0",
                         "MIRROR_SERVER_ADMIN_INSECURE": "true"})
        try:
            self.assertEqual(self.listening(m.admin_port), {f"0.0.0.0:{m.admin_port}"})
            self.assertIn("admin API OPEN", m.output())
        finally:
            self.assertEqual(m.stop(), 0, m.output())


class Degraded(unittest.TestCase):
    def test_starts_degraded_and_recovers_when_redis_comes(self):
        port = free_port()
        m = Mirrord(env={"MIRROR_REDIS_ADDR": f"127.0.0.1:{port}",
                         "MIRROR_REDIS_ALLOW_DEGRADED": "true",
                         "MIRROR_REDIS_CONNECT_TIMEOUT": "300ms"})
        redis = None
        try:
            status, _, doc = m.http("GET", "/health")
            self.assertEqual(status, 503)
            self.assertEqual(doc["components"]["registry"]["status"], "unhealthy")
            self.assertIn("degraded", m.output())
            redis = Redis(port=port)
            wait_for(lambda: m.http("GET", "/health")[0] == 200, "health 200 once Redis is up")
        finally:
            self.assertEqual(m.stop(), 0, m.output())
            if redis:
                redis.stop()


class Signals(unittest.TestCase):
    def test_sigterm_drains_streams_and_exits_0(self):
        redis = Redis()
        m = Mirrord(env={"MIRROR_REDIS_ADDR": f"127.0.0.1:{redis.port}"})
        try:
            m.create_testsrc("s1")
            m.create_testsrc("s2")
            self.assertEqual(len(redis.command("SMEMBERS", "mirror:streams")), 2)
            self.assertEqual(m.stop(signal.SIGTERM), 0, m.output())
            out = m.output()
            self.assertIn("stream s1: stopped", out)
            self.assertIn("stream s2: stopped", out)
            self.assertIn("shutdown complete", out)
            # Unregistered cluster-wide on the way out.
            wait_for(lambda: redis.command("KEYS", "mirror:stream:*") == [], "entries gone from Redis")
        finally:
            m.stop(signal.SIGKILL)
            redis.stop()

    def test_sigint_too(self):
        m = Mirrord()
        m.create_testsrc("s1")
        self.assertEqual(m.stop(signal.SIGINT), 0, m.output())
        self.assertIn("shutdown complete", m.output())

    def test_second_signal_exits_at_once(self):
        pipelines = tempfile.mkdtemp(prefix="mirror-pipelines-")
        for name in ("default", "testsrc"):
            with open(os.path.join(os.environ["MIRROR_SOURCE_ROOT"], f"pipelines/{name}.pipeline")) as src, \
                    open(os.path.join(pipelines, f"{name}.pipeline"), "w") as dst:
                dst.write(src.read())
        # Each buffer holds the streaming thread for 10 s (stretched by
        # SLOWDOWN, as the shutdown timeout six times that) once past the
        # heartbeat, so the EOS of a graceful stop is stuck behind it until
        # the second signal, however slowly a busy box gets there.
        sleep_us = int(10_000_000 * SLOWDOWN)
        with open(os.path.join(pipelines, "slow.pipeline"), "w") as f:
            f.write("videotestsrc is-live=true ! mirrorheartbeat stream-id=${stream_id} interval=100000000"
                    f" ! identity sleep-time={sleep_us} ! fakesink\n")
        m = Mirrord(env={"MIRROR_INGESTION_PIPELINES_DIR": pipelines,
                         "MIRROR_SERVER_SHUTDOWN_TIMEOUT": f"{int(60 * SLOWDOWN)}s"})
        try:
            status, _, doc = m.http("POST", "/api/v1/streams", {"id": "slow", "pipeline": "slow"})
            self.assertEqual(status, 201, doc)
            wait_for(lambda: m.http("GET", "/api/v1/streams/slow/stats")[2]["bytes"] > 0,
                     "a buffer past the heartbeat")
            m.send_signal(signal.SIGTERM)
            wait_for(lambda: "shutting down" in m.output(), "shutdown to begin")
            self.assertTrue(m.running(), m.output())
            m.send_signal(signal.SIGTERM)
            self.assertEqual(m.wait(), 1, m.output())
            self.assertIn("exiting now", m.output())
        finally:
            m.stop(signal.SIGKILL)


if __name__ == "__main__":
    unittest.main(verbosity=2)
