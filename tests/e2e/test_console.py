#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The operator console (http://HOST:9090/) in Chromium, against a mirrord
with an admin token and two streams: an H.264 SRT feed transcoded to 180p
(it has thumbnails) and a test pattern. tests/e2e/console.mjs checks a tile
per stream, thumbnails whose bytes change, figures that move without a
reload (Server-Sent Events), Pause refused without the token and done with
it, the detail view by keyboard, the recording's links (a clip of the last
minute that the Origin serves); here the API must then report the pause.
Screenshots at desktop and phone widths are kept under the build
directory's meson-logs/console/. Skips (exit 77) only when chromium, node
or web/node_modules is missing."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from mirrortest import Mirrord, wait_for
from test_hls import srt_feed

SKIP = 77
TOKEN = "console-e2e-token-0123456789"


def main():
    root = os.environ["MIRROR_SOURCE_ROOT"]
    if not os.path.exists("/usr/bin/chromium") or not shutil.which("node") or not os.path.isdir(
            os.path.join(root, "web", "node_modules", "playwright-core")):
        print("chromium, node or web/node_modules is missing: skipped")
        return SKIP
    shots = os.path.join(os.environ["MIRROR_BUILD_ROOT"], "meson-logs", "console")
    os.makedirs(shots, exist_ok=True)
    dvr = tempfile.TemporaryDirectory(prefix="mirror-console-")
    m = Mirrord(env={"MIRROR_SERVER_ADMIN_TOKEN": TOKEN,
                     "MIRROR_TRANSCODING_RENDITIONS": "180p:320x180@200k",
                     "MIRROR_STORAGE_DVR_ENABLED": "true",
                     "MIRROR_STORAGE_LOCAL_CACHE_DIR": dvr.name})
    feed = srt_feed(m.srt_port, "cam")
    try:
        m.create_testsrc("pattern", token=TOKEN)
        wait_for(lambda: m.stream_state("cam") == "live", "cam live", deadline_s=60)
        r = subprocess.run(["node", os.path.join(root, "tests", "e2e", "console.mjs"),
                            "--url", f"http://127.0.0.1:{m.admin_port}/", "--thumb", "cam",
                            "--plain", "pattern", "--token", TOKEN, "--shots", shots],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        print(r.stdout.strip())
        if r.stderr.strip():
            print(r.stderr.strip()[-3000:], file=sys.stderr)
        result = json.loads(r.stdout.strip().splitlines()[-1])
        assert r.returncode == 0 and result["ok"], result
        # The pause the page made is the API's state too.
        assert m.stream_state("pattern") == "paused", m.stream_state("pattern")
        for name in ("console-desktop.png", "console-phone.png"):
            assert os.path.getsize(os.path.join(shots, name)) > 10000, name
    except BaseException:
        print("mirrord's log ends:\n" + m.output()[-4000:], file=sys.stderr)
        raise
    finally:
        feed.stop()
        code = m.stop()
        dvr.cleanup()
    assert code == 0, f"mirrord exited with {code}"
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
