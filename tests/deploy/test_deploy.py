#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Deployment: `meson install --destdir` into a temporary tree, then what was
installed, and nothing from the build tree, is put to work: the installed
mirrord with the installed plugin, libmirror, config and pipelines serves a
live stream; the installed systemd unit passes `systemd-analyze verify`
(and keeps its hardening); the installed D-Bus policy, on a private bus
configured like the system bus, lets mirrord own io.mirror.Mirror1 and
lets anyone else call it but not own it; the monitoring kit (Grafana
dashboard, Prometheus rules) lands under datadir/mirror as in the source.

Runs from meson (`meson test deploy`) with MIRROR_BUILD_ROOT set; the build
must be current (the test installs with --no-rebuild). Every process it
starts (mirrord, dbus-daemon, an SRT feed) is stopped by PID.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import mirrortest  # noqa: E402
from mirrortest import (BUILD_ROOT, DEADLINE_S, SOURCE_ROOT, Mirrord,  # noqa: E402
                        video_feed, wait_for)

NAME = "io.mirror.Mirror1"
OBJECT_PATH = "/io/mirror/Mirror1"
IFACE = "io.mirror.Mirror1.Streams"
NOBODY = 65534
PIPELINES = ("default.pipeline", "ingest-only.pipeline", "testsrc.pipeline")


def build_options():
    """The build's directory options (prefix, bindir, ...) as meson holds them."""
    with open(os.path.join(BUILD_ROOT, "meson-info", "intro-buildoptions.json")) as f:
        return {o["name"]: o["value"] for o in json.load(f) if o["section"] == "directory"}


def mapped_files(pid):
    """The files mapped into process pid (its shared libraries among them)."""
    with open(f"/proc/{pid}/maps") as f:
        return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}


