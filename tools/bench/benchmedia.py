# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bench scripts' test media, generated once into BUILD/bench-media/
(never committed)."""

import os
import subprocess
import sys

# BENCHMARKS.md's recipe: 1080p30 HEVC at a real 50 Mbit/s (noise keeps
# x265 at the rate), a keyframe every 15 frames.
HEVC_1080P_50M = ("hevc1080_50M.ts", [
    "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30,noise=alls=12:allf=t", "-t", "10",
    "-c:v", "libx265", "-preset", "ultrafast", "-b:v", "50M", "-maxrate", "50M",
    "-bufsize", "25M", "-x265-params", "keyint=15:min-keyint=15:scenecut=0:repeat-headers=1"])

# A lighter feed: 720p25 H.264 at 4 Mbit/s with AAC, a keyframe a second.
H264_720P_4M = ("h264_720p25_4M.ts", [
    "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25,noise=alls=6:allf=t",
    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "10",
    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "4M", "-g", "25",
    "-c:a", "aac", "-b:a", "128k"])


def media(build, recipe):
    """The path of recipe's MPEG-TS file under build/bench-media/, made with
    ffmpeg the first time."""
    name, args = recipe
    path = os.path.join(build, "bench-media", name)
    if os.path.exists(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    print("generating", path, "(once; it may take a few minutes)", file=sys.stderr)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error"] + args
                   + ["-f", "mpegts", path + ".part"], check=True)
    os.rename(path + ".part", path)
    return path
