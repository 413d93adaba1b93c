#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The request rate the Origin saturates at, with 1 and with 2 workers,
beside nginx with 1 and 2 worker processes, in one run.

    tools/bench/saturate.py [--build DIR] [--workers 1,2] [--protocols http1,h2]
                            [--connections 200] [--streams 10] [--seconds 10]
                            [--server-cpus LIST] [--gen-cpus LIST] [--runs 3]
                            [--quota CORES] [--threads 1]

A closed loop: h2load (Debian's nghttp2-client) keeps --connections
connections busy with one immutable object, the live stream's init section
(HTTP/1.1 in the clear with --h1, one request in flight per connection;
HTTP/2 over TLS with --streams concurrent streams per connection), for
--seconds after a 2 s warm-up. Mirror serves it from its store (the same
lookup, headers and writes as a part); nginx serves the copy of it from a
file. The server is pinned with taskset to --server-cpus and h2load to
--gen-cpus; by default both get every CPU (the kernel shares them), so a
run with 2 workers differs from one with 1 only in the worker count.

--quota CORES gives the server CORES of CPU time per worker and no more
(a CFS bandwidth limit on a cgroup of its own: cgroup v2's cpu.max or v1's
cpu.cfs_quota_us; needs root): 1 worker gets CORES, 2 workers 2 x CORES,
spread over every CPU, and h2load keeps the rest. That is how a 2-core box
shows whether a second worker doubles the rate: with CORES at 0.25 the
server has a quarter and then half of the two cores, and h2load (about as
much CPU as the server over HTTP/2, a third more over HTTP/1.1; --threads 2
so that one thread's core does not bound it) is never the limit: the
throttled column says the server ran into its own. Without it the
generator takes CPU from the second worker and the ratio is bounded by
what it leaves (see the gen cores column).

Reported per run: requests/s, server CPU cores, h2load's CPU cores, and the
ratio of the 2-worker rate to the 1-worker rate for each server. Not a
test.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import cpu_seconds

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
sys.path.insert(0, os.path.dirname(__file__))


def log(msg):
    print(f"saturate: {msg}", file=sys.stderr, flush=True)


def ensure_h2load():
    if shutil.which("h2load"):
        return shutil.which("h2load")
    log("h2load missing: apt-get install nghttp2-client")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nghttp2-client"],
                   check=True, env=env)
    return shutil.which("h2load")


def pin(pids, cpus):
    if not cpus:
        return
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True,
                       capture_output=True)


