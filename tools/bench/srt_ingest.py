#!/usr/bin/env python3
"""SRT ingest CPU per Gbit: mirrord (hub -> ring -> tsdemux -> parse ->
heartbeat) against srt-live-transmit receiving the same paced load, in one run.

    tools/bench/srt_ingest.py [--streams 1,5,10,25] [--seconds 20] [--runs 3]

Media (BENCHMARKS.md recipe: 1080p30 HEVC at 50 Mbps) is generated once into
build/bench-media/. Every receiver's CPU is read from /proc/PID/stat; the
senders' CPU is reported too, since they share the 2 cores. Prints medians and
the ratio mirrord / srt-live-transmit (target <= 1.1). Not a test.

Known limit (2 cores, senders on the same box): srt-live-transmit gets one
UDP socket, hence one libsrt receive thread, per stream; mirrord receives
every stream on one port, so libsrt gives it one receive thread for all of
them. When the senders saturate the box that one thread gets a small share
of the CPU (the scheduler is fair per thread) and packets are lost, although
mirrord's CPU per Gbit is on par below saturation.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.join(ROOT, "build")
MEDIA = os.path.join(BUILD, "bench-media", "hevc1080_50M.ts")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_media():
    if os.path.exists(MEDIA):
        return
    os.makedirs(os.path.dirname(MEDIA), exist_ok=True)
    print("generating", MEDIA, "(once; a few minutes)", file=sys.stderr)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t", "-t", "10",
         "-c:v", "libx265", "-preset", "ultrafast", "-b:v", "50M", "-maxrate", "50M",
         "-bufsize", "25M", "-x265-params", "keyint=15:min-keyint=15:scenecut=0:repeat-headers=1",
         "-f", "mpegts", MEDIA + ".part"], check=True)
    os.rename(MEDIA + ".part", MEDIA)


def sender(port, stream_id):
    uri = f"srt://127.0.0.1:{port}?pkt_size=1316"
    if stream_id:
        uri += f"&streamid={stream_id}"
    return subprocess.Popen(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", MEDIA,
         "-c", "copy", "-f", "mpegts", uri],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def media_bitrate():
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=bit_rate",
                          "-of", "json", MEDIA], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["format"]["bit_rate"])


def run_reference(n, seconds):
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
    time.sleep(2)  # warm-up excluded from the measurement
    cpu0 = sum(cpu_seconds(r.pid) for r in receivers)
    send0 = sum(cpu_seconds(s.pid) for s in senders)
    t0 = time.monotonic()
    time.sleep(seconds)
    cpu = sum(cpu_seconds(r.pid) for r in receivers) - cpu0
    send = sum(cpu_seconds(s.pid) for s in senders) - send0
    wall = time.monotonic() - t0
    stop(senders + receivers)
    # srt-live-transmit's JSON stats are per interval: sum them.
    lost = 0
    for p in ports:
        with open(os.path.join(stats_dir, f"{p}.json")) as f:
            for line in f:
                line = line.strip().rstrip(",")
                if line.startswith("{"):
                    try:
                        lost += json.loads(line).get("recv", {}).get("packetsLost", 0)
                    except ValueError:
                        pass  # the line being written when the process stopped
    return cpu, send, wall, lost


def http_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.load(r)


def run_mirrord(n, seconds):
    srt_port = free_udp_port()
    admin = free_tcp_port()
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
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    mirrord = subprocess.Popen([os.path.join(BUILD, "daemon", "mirrord")], env=env,
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
    senders = [sender(srt_port, f"bench{i}") for i in range(n)]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = [s for s in http_json(admin, "/api/v1/streams")["streams"] if s["state"] == "live"]
        if len(live) == n:
            break
        time.sleep(0.2)
    time.sleep(2)
    cpu0 = cpu_seconds(mirrord.pid)
    send0 = sum(cpu_seconds(s.pid) for s in senders)
    t0 = time.monotonic()
    time.sleep(seconds)
    cpu = cpu_seconds(mirrord.pid) - cpu0
    send = sum(cpu_seconds(s.pid) for s in senders) - send0
    wall = time.monotonic() - t0
    lost = sum(s["stats"]["packets_lost"] for s in http_json(admin, "/api/v1/streams")["streams"])
    stop(senders)
    stop([mirrord])
    return cpu, send, wall, lost


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="1,5,10")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    make_media()
    rate = media_bitrate()
    print(f"media: {rate / 1e6:.1f} Mbit/s; {args.runs} runs of {args.seconds:.0f} s; medians")
    print(f"{'streams':>7} {'ref CPU-s/Gbit':>15} {'mirrord CPU-s/Gbit':>19} {'ratio':>6} "
          f"{'ref lost':>8} {'mirror lost':>11} {'sender cores':>12}")
    for n in [int(x) for x in args.streams.split(",")]:
        ref, mir, ratios, ref_lost, mir_lost, send = [], [], [], [], [], []
        for _ in range(args.runs):
            cpu, s, wall, lost = run_reference(n, args.seconds)
            gbit = rate * n * wall / 1e9
            ref.append(cpu / gbit)
            ref_lost.append(lost)
            cpu2, s2, wall2, lost2 = run_mirrord(n, args.seconds)
            gbit2 = rate * n * wall2 / 1e9
            mir.append(cpu2 / gbit2)
            mir_lost.append(lost2)
            ratios.append(mir[-1] / ref[-1])
            send.append((s + s2) / (wall + wall2))
        print(f"{n:>7} {statistics.median(ref):>15.3f} {statistics.median(mir):>19.3f} "
              f"{statistics.median(ratios):>6.2f} {statistics.median(ref_lost):>8.0f} "
              f"{statistics.median(mir_lost):>11.0f} {statistics.median(send):>12.2f}")


if __name__ == "__main__":
    main()
