#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""gst-inspect-1.0 finds the mirrorlive plugin, its version and all its elements."""
import shutil
import subprocess
import sys

ELEMENTS = ["mirroringestbin", "mirrorheartbeat", "mirrortranscodebin", "mirroraudiobin", "mirrorcmafmux",
            "mirrorh3sink"]


def inspect(gst_inspect, *args):
    argv = [gst_inspect, *args]
    # Under tools/sanitize/env the plugin is ASan-built: gst-inspect-1.0
    # needs the ASan run-time preloaded to load it (tools/sanitize/bin).
    preload = shutil.which("preload-asan")
    if preload:
        argv.insert(0, preload)
    run = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if run.returncode != 0:
        sys.exit(f"gst-inspect-1.0 {' '.join(args)} failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    return run.stdout


def main():
    gst_inspect, version = sys.argv[1], sys.argv[2]
    out = inspect(gst_inspect, "mirrorlive")
    missing = [e for e in ELEMENTS if e not in out]
    if missing:
        sys.exit(f"mirrorlive lacks {missing}:\n{out}")
    for needle in ("Name                     mirrorlive", f"Version                  {version}", "LGPL", f"{len(ELEMENTS)} features"):
        if needle not in out:
            sys.exit(f"'{needle}' not in gst-inspect-1.0 mirrorlive:\n{out}")

    out = inspect(gst_inspect, "mirrorheartbeat")
    for needle in ("stream-id", "registry", "interval", "timeout", "nanoseconds", "Generic"):
        if needle not in out:
            sys.exit(f"'{needle}' not in gst-inspect-1.0 mirrorheartbeat:\n{out}")
    print("ok")


if __name__ == "__main__":
    main()
