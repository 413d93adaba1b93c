#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""SRT ingest CPU per Gbit: mirrord (hub -> ring -> tsdemux -> parse ->
heartbeat) against srt-live-transmit receiving the same paced load, in one run.

    tools/bench/srt_ingest.py [--streams 1,5,10,25] [--seconds 20] [--runs 3]

Media (BENCHMARKS.md recipe: 1080p30 HEVC at 50 Mbps) is generated once into
build/bench-media/. Every receiver's CPU is read from /proc/PID/stat; the
senders' CPU is reported too, since they share the 2 cores. A Gbit is the
paced load (the media's rate x streams x seconds), the same for both sides;
what each receiver's libsrt counted is printed beside it as a check that
the senders kept their pace (srt-live-transmit's count includes the stats
interval that straddles the window's start, about 1.5% more). Prints medians
and the ratio mirrord / srt-live-transmit (target <= 1.1). Not a test.

Every stream of mirrord goes through the ingest-only description. Loss is
libsrt's count of packets seen missing, over the measured window; kdrop is
the kernel's count of UDP datagrams dropped for a full socket buffer (a
receive thread that fell behind). --threads prints where mirrord's CPU went;
--receive-threads sets ingestion.srt.receive_threads (the port's UDP sockets,
one libsrt receive thread each), --only runs one side.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

from benchmedia import HEVC_1080P_50M, media
from benchproc import cpu_seconds, rss_bytes, stop, thread_cpu

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.join(ROOT, "build")
MEDIA = None  # main () makes it


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sender(port, stream_id):
    uri = f"srt://127.0.0.1:{port}?pkt_size=1316"
    if stream_id:
        uri += f"&streamid={stream_id}"
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", MEDIA,
         "-c", "copy", "-f", "mpegts", uri],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


BURNER = """
import time
busy, idle = {busy}, {idle}
while True:
    end = time.monotonic() + busy
    while time.monotonic() < end:
        pass
    time.sleep(idle)
"""


def burners(load):
    """Processes that keep `load` cores busy in 10 ms duty cycles: the rest of
    a box's work, which the receivers must put up with."""
    procs = []
    while load > 0.001:
        share = min(load, 1.0)
        code = BURNER.format(busy=0.01 * share, idle=0.01 * (1 - share))
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL))
        load -= share
    return procs


def media_bitrate():
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=bit_rate",
                          "-of", "json", MEDIA], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["format"]["bit_rate"])