class CpuQuota:
    """A cgroup of its own with a CFS bandwidth limit, for the server's
    processes (every thread of them)."""

    PERIOD_US = 20000

    def __init__(self, cores):
        v2 = "/sys/fs/cgroup"
        if os.path.exists(os.path.join(v2, "cgroup.controllers")):
            with open(os.path.join(v2, "cgroup.controllers")) as f:
                if "cpu" not in f.read().split():
                    raise RuntimeError("cgroup v2 without the cpu controller")
            with open(os.path.join(v2, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
            self.path = os.path.join(v2, f"mirror-bench-{os.getpid()}")
            os.mkdir(self.path)
            self._write("cpu.max", f"{int(cores * self.PERIOD_US)} {self.PERIOD_US}")
        else:
            v1 = "/sys/fs/cgroup/cpu"
            if not os.path.exists(os.path.join(v1, "cpu.cfs_quota_us")):
                raise RuntimeError("no cgroup cpu controller (v2 cpu.max or v1 cpu.cfs_quota_us)")
            self.path = os.path.join(v1, f"mirror-bench-{os.getpid()}")
            os.mkdir(self.path)
            self._write("cpu.cfs_period_us", str(self.PERIOD_US))
            self._write("cpu.cfs_quota_us", str(int(cores * self.PERIOD_US)))

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def add(self, pids):
        for pid in pids:
            self._write("cgroup.procs", str(pid))

    def throttled_s(self):
        """CPU time the limit held back so far, in seconds."""
        with open(os.path.join(self.path, "cpu.stat")) as f:
            stat = dict(line.split() for line in f)
        if "throttled_usec" in stat:
            return int(stat["throttled_usec"]) / 1e6
        return int(stat.get("throttled_time", 0)) / 1e9

    def remove(self):
        parent = os.path.dirname(self.path)
        with open(os.path.join(self.path, "cgroup.procs")) as f:
            pids = f.read().split()
        for pid in pids:
            try:
                with open(os.path.join(parent, "cgroup.procs"), "w") as f:
                    f.write(pid)
            except OSError:
                pass  # gone
        os.rmdir(self.path)


def h2load(binary, url, protocol, args, server_pids, quota=None):
    argv = [binary, "-c", str(args.connections), "-D", str(int(args.seconds)), "--warm-up-time", "2",
            "-t", str(args.threads)]
    argv += ["--h1", "-m", "1"] if protocol == "http1" else ["-m", str(args.streams)]
    argv.append(url)
    if args.gen_cpus:
        argv = ["taskset", "-c", args.gen_cpus] + argv
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # The window: after the warm-up, for --seconds.
    time.sleep(2)
    s0 = sum(cpu_seconds(p) for p in server_pids)
    g0 = cpu_seconds(proc.pid)
    q0 = quota.throttled_s() if quota else 0.0
    t0 = time.monotonic()
    time.sleep(args.seconds * 0.9)
    s1 = sum(cpu_seconds(p) for p in server_pids)
    g1 = cpu_seconds(proc.pid)
    q1 = quota.throttled_s() if quota else 0.0
    dt = time.monotonic() - t0
    out, _ = proc.communicate(timeout=args.seconds + 60)
    m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                     r"(\d+) errored, (\d+) timeout", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not m or not done:
        raise RuntimeError(f"h2load: unexpected output:\n{out[-2000:]}")
    if not codes or int(codes.group(1)) != int(done.group(1)):
        log(f"h2load: not every answer was a 2xx: {url}\n{out[-1200:]}")
    return {
        "rps": float(m.group(1)),
        "failed": int(done.group(2)) + int(done.group(3)) + int(done.group(4)),
        "ok2xx": int(codes.group(1)) if codes else 0,
        "succeeded": int(done.group(1)),
        "server_cores": (s1 - s0) / dt,
        "gen_cores": (g1 - g0) / dt,
        "throttled": (q1 - q0) / dt,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("MIRROR_BUILD_ROOT", os.path.join(ROOT, "build")))
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--protocols", default="http1,h2")
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--server-cpus", default="")
    ap.add_argument("--gen-cpus", default="")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="h2load's threads")
    ap.add_argument("--quota", type=float, default=0.0,
                    help="CPU cores the server may use per worker (a cgroup CPU limit; root)")
    ap.add_argument("--mirror-only", action="store_true")
    args = ap.parse_args()

    from viewers import Nginx, ensure_nginx, loadavg, use_build
    _, reg_dir = use_build(args.build)
    import llhls
    from mirrortest import Mirrord, free_port, wait_for
    from test_hls import srt_feed

    h2load_bin = ensure_h2load()
    nginx_bin = None if args.mirror_only else ensure_nginx()
    workers = [int(w) for w in args.workers.split(",")]
    protocols = args.protocols.split(",")
    stream = "cam1"
    results = {}  # (server, workers, protocol) -> [run dicts]
    www = tempfile.mkdtemp(prefix="mirror-bench-www-")
    os.chmod(www, 0o755)
    static_uri = None  # the copy nginx serves (each mirrord names its init section anew)
    log(f"load average at start: {loadavg()}")

    for w in workers:
        m = Mirrord(env={"MIRROR_TRANSCODING_ENABLED": "false", "MIRROR_SERVER_WORKERS": str(w),
                         "MIRROR_STORAGE_DVR_ENABLED": "false",
                         # h2load's connections all come from 127.0.0.1.
                         "MIRROR_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "0"})
        feed = None
        quota = CpuQuota(args.quota * w) if args.quota else None
        try:
            if quota:
                quota.add([m.pid])
            feed = srt_feed(m.srt_port, stream)

            def playlist():
                status, _, body = m.origin("GET", f"/live/{stream}/source.m3u8", timeout=5)
                return llhls.MediaPlaylist(body.decode()) if status == 200 else None
            pl = wait_for(playlist, "source.m3u8", deadline_s=60, interval_s=0.1)
            init_uri = [u for u in pl.maps if u][0]
            if w == workers[0]:
                status, _, data = m.origin("GET", f"/live/{stream}/{init_uri}")
                assert status == 200, status
                static_uri = init_uri
                path = os.path.join(www, "live", stream, init_uri)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            pin([m.pid], args.server_cpus)
            for proto in protocols:
                url = (f"http://127.0.0.1:{m.http_port}/live/{stream}/{init_uri}" if proto == "http1"
                       else f"https://127.0.0.1:{m.https_port}/live/{stream}/{init_uri}")
                for i in range(args.runs):
                    log(f"Mirror, {w} worker(s), {proto}, run {i + 1}/{args.runs}")
                    r = h2load(h2load_bin, url, proto, args, [m.pid], quota)
                    results.setdefault(("mirror", w, proto), []).append(r)
                    time.sleep(1)
        finally:
            if feed is not None:
                feed.stop()
            m.stop()
            if quota:
                quota.remove()

    if not args.mirror_only:
        for w in workers:
            ng = Nginx(nginx_bin, www, free_port(), free_port(), w)
            quota = CpuQuota(args.quota * w) if args.quota else None
            try:
                if quota:
                    quota.add(ng.pids())
                pin(ng.pids(), args.server_cpus)
                for proto in protocols:
                    url = (f"http://127.0.0.1:{ng.port}/live/{stream}/{static_uri}" if proto == "http1"
                           else f"https://127.0.0.1:{ng.tls_port}/live/{stream}/{static_uri}")
                    for i in range(args.runs):
                        log(f"nginx, {w} worker(s), {proto}, run {i + 1}/{args.runs}")
                        r = h2load(h2load_bin, url, proto, args, ng.pids(), quota)
                        results.setdefault(("nginx", w, proto), []).append(r)
                        time.sleep(1)
            finally:
                ng.stop()
                if quota:
                    quota.remove()
    shutil.rmtree(www, ignore_errors=True)
    shutil.rmtree(reg_dir, ignore_errors=True)
    log(f"load average at end: {loadavg()}")

    print(f"\nsaturation: h2load, {args.connections} connections"
          f"{f', {args.streams} streams each on h2' if 'h2' in protocols else ''}, "
          f"{args.seconds:g} s, {args.runs} run(s); server CPUs '{args.server_cpus or 'all'}', "
          f"h2load CPUs '{args.gen_cpus or 'all'}'"
          f"{f'; server limited to {args.quota:g} cores per worker' if args.quota else ''}")
    print(f"{'server':<6} {'workers':>7} {'protocol':<8} {'req/s (each run)':<32} {'median':>9} "
          f"{'srv cores':>9} {'us/req':>7} {'gen cores':>9} {'failed':>6}"
          f"{' throttled' if args.quota else ''}")
    for (server, w, proto), runs in results.items():
        rps = [r["rps"] for r in runs]
        med = statistics.median(rps)
        cores = statistics.median(r["server_cores"] for r in runs)
        gen = statistics.median(r["gen_cores"] for r in runs)
        failed = sum(r["failed"] for r in runs) + sum(r["succeeded"] - r["ok2xx"] for r in runs)
        # Throttled: the time the limit held the server back over the run's
        # wall time (cgroup v1 sums it over the CPUs: up to 2 on two cores).
        held = f" {statistics.median(r['throttled'] for r in runs):>9.2f}" if args.quota else ""
        print(f"{server:<6} {w:>7} {proto:<8} {', '.join(f'{v:.0f}' for v in rps):<32} {med:>9.0f} "
              f"{cores:>9.2f} {cores / med * 1e6:>7.1f} {gen:>9.2f} {failed:>6}{held}")
    if len(workers) >= 2:
        a, b = workers[0], workers[-1]
        print(f"\nscaling {b} workers / {a} worker(s), medians (and every pairing's min..max):")
        for server in ("mirror", "nginx"):
            for proto in protocols:
                one, two = results.get((server, a, proto)), results.get((server, b, proto))
                if not one or not two:
                    continue
                ratios = [y["rps"] / x["rps"] for x in one for y in two]
                print(f"  {server:<6} {proto:<6} x{statistics.median(r['rps'] for r in two) / statistics.median(r['rps'] for r in one):.2f}"
                      f"  ({min(ratios):.2f}..{max(ratios):.2f})")


if __name__ == "__main__":
    main()
