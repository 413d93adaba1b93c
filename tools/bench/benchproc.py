# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the bench scripts read off and do to the processes they start:
CPU-seconds and RSS from /proc, and stopping by PID."""

import os
import signal
import subprocess

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
