#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Cluster playback and failover with real players: three mirrords on one
redis-server, each in a network namespace of its own that the test makes
(veths on a bridge of the root namespace, which holds redis-server, the
feeds, ffprobe and Chromium), or, where namespaces are not permitted, on
loopback addresses of their own (the output says which, and why).

An H.264 + AAC SRT feed goes into node A. Node B redirects its viewers to
A (server.cluster_playback redirect, one 302), node C relays A's answers
(relay). ffprobe reads the stream's H.264 through B and through C, and
Chromium's hls.js plays B's player page and C's player page at once. Then A
and its feed are killed (SIGKILL); once the stream's entry has lapsed in the
registry the camera calls node B, which takes the stream on. From B's first
listed part both players must be moving again within RECOVERY_S (the page
restarts hls.js from its entry URL), B's stream must number on from A's
(a greater EXT-X-MEDIA-SEQUENCE) after a discontinuity (a greater
discontinuity sequence plus tags), and ffprobe through C (now relaying B)
reads H.264 again. Skips (exit 77) only when chromium or web/node_modules
is missing."""
import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time

from mirrortest import Mirrord, Redis, free_port, wait_for
from test_browser import SKIP, Follower, browser_missing
from test_cluster import ids
from test_hls import srt_feed

STREAM = "failover"
# From the new owner's first listed part to both players moving again: the
# issue's bound.
RECOVERY_S = 5.0


def ip(*args, ns=None):
    """One ip(8) command (in namespace ns); its output, or OSError."""
    argv = ["ip"] + (["-n", ns] if ns else []) + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise OSError(f"`{' '.join(argv)}` failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


class Network:
    """Where the nodes live. Namespaces: a bridge with 10.X.Y.1/24 in the
    root namespace and three namespaces, each with a veth on the bridge and
    10.X.Y.2, .3, .4 (X.Y and every name from our PID: parallel runs do not
    clash). Loopback, where that is not permitted: 127.0.0.1, .2, .3."""

    def __init__(self):
        self.namespaces, self.links = [], []
        self.why = None
        try:
            if os.geteuid() != 0:
                raise OSError(f"not root (uid {os.geteuid()})")
            self.make_namespaces(os.getpid())
            self.mode = "namespaces"
        except (OSError, AssertionError, subprocess.SubprocessError) as e:
            self.why = str(e)
            self.teardown()
            self.mode = "loopback"
            self.redis_host = "127.0.0.1"
            self.hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
            self.prefixes = [(), (), ()]

    def make_namespaces(self, pid):
        # A /24 no interface here has an address in yet.
        for k in range(64):
            n = (pid + k * 97) % (200 * 256)
            subnet = f"10.{20 + n // 256}.{n % 256}"
            if not ip("-o", "addr", "show", "to", f"{subnet}.0/24").strip():
                break
        else:
            raise OSError("no free 10.x.y.0/24 for the bridge")
        self.bridge = f"mbr{pid}"
        ip("link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        ip("addr", "add", f"{subnet}.1/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        self.redis_host = f"{subnet}.1"
        self.hosts, self.prefixes = [], []
        for i, letter in enumerate("abc"):
            ns, outside, inside = f"mirror-{pid}-{letter}", f"mv{letter}{pid}", f"mn{letter}{pid}"
            host = f"{subnet}.{2 + i}"
            ip("netns", "add", ns)
            self.namespaces.append(ns)
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            self.links.append(outside)
            ip("link", "set", outside, "master", self.bridge)
            ip("link", "set", outside, "up")
            ip("link", "set", inside, "netns", ns)
            ip("addr", "add", f"{host}/24", "dev", inside, ns=ns)
            ip("link", "set", inside, "up", ns=ns)
            ip("link", "set", "lo", "up", ns=ns)
            self.hosts.append(host)
            self.prefixes.append(("ip", "netns", "exec", ns))

        # What ip says it made, and a TCP connection from each namespace
        # to the bridge's address.
        ports = ip("-o", "link", "show", "master", self.bridge)
        for ns, host, letter in zip(self.namespaces, self.hosts, "abc"):
            assert f"mv{letter}{pid}" in ports, f"mv{letter}{pid} not on {self.bridge}:\n{ports}"
            shown = ip("-o", "addr", "show", "dev", f"mn{letter}{pid}", ns=ns)
            assert f"inet {host}/24" in shown, f"{ns}: {shown}"
            assert "UP" in ip("-o", "link", "show", "dev", "lo", ns=ns), f"{ns}: lo down"
        with socket.socket() as listener:
            listener.bind((self.redis_host, 0))
            listener.listen(8)
            port = listener.getsockname()[1]
            for ns in self.namespaces:
                def reaches():
                    r = subprocess.run(
                        ["ip", "netns", "exec", ns, sys.executable, "-c",
                         "import socket, sys; "
                         "socket.create_connection((sys.argv[1], int(sys.argv[2])), 2).close()",
                         self.redis_host, str(port)],
                        capture_output=True, text=True, timeout=20)
                    if r.returncode != 0:
                        raise OSError(r.stderr.strip()[-300:] or f"exit {r.returncode}")
                    return True
                wait_for(reaches, f"{ns} reaching {self.redis_host} over the bridge",
                         deadline_s=10, interval_s=0.2)

    def describe(self):
        if self.mode == "namespaces":
            return (f"network namespaces {', '.join(self.namespaces)} on bridge {self.bridge} "
                    f"({self.redis_host}/24): nodes A, B, C on {', '.join(self.hosts)}")
        return (f"loopback: network namespaces not permitted ({self.why}); nodes A, B, C on "
                f"{', '.join(self.hosts)}")

    def teardown(self):
        """Namespaces (their veth ends go with them), then the veths and
        the bridge left in the root namespace; says what it could not
        remove."""
        for ns in self.namespaces:
            try:
                ip("netns", "del", ns)
            except (OSError, subprocess.SubprocessError) as e:
                print(f"teardown: {e}", file=sys.stderr, flush=True)
        present = ""
        if self.links:
            try:
                present = ip("-o", "link", "show")
            except (OSError, subprocess.SubprocessError):
                pass
        for link in reversed(self.links):
            if f" {link}:" in present or f" {link}@" in present:
                try:
                    ip("link", "del", link)
                except (OSError, subprocess.SubprocessError) as e:
                    # A veth goes with its namespace's end, a moment later.
                    if "Cannot find device" not in str(e):
                        print(f"teardown: {e}", file=sys.stderr, flush=True)
        self.namespaces, self.links = [], []


def feed(host, port, stream_id):
    """test_hls.srt_feed's camera (320x240 25 fps H.264, 1 s GOPs, + AAC),
    calling host."""
    return srt_feed(port, stream_id, host=host, log_name="cluster-feed")


def node(net, i, redis, **more):
    """Node i (A, B, C) on its host, in its namespace; its server.public_url
    is its own plain HTTP port there."""
    host = net.hosts[i]
    port = free_port()
    env = {"MIRROR_REDIS_ADDR": f"{redis.host}:{redis.port}",
           "MIRROR_TRANSCODING_ENABLED": "false",
           "MIRROR_REGISTRY_HEARTBEAT_TIMEOUT": "2s",
           "MIRROR_REGISTRY_HEARTBEAT_INTERVAL": "500ms",
           "MIRROR_SERVER_HTTP_PORT": str(port),
           "MIRROR_SERVER_PUBLIC_URL": f"http://{host}:{port}", **more}
    if not host.startswith("127."):
        # The admin API on the namespace's address, which only this test's
        # bridge reaches.
        env["MIRROR_SERVER_ADMIN_INSECURE"] = "true"
    m = Mirrord(env=env, host=host, prefix=net.prefixes[i], wait_ready=False)
    m.public_url = f"http://{host}:{port}"
    m.name = "ABC"[i]
    return m


def probed_video(url):
    """The codecs ffprobe finds at url once it finds H.264 among them (a
    young stream has only parts, which FFmpeg's HLS demuxer does not read,
    and it may find whole audio segments before whole video ones)."""
    def codecs():
        r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", url], capture_output=True, text=True, timeout=60)
        found = r.stdout.split()
        return r.returncode == 0 and "h264" in found and found
    return wait_for(codecs, f"ffprobe reading H.264 at {url}", deadline_s=60, interval_s=0.5)


def tag(text, name):
    """The integer value of the playlist's tag name (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    return 0


