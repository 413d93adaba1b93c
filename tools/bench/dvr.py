#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The DVR's costs, each beside a reference tool run in the same script:

1. Recording: mirror-dvr-bench record feeds the Recorder STREAMS streams of
   the default ladder (360p at 400 kbit/s in 100 ms parts, AAC at 128
   kbit/s) for SECONDS of media in real time, as mirrord runs it
   (fdatasync per batch).
   Its CPU-seconds per GB written beside `cp -r` of the same files (then
   `sync`), the write amplification (bytes on disk over media bytes: inits,
   index records) and the recorder's p99 batch write latency.
2. A day's VOD playlist: 24 h of index (500 ms segments) read, grouped and
   rendered, cold and warm: milliseconds and bytes.
3. Uploads: the recorded periods to a local S3 server (s3rver, from
   web/node_modules, behind tests/unit/storage/s3rver.mjs) through the
   Uploader, beside `curl -T` of the same files (SigV4 by curl, WORKERS at a
   time): seconds and MB/s.

    tools/bench/dvr.py [--streams 25] [--seconds 60] [--runs 3] [--workers 4]

Needs a build (build/tools/bench/mirror-dvr-bench) and `npm ci --prefix web`.
Every run is printed, then the spread."""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MIRROR_BUILD_ROOT", os.path.join(ROOT, "build"))
BENCH = os.path.join(BUILD, "tools", "bench", "mirror-dvr-bench")
BUCKET = "bench"


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_json(argv):
    r = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def tree_files(d):
    for base, _, files in os.walk(d):
        for f in files:
            yield os.path.join(base, f)


def record_run(streams, seconds):
    d = tempfile.mkdtemp(prefix="mirror-dvr-bench-")
    try:
        rec = run_json([BENCH, "record", d + "/dvr", str(streams), str(seconds)])
        copy = d + "/copy"
        before = children_cpu()
        t = time.monotonic()
        subprocess.run(["cp", "-r", d + "/dvr", copy], check=True)
        subprocess.run(["sync", "-f", copy], check=True)
        cp_wall = time.monotonic() - t
        cp_cpu = children_cpu() - before
        gb = rec["disk_bytes"] / 1e9
        out = {
            "recorder_cpu_s_per_gb": rec["cpu_s"] / gb,
            "cp_cpu_s_per_gb": cp_cpu / gb,
            "recorder_wall_s": rec["wall_s"],
            "cp_wall_s": cp_wall,
            "write_amplification": rec["disk_bytes"] / rec["media_bytes"],
            "write_p99_ms": rec["write_p99_ms"],
            "write_max_ms": rec["write_max_ms"],
            "disk_mb": rec["disk_bytes"] / 1e6,
        }
        out["ratio"] = out["recorder_cpu_s_per_gb"] / out["cp_cpu_s_per_gb"] if cp_cpu else None
        return out, d
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise


def playlist_run(hours):
    d = tempfile.mkdtemp(prefix="mirror-dvr-day-")
    try:
        return run_json([BENCH, "playlist", d, str(hours)])
    finally:
        shutil.rmtree(d, ignore_errors=True)


class S3rver:
    def __init__(self):
        script = os.path.join(ROOT, "tests", "unit", "storage", "s3rver.mjs")
        self.proc = subprocess.Popen(["node", "--openssl-legacy-provider", script, "--bucket", BUCKET,
                                      "--port", "0"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "MIRROR_SOURCE_ROOT": ROOT})
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def curl_put(port, path, key):
    subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "--aws-sigv4", "aws:amz:us-east-1:s3",
                    "--user", "S3RVER:S3RVER", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                    "-T", path, f"http://127.0.0.1:{port}/{BUCKET}/curl/{key}"], check=True)


def upload_run(dvr, workers):
    s3 = S3rver()
    try:
        files = [p for p in tree_files(dvr) if p.endswith((".cmf", ".idx", ".json"))]
        size = sum(os.path.getsize(p) for p in files)
        t = time.monotonic()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda p: curl_put(s3.port, p, os.path.relpath(p, dvr)), files))
        curl_s = time.monotonic() - t
        up = run_json([BENCH, "upload", dvr, f"http://127.0.0.1:{s3.port}", BUCKET, str(workers)])
        return {"bytes": size, "files": len(files), "uploader_s": up["wall_s"],
                "uploader_mb_s": up["bytes"] / 1e6 / up["wall_s"], "curl_s": curl_s,
                "curl_mb_s": size / 1e6 / curl_s, "uploader_periods": up["periods"],
                "uploader_requests": up["requests"], "ok": up["ok"]}
    finally:
        s3.stop()


def spread(name, values, fmt="{:.2f}"):
    values = [v for v in values if v is not None]
    if not values:
        return f"{name}: -"
    return (f"{name}: " + ", ".join(fmt.format(v) for v in values)
            + f" (min {fmt.format(min(values))}, max {fmt.format(max(values))})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=25)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--hours", type=int, default=24)
    args = ap.parse_args()
    if not os.access(BENCH, os.X_OK):
        sys.exit(f"{BENCH} is missing: tools/mirror-dev build")
    records, playlists, uploads = [], [], []
    for i in range(args.runs):
        rec, d = record_run(args.streams, args.seconds)
        try:
            up = upload_run(d + "/dvr", args.workers)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        pl = playlist_run(args.hours)
        print(f"run {i + 1}: record {json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rec.items()})}")
        print(f"run {i + 1}: playlist {json.dumps(pl)}")
        print(f"run {i + 1}: upload {json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in up.items()})}")
        records.append(rec)
        playlists.append(pl)
        uploads.append(up)
    print(f"\n{args.streams} streams x (360p + audio), {args.seconds} s of media, {args.runs} runs:")
    print(spread("recorder CPU-s per GB", [r["recorder_cpu_s_per_gb"] for r in records]))
    print(spread("cp -r CPU-s per GB", [r["cp_cpu_s_per_gb"] for r in records]))
    print(spread("recorder / cp", [r["ratio"] for r in records]))
    print(spread("write amplification", [r["write_amplification"] for r in records], "{:.4f}"))
    print(spread("p99 batch write latency ms", [r["write_p99_ms"] for r in records]))
    print(spread(f"{args.hours} h VOD playlist bytes", [p["bytes"] for p in playlists], "{:.0f}"))
    print(spread(f"{args.hours} h VOD playlist cold ms", [p["cold_ms"] for p in playlists]))
    print(spread(f"{args.hours} h VOD playlist warm ms", [p["warm_ms"] for p in playlists]))
    print(spread("uploader MB/s", [u["uploader_mb_s"] for u in uploads]))
    print(spread(f"curl -T ({args.workers} at a time) MB/s", [u["curl_mb_s"] for u in uploads]))
    print(spread("uploader / curl", [u["uploader_mb_s"] / u["curl_mb_s"] for u in uploads]))
    return 0 if all(u["ok"] for u in uploads) else 1


if __name__ == "__main__":
    sys.exit(main())
