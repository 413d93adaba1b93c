#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/gpu-check as CI runs it: `bash -n`, then its CPU path in the small
form (--cpu-only --small --no-build on this build): the transcode tests'
"unit" mode passes and the decode-capacity table is printed with a row for
avdec_h265. The figures themselves depend on the box and are not checked."""

import os
import re
import subprocess
import sys
import unittest

SOURCE_ROOT = os.environ.get("MIRROR_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
BUILD_ROOT = os.environ.get("MIRROR_BUILD_ROOT", os.path.join(SOURCE_ROOT, "build"))
SCRIPT = os.path.join(SOURCE_ROOT, "tools", "gpu-check")


class GpuCheck(unittest.TestCase):
    def test_1_parses(self):
        r = subprocess.run(["bash", "-n", SCRIPT], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_2_cpu_path_prints_the_table(self):
        if not os.path.exists(os.path.join(BUILD_ROOT, "tests", "elements", "test_transcodebin")):
            self.skipTest("no test_transcodebin in this build (no gstreamer-check)")
        r = subprocess.run([SCRIPT, "--cpu-only", "--small", "--no-build", "--build", BUILD_ROOT],
                           capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
        print(r.stderr[-3000:], file=sys.stderr)
        print(r.stdout, file=sys.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-3000:])
        self.assertIn("Real-time 1080p30 HEVC decodes", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^path\s+decoder\s+streams\s+cores/stream")
        row = re.search(r"(?m)^CPU\s+avdec_h265\s+(\d+)\s+(\S+)", r.stdout)
        self.assertIsNotNone(row, r.stdout)
        self.assertLessEqual(int(row.group(1)), 3)  # --small stops at 3
        self.assertNotRegex(r.stdout, r"(?m)^GPU\s")
        self.assertIn("transcode tests: passed", r.stdout)
        self.assertIn("--cpu-only: the CPU path alone", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