def timeline(text):
    """The discontinuity sequence of the playlist's last segment or part:
    EXT-X-DISCONTINUITY-SEQUENCE plus the EXT-X-DISCONTINUITY tags."""
    return (tag(text, "#EXT-X-DISCONTINUITY-SEQUENCE")
            + sum(1 for line in text.splitlines() if line.strip() == "#EXT-X-DISCONTINUITY"))


def main():
    if missing := browser_missing():
        print(f"{missing}: skipping")
        return SKIP
    # meson's timeout is a SIGTERM: the finally below still tears down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(f"terminated (signal {signal.SIGTERM})"))

    net = Network()
    print(f"test_cluster_playback: {net.describe()}", flush=True)
    processes, followers, nodes = [], [], []
    try:
        redis = Redis(host=net.redis_host)
        processes.append(redis)
        a, b, c = nodes = [node(net, 0, redis), node(net, 1, redis),
                           node(net, 2, redis, MIRROR_SERVER_CLUSTER_PLAYBACK="relay")]
        processes += nodes
        for m in nodes:
            m.wait_ready()
        feed_a = feed(a.host, a.srt_port, STREAM)
        processes.append(feed_a)

        index = f"/live/{STREAM}/index.m3u8"

        def ready():
            status, _, body = a.origin("GET", index)
            return status == 200 and b"mp4a" in body and b"avc1" in body and body.decode()
        multivariant = wait_for(ready, "the stream's video and audio on node A", deadline_s=60)
        uri = next(line for line in multivariant.splitlines() if line and not line.startswith("#"))
        media = uri if uri.startswith("/") else f"/live/{STREAM}/{uri}"
        wait_for(lambda: b.origin("GET", index)[0] == 302, "node B redirecting its viewers")
        wait_for(lambda: c.origin("GET", index)[0] == 200, "node C relaying node A")

        # ffprobe through B (one 302 to A) and through C (A's answers,
        # relayed), at once.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            probes = list(pool.map(probed_video, [f"http://{m.host}:{m.http_port}{index}"
                                                   for m in (b, c)]))
        for m, codecs in zip((b, c), probes):
            print(f"ffprobe through node {m.name}: {codecs}", flush=True)
            assert "h264" in codecs, (m.name, codecs)

        # Two hls.js players at once, one on B's page, one on C's.
        for m in (b, c):
            followers.append(Follower(f"http://{m.host}:{m.http_port}/?stream={STREAM}",
                                      seconds=120))
        for f in followers:
            f.playing()
        print("hls.js plays through node B and through node C", flush=True)

        # The owner dies with its feed; the camera calls B once the
        # stream's entry has lapsed.
        status, _, body = a.origin("GET", media, timeout=5)
        assert status == 200, (status, body)
        last_a = body.decode()
        killed = time.monotonic()
        a.stop(signal.SIGKILL)
        feed_a.stop(signal.SIGKILL)
        wait_for(lambda: STREAM not in ids(b), "the stream's entry lapsing with its owner")
        lapsed = time.monotonic()
        processes.append(feed(b.host, b.srt_port, STREAM))

        def listed():
            status, _, body = b.origin("GET", media, timeout=5)
            return status == 200 and b"#EXT-X-PART:" in body and body.decode()
        first_b = wait_for(listed, "the stream's first part on node B", deadline_s=60,
                           interval_s=0.05)
        back = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            recovered = list(pool.map(lambda f: f.moving_again(), followers))
        for m, (recovery, after) in zip((b, c), recovered):
            print(f"hls.js through node {m.name} moving again {recovery} s after node B's first "
                  f"part, {back - killed + recovery:.2f} s after the kill; "
                  f"errors it saw: {after[-1].get('errors')}", flush=True)
        print(f"the entry lapsed {lapsed - killed:.2f} s after the kill, node B listed its first "
              f"part {back - lapsed:.2f} s after that", flush=True)
        msn = (tag(last_a, "#EXT-X-MEDIA-SEQUENCE"), tag(first_b, "#EXT-X-MEDIA-SEQUENCE"))
        timelines = (timeline(last_a), timeline(first_b))
        print(f"EXT-X-MEDIA-SEQUENCE: node A's last {msn[0]}, node B's first {msn[1]}; "
              f"timeline (discontinuity sequence + tags): node A's last {timelines[0]}, "
              f"node B's first {timelines[1]}", flush=True)
        for m, (recovery, after) in zip((b, c), recovered):
            if recovery > RECOVERY_S / 2:  # what the page went through, for the log
                for s in after:
                    print(m.name, {k: s.get(k) for k in ("since_back", "playing", "currentTime",
                                                         "buffer", "latency")},
                          s.get("errors", [])[-2:])
            assert recovery <= RECOVERY_S, (m.name, recovery, after[-8:])
        assert msn[1] > msn[0], f"node B's stream does not number on from A's:\n{first_b}"

        # ffprobe through C again: it relays the new owner now.
        codecs = probed_video(f"http://{c.host}:{c.http_port}{index}")
        print(f"ffprobe through node C after the failover: {codecs}", flush=True)
        assert "h264" in codecs, codecs

        # Last, so that a failure here says everything above held.
        assert timelines[1] > timelines[0], (
            f"no new discontinuity on node B (timeline {timelines[1]}, A's was {timelines[0]}):"
            f"\n{last_a}\n---\n{first_b}")
    except BaseException:
        for m in nodes:
            print(f"node {m.name}'s log ends:\n" + m.output()[-3000:], file=sys.stderr, flush=True)
        raise
    finally:
        for f in followers:
            f.stop()
        failures = []
        for p in reversed(processes):
            try:
                p.stop(signal.SIGTERM)
            except (AssertionError, OSError) as e:
                failures.append(e)
        net.teardown()
        if failures:
            raise failures[0]
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
