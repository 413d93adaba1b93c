# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared pieces of the integration tests: free ports, a real mirrord and a
real redis-server started by the test and stopped by PID, a small HTTP client.

Standard library only. Paths come from MIRROR_BUILD_ROOT / MIRROR_SOURCE_ROOT,
which meson's test environment sets.
"""

import atexit
import contextlib
import http.client as httplib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

BUILD_ROOT = os.environ.get("MIRROR_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "../../build"))
SOURCE_ROOT = os.environ.get("MIRROR_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
MIRRORD = os.path.join(BUILD_ROOT, "daemon", "mirrord")

# CI's two cores are busy: deadlines are generous, polls are short. A
# sanitizer build (tools/sanitize/env) runs a few times slower: its
# MIRROR_TEST_SLOWDOWN stretches every deadline.
SLOWDOWN = max(1.0, float(os.environ.get("MIRROR_TEST_SLOWDOWN") or 1))
DEADLINE_S = 30.0 * SLOWDOWN

# What AddressSanitizer, LeakSanitizer and UBSan print when they find
# something (in a sanitizer build; never otherwise).
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: ")


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port free for TCP (or UDP with kind=SOCK_DGRAM) right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair():
    """A port free for both TCP and UDP (the HTTPS/HTTP3 port)."""
    for _ in range(50):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free for both TCP and UDP")


def free_udp_port_pair():
    """A UDP port free together with the one above it (RTP and RTCP): a
    probe of the first alone once handed mirrord an RTCP port another
    process held."""
    for _ in range(50):
        port = free_port(socket.SOCK_DGRAM)
        if port >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no pair of free UDP ports")


def wait_for(predicate, what, deadline_s=None, interval_s=0.05):
    """Polls predicate until it returns a truthy value; fails naming what.
    deadline_s (DEADLINE_S when None) is in a normal build's seconds:
    stretched by SLOWDOWN here."""
    deadline_s = DEADLINE_S if deadline_s is None else deadline_s * SLOWDOWN
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, httplib.HTTPException) as e:
            last = e
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what} (last: {last!r})")


def check_reload(test, key, playlist, last, first=None):
    """One reload of the media playlist `key` (an llhls.MediaPlaylist, None
    when it was not served): llhls.py's rules on its own and against the
    reload before it (last[key]); then it becomes last[key] (and first[key],
    the first time)."""
    import llhls
    test.assertIsNotNone(playlist, key)
    test.assertEqual(llhls.media_violations(playlist), [], f"{key}:\n{playlist.text}")
    if key in last:
        test.assertEqual(llhls.reload_violations(last[key], playlist), [],
                         f"{key}:\n{last[key].text}\n---\n{playlist.text}")
    if first is not None:
        first.setdefault(key, playlist)
    last[key] = playlist


@contextlib.contextmanager
def log_on_failure(process, name="mirrord", tail=8000):
    """Prints the end of process's log when the block fails, then lets the
    failure go on."""
    try:
        yield
    except BaseException:
        print(f"{name}'s log ends:\n" + process.output()[-tail:], file=sys.stderr, flush=True)
        raise


def http(port, method, path, body=None, token=None, headers=None, raw_body=None, timeout=20,
         raw=False, host="127.0.0.1"):
    """One request to host:port. Returns (status, headers, parsed JSON or text);
    raw=True: the body as bytes, unparsed."""
    conn = httplib.HTTPConnection(host, port, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if raw_body is not None:
        data = raw_body.encode() if isinstance(raw_body, str) else raw_body
        hdrs.setdefault("Content-Type", "application/json")
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        payload = resp.read()
        if raw:
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
        payload = payload.decode()
        ctype = resp.getheader("Content-Type") or ""
        parsed = payload
        if "json" in ctype and payload.strip():
            parsed = json.loads(payload)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed
    finally:
        conn.close()


def https(port, method, path, body=None, headers=None, timeout=20, host="127.0.0.1"):
    """One HTTPS request to host:port, certificate not checked (the
    Origin's is self-signed). Returns (status, lower-case headers, bytes)."""
    conn = httplib.HTTPSConnection(host, port, timeout=timeout,
                                   context=ssl._create_unverified_context())
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


_started = []


@atexit.register
def _stop_leftovers():
    """Whatever a failed test left running is killed by its PID on exit."""
    for proc, group in _started:
        if proc.poll() is None:
            (os.killpg if group else os.kill)(proc.pid, signal.SIGKILL)
            proc.wait()


_log_dir = None


def log_dir():
    """Where the processes a test starts write their output: one folder per
    test script under the build's meson-logs/processes/, emptied when the
    script starts, so the last run's logs are kept beside meson's own and
    runs do not pile files up in /tmp."""
    global _log_dir
    if _log_dir is None:
        name = os.path.splitext(os.path.basename(sys.argv[0] or "python"))[0] or "python"
        path = os.path.join(BUILD_ROOT, "meson-logs", "processes", name)
        try:
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path)
            _log_dir = path
        except OSError:  # a build tree we cannot write: the system's temp dir
            _log_dir = tempfile.mkdtemp(prefix=f"mirror-{name}-logs-")
    return _log_dir