class PrivateSystemBus:
    """A dbus-daemon configured like Debian's system bus (default: connect,
    call the bus, own nothing, call nobody) plus the installed policy;
    stopped by PID. Its socket sits in a directory other users can reach."""

    def __init__(self, policy):
        self.dir = tempfile.mkdtemp(prefix="mirror-bus-")
        os.chmod(self.dir, 0o755)
        socket_path = os.path.join(self.dir, "system_bus_socket")
        config = os.path.join(self.dir, "system.conf")
        with open(config, "w") as f:
            f.write(f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket_path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <include>{policy}</include>
</busconfig>
""")
        self.proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--print-address", "--nofork", "--nopidfile"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # --print-address writes the address once the bus listens.
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            _, err = self.proc.communicate(timeout=DEADLINE_S)
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError(f"dbus-daemon printed no address: {err}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # by PID
            self.proc.wait(timeout=DEADLINE_S)
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def gdbus(self, *args, user=None):
        """(returncode, stdout, stderr) of `gdbus ARGS --address <this bus>`,
        as user (a uid) when given."""
        command, rest = args[0], args[1:]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/"}
        r = subprocess.run(["gdbus", command, "--address", self.address, *rest], env=env,
                           user=user, capture_output=True, text=True, timeout=DEADLINE_S,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def bus_call(self, method, *args, user=None):
        return self.gdbus("call", "--dest", "org.freedesktop.DBus",
                          "--object-path", "/org/freedesktop/DBus",
                          "--method", "org.freedesktop.DBus." + method, *args, user=user)

    def has_owner(self, name):
        rc, out, _ = self.bus_call("NameHasOwner", name)
        return rc == 0 and out == "(true,)"


class Deployment(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mirror-deploy-")
        cls.destdir = os.path.join(cls.tmp.name, "root")
        r = subprocess.run(["meson", "install", "-C", BUILD_ROOT, "--no-rebuild", "--quiet",
                            "--destdir", cls.destdir],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            cls.tmp.cleanup()
            raise AssertionError(f"meson install failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")

        opts = build_options()
        prefix = opts["prefix"]

        def installed(option, *parts):
            """(path on the target, path in the destdir tree); options may be
            absolute (sysconfdir=/etc with prefix /usr)."""
            target = os.path.join(prefix, opts[option], *parts) if option else os.path.join(prefix, *parts)
            return target, cls.destdir + target

        cls.bindir, _ = installed("bindir")
        cls.mirrord_target, cls.mirrord = installed("bindir", "mirrord")
        cls.plugindir_target, cls.plugindir = installed("libdir", "gstreamer-1.0")
        _, cls.libdir = installed("libdir")
        cls.plugin = os.path.join(cls.plugindir, "libgstmirrorlive.so")
        cls.libmirror = os.path.join(cls.libdir, "libmirror.so.0")
        cls.config_target, cls.config = installed("sysconfdir", "mirror", "mirror.yaml")
        cls.unit_dir_target, cls.unit_dir = installed(None, "lib", "systemd", "system")
        cls.unit = os.path.join(cls.unit_dir, "mirrord.service")
        _, cls.policy = installed("datadir", "dbus-1", "system.d", NAME + ".conf")
        _, cls.pipelines = installed("datadir", "mirror", "pipelines")
        _, cls.dashboard = installed("datadir", "mirror", "grafana", "mirror.json")
        _, cls.alert_rules = installed("datadir", "mirror", "prometheus", "mirror-rules.yml")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def installed_env(self):
        """Only the installed tree: its libmirror, its plugin, a registry of
        its own (the test environment's build-tree plugin path replaced)."""
        return {
            "LD_LIBRARY_PATH": self.libdir,
            "GST_PLUGIN_PATH_1_0": self.plugindir,
            "GST_PLUGIN_PATH": "",
            "GST_REGISTRY_1_0": os.path.join(self.tmp.name, f"registry-{self.id()}.bin"),
            "MIRROR_INGESTION_PIPELINES_DIR": self.pipelines,
            # The packaging of the feed itself: lighter on CI's two cores.
            "MIRROR_TRANSCODING_ENABLED": "false",
        }

    def start_installed(self, env=None):
        """The installed mirrord, with the installed config, on free loopback
        ports (mirrortest.Mirrord's, pointed at the installed binary)."""
        full_env = self.installed_env()
        full_env.update(env or {})
        built = mirrortest.MIRRORD
        mirrortest.MIRRORD = self.mirrord
        try:
            m = Mirrord(env=full_env, args=["--config", self.config])
        finally:
            mirrortest.MIRRORD = built
        self.addCleanup(m.stop)  # a no-op once the test has stopped it
        return m

    def stop_cleanly(self, m):
        code = m.stop()
        self.assertEqual(code, 0, f"mirrord exited with {code}:\n{m.output()[-4000:]}")

    # -- what is installed ---------------------------------------------------

    def test_1_installed_files(self):
        self.assertTrue(os.access(self.mirrord, os.X_OK), self.mirrord)
        for path in (self.plugin, self.libmirror, self.config, self.unit, self.policy):
            self.assertTrue(os.path.isfile(path), f"{path} not installed")
        for name in PIPELINES:
            self.assertTrue(os.path.isfile(os.path.join(self.pipelines, name)), name)

        # The monitoring kit, as in the source tree.
        for path, source in ((self.dashboard, "configs/grafana/mirror.json"),
                             (self.alert_rules, "configs/prometheus/mirror-rules.yml")):
            self.assertTrue(os.path.isfile(path), f"{path} not installed")
            with open(path, "rb") as installed_file, \
                    open(os.path.join(SOURCE_ROOT, source), "rb") as source_file:
                self.assertEqual(installed_file.read(), source_file.read(), path)
        with open(self.dashboard) as f:
            self.assertIn("panels", json.load(f))

        with open(self.unit) as f:
            unit = f.read()
        self.assertIsNone(re.search(r"@[a-z_]+@", unit), "an unsubstituted @var@")
        self.assertIn(f"\nExecStart={self.mirrord_target} --config {self.config_target}\n", unit)
        self.assertIn(f"\nEnvironment=GST_PLUGIN_PATH_1_0={self.plugindir_target}\n", unit)

        # The installed config is valid for the installed binary.
        env = dict(os.environ, **self.installed_env())
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env["MIRROR_STORAGE_LOCAL_CACHE_DIR"] = os.path.join(self.tmp.name, "state-check")
        r = subprocess.run([self.mirrord, "check-config", "--config", self.config], env=env,
                           capture_output=True, text=True, timeout=DEADLINE_S,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    # -- the installed mirrord at work --------------------------------------

    def test_2_installed_mirrord_serves_a_stream(self):
        m = self.start_installed()
        feed = None
        with mirrortest.log_on_failure(m):
            # The test pattern runs mirrorheartbeat, from the plugin.
            m.create_testsrc("deploy-pattern")
            # An SRT feed through the installed default.pipeline to playlists.
            feed = video_feed(m.srt_port, "deploy-feed", log_name="deploy-feed")
            self.addCleanup(feed.stop)
            try:
                playlist = wait_for(
                    lambda: (pl := m.media_playlist("deploy-feed", "source")) and pl.parts and pl,
                    "deploy-feed's source playlist with parts", deadline_s=60, interval_s=0.1)
            except AssertionError:
                print("the feed's log ends:\n" + feed.output()[-2000:], file=sys.stderr)
                raise
            self.assertTrue(playlist.parts, playlist.text)
            status, _, body = m.origin("GET", "/live/deploy-feed/index.m3u8", timeout=5)
            self.assertEqual(status, 200, body[:300])
            self.assertIn(b"#EXTM3U", body)

            # What served it came from the installed tree, not the build.
            files = mapped_files(m.pid)
            self.assertIn(os.path.realpath(self.plugin), files)
            self.assertIn(os.path.realpath(os.path.join(self.libdir, "libmirror.so.0")), files)
            self.assertFalse([f for f in files if f.startswith(os.path.realpath(BUILD_ROOT) + "/")],
                             "mirrord mapped files from the build tree")
        feed.stop()
        self.stop_cleanly(m)

    # -- the systemd unit ----------------------------------------------------

    def test_3_unit_verifies(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            raise unittest.SkipTest("systemd-analyze not installed (Debian package systemd)")
        with open(self.unit) as f:
            unit = f.read()
        # verify checks that ExecStart's program exists: point it into the tree.
        self.assertIn(self.mirrord_target + " ", unit)
        copy_dir = os.path.join(self.tmp.name, "unit-check")
        os.makedirs(copy_dir, exist_ok=True)
        copy = os.path.join(copy_dir, "mirrord.service")
        with open(copy, "w") as f:
            f.write(unit.replace(self.mirrord_target + " ", self.mirrord + " "))

        r = subprocess.run([analyze, "verify", copy], capture_output=True, text=True,
                           timeout=DEADLINE_S, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr)
        # An unknown or misspelt directive is only a warning (rc 0): none.
        complaints = [line for line in r.stderr.splitlines()
                      if "mirrord.service" in line or "Unknown" in line or "ignoring" in line]
        self.assertEqual(complaints, [], r.stderr)

        # The hardening stays: systemd's own exposure score (0 best, 10 worst;
        # the unit scores 1.9 on systemd 252), offline, at most 3.0.
        r = subprocess.run([analyze, "security", "--offline=true", "--threshold=30", copy],
                           capture_output=True, text=True, timeout=DEADLINE_S,
                           stdin=subprocess.DEVNULL)
        if "--offline" in r.stderr and "unrecognized" in r.stderr:
            return  # systemd before 250: verify is all it offers
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr)

    # -- the D-Bus policy ----------------------------------------------------

    def test_4_dbus_policy(self):
        for program in ("dbus-daemon", "gdbus"):
            if not shutil.which(program):
                raise unittest.SkipTest(f"{program} not installed (dbus, libglib2.0-bin)")
        if os.geteuid() != 0:
            raise unittest.SkipTest("the installed policy lets root own the name: run as root")
        # Without the policy, this bus lets not even root own the name...
        bare_policy = os.path.join(self.tmp.name, "no-policy.conf")
        with open(bare_policy, "w") as f:
            f.write("<busconfig/>\n")
        bare = PrivateSystemBus(bare_policy)
        try:
            rc, out, err = bare.bus_call("RequestName", NAME, "4")
        finally:
            bare.stop()
        self.assertNotEqual(rc, 0, out)
        self.assertIn("AccessDenied", err)

        bus = PrivateSystemBus(self.policy)
        self.addCleanup(bus.stop)
        # ... with it, still nobody else may take it...
        rc, out, err = bus.bus_call("RequestName", NAME, "4", user=NOBODY)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("AccessDenied", err)

        # ... and mirrord owns it only through the installed policy.
        m = self.start_installed({"MIRROR_MONITORING_DBUS": "system",
                                  "DBUS_SYSTEM_BUS_ADDRESS": bus.address})
        with mirrortest.log_on_failure(m):
            wait_for(lambda: bus.has_owner(NAME), f"{NAME} on the private system bus")
            rc, out, err = bus.gdbus("introspect", "--dest", NAME, "--object-path", OBJECT_PATH)
            self.assertEqual(rc, 0, err)
            self.assertIn(f"interface {IFACE}", out)
            self.assertIn("ListStreams", out)
            # Anyone may call it.
            m.create_testsrc("deploy-dbus")
            rc, out, err = bus.gdbus("call", "--dest", NAME, "--object-path", OBJECT_PATH,
                                     "--method", IFACE + ".ListStreams", user=NOBODY)
            self.assertEqual(rc, 0, err)
            self.assertIn("deploy-dbus", out)
        self.stop_cleanly(m)


if __name__ == "__main__":
    unittest.main(verbosity=2)
