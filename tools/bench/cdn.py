#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One ordinary HTTP cache in front of one mirrord: does LL-HLS keep working
through it, and how many of the viewers' requests reach the Origin?

    tools/bench/cdn.py [--build DIR] [--viewers 10,100,1000] [--seconds 20]
                       [--runs 3] [--direct-max 100] [--no-lock] [--json]

mirrord (no transcoding) packages a live 320x240 25 fps x264 SRT feed;
Debian's nginx 1.22 with proxy_cache sits in front of its plain HTTP port,
configured from the Origin's CDN profile alone (README "Behind a CDN"): the
config this script writes is printed first, for copying. mirror-hls-load
--http1 then opens N viewers against nginx, each following the live edge
with the hinted part and a blocking playlist reload (_HLS_msn/_HLS_part),
both held by the Origin until the part exists and collapsed by nginx's
proxy_cache_lock into one upstream request per URI.

Per load, over the loader's whole run (ramp, warm-up and window):
  upstream   requests that reached the Origin: the delta of mirrord's
             mirror_origin_requests_total (summed over its labels), less
             this script's own playlist polls
  parts      parts the stream produced meanwhile (every part position the
             playlist listed, polled from the Origin each 0.5 s)
  up/part    upstream requests per part: 2 is ideal (the part and one
             blocking reload), 2 x N is no collapsing at all
  cache      nginx's $upstream_cache_status counts from its access log
and from the loader's window (--seconds): part latency p50/p99 from
availability (PROGRAM-DATE-TIME + offsets + duration) and errors. For
N <= --direct-max the same load runs straight against mirrord for
comparison (bigger N directly would take the 2-core box down).

Known nginx 1.22 behaviour this measures rather than hides:
  * s-maxage is honoured (read before max-age), so plain playlists
    ("public, max-age=0, s-maxage=1") are cached 1 s; CDN-Cache-Control
    is not read at all.
  * "no-cache" anywhere in Cache-Control makes a response uncacheable,
    whatever s-maxage says; the Origin's part 404s say
    "public, max-age=0, s-maxage=1" so that nginx keeps them a second.
  * a request waiting on proxy_cache_lock looks at the cache again after
    proxy_cache_lock_timeout or 500 ms, whichever is shorter (a timer, not
    a wake-up), and goes upstream itself, uncached, when the answer is not
    there yet. With the lock timeout at 3 parts (300 ms, what the config
    says) the Origin's blocking answer is there almost always: collapsed
    viewers lose ~0.15 s, not up to 0.5 s (--lock-timeout 6s shows that;
    200ms loses ~0.1 s while the Origin keeps up).
  * Age from the Origin ("0") is passed through unchanged on HITs.
--no-lock runs with proxy_cache_lock off instead (every held request goes
upstream; later ones HIT), to see the trade.

'parts by clock' (run time / PART-TARGET) is a lower bound of the parts
counted from the playlist: parts average under PART-TARGET.

Everything shares the machine (2 cores here): SRT sender, mirrord, nginx and
the load generator. Not a test.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchproc import cpu_seconds  # noqa: E402
from viewers import ROOT, Nginx, children, ensure_nginx, loadavg, run_load, use_build  # noqa: E402

STREAM = "cam1"
STATUSES = ("HIT", "MISS", "EXPIRED", "UPDATING", "STALE", "REVALIDATED", "BYPASS", "-")


def log(msg):
    print(f"cdn: {msg}", file=sys.stderr, flush=True)


