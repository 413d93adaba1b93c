# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the bench scripts read off and do to the processes they start:
CPU-seconds and RSS from /proc, and stopping by PID."""

import os
import signal
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, missing=0.0):
    """User + system CPU-seconds of a process; `missing` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except OSError:
        return missing


def thread_cpu(pid):
    """CPU-seconds per thread name of a process (digits folded: one line
    for all of libsrt's 'SRT:TsbPd' threads, say)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue  # the thread ended
        name = "".join(c for c in text[text.index("(") + 1:text.rindex(")")] if not c.isdigit())
        fields = text.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def udp_ports_bound():
    """Local ports of every UDP socket on this host (IPv4 and IPv6)."""
    ports = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    ports.add(int(line.split()[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def wait_udp_bound(ports, procs, seconds=20):
    """Waits until every port in `ports` is bound (receivers that give no
    readiness signal of their own); raises when a process in `procs` exits
    or the deadline passes."""
    deadline = time.monotonic() + seconds
    while True:
        missing = set(ports) - udp_ports_bound()
        if not missing:
            return
        gone = [p.args[0] for p in procs if p.poll() is not None]
        if gone:
            raise RuntimeError(f"{gone[0]} exited before binding its port")
        if time.monotonic() > deadline:
            raise RuntimeError(f"ports {sorted(missing)} not bound after {seconds} s")
        time.sleep(0.05)


def stop(procs):
    """SIGTERM to every process still running (None entries skipped), then
    waits for each, SIGKILL after 10 s."""
    procs = [p for p in procs if p is not None]
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