def run_reference(n, seconds, load=0.0):
    """n srt-live-transmit listeners (one port each), n paced ffmpeg callers."""
    ports = [free_udp_port() for _ in range(n)]
    stats_dir = tempfile.mkdtemp(prefix="slt-stats-")
    receivers = [subprocess.Popen(
        ["srt-live-transmit", "-q", "-s", "1000", "-pf", "json", "-statsout",
         os.path.join(stats_dir, f"{p}.json"), f"srt://:{p}?mode=listener&latency=120",
         "file://con"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in ports]
    time.sleep(0.5)  # listeners bind; no readiness signal from srt-live-transmit
    senders = [sender(p, None) for p in ports]
    others = burners(load)
    time.sleep(2)  # warm-up excluded from the measurement
    kdrop0 = udp_rcvbuf_errors()
    cpu0 = sum(cpu_seconds(r.pid) for r in receivers)
    send0 = sum(cpu_seconds(s.pid) for s in senders)
    t0 = time.monotonic()
    clock0 = time.time()
    time.sleep(seconds)
    cpu = sum(cpu_seconds(r.pid) for r in receivers) - cpu0
    send = sum(cpu_seconds(s.pid) for s in senders) - send0
    wall = time.monotonic() - t0
    clock1 = time.time()
    kdrop = udp_rcvbuf_errors() - kdrop0
    stop(others + senders + receivers)
    # srt-live-transmit's JSON stats are per interval (every 1000 packets,
    # about 0.2 s of a stream): the intervals that ended in the window.
    lost = received = 0
    for p in ports:
        with open(os.path.join(stats_dir, f"{p}.json")) as f:
            for line in f:
                line = line.strip().rstrip(",")
                if not line.startswith("{"):
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue  # the line being written when the process stopped
                at = datetime.fromisoformat(doc["timepoint"]).timestamp()
                if clock0 < at <= clock1:
                    lost += doc.get("recv", {}).get("packetsLost", 0)
                    received += doc.get("recv", {}).get("bytes", 0)
    return dict(cpu=cpu, send=send, wall=wall, lost=lost, kdrop=kdrop, received=received)


def udp_rcvbuf_errors():
    """The kernel's count of UDP datagrams dropped for a full socket buffer:
    what a receive thread that falls behind costs before libsrt sees it."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def http_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.load(r)


def run_mirrord(n, seconds, receive_threads, load=0.0):
    srt_port = free_udp_port()
    admin = free_tcp_port()
    # The measured path is the issue's: hub -> ring -> tsdemux -> parse ->
    # heartbeat, so every stream takes the ingest-only description.
    config = os.path.join(tempfile.mkdtemp(prefix="mirror-bench-"), "mirror.yaml")
    with open(config, "w") as f:
        f.write('ingestion:\n  routes:\n    - {match: "*", pipeline: ingest-only}\n')
    env = dict(os.environ,
               GST_PLUGIN_PATH_1_0=os.path.join(BUILD, "gst-plugins"),
               GST_REGISTRY_1_0=os.path.join(BUILD, "gst-registry.bin"),
               MIRROR_SERVER_ADMIN_PORT=str(admin), MIRROR_SERVER_ADMIN_BIND_ADDRESS="127.0.0.1",
               MIRROR_SERVER_HTTP_PORT=str(free_tcp_port()),
               MIRROR_SERVER_HTTP3_PORT=str(free_tcp_port()),
               MIRROR_INGESTION_SRT_PORT=str(srt_port),
               MIRROR_INGESTION_RTP_PORT=str(free_udp_port()),
               MIRROR_STORAGE_LOCAL_CACHE_DIR=tempfile.mkdtemp(prefix="mirror-bench-"),
               MIRROR_MONITORING_LOG_LEVEL="warn")
    if receive_threads:
        env["MIRROR_INGESTION_SRT_RECEIVE_THREADS"] = str(receive_threads)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    mirrord = subprocess.Popen([os.path.join(BUILD, "daemon", "mirrord"), "--config", config],
                               env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            http_json(admin, "/health")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    idle_rss = rss_bytes(mirrord.pid)
    senders = [sender(srt_port, f"bench{i}") for i in range(n)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = [s for s in http_json(admin, "/api/v1/streams")["streams"] if s["state"] == "live"]
        if len(live) == n:
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"only {len(live)} of {n} streams went live")
    others = burners(load)
    time.sleep(2)
    streams0 = {s["id"]: s["stats"] for s in http_json(admin, "/api/v1/streams")["streams"]}
    kdrop0 = udp_rcvbuf_errors()
    cpu0 = cpu_seconds(mirrord.pid)
    threads0 = thread_cpu(mirrord.pid)
    send0 = sum(cpu_seconds(s.pid) for s in senders)
    t0 = time.monotonic()
    time.sleep(seconds)
    cpu = cpu_seconds(mirrord.pid) - cpu0
    threads = {k: v - threads0.get(k, 0) for k, v in thread_cpu(mirrord.pid).items()}
    send = sum(cpu_seconds(s.pid) for s in senders) - send0
    wall = time.monotonic() - t0
    kdrop = udp_rcvbuf_errors() - kdrop0
    rss_per_stream = (rss_bytes(mirrord.pid) - idle_rss) / n
    streams = http_json(admin, "/api/v1/streams")["streams"]
    # Counted over the measured window, like the reference's (its stats files
    # start with the connection, but the warm-up loses nothing there).
    lost = sum(s["stats"]["packets_lost"] - streams0.get(s["id"], {}).get("packets_lost", 0)
               for s in streams)
    received = sum(s["stats"]["bytes"] - streams0.get(s["id"], {}).get("bytes", 0)
                   for s in streams)
    stop(others + senders)
    stop([mirrord])
    return dict(cpu=cpu, send=send, wall=wall, lost=lost, kdrop=kdrop, received=received,
                threads=threads, rss_per_stream=rss_per_stream)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="1,5,10")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--receive-threads", type=int, default=0,
                    help="mirrord's ingestion.srt.receive_threads (0: its default)")
    ap.add_argument("--threads", action="store_true",
                    help="print where mirrord's CPU went, per thread name")
    ap.add_argument("--load", type=float, default=0.0,
                    help="cores of extra busy work during both sides' runs (a busier box)")
    ap.add_argument("--only", choices=["mirrord", "reference"],
                    help="run one side only (no ratio)")
    args = ap.parse_args()
    global MEDIA
    MEDIA = media(BUILD, HEVC_1080P_50M)
    rate = media_bitrate()
    print(f"media: {rate / 1e6:.1f} Mbit/s; {args.runs} runs of {args.seconds:.0f} s; medians"
          + (f"; {args.load:.2f} cores of other load" if args.load else ""))
    print("lost: packets libsrt saw missing; kdrop: datagrams the kernel dropped (full buffer)")
    print(f"{'streams':>7} {'ref CPU-s/Gbit':>14} {'mirrord CPU-s/Gbit':>18} {'ratio':>5} "
          f"{'ref lost/kdrop':>14} {'mirrord lost/kdrop':>18} {'sender cores':>12}")
    med = statistics.median
    for n in [int(x) for x in args.streams.split(",")]:
        ref, mir = [], []
        for _ in range(args.runs):
            if args.only != "mirrord":
                r = run_reference(n, args.seconds, args.load)
                r["per_gbit"] = r["cpu"] / (rate * n * r["wall"] / 1e9)
                ref.append(r)
            if args.only != "reference":
                m = run_mirrord(n, args.seconds, args.receive_threads, args.load)
                m["per_gbit"] = m["cpu"] / (rate * n * m["wall"] / 1e9)
                mir.append(m)

        def col(runs, key, fmt):
            return format(med([r[key] for r in runs]), fmt) if runs else "-"

        ratio = (format(med([m["per_gbit"] / r["per_gbit"] for r, m in zip(ref, mir)]), ".2f")
                 if ref and mir else "-")
        send = med([r["send"] / r["wall"] for r in ref + mir])
        # libsrt's byte counts against the paced load: the senders kept pace.
        for side, runs in (("srt-live-transmit", ref), ("mirrord", mir)):
            if runs:
                got = med([r["received"] * 8 / (rate * n * r["wall"]) for r in runs])
                print(f"        {side} received {got:.1%} of the nominal load", flush=True)
        if mir:
            print(f"        mirrord RSS {med([m['rss_per_stream'] for m in mir]) / 2**20:.1f} MiB "
                  "per stream", flush=True)
        print("        lost per run: reference " + ",".join(str(r["lost"]) for r in ref)
              + "; mirrord " + ",".join(str(m["lost"]) for m in mir), flush=True)
        if mir and args.threads:
            last = mir[-1]
            for name, c in sorted(last["threads"].items(), key=lambda kv: -kv[1])[:12]:
                print(f"        {name:<18} {c / last['wall']:.3f} cores", flush=True)
        print(f"{n:>7} {col(ref, 'per_gbit', '.3f'):>14} {col(mir, 'per_gbit', '.3f'):>18} "
              f"{ratio:>5} {col(ref, 'lost', '.0f') + '/' + col(ref, 'kdrop', '.0f'):>14} "
              f"{col(mir, 'lost', '.0f') + '/' + col(mir, 'kdrop', '.0f'):>18} {send:>12.2f}",
              flush=True)


if __name__ == "__main__":
    main()