class Process:
    """A child process we started; stopped by its PID, never by name. Its
    output goes to a file in log_dir ()."""

    def __init__(self, argv, env=None, log_name="process", group=False):
        """group: argv is a shell pipeline; it gets its own process group,
        and signals go to that group (whose id is our child's PID)."""
        self.log = tempfile.NamedTemporaryFile(prefix=f"{log_name}-", suffix=".log",
                                               dir=log_dir(), delete=False)
        self.group = group
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=group)
        _started.append((self.proc, group))

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def running(self):
        return self.proc.poll() is None

    def _kill(self, sig):
        (os.killpg if self.group else os.kill)(self.proc.pid, sig)

    def send_signal(self, sig):
        if self.running():
            self._kill(sig)

    def wait(self, timeout=DEADLINE_S):
        return self.proc.wait(timeout=timeout)

    def stop(self, sig=signal.SIGTERM, timeout=DEADLINE_S):
        """Signals the process and waits; SIGKILL if it does not end in time.
        Under the sanitizers, a report in its log fails the caller."""
        if self.running():
            self._kill(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill(signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"pid {self.proc.pid} ignored {sig} for {timeout}s")
        self.check_sanitizers()
        return self.proc.returncode

    def check_sanitizers(self):
        """Fails with the report when ASan, LSan or UBSan wrote one into the
        log (the process may have exited 0 anyway: a test that stops it by a
        signal may not look at its status)."""
        if not any(v in os.environ for v in ("ASAN_OPTIONS", "UBSAN_OPTIONS")):
            return
        out = self.output()
        at = min((i for i in (out.find(r) for r in SANITIZER_REPORTS) if i >= 0), default=-1)
        if at >= 0:
            raise AssertionError(f"sanitizer report from pid {self.proc.pid} ({self.proc.args[0]}):\n"
                                 + out[max(0, at - 2000):at + 12000])


class Redis(Process):
    """A real redis-server on a free port of host (loopback unless told),
    in its own temp dir."""

    def __init__(self, port=None, password=None, host="127.0.0.1"):
        self.host = host
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="mirror-redis-")
        argv = ["redis-server", "--port", str(self.port), "--bind", host,
                "--save", "", "--appendonly", "no", "--dir", self.dir]
        if password:
            argv += ["--requirepass", password]
        if not host.startswith("127."):
            # Off loopback without a password, protected mode refuses
            # every client (the test's own network: its nodes are clients).
            argv += ["--protected-mode", "no"]
        super().__init__(argv, log_name="redis")
        self.password = password
        wait_for(self.ping, f"redis-server on {host}:{self.port}")

    def stop(self, sig=signal.SIGTERM, timeout=DEADLINE_S):
        try:
            return super().stop(sig, timeout)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def ping(self):
        with socket.create_connection((self.host, self.port), timeout=2) as s:
            if self.password:
                s.sendall(f"AUTH {self.password}\r\n".encode())
                s.recv(64)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")

    def command(self, *args):
        """One command through redis-cli; returns its output lines."""
        argv = ["redis-cli", "-h", self.host, "-p", str(self.port)]
        if self.password:
            argv += ["--no-auth-warning", "-a", self.password]
        r = subprocess.run(argv + [str(a) for a in args], capture_output=True, text=True, timeout=10)
        return [line for line in r.stdout.splitlines() if line]


