#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Viewers of one live stream: Mirror's Origin against nginx serving the same
parts as static files, in one run.

    tools/bench/viewers.py [--build DIR] [--viewers 100,1000,5000] [--seconds 10]
                           [--ramp 1000] [--protocols h3,h2,http1s,http1] [--runs 1]
                           [--workers 1] [--gen-threads 1] [--gen-nice 0] [--pin]
                           [--mirror-only | --reference-only]

Mirror: mirrord packages a live 25 fps x264 + AAC SRT feed (the one
tests/integration/test_hls.py uses). mirror-hls-load opens N viewers, each on
its own connection, each following the live edge of source.m3u8 like a
low-latency player: the preload-hinted part and a blocking reload for it,
both held by the Origin until the part exists, then the next. Over HTTP/3
(QUIC on the HTTPS port), HTTP/2 and HTTP/1.1 over TLS (the HTTPS port, by
ALPN: h2, http1s) and HTTP/1.1 in the clear (the plain port): one client,
mirror-hls-load, for every protocol. A part's latency is
its arrival minus its availability: its segment's PROGRAM-DATE-TIME plus the
parts before it plus its own duration.

Reference: nginx (Debian's, 1 worker, sendfile, keep-alive, access log off)
serves the same playlist, init section and parts, copied from the Origin,
as static files. A static server cannot hold a request until a part exists,
so mirror-hls-load --static makes the same two requests per viewer per part
duration (the next part of the copied list, then the playlist) on one clock
shared by all viewers, as live viewers all wake when a part appears; latency
is arrival minus the tick. Over HTTP/1.1 in the clear, and over TLS 1.3 as
HTTP/1.1 and HTTP/2 (`listen ... ssl http2`; the reference for HTTP/3 too:
Debian 12's nginx 1.22 has no QUIC). --workers N runs mirrord with
server.workers N and nginx with worker_processes N. The reference does
less work than the Origin (no packaging, no held requests), so the ratio is
a bound, not a like-for-like.

Everything shares the machine: the SRT sender, mirrord, nginx and the load
generator. Both servers are up throughout (mirrord ingesting whichever is
measured), and the runs go round the cases: run 1 of every protocol of
Mirror's and of nginx's, then run 2 of each, so the runs paired in a ratio
are minutes apart, not a whole measurement. Each run reports the server's
CPU and the load generator's own, and mirrord's idle CPU (ingest and
packaging alone) is measured first. A generator that cannot keep up makes
the server's figures its own: its late requests count as late parts (the
'late %' column: parts asked for after another viewer already had them;
'held99' is the fan-out of the others alone). One mirror-hls-load thread is
a core at most, which 1,000 HTTP/3 viewers need; --gen-threads 2 shares them
over two (and changes how requests reach every server, nginx included:
compare runs with the same setting only). --pin gives the server (every
thread of mirrord or nginx) the last --workers CPUs and the generator and
the sender the others, by taskset: the server's fan-out is then its own,
and a generator short of CPU shows as late parts.
Prints one row per run, medians over --runs, and Mirror/nginx ratios. Not a
test.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchproc import cpu_seconds as _cpu_seconds

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))