# What a user copies: the cache in front of the Origin. {origin} is mirrord's
# plain HTTP port, {cache} a directory, {lock} on (collapsing) or off.
CACHE_CONF = """\
# LL-HLS cache in front of Mirror's Origin: the Origin's Cache-Control decides
# what is cached and for how long (parts/segments/init: 1 day, immutable;
# blocking reloads: 6 s; plain playlists: s-maxage=1).
proxy_cache_path {cache} levels=1:2 keys_zone=mirror_llhls:32m
                 max_size=2g inactive=2m use_temp_path=off;

upstream mirror_origin {{
  server 127.0.0.1:{origin};
  keepalive 128;                       # idle upstream connections kept
}}

log_format mirror_cache '$msec $upstream_cache_status $status $request_time '
                        '"$upstream_response_time" "$request_uri"';

server {{
  listen 127.0.0.1:{port} backlog=65535;
  access_log {log} mirror_cache;

  location / {{
    proxy_pass http://mirror_origin;
    proxy_http_version 1.1;            # with upstream keepalive
    proxy_set_header Connection "";
    proxy_set_header Host $host;

    proxy_cache mirror_llhls;
    # The query string is part of the key: each _HLS_msn/_HLS_part reload
    # is its own object.
    proxy_cache_key $scheme$proxy_host$request_uri;
    # Collapsing: one request per URI goes upstream, the rest wait for the
    # cache. A waiter looks again after lock_timeout or 500 ms, whichever
    # is shorter (nginx polls; nothing wakes it when the answer lands), then
    # takes the cached answer, or goes upstream itself, uncached. The Origin
    # answers a blocking reload within about one part of when it is asked
    # (the next part is due by then), so three parts (3 x 100 ms) find it
    # there even when the Origin is slow: waiters lose ~0.15 s instead of up
    # to 0.5 s. Too short, and every waiter goes upstream to an Origin that
    # is already late (one part, 100 ms: 17 times more requests). The one
    # request upstream keeps the lock up to lock_age.
    proxy_cache_lock {lock};
    proxy_cache_lock_timeout {lock_timeout};   # 3 x packaging.part_duration
    proxy_cache_lock_age {lock_age};
    proxy_read_timeout 10s;            # > the Origin's longest hold
    # Fallback only, for answers without Cache-Control: the Origin's
    # headers decide. Nothing in proxy_ignore_headers.
    proxy_cache_valid 200 1s;

    add_header X-Cache-Status $upstream_cache_status always;
  }}
}}
"""

# Around it, what a bench run needs: a prefix of its own, one worker, room
# for 1000 viewers' connections.
MAIN_CONF = """\
worker_processes {workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; use epoll; multi_accept on; }}
http {{
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  keepalive_timeout 300s;
  keepalive_requests 10000000;
  tcp_nodelay on;
{cache_conf}
}}
"""


