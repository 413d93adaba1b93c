#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs one libFuzzer target the way the fuzz test suite does.

First every input kept under regressions/<target>/ (each once, without
fuzzing: a crash found before must stay fixed), then fuzzing for a bounded
time from a copy of corpus/<target>/, so the repository is never written.
New crashes land in the current directory (meson test's: the build
folder), named TARGET-crash-*, and libFuzzer logs how to reproduce them.

usage: run_target.py FUZZER SOURCE_DIR TARGET [SECONDS]
SECONDS defaults to $FUZZ_SECONDS, then 20.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    fuzzer, source_dir, target = sys.argv[1:4]
    seconds = int(sys.argv[4] if len(sys.argv) > 4 else os.environ.get('FUZZ_SECONDS', '20'))
    corpus = os.path.join(source_dir, 'corpus', target)
    regressions = os.path.join(source_dir, 'regressions', target)
    artifacts = os.path.join(os.getcwd(), f'{target}-')
    common = ['-rss_limit_mb=2048', '-timeout=20', f'-artifact_prefix={artifacts}']

    kept = sorted(os.path.join(regressions, f) for f in os.listdir(regressions)) \
        if os.path.isdir(regressions) else []
    if kept:
        print(f'{target}: {len(kept)} regression inputs', flush=True)
        rc = subprocess.call([fuzzer] + common + kept)
        if rc != 0:
            print(f'{target}: a regression input fails again (exit {rc})', file=sys.stderr)
            return 1
    if seconds <= 0:
        return 0
    with tempfile.TemporaryDirectory(prefix=f'fuzz-{target}-') as work:
        copy = os.path.join(work, 'corpus')
        if os.path.isdir(corpus):
            shutil.copytree(corpus, copy)
        else:
            os.mkdir(copy)
        print(f'{target}: fuzzing for {seconds} s from {corpus}', flush=True)
        rc = subprocess.call([fuzzer] + common + [f'-max_total_time={seconds}', copy])
    if rc != 0:
        print(f'{target}: crashed (exit {rc}); keep the input under '
              f'tests/fuzz/regressions/{target}/ once fixed', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