def log(msg):
    print(f"viewers: {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid):
    return _cpu_seconds(pid, missing=float("nan"))


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def ensure_nginx():
    if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"):
        return "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else shutil.which("nginx")
    log("nginx missing: apt-get install nginx")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return "/usr/sbin/nginx"


class Nginx:
    """nginx on two free loopback ports (plain, TLS) with its own prefix;
    stopped by PID."""

    CONF = """worker_processes {workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 20000; use epoll; multi_accept on; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 300s;
  keepalive_requests 10000000;
  open_file_cache max=10000 inactive=120s;
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  types {{
    application/vnd.apple.mpegurl m3u8;
    video/iso.segment m4s;
    video/mp4 mp4;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=65535;
    listen 127.0.0.1:{tls_port} ssl http2 backlog=65535;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    ssl_protocols TLSv1.3;
    root {www};
    add_header Access-Control-Allow-Origin *;
    add_header Cache-Control "public, max-age=60";
  }}
}}
"""

    def __init__(self, binary, www, port, tls_port, workers=1):
        self.dir = tempfile.mkdtemp(prefix="mirror-bench-nginx-")
        os.makedirs(os.path.join(self.dir, "tmp"))
        # The same kind of key as the Origin's (EC P-256), so TLS costs compare.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                        os.path.join(self.dir, "key.pem"), "-out", os.path.join(self.dir, "cert.pem"),
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.CONF.format(d=self.dir, www=www, port=port, tls_port=tls_port,
                                     workers=workers))
        self.port, self.tls_port = port, tls_port
        self.proc = subprocess.Popen([binary, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end and not children(self.proc.pid):
            time.sleep(0.05)
        if not children(self.proc.pid):
            self.stop()
            raise RuntimeError(f"nginx did not start: {open(os.path.join(self.dir, 'error.log')).read()}")

    def pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def snapshot(http_port, stream, www):
    """Copies the media playlist, its init section and every listed part from
    the Origin into www, at the same paths."""
    import llhls
    base = f"http://127.0.0.1:{http_port}/live/{stream}/"
    text = urllib.request.urlopen(base + "source.m3u8", timeout=10).read().decode()
    pl = llhls.MediaPlaylist(text)
    uris = [p.uri for p in pl.parts] + [m for m in set(pl.maps) if m]
    out = os.path.join(www, "live", stream)
    for uri in uris:
        data = urllib.request.urlopen(base + uri, timeout=10).read()
        path = os.path.join(out, uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(os.path.join(out, "source.m3u8"), "w") as f:
        f.write(text)
    return len(pl.parts), pl.part_target


def pin(pids, cpus):
    """Every thread of each process onto cpus (a taskset list); threads they
    start later inherit it."""
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], check=True,
                       stdout=subprocess.DEVNULL)


def run_load(loader, url, viewers, args, extra=(), server_pids=()):
    argv = [loader, "--json", "-q", "--viewers", str(viewers), "--url", url,
            "--seconds", str(args.seconds), "--ramp-per-s", str(args.ramp),
            "--warmup", str(args.warmup), *extra]
    for pid in server_pids:
        argv += ["--server-pid", str(pid)]
    # Other benches and the cdn test pass their own args: one thread, no nice.
    threads, niceness = getattr(args, "gen_threads", 1), getattr(args, "gen_nice", 0)
    if threads > 1:
        argv += ["--threads", str(threads)]
    if getattr(args, "no_udp_gro", False):
        argv += ["--no-udp-gro"]
    if niceness:
        argv = ["nice", "-n", str(niceness)] + argv
    if getattr(args, "gen_cpus", None):
        argv = ["taskset", "-c", args.gen_cpus] + argv
    limit = viewers / args.ramp + args.warmup + args.seconds + 90
    r = subprocess.run(argv, capture_output=True, text=True, timeout=limit,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}\n{r.stderr[-2000:]}")
    return json.loads(r.stdout)


def median_result(results):
    """Median of each number over runs (errors summed)."""
    out = dict(results[0])
    for key, value in results[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            vals = [r[key] for r in results if isinstance(r.get(key), (int, float)) and r[key] is not None]
            out[key] = statistics.median(vals) if vals else None
    errors = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    out["errors"] = errors
    return out


def late_percent(r):
    """The share of parts a viewer asked for only after another viewer had
    it: the generator behind (or a hint withdrawn at a segment's end), not
    the server. Mirror's live runs only."""
    late, parts = r.get("parts_asked_late"), r.get("parts")
    if late is None or not parts or r.get("mode") != "live":
        return None
    return 100.0 * late / parts


def us_per_request(r, idle=0.0):
    """Server CPU per answered request: the figure least moved by a busy box.
    idle: what the server burns with no viewers (mirrord's ingest and
    packaging), taken off to leave what serving costs."""
    cores, rps = r.get("server_cpu_cores_window"), r.get("requests_per_s")
    if cores is None or not rps:
        return None
    return (cores - idle) / rps * 1e6


def fmt(v, spec=".0f"):
    return "-" if v is None or v != v else format(v, spec)


def use_build(build):
    """Points this process (and mirrord, gst-launch) at a build tree, with a
    GStreamer registry of its own, and makes the integration tests' helpers
    importable. Returns the build's absolute path and the registry's folder
    (the caller removes it)."""
    build = os.path.abspath(build)
    os.environ["MIRROR_BUILD_ROOT"] = build
    os.environ.setdefault("GST_PLUGIN_PATH_1_0", os.path.join(build, "gst-plugins"))
    reg_dir = tempfile.mkdtemp(prefix="mirror-bench-registry-")
    os.environ.setdefault("GST_REGISTRY_1_0", os.path.join(reg_dir, "registry.bin"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    return build, reg_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("MIRROR_BUILD_ROOT", os.path.join(ROOT, "build")))
    ap.add_argument("--viewers", default="100,1000,5000")
    ap.add_argument("--protocols", default="h3,h2,http1s,http1")
    ap.add_argument("--mirrord-preload", default="",
                    help="a library LD_PRELOADed into mirrord alone (an allocator to try, say "
                         "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2)")
    ap.add_argument("--workers", type=int, default=1,
                    help="mirrord's server.workers and nginx's worker_processes")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--ramp", type=float, default=1000, help="viewers started per second")
    ap.add_argument("--gen-threads", type=int, default=1,
                    help="mirror-hls-load's threads: one thread's loop is the limit of a "
                         "generator that needs a core (HTTP/3's at 1000 viewers)")
    ap.add_argument("--gen-nice", type=int, default=0,
                    help="the load generator's niceness: how much of a shared core it yields "
                         "to the server (0, the default: an even share)")
    ap.add_argument("--no-udp-gro", action="store_true",
                    help="HTTP/3 viewers without UDP_GRO: on loopback the server's send then "
                         "pays for splitting its GSO batches and queueing each datagram to the "
                         "viewer, a cost a real network puts on the viewer's machine")
    ap.add_argument("--pin", action="store_true",
                    help="taskset: the server (mirrord or nginx, every thread) on the last "
                         "--workers CPUs, the load generator and the SRT sender on the others, "
                         "so that neither takes the other's core in a fan-out")
    ap.add_argument("--runs", type=int, default=1)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--mirror-only", action="store_true")
    group.add_argument("--reference-only", action="store_true")
    args = ap.parse_args()

    server_cpus = client_cpus = None
    if args.pin:
        ncpu = os.cpu_count() or 1
        if args.workers < 1 or args.workers >= ncpu:
            ap.error(f"--pin needs 1 <= --workers < {ncpu} (the CPUs): the generator needs one")
        server_cpus = f"{ncpu - args.workers}-{ncpu - 1}"
        client_cpus = f"0-{ncpu - args.workers - 1}"
        args.gen_cpus = client_cpus
        log(f"pinned: server on CPUs {server_cpus}, generator and sender on {client_cpus}")

    build, reg_dir = use_build(args.build)
    import llhls  # noqa: F401  (snapshot uses it)
    from mirrortest import Mirrord, free_port, wait_for
    from test_hls import srt_feed

    loader = os.path.join(build, "tools", "h3", "mirror-hls-load")
    if not os.access(loader, os.X_OK):
        sys.exit(f"viewers: {loader} missing: build tools/h3 (ninja -C {build})")
    counts = [int(v) for v in args.viewers.split(",")]
    protocols = args.protocols.split(",")
    nginx_bin = None if args.mirror_only else ensure_nginx()

    rows = []  # (viewers, server, protocol, result)
    runs_of = {}  # (viewers, server, protocol) -> every run's result
    www = tempfile.mkdtemp(prefix="mirror-bench-www-")
    os.chmod(www, 0o755)  # nginx's workers run as nobody
    stream = "cam1"
    log(f"load average at start: {loadavg()} (2 cores; other work on the box skews every number)")

    env = {"MIRROR_TRANSCODING_ENABLED": "false",  # the feed as it comes
           "MIRROR_SERVER_WORKERS": str(args.workers),
           # Every viewer comes from 127.0.0.1 here.
           "MIRROR_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "0"}
    if args.mirrord_preload:
        env["LD_PRELOAD"] = args.mirrord_preload
    m = Mirrord(env=env)
    feed = ng = None
    try:
        feed = srt_feed(m.srt_port, stream)
        if args.pin:
            pin([m.pid], server_cpus)
            pin([feed.pid], client_cpus)

        def hinted():
            status, _, body = m.origin("GET", f"/live/{stream}/source.m3u8", timeout=5)
            return status == 200 and llhls.MediaPlaylist(body.decode()).preload_hint_position()
        wait_for(hinted, "source.m3u8 with a preload hint", deadline_s=60, interval_s=0.1)
        # A window of parts to copy for nginx (3 target durations' worth).
        time.sleep(4)
        nparts, part_target = snapshot(m.http_port, stream, www)
        log(f"copied {nparts} parts (PART-TARGET {part_target} s) for the reference")

        c0 = cpu_seconds(m.pid)
        time.sleep(3)
        idle = (cpu_seconds(m.pid) - c0) / 3
        log(f"mirrord idle (ingest + packaging, no viewers): {idle:.2f} cores")

        # Both servers stay up (mirrord ingesting, the sender sending) while
        # either is measured, and run i of every case follows run i-1 of
        # all of them: a pairing of Mirror's and nginx's runs shares the
        # box's state, as the box drifts over a long measurement.
        cases = []  # (server, label, url, extra args, pids)
        if not args.reference_only:
            tls_url = f"https://127.0.0.1:{m.https_port}/live/{stream}/source.m3u8"
            for proto in protocols:
                url, extra = {
                    "h3": (tls_url, []),
                    "h2": (tls_url, ["--h2"]),
                    "http1s": (tls_url, ["--http1"]),
                    "http1": (f"http://127.0.0.1:{m.http_port}/live/{stream}/source.m3u8",
                              ["--http1"]),
                }[proto]
                cases.append(("mirror", f"Mirror over {proto}", url, extra, [m.pid]))
        if not args.mirror_only:
            ng = Nginx(nginx_bin, www, free_port(), free_port(), args.workers)
            if args.pin:
                pin(ng.pids(), server_cpus)
            plain = f"http://127.0.0.1:{ng.port}/live/{stream}/source.m3u8"
            tls = f"https://127.0.0.1:{ng.tls_port}/live/{stream}/source.m3u8"
            for url, extra in ((plain, ["--http1"]), (tls, ["--http1"]), (tls, ["--h2"])):
                cases.append(("nginx", f"nginx, {url.split(':')[0]} {extra[0]}", url,
                              ["--static", *extra], ng.pids()))
        for n in counts:
            results = [[] for _ in cases]
            for run in range(args.runs):
                for i, (server, label, url, extra, pids) in enumerate(cases):
                    log(f"{label}, {n} viewers, run {run + 1}/{args.runs}")
                    results[i].append(run_load(loader, url, n, args, extra, pids))
                    time.sleep(2)  # let closes and timers settle between runs
            for i, (server, *_rest) in enumerate(cases):
                proto = results[i][0]["protocol"]
                rows.append((n, server, proto, median_result(results[i])))
                runs_of[(n, server, proto)] = results[i]
    finally:
        if ng is not None:
            ng.stop()
        if feed is not None:
            feed.stop()
        m.stop()

    shutil.rmtree(www, ignore_errors=True)
    shutil.rmtree(reg_dir, ignore_errors=True)
    log(f"load average at end: {loadavg()}")

    print(f"\nviewers of one LL-HLS stream ({args.seconds:g} s windows, medians of {args.runs} run(s); "
          f"mirrord idle {idle:.2f} cores)")
    print(f"{'viewers':>7} {'server':<6} {'protocol':<13} {'req/s':>8} {'MB/s':>7} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'fan99 ms':>8} {'held99':>7} {'late %':>6} {'errors':>7} {'conn':>6} {'srv cores':>9} "
          f"{'srv us/req':>10} {'serve us/req':>12} {'gen cores':>9}")
    for n, server, proto, r in rows:
        errors = sum(r["errors"].values())
        print(f"{n:>7} {server:<6} {proto:<13} {fmt(r['requests_per_s']):>8} "
              f"{fmt(r['bytes_per_s'] / 1e6, '.2f'):>7} {fmt(r['latency_p50_ms'], '.1f'):>8} "
              f"{fmt(r['latency_p99_ms'], '.1f'):>8} {fmt(r.get('fanout_p99_ms'), '.1f'):>8} "
              f"{fmt(r.get('fanout_held_p99_ms'), '.1f'):>7} {fmt(late_percent(r), '.1f'):>6} "
              f"{errors:>7} {fmt(r['connected_at_end']):>6} "
              f"{fmt(r['server_cpu_cores_window'], '.2f'):>9} {fmt(us_per_request(r), '.1f'):>10} "
              f"{fmt(us_per_request(r, idle if server == 'mirror' else 0), '.1f'):>12} "
              f"{fmt(r['cpu_cores_window'], '.2f'):>9}")
        each = runs_of.get((n, server, proto), [])
        if len(each) > 1:
            base = idle if server == "mirror" else 0
            print(f"{'':>16} every run: serve us/req "
                  + ", ".join(fmt(us_per_request(x, base), ".1f") for x in each)
                  + "; p99 ms " + ", ".join(fmt(x["latency_p99_ms"], ".1f") for x in each)
                  + "; fan99 ms " + ", ".join(fmt(x.get("fanout_p99_ms"), ".1f") for x in each)
                  + "; held99 ms " + ", ".join(fmt(x.get("fanout_held_p99_ms"), ".1f") for x in each)
                  + "; late % " + ", ".join(fmt(late_percent(x), ".1f") for x in each))
        if r["errors"]:
            print(f"{'':>16} errors: {r['errors']}")
    by = {(n, s, p): r for n, s, p, r in rows}
    print("\nratios Mirror / nginx (requests/s; p99 latency; server CPU per request, Mirror's "
          "whole process and Mirror's serving alone: less its idle ingest and packaging)")
    for n in counts:
        for mine, ref in (("http/1.1", "http/1.1"), ("http/1.1+tls", "http/1.1+tls"),
                          ("h2", "h2"), ("h3", "http/1.1+tls"), ("h3", "h2")):
            a, b = by.get((n, "mirror", mine)), by.get((n, "nginx", ref))
            if a and b and b["requests_per_s"]:
                ua, ub = us_per_request(a), us_per_request(b)
                us = us_per_request(a, idle)
                cpu = f"x{ua / ub:.2f} (serving x{us / ub:.2f})" if ua and ub else "-"
                print(f"{n:>7}  Mirror {mine:<8} / nginx {ref:<13} req/s x{a['requests_per_s'] / b['requests_per_s']:.2f}"
                      f"  p99 x{(a['latency_p99_ms'] or 0) / max(b['latency_p99_ms'] or 1e-9, 1e-9):.2f}"
                      f"  CPU/request {cpu}")
    print("\nnotes: Mirror's p50/p99 are from availability (PDT + offsets + duration): they carry "
          "the feed's ingest jitter (about +-45 ms with one viewer) and the packaging; fan99 is "
          "each part's arrival behind the first viewer to get it (serving alone); held99 the same "
          "for the parts asked for before the first viewer had them (those the Origin held and "
          "answered in its fan-out), late % the share asked for after that (a viewer, that is the "
          "generator, behind, or a hint withdrawn at a segment's end). nginx's are "
          "from its tick (no packaging, no held requests). Arrivals are kernel receive stamps. "
          "A run whose p99 is over a part duration, or whose 'conn' is under its viewers, is past "
          "what the box carries: see srv/gen cores (2 cores in all, shared with the sender).")


if __name__ == "__main__":
    main()