class CacheNginx(Nginx):
    """nginx as a caching reverse proxy on a free loopback port, with its own
    prefix in a temp dir; stopped by PID (Nginx.stop)."""

    def __init__(self, binary, port, origin_port, workers=1, lock=True, lock_timeout="300ms",
                 lock_age="5s"):
        self.dir = tempfile.mkdtemp(prefix="mirror-bench-cdn-")
        os.chmod(self.dir, 0o755)  # the workers (nobody) create the cache below
        self.port = port
        self.log = os.path.join(self.dir, "access.log")
        self.cache_conf = CACHE_CONF.format(cache=os.path.join(self.dir, "cache"),
                                            origin=origin_port, port=port, log=self.log,
                                            lock="on" if lock else "off",
                                            lock_timeout=lock_timeout, lock_age=lock_age)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(MAIN_CONF.format(d=self.dir, workers=workers,
                                     cache_conf="\n".join("  " + line if line else line
                                                          for line in self.cache_conf.splitlines())))
        self.proc = subprocess.Popen([binary, "-p", self.dir, "-c", conf, "-e",
                                      os.path.join(self.dir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end and not children(self.proc.pid):
            time.sleep(0.05)
        if not children(self.proc.pid):
            err = self.errors()
            self.stop()
            raise RuntimeError(f"nginx did not start: {err}")

    def errors(self):
        try:
            with open(os.path.join(self.dir, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, offset):
        """Access log lines written since offset: (cache status, status, uri)."""
        out = []
        try:
            with open(self.log, errors="replace") as f:
                f.seek(offset)
                for line in f:
                    m = re.match(r'(\S+) (\S+) (\d+) \S+ "[^"]*" "([^"]*)"', line)
                    if m:
                        out.append((m.group(2), int(m.group(3)), m.group(4)))
        except OSError:
            pass
        return out

    def workers(self):
        """The worker processes (not the cache manager and loader, which
        come and go)."""
        out = []
        for pid in children(self.proc.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"worker process" in f.read():
                        out.append(pid)
            except OSError:
                pass
        return out



def live_feed(srt_port):
    """Live 320x240 25 fps H.264, 1 s GOPs, into mirrord's SRT port."""
    from mirrortest import video_feed
    return video_feed(srt_port, STREAM, log_name="cdn-feed")


def wait_hinted(m, feed):
    """Until mirrord m's media playlist for the feed has a preload hint."""
    import llhls
    from mirrortest import wait_for

    def hinted():
        if not feed.running():
            raise RuntimeError(f"the feed exited:\n{feed.output()[-2000:]}")
        status, _, body = m.origin("GET", f"/live/{STREAM}/source.m3u8", timeout=5)
        return status == 200 and llhls.MediaPlaylist(body.decode()).preload_hint_position()
    wait_for(hinted, "source.m3u8 with a preload hint", deadline_s=60, interval_s=0.1)


def get(url, timeout=10):
    """(status, headers as a dict with lower-case names, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def origin_requests(admin_port):
    """mirror_origin_requests_total summed over its labels."""
    _, _, body = get(f"http://127.0.0.1:{admin_port}/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if re.match(r"mirror_origin_requests_total(\{| )", line):
            total += float(line.rsplit(None, 1)[1])
    return total


class PartCounter(threading.Thread):
    """Polls the media playlist from the Origin every 0.5 s and keeps every
    part position it lists: the parts produced between start() and stop().
    Its own requests are counted, to take off the Origin's counter."""

    def __init__(self, http_port):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{http_port}/live/{STREAM}/source.m3u8"
        self.seen = set()
        self.requests = 0
        self.first = None
        self.done = threading.Event()
        self.part_target = None

    def poll(self):
        import llhls
        self.requests += 1
        status, _, body = get(self.url, timeout=5)
        if status != 200:
            return
        pl = llhls.MediaPlaylist(body.decode())
        self.part_target = pl.part_target
        positions = {p.position for p in pl.parts}
        if self.first is None and positions:
            self.first = max(positions)
        self.seen |= positions

    def run(self):
        while not self.done.is_set():
            try:
                self.poll()
            except Exception as e:  # keep counting through a slow answer
                log(f"playlist poll: {e}")
            self.done.wait(0.5)

    def stop(self):
        self.done.set()
        self.join()
        self.poll()  # the last position, after the load
        return len([p for p in self.seen if self.first is not None and p > self.first])


def run_loader(loader, url, viewers, args, server_pids=()):
    return run_load(loader, url, viewers, args, extra=("--http1",), server_pids=server_pids)


def kind_of(uri):
    path, _, query = uri.partition("?")
    if path.endswith(".m3u8"):
        return "reload" if "_HLS_msn" in query else "playlist"
    if "/part" in path:
        return "part"
    if "/init" in path:
        return "init"
    return "other"


def measure(m, loader, url, viewers, args, ng=None):
    """One load of `viewers` against url; what reached the Origin, what the
    stream produced, what nginx did, what the viewers saw."""
    offset = ng.log_size() if ng else 0
    counter = PartCounter(m.http_port)
    c0 = origin_requests(m.admin_port)
    counter.start()
    t0 = time.monotonic()
    m_cpu0 = cpu_seconds(m.pid)
    try:
        # The loader reports the CPU of nginx's workers in its window.
        r = run_loader(loader, url, viewers, args, ng.workers() if ng else ())
    finally:
        parts = counter.stop()
    elapsed = time.monotonic() - t0
    mirrord_cores = (cpu_seconds(m.pid) - m_cpu0) / elapsed
    upstream = origin_requests(m.admin_port) - c0 - counter.requests
    row = {
        "viewers": viewers, "path": "cache" if ng else "direct",
        "upstream_requests": upstream, "parts": parts, "seconds": elapsed,
        "parts_by_clock": elapsed / counter.part_target if counter.part_target else None,
        "upstream_per_part": upstream / parts if parts else None,
        "latency_p50_ms": r["latency_p50_ms"], "latency_p99_ms": r["latency_p99_ms"],
        "latency_max_ms": r["latency_max_ms"], "fanout_p99_ms": r.get("fanout_p99_ms"),
        "requests_per_s": r["requests_per_s"], "connected_at_end": r["connected_at_end"],
        "errors": r["errors"], "errors_total": sum(r["errors"].values()),
        "errors_in_window": r["errors_in_window"], "first_errors": r.get("first_errors", []),
        "parts_seen_by_loader": r["parts"], "parts_caught_up": r.get("parts_caught_up"),
        "hints_withdrawn": r.get("hints_withdrawn"),
        "loader_cores": r.get("cpu_cores_window"),
        "nginx_cores": r.get("server_cpu_cores_window") if ng else None,
        "mirrord_cores": mirrord_cores,
    }
    if ng:
        time.sleep(0.3)  # the access log is written at each request's end
        lines = ng.log_since(offset)
        cache = {}
        by_kind = {}
        for status, code, uri in lines:
            cache[status] = cache.get(status, 0) + 1
            k = by_kind.setdefault(kind_of(uri), {})
            k[status] = k.get(status, 0) + 1
            if code >= 400:
                k[f"http-{code}"] = k.get(f"http-{code}", 0) + 1
        row["cache"] = cache
        row["cache_by_kind"] = by_kind
        row["client_requests"] = len(lines)
    return row


def preflight(m, ng):
    """The CDN profile through nginx, request by request: which answers
    nginx caches. Returns a list of (what, [X-Cache-Status...], note)."""
    import llhls
    base = f"http://127.0.0.1:{ng.port}/live/{STREAM}/"
    checks = []

    def twice(what, uri, gap=0.0):
        s1, h1, b1 = get(base + uri)
        if gap:
            time.sleep(gap)
        s2, h2, _ = get(base + uri)
        checks.append({"what": what, "uri": uri, "status": [s1, s2],
                       "x_cache_status": [h1.get("x-cache-status"), h2.get("x-cache-status")],
                       "cache_control": h1.get("cache-control"),
                       "cdn_cache_control": h1.get("cdn-cache-control"), "age": h2.get("age")})
        return b1

    body = twice("plain media playlist", "source.m3u8")
    pl = llhls.MediaPlaylist(body.decode())
    twice("plain media playlist, again + 2.1 s", "source.m3u8", gap=2.1)
    twice("multivariant playlist", "index.m3u8")
    part = pl.parts[-1]
    twice("listed part", part.uri)
    if pl.maps and pl.maps[-1]:
        twice("init section", pl.maps[-1])
    msn, idx = pl.next_part_position()
    twice("blocking reload", f"source.m3u8?_HLS_msn={msn}&_HLS_part={idx}")
    gone = re.sub(r"part(\d+)\.(\d+)", lambda mm: f"part{max(int(mm.group(1)) - 1000, 0)}.0", part.uri)
    twice("part 404 (gone)", gone)
    return checks


def spread(values):
    vals = [v for v in values if v is not None and v == v]
    if not vals:
        return None
    return (min(vals), statistics.median(vals), max(vals))


def fmt(v, spec=".1f"):
    return "-" if v is None or v != v else format(v, spec)


def fmt_spread(s, spec=".1f"):
    return "-" if s is None else f"{format(s[0], spec)}/{format(s[1], spec)}/{format(s[2], spec)}"


def row_line(run, r):
    cache = r.get("cache")
    cs = " ".join(f"{k}={v}" for k, v in sorted(cache.items())) if cache else "-"
    return (f"run {run} {r['viewers']:>5} {r['path']:<6} upstream {r['upstream_requests']:>6.0f} "
            f"parts {r['parts']:>4} ({fmt(r['parts_by_clock'], '.0f')} by clock) "
            f"up/part {fmt(r['upstream_per_part'], '.2f'):>7} "
            f"p50 {fmt(r['latency_p50_ms'])} p99 {fmt(r['latency_p99_ms'])} ms "
            f"errors {r['errors_total']} conn {r['connected_at_end']:.0f} "
            f"late {fmt(r['parts_caught_up'], '.0f')} | cores mirrord {fmt(r['mirrord_cores'], '.2f')} "
            f"nginx {fmt(r['nginx_cores'], '.2f')} loader {fmt(r['loader_cores'], '.2f')} | {cs}")


def load_args(doc, viewers, seconds):
    """The options every mirror-hls-load bench here takes (relay.py too)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("MIRROR_BUILD_ROOT", os.path.join(ROOT, "build")))
    ap.add_argument("--viewers", default=viewers)
    ap.add_argument("--seconds", type=float, default=seconds, help="the loader's window")
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--ramp", type=float, default=1000, help="viewers started per second")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return ap


def load_setup(args, who):
    """use_build (mirrortest importable after it), then: the registry's
    folder (the caller removes it), the loader, the viewer counts and where
    the report goes."""
    build, reg_dir = use_build(args.build)
    loader = os.path.join(build, "tools", "h3", "mirror-hls-load")
    if not os.access(loader, os.X_OK):
        shutil.rmtree(reg_dir, ignore_errors=True)
        sys.exit(f"{who}: {loader} missing: build tools/h3")
    counts = [int(v) for v in args.viewers.split(",")]
    return reg_dir, loader, counts, sys.stderr if args.json else sys.stdout


def main():
    ap = load_args(__doc__, viewers="10,100,1000", seconds=20)
    ap.add_argument("--direct-max", type=int, default=100,
                    help="the largest N also run straight against mirrord")
    ap.add_argument("--workers", type=int, default=1, help="nginx's worker_processes")
    ap.add_argument("--no-lock", action="store_true", help="proxy_cache_lock off")
    ap.add_argument("--lock-timeout", default="300ms", help="proxy_cache_lock_timeout")
    args = ap.parse_args()

    reg_dir, loader, counts, out = load_setup(args, "cdn")
    from mirrortest import Mirrord, free_port

    nginx_bin = ensure_nginx()
    version = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True).stderr.strip()
    log(f"load average at start: {loadavg()}; {version}")

    m = Mirrord(env={"MIRROR_TRANSCODING_ENABLED": "false",
                     # every viewer, and nginx, comes from 127.0.0.1
                     "MIRROR_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "0"})
    feed = ng = None
    runs = []
    try:
        feed = live_feed(m.srt_port)
        wait_hinted(m, feed)
        time.sleep(2)  # a few segments listed

        ng = CacheNginx(nginx_bin, free_port(), m.http_port, args.workers, lock=not args.no_lock,
                        lock_timeout=args.lock_timeout)
        print(f"nginx config (the http{{}} part; {version}):\n{ng.cache_conf}", file=out)
        checks = preflight(m, ng)
        print("the CDN profile through nginx (X-Cache-Status of two GETs in a row):", file=out)
        for c in checks:
            print(f"  {c['what']:<34} {c['status']} {c['x_cache_status']}  "
                  f"Cache-Control: {c['cache_control']}"
                  + (f"  CDN-Cache-Control: {c['cdn_cache_control']}" if c["cdn_cache_control"] else ""),
                  file=out)
        plain = next(c for c in checks if c["what"] == "plain media playlist")
        s_maxage = plain["x_cache_status"][1] == "HIT"
        print(f"  s-maxage honoured (plain playlist HIT within 1 s): {s_maxage}", file=out)
        out.flush()

        cached_url = f"http://127.0.0.1:{ng.port}/live/{STREAM}/source.m3u8"
        direct_url = f"http://127.0.0.1:{m.http_port}/live/{STREAM}/source.m3u8"
        for run in range(1, args.runs + 1):
            for n in counts:
                paths = [("cache", cached_url)] + ([("direct", direct_url)] if n <= args.direct_max else [])
                for path, url in paths:
                    log(f"run {run}/{args.runs}: {n} viewers, {path}")
                    r = measure(m, loader, url, n, args, ng if path == "cache" else None)
                    r["run"] = run
                    runs.append(r)
                    print(row_line(run, r), file=out, flush=True)
                    if r.get("cache_by_kind"):
                        print("      by kind: " + "; ".join(
                            f"{k} " + " ".join(f"{s}={v}" for s, v in sorted(c.items()))
                            for k, c in sorted(r["cache_by_kind"].items())), file=out)
                    if r["errors"]:
                        print(f"      errors {r['errors']} first {r['first_errors'][:2]}", file=out)
                    if not feed.running():
                        raise RuntimeError(f"the feed exited:\n{feed.output()[-2000:]}")
                    time.sleep(2)  # closes and timers settle
        errors_log = ng.errors()
    finally:
        if ng is not None:
            ng.stop()
        if feed is not None:
            feed.stop()
        m.stop()
        shutil.rmtree(reg_dir, ignore_errors=True)
    log(f"load average at end: {loadavg()}")

    summary = []
    for n in counts:
        for path in ("cache", "direct"):
            rs = [r for r in runs if r["viewers"] == n and r["path"] == path]
            if not rs:
                continue
            cache = {}
            for r in rs:
                for k, v in (r.get("cache") or {}).items():
                    cache.setdefault(k, []).append(v)
            summary.append({
                "viewers": n, "path": path, "runs": len(rs),
                "upstream_per_part": spread([r["upstream_per_part"] for r in rs]),
                "upstream_per_part_per_viewer": spread([r["upstream_per_part"] / n for r in rs
                                                        if r["upstream_per_part"] is not None]),
                "latency_p50_ms": spread([r["latency_p50_ms"] for r in rs]),
                "latency_p99_ms": spread([r["latency_p99_ms"] for r in rs]),
                "errors": sum(r["errors_total"] for r in rs),
                "cache_median": {k: statistics.median(v) for k, v in cache.items()},
            })
    print(f"\nLL-HLS through nginx proxy_cache (lock {'off' if args.no_lock else 'on'}) vs "
          f"straight to mirrord; {args.seconds:g} s windows; min/median/max over {args.runs} run(s)",
          file=out)
    print(f"{'viewers':>7} {'path':<6} {'up/part':>20} {'up/part/viewer':>20} {'p50 ms':>20} "
          f"{'p99 ms':>20} {'errors':>6}  cache (median)", file=out)
    for s in summary:
        cs = " ".join(f"{k}={v:.0f}" for k, v in sorted(s["cache_median"].items())) or "-"
        print(f"{s['viewers']:>7} {s['path']:<6} {fmt_spread(s['upstream_per_part'], '.2f'):>20} "
              f"{fmt_spread(s['upstream_per_part_per_viewer'], '.3f'):>20} "
              f"{fmt_spread(s['latency_p50_ms']):>20} {fmt_spread(s['latency_p99_ms']):>20} "
              f"{s['errors']:>6}  {cs}", file=out)
    print("\nnotes: up/part 2.0 is ideal collapsing (one part request and one blocking reload "
          "per part upstream); straight to mirrord it is about 2 x N. parts: every position "
          "the playlist listed ('by clock', run time / PART-TARGET, is a lower bound: parts "
          "average under the target). Latency is the part's arrival at the viewer minus its "
          "availability; 'late' counts parts a viewer fetched after falling behind the hint."
          + ("" if args.no_lock else
             f" Through nginx a request waiting on proxy_cache_lock looks at the cache "
             f"again after {args.lock_timeout} (at most 500 ms), so collapsed viewers' "
             f"parts (and blocking reloads) carry up to that."),
          file=out)
    if errors_log.strip():
        print("nginx error.log (tail):\n" + errors_log[-1500:], file=out)
    if args.json:
        json.dump({"nginx": version, "config": ng.cache_conf, "lock": not args.no_lock,
                   "s_maxage_honoured": s_maxage, "profile_checks": checks,
                   "args": vars(args), "runs": runs, "summary": summary}, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