class Mirrord(Process):
    """A real mirrord on free ports, with its own state dir, config by env.
    host: the address it binds (its admin API and Origin, which http(),
    origin() and wait_ready() then ask); prefix: argv run before mirrord's,
    one that execs it (["ip", "netns", "exec", NS]), so that its PID is
    mirrord's."""

    def __init__(self, env=None, config=None, args=None, wait_ready=True, host="127.0.0.1",
                 prefix=()):
        # Each probe lets its port go, so two probes can return the same
        # port: mirrord refuses a config that gives one port two jobs.
        taken = set()

        def pick(probe, span=1):
            for _ in range(100):
                port = probe()
                ports = set(range(port, port + span))
                if not ports & taken:
                    taken.update(ports)
                    return port
            raise RuntimeError("no distinct free ports")

        self.host = host
        self.admin_port = pick(free_port)
        self.state_dir = tempfile.mkdtemp(prefix="mirror-state-")
        full_env = dict(os.environ)
        # No D-Bus unless a test brings its own bus.
        full_env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        full_env.update({
            "MIRROR_SERVER_ADMIN_PORT": str(self.admin_port),
            "MIRROR_SERVER_ADMIN_BIND_ADDRESS": host,
            "MIRROR_SERVER_BIND_ADDRESS": host,
            "MIRROR_SERVER_HTTP_PORT": str(pick(free_port)),
            "MIRROR_SERVER_HTTP3_PORT": str(pick(free_port_pair)),
            "MIRROR_INGESTION_SRT_PORT": str(pick(lambda: free_port(socket.SOCK_DGRAM))),
            # RTP and RTCP: the port and the one above it.
            "MIRROR_INGESTION_RTP_PORT": str(pick(free_udp_port_pair, 2)),
            "MIRROR_STORAGE_LOCAL_CACHE_DIR": self.state_dir,
        })
        full_env.update(env or {})
        self.env = full_env
        # The ports it listens on, after the caller's overrides.
        self.admin_port = int(full_env["MIRROR_SERVER_ADMIN_PORT"])
        self.http_port = int(full_env["MIRROR_SERVER_HTTP_PORT"])
        self.https_port = int(full_env["MIRROR_SERVER_HTTP3_PORT"])
        self.srt_port = int(full_env["MIRROR_INGESTION_SRT_PORT"])
        self.rtp_port = int(full_env["MIRROR_INGESTION_RTP_PORT"])
        argv = list(prefix) + [MIRRORD]
        if config is not None:
            path = os.path.join(self.state_dir, "mirror.yaml")
            with open(path, "w") as f:
                f.write(config)
            argv += ["--config", path]
        argv += list(args or [])
        super().__init__(argv, env=full_env, log_name="mirrord")
        if wait_ready:
            try:
                self.wait_ready()
            except BaseException:
                self.stop(signal.SIGKILL)
                raise

    def wait_ready(self):
        def ready():
            if not self.running():
                raise AssertionError(f"mirrord exited with {self.proc.returncode}:\n{self.output()}")
            status, _, _ = self.http("GET", "/health", timeout=2)
            return status in (200, 503)
        wait_for(ready, f"mirrord admin API on {self.host}:{self.admin_port}")

    def http(self, method, path, body=None, **kw):
        return http(self.admin_port, method, path, body=body, host=self.host, **kw)

    def origin(self, method, path, tls=False, **kw):
        """One request to the Origin: plain HTTP/1.1, or HTTPS (self-signed,
        unverified). Returns (status, lower-case headers, body bytes)."""
        if tls:
            return https(self.https_port, method, path, host=self.host, **kw)
        return http(self.http_port, method, path, raw=True, host=self.host, **kw)

    def stop(self, sig=signal.SIGTERM, timeout=DEADLINE_S):
        try:
            return super().stop(sig, timeout)
        finally:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def stream_state(self, stream_id):
        status, _, doc = self.http("GET", f"/api/v1/streams/{stream_id}")
        return doc.get("state") if status == 200 else None

    def media_playlist(self, stream_id, rendition):
        """The rendition's media playlist parsed (llhls.MediaPlaylist), or None
        while it is not served."""
        import llhls
        status, _, body = self.origin("GET", f"/live/{stream_id}/{rendition}.m3u8", timeout=5)
        return llhls.MediaPlaylist(body.decode()) if status == 200 else None

    def create_testsrc(self, stream_id, token=None):
        status, _, doc = self.http("POST", "/api/v1/streams",
                                   {"id": stream_id, "pipeline": "testsrc"}, token=token)
        assert status == 201, (status, doc)
        wait_for(lambda: self.stream_state(stream_id) == "live", f"stream {stream_id} live")
        return doc


