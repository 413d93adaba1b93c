#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The monitoring kit against a real mirrord.

configs/grafana/mirror.json and configs/prometheus/mirror-rules.yml may name
only metrics mirrord exports: every metric name in their PromQL is looked
up among the families of /metrics of a mirrord that ingests an SRT
test-pattern feed, transcodes it to one small rendition, records it (DVR)
and has an S3 archive configured (its endpoint a closed loopback port: the
upload families exist, the uploads fail, which is all this needs); the
feed is then stopped, which makes the disconnect families appear.

prometheus-cpp prints a family (# TYPE) only once it has a series, and a
few families get their first series only on an event this test does not
cause (EVENT_ONLY: a pipeline error, a watchdog restart, a caller that
comes back); for those the name must be registered in
gst-plugins/libmirror/metrics/metrics.cpp instead.

promtool (Debian's prometheus package) checks the rules; the dashboard is
checked as JSON: every panel but a row has targets, each with an expr and a
datasource."""

import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.environ["MIRROR_SOURCE_ROOT"], "tests", "integration"))
import mirrortest  # noqa: E402
from mirrortest import Mirrord, Process, log_on_failure, wait_for  # noqa: E402

SOURCE_ROOT = os.environ["MIRROR_SOURCE_ROOT"]
DASHBOARD = os.path.join(SOURCE_ROOT, "configs", "grafana", "mirror.json")
RULES = os.path.join(SOURCE_ROOT, "configs", "prometheus", "mirror-rules.yml")
METRICS_CPP = os.path.join(SOURCE_ROOT, "gst-plugins", "libmirror", "metrics", "metrics.cpp")

# Families whose first series needs an event this test does not cause.
EVENT_ONLY = {
    "mirror_stream_errors_total": "a pipeline error",
    "mirror_pipeline_restarts_total": "a watchdog restart of a wedged pipeline",
    "mirror_connection_reconnects_total": "a caller back within ingestion.reconnect_window",
}
# Histogram and summary series carry these suffixes; their family does not.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")
NAME = re.compile(r"(?<![A-Za-z0-9_:])((?:mirror|process)_[A-Za-z0-9_]+)")
STREAM = "monitoring"
# Families with a stream label: an alert on one names the stream.
PER_STREAM = re.compile(r"mirror_(stream_ingestion_|stream_live_lag|stream_errors|pipeline_restarts"
                        r"|srt_|buffer_|transcode_)")


def log(msg):
    print(f"test_monitoring: {msg}", file=sys.stderr, flush=True)


def strip_strings(expr):
    """PromQL without its quoted strings (label values, regexes)."""
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def names_in(expr):
    return set(NAME.findall(strip_strings(expr)))


def rule_exprs(text):
    """The expr of every rule in a rules file: `expr: <one line>` or a block
    scalar (`expr: |`, `>-`...) of the lines indented deeper. Enough for
    the file this project writes, without a YAML library."""
    exprs = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*?)\s*$", lines[i])
        i += 1
        if not m:
            continue
        indent, value = len(m.group(1)), m.group(2)
        if value and value[0] in "|>":
            block = []
            while i < len(lines) and (not lines[i].strip()
                                      or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            exprs.append(" ".join(block))
        else:
            exprs.append(value.strip("\"'"))
    return exprs


def dashboard_exprs(doc):
    """Every PromQL text in a dashboard: panel targets (rows' nested panels
    too) and the query variables."""
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t.get("expr", "") for t in p.get("targets", []))
            walk(p.get("panels", []))
    walk(doc.get("panels", []))
    for var in doc.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var.get("query")
            exprs.append(q.get("query", "") if isinstance(q, dict) else q or "")
            exprs.append(var.get("definition", ""))
    return exprs


def families(text):
    """Family name -> type, from the # TYPE lines of a /metrics text."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                out[parts[2]] = parts[3]
    return out


def registered_names():
    """The names metrics.cpp registers (its string literals that are names)."""
    with open(METRICS_CPP) as f:
        return set(re.findall(r'"((?:mirror|process)_[a-z0-9_]+)"', f.read()))


def missing_names(referenced, exported, registered):
    """Referenced names that are no exported family (a histogram series'
    suffix allowed) nor, for EVENT_ONLY, a registered one."""
    missing = []
    for name in sorted(referenced):
        candidates = [name] + [name[:-len(s)] for s in SERIES_SUFFIXES if name.endswith(s)]
        if any(c in exported and (c == name or exported[c] in ("histogram", "summary"))
               for c in candidates):
            continue
        if name in EVENT_ONLY and name in registered:
            continue
        missing.append(name)
    return missing


def srt_feed(port, stream_id):
    """A small live H.264 test pattern over SRT, as a camera would send it."""
    return Process(
        ["gst-launch-1.0", "-q", "videotestsrc", "is-live=true", "pattern=ball", "!",
         "video/x-raw,format=I420,width=160,height=120,framerate=25/1", "!",
         "x264enc", "speed-preset=ultrafast", "tune=zerolatency", "key-int-max=12", "!",
         "h264parse", "config-interval=-1", "!", "mpegtsmux", "alignment=7", "!",
         "srtsink", f"uri=srt://127.0.0.1:{port}?streamid={stream_id}", "latency=120"],
        log_name="monitoring-feed")


class Monitoring(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        with open(RULES) as f:
            cls.rules_text = f.read()
        with open(DASHBOARD) as f:
            cls.dashboard = json.load(f)
        cls.referenced = {}  # name -> the file naming it
        for expr in rule_exprs(cls.rules_text):
            for name in names_in(expr):
                cls.referenced.setdefault(name, "mirror-rules.yml")
        for expr in dashboard_exprs(cls.dashboard):
            for name in names_in(expr):
                cls.referenced.setdefault(name, "mirror.json")

    def test_names_are_found_in_expressions(self):
        """The extraction itself: both files name metrics, label values and
        alert names are not taken for them, and a misspelt name is missing."""
        self.assertGreater(len(rule_exprs(self.rules_text)), 10)
        self.assertIn("mirror_stream_ingestion_active", self.referenced)
        self.assertIn("mirror_storage_upload_backlog", self.referenced)
        self.assertIn("mirror_ingest_buffer_latency_seconds_bucket", self.referenced)
        self.assertEqual(names_in('sum(mirror_a_total{x="mirror_b"}) / mirror_c'),
                         {"mirror_a_total", "mirror_c"})
        exported = {"mirror_h": "histogram", "mirror_g": "gauge"}
        self.assertEqual(missing_names({"mirror_h_bucket", "mirror_g_sum", "mirror_gg"}, exported,
                                       set()), ["mirror_g_sum", "mirror_gg"])
        self.assertEqual(missing_names({"mirror_stream_errors_total", "mirror_stream_error_total"},
                                       {}, registered_names()), ["mirror_stream_error_total"])

    def test_every_name_is_exported_by_mirrord(self):
        closed = mirrortest.free_port()  # S3 endpoint nothing listens on
        m = Mirrord(env={
            "MIRROR_TRANSCODING_ENABLED": "true",
            "MIRROR_TRANSCODING_HARDWARE": "cpu",
            "MIRROR_TRANSCODING_RENDITIONS": "144p:256x144@100k",
            "MIRROR_TRANSCODING_X264_PRESET": "ultrafast",
            "MIRROR_STORAGE_DVR_ENABLED": "true",
            "MIRROR_STORAGE_S3_ENABLED": "true",
            "MIRROR_STORAGE_S3_BUCKET": "mirror-monitoring",
            "MIRROR_STORAGE_S3_REGION": "us-east-1",
            "MIRROR_STORAGE_S3_ENDPOINT": f"http://127.0.0.1:{closed}",
            "MIRROR_STORAGE_S3_ACCESS_KEY_ID": "monitoring",
            "MIRROR_STORAGE_S3_SECRET_ACCESS_KEY": "monitoring-test-secret",
        })
        feed = None
        try:
            with log_on_failure(m):
                feed = srt_feed(m.srt_port, STREAM)
                self.check_exported(m, feed)
        finally:
            if feed is not None:
                feed.stop()
            code = m.stop()
        self.assertEqual(code, 0, f"mirrord exited with {code}:\n{m.output()[-4000:]}")

    def metrics(self, m):
        status, _, body = m.http("GET", "/metrics", raw=True, timeout=5)
        return body.decode() if status == 200 else ""

    def check_exported(self, m, feed):
        registered = registered_names()
        # A viewer request, so the Origin's request counters move too.
        wait_for(lambda: m.origin("GET", f"/live/{STREAM}/index.m3u8", timeout=5)[0] == 200,
                 f"stream {STREAM}'s multivariant playlist", deadline_s=60)
        # Everything but what needs the feed to leave.
        after_leaving = {"mirror_stream_ingestion_errors_total",
                         "mirror_connection_duration_seconds"}
        live = {n: f for n, f in self.referenced.items() if n not in after_leaving}
        last = {}

        def live_names_present():
            last["families"] = families(self.metrics(m))
            return not missing_names(live, last["families"], registered)
        try:
            wait_for(live_names_present, "every live family in /metrics", deadline_s=60)
        except AssertionError:
            pass  # reported below, with the names
        missing = missing_names(live, last.get("families", {}), registered)
        self.assertEqual(missing, [], "named by the monitoring kit, not exported: "
                         + ", ".join(f"{n} ({self.referenced[n]})" for n in missing))

        feed.stop()

        def all_present():
            last["families"] = families(self.metrics(m))
            return not missing_names(self.referenced, last["families"], registered)
        try:
            wait_for(all_present, "the disconnect families in /metrics", deadline_s=30)
        except AssertionError:
            pass
        missing = missing_names(self.referenced, last.get("families", {}), registered)
        self.assertEqual(missing, [], "named by the monitoring kit, not exported after the feed "
                         "left: " + ", ".join(f"{n} ({self.referenced[n]})" for n in missing))
        log(f"{len(self.referenced)} metric names checked against {len(last['families'])} "
            f"families ({len(set(self.referenced) & set(EVENT_ONLY))} event-only, "
            "checked against metrics.cpp)")

    def test_promtool_checks_the_rules(self):
        promtool = shutil.which("promtool")
        if not promtool:
            raise unittest.SkipTest("promtool not installed (Debian: apt-get install prometheus)")
        r = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout + r.stderr)

    def test_alerts_have_for_severity_and_annotations(self):
        """Each alerting rule: a for, a severity label, a summary and a
        description; those about one stream name its label."""
        blocks = re.split(r"\n\s*- alert:\s*", self.rules_text)[1:]
        self.assertGreater(len(blocks), 10)
        for block in blocks:
            name = block.split()[0]
            with self.subTest(alert=name):
                self.assertRegex(block, r"\n\s+for:\s*\d+[smh]")
                self.assertRegex(block, r"\n\s+severity:\s*(critical|warning|info)\b")
                self.assertRegex(block, r"\n\s+summary:")
                self.assertRegex(block, r"\n\s+description:")
                expr = block.split("labels:")[0]
                if PER_STREAM.search(expr):
                    self.assertIn("{{ $labels.stream }}", block)

    def test_dashboard_panels_have_queries(self):
        d = self.dashboard
        self.assertGreaterEqual(d.get("schemaVersion", 0), 36)
        variables = {v["name"]: v for v in d["templating"]["list"]}
        self.assertEqual(variables["DS_PROMETHEUS"]["type"], "datasource")
        self.assertEqual(variables["DS_PROMETHEUS"]["query"], "prometheus")
        self.assertIn("label_values(mirror_", variables["stream"]["definition"])
        self.assertTrue(variables["stream"]["definition"].rstrip().endswith(", stream)"))
        panels = [p for p in d["panels"] if p["type"] != "row"]
        self.assertGreater(len(panels), 20)
        ids = [p["id"] for p in d["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat")
        for p in panels:
            with self.subTest(panel=p.get("title")):
                self.assertIn(p["type"], ("timeseries", "stat"))
                self.assertTrue(p.get("targets"), "no targets")
                for t in p["targets"]:
                    self.assertTrue(t.get("expr", "").strip(), "a target without expr")
                    ds = t.get("datasource") or p.get("datasource")
                    self.assertTrue(ds and ds.get("uid") == "${DS_PROMETHEUS}",
                                    f"no ${{DS_PROMETHEUS}} datasource: {ds}")
                    self.assertTrue(names_in(t["expr"]), f"no metric in {t['expr']}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
