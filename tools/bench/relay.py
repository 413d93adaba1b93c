#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Cluster playback by relay: what a relaying node costs a viewer in part
latency, and how many of its viewers' requests reach the owner.

    tools/bench/relay.py [--build DIR] [--viewers 10,100] [--seconds 15]
                         [--runs 3] [--json]

A real redis-server on a free port; an owner mirrord (no transcoding) that
packages a live 320x240 25 fps x264 SRT feed (stream cam1, as tools/bench/
cdn.py sends it); a second mirrord on the same Redis with
server.cluster_playback: relay, which answers cam1's viewers with the
owner's answers, fetched through its single-flight cache. Each node's
server.public_url is its own plain HTTP port.

For each N in --viewers, each run: mirror-hls-load --http1 with N viewers
straight against the owner, then the same load (same N, same seconds)
against the relaying node. Per load, over the loader's whole run:
  upstream   the delta of the relay's
             mirror_origin_relay_total{result="upstream"} (requests it sent
             to the owner; also coalesced/cached/failed/requested)
  owner saw  the delta of the owner's mirror_origin_requests_total, less
             the part counter's polls (as cdn.py counts it): what reached
             the owner, from the relay or the viewers
  parts      parts the stream produced meanwhile (cdn.py's PartCounter)
  up/part    upstream / parts: 2 is ideal (the part and one blocking
             reload per part), 2 x N is no coalescing
and from the loader's window: part latency p50/p99 from availability, and
errors. The relay's extra latency per part is (relay - direct), of the
medians over the runs and run by run (each run's relay load follows its
direct one within seconds).

Everything shares the machine (2 cores here): SRT sender, both mirrords,
Redis and the load generator. Not a test.
"""

import json
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchproc import cpu_seconds  # noqa: E402
from cdn import (STREAM, fmt, fmt_spread, get, live_feed, load_args, load_setup,  # noqa: E402
                 measure, spread, wait_hinted)
from viewers import loadavg  # noqa: E402

RESULTS = ("requested", "upstream", "coalesced", "cached", "failed")


def log(msg):
    print(f"relay: {msg}", file=sys.stderr, flush=True)


def relay_counts(admin_port):
    """mirror_origin_relay_total by result."""
    _, _, body = get(f"http://127.0.0.1:{admin_port}/metrics")
    out = dict.fromkeys(RESULTS, 0.0)
    for line in body.decode().splitlines():
        m = re.match(r'mirror_origin_relay_total\{result="(\w+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def node(env, **more):
    """A mirrord whose server.public_url is its own plain HTTP port (as
    test_cluster's nodes)."""
    from mirrortest import Mirrord, free_port
    port = free_port()
    return Mirrord(env=dict(env, MIRROR_SERVER_HTTP_PORT=str(port),
                            MIRROR_SERVER_PUBLIC_URL=f"http://127.0.0.1:{port}", **more))


def measure_relay(owner, relay, loader, url, n, args):
    """cdn.measure against the relaying node, with the relay's counters
    and CPU around it."""
    c0 = relay_counts(relay.admin_port)
    cpu0, t0 = cpu_seconds(relay.pid), time.monotonic()
    r = measure(owner, loader, url, n, args)
    cores = (cpu_seconds(relay.pid) - cpu0) / (time.monotonic() - t0)
    c1 = relay_counts(relay.admin_port)
    delta = {k: c1[k] - c0[k] for k in RESULTS}
    r.update({
        "path": "relay", "owner_saw": r["upstream_requests"], "relay": delta,
        "upstream_requests": delta["upstream"],
        "upstream_per_part": delta["upstream"] / r["parts"] if r["parts"] else None,
        "relay_cores": cores,
    })
    return r


def row_line(run, r):
    line = (f"run {run} {r['viewers']:>4} {r['path']:<6} p50 {fmt(r['latency_p50_ms']):>6} "
            f"p99 {fmt(r['latency_p99_ms']):>6} ms errors {r['errors_total']} "
            f"conn {r['connected_at_end']:.0f} parts {r['parts']:>4} "
            f"late {fmt(r['parts_caught_up'], '.0f')} | cores owner {fmt(r['mirrord_cores'], '.2f')}")
    if r["path"] == "relay":
        rel = r["relay"]
        line += (f" relay {fmt(r['relay_cores'], '.2f')}"
                 f" | upstream {rel['upstream']:.0f} up/part {fmt(r['upstream_per_part'], '.2f')}"
                 f" owner saw {r['owner_saw']:.0f} | "
                 + " ".join(f"{k}={rel[k]:.0f}" for k in RESULTS))
    return line


def main():
    args = load_args(__doc__, viewers="10,100", seconds=15).parse_args()
    reg_dir, loader, counts, out = load_setup(args, "relay")
    from mirrortest import Redis, wait_for

    load_start = loadavg()
    log(f"load average at start: {load_start}")

    redis = Redis()
    env = {"MIRROR_REDIS_ADDR": f"127.0.0.1:{redis.port}",
           "MIRROR_TRANSCODING_ENABLED": "false",
           # every viewer, and the relay, comes from 127.0.0.1
           "MIRROR_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "0"}
    owner = relay = feed = None
    runs = []
    try:
        owner = node(env)
        relay = node(env, MIRROR_SERVER_CLUSTER_PLAYBACK="relay")
        feed = live_feed(owner.srt_port)
        wait_hinted(owner, feed)
        wait_for(lambda: relay.origin("GET", f"/live/{STREAM}/source.m3u8", timeout=5)[0] == 200,
                 "the relaying node answering source.m3u8", deadline_s=30, interval_s=0.2)
        time.sleep(2)  # a few segments listed

        urls = {"direct": f"http://127.0.0.1:{owner.http_port}/live/{STREAM}/source.m3u8",
                "relay": f"http://127.0.0.1:{relay.http_port}/live/{STREAM}/source.m3u8"}
        for run in range(1, args.runs + 1):
            for n in counts:
                for path in ("direct", "relay"):
                    log(f"run {run}/{args.runs}: {n} viewers, {path} (load {loadavg()})")
                    if path == "direct":
                        r = measure(owner, loader, urls[path], n, args)
                    else:
                        r = measure_relay(owner, relay, loader, urls[path], n, args)
                    r["run"] = run
                    r["loadavg"] = loadavg()
                    runs.append(r)
                    print(row_line(run, r), file=out, flush=True)
                    if r["errors"]:
                        print(f"      errors {r['errors']} first {r['first_errors'][:2]}", file=out)
                    for what, p in (("the feed", feed), ("the owner", owner), ("the relay", relay)):
                        if not p.running():
                            raise RuntimeError(f"{what} exited:\n{p.output()[-3000:]}")
                    time.sleep(2)  # closes and timers settle
    finally:
        for p in (feed, relay, owner):
            if p is not None:
                p.stop(signal.SIGTERM if p.running() else signal.SIGKILL)
        redis.stop()
        shutil.rmtree(reg_dir, ignore_errors=True)
    load_end = loadavg()
    log(f"load average at end: {load_end}")

    summary = []
    for n in counts:
        d = [r for r in runs if r["viewers"] == n and r["path"] == "direct"]
        rl = [r for r in runs if r["viewers"] == n and r["path"] == "relay"]
        s = {"viewers": n, "runs": len(rl), "errors_direct": sum(r["errors_total"] for r in d),
             "errors_relay": sum(r["errors_total"] for r in rl),
             "upstream_per_part": spread([r["upstream_per_part"] for r in rl])}
        for q in ("p50", "p99"):
            key = f"latency_{q}_ms"
            s[f"direct_{q}"] = spread([r[key] for r in d])
            s[f"relay_{q}"] = spread([r[key] for r in rl])
            # run by run: each run's relay load against the direct one before it
            s[f"extra_{q}"] = spread([b[key] - a[key] for a, b in zip(d, rl)
                                      if a[key] is not None and b[key] is not None])
        summary.append(s)

    print(f"\nLL-HLS through a relaying node vs straight to the owner; --http1, "
          f"{args.seconds:g} s windows; min/median/max over {args.runs} run(s); "
          f"load average {load_start} at start, {load_end} at end", file=out)
    print(f"{'viewers':>7} {'p50 direct':>18} {'p50 relay':>18} {'p50 extra':>18} "
          f"{'p99 direct':>18} {'p99 relay':>18} {'p99 extra':>18} {'up/part':>16} "
          f"{'errors d/r':>10}", file=out)
    for s in summary:
        print(f"{s['viewers']:>7} " + " ".join(f"{fmt_spread(s[k], '.0f'):>18}" for k in (
            "direct_p50", "relay_p50", "extra_p50", "direct_p99", "relay_p99", "extra_p99"))
            + f" {fmt_spread(s['upstream_per_part'], '.2f'):>16} "
            f"{s['errors_direct']:>4}/{s['errors_relay']:<5}", file=out)
    print("\nnotes: 'extra' is relay - direct run by run (the relay's load follows the direct "
          "one of the same run), so its median need not equal the difference of the medians. "
          "up/part: the relay's mirror_origin_relay_total{result=\"upstream\"} delta per part "
          "the stream produced (every position the owner's playlist listed); 2.0 is one "
          "part request and one blocking reload per part, 2 x N none coalesced. Latency is the "
          "part's arrival at the viewer minus its availability (PROGRAM-DATE-TIME on the owner).",
          file=out)
    if args.json:
        json.dump({"args": vars(args), "loadavg": [load_start, load_end], "runs": runs,
                   "summary": summary}, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