def video_feed(port, stream_id, log_name="feed"):
    """Live 320x240 25 fps H.264 (1 s GOPs) in MPEG-TS over SRT into port, as
    a camera sends it: stock elements only, no plugin of ours."""
    return Process(
        ["gst-launch-1.0", "-q",
         "videotestsrc", "is-live=true", "pattern=ball", "!",
         "video/x-raw,format=I420,width=320,height=240,framerate=25/1", "!",
         "x264enc", "tune=zerolatency", "speed-preset=ultrafast", "key-int-max=25", "bframes=0", "!",
         "h264parse", "config-interval=-1", "!", "mpegtsmux", "alignment=7", "!",
         "srtsink", f"uri=srt://127.0.0.1:{port}?streamid={stream_id}", "latency=120"],
        log_name=log_name)


def run_mirrord_once(args, env=None, timeout=30):
    """Runs mirrord to completion (bad configs, `version`); returns (code, output)."""
    full_env = dict(os.environ)
    full_env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    state = tempfile.mkdtemp(prefix="mirror-state-")
    full_env["MIRROR_STORAGE_LOCAL_CACHE_DIR"] = state
    full_env.update(env or {})
    try:
        r = subprocess.run([MIRRORD] + list(args), env=full_env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return r.returncode, r.stdout + r.stderr


class LiveStreamCase(unittest.TestCase):
    """A test class around one mirrord and one live feed into it, shared by
    its tests. Subclasses call start_live from setUpClass; on a failed
    set-up both logs are printed and both processes stopped, and at the end
    mirrord must exit cleanly."""

    m = None
    feed = None
    feeds = ()  # more feeds, started by the subclass, stopped here

    @classmethod
    def start_live(cls, env, make_feed, ready):
        """make_feed(mirrord) -> Process; ready() runs once the feed is up
        (it waits on whatever the class needs) and its result is returned."""
        cls.m = Mirrord(env=env)
        cls.feed = None
        try:
            cls.feed = make_feed(cls.m)
            return ready()
        except BaseException:
            print("set-up failed; mirrord's log ends:\n" + cls.m.output()[-4000:],
                  file=sys.stderr, flush=True)
            if cls.feed is not None:
                print("the feed's log ends:\n" + cls.feed.output()[-2000:], file=sys.stderr,
                      flush=True)
                cls.feed.stop()
            cls.m.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        for feed in [cls.feed, *cls.feeds]:
            if feed is not None:
                feed.stop()
        if cls.m is not None:
            code = cls.m.stop()
            assert code == 0, f"mirrord exited with {code}:\n{cls.m.output()[-4000:]}"
