#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""mirrord's D-Bus API (io.mirror.Mirror1.Streams) against a private session bus.

Runs from meson (`meson test --suite dbus`) with MIRROR_BUILD_ROOT and
MIRROR_SOURCE_ROOT set. Needs dbus-daemon and gdbus (libglib2.0-bin); the
processes it starts (dbus-daemon, mirrord, gdbus monitor) are stopped by PID.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from mirrortest import DEADLINE_S, Mirrord, Process, wait_for


# --- D-Bus ---------------------------------------------------------------------

NAME = "io.mirror.Mirror1"
PATH = "/io/mirror/Mirror1"
IFACE = "io.mirror.Mirror1.Streams"
NO_SESSION_BUS_LINE = "D-Bus: no session bus (DBUS_SESSION_BUS_ADDRESS unset); D-Bus API off"


class SessionBus:
    """A private dbus-daemon and `gdbus` against it; stopped by PID."""

    def __init__(self):
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--session", "--print-address", "--nofork", "--nopidfile"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        # --print-address writes the address once the bus listens.
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            self.stop()
            raise RuntimeError("dbus-daemon printed no address")
        self.env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.address)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # by PID
            self.proc.wait(timeout=DEADLINE_S)
        self.proc.stdout.close()

    def gdbus(self, *args):
        """(returncode, stdout, stderr) of `gdbus ARGS` on this bus."""
        r = subprocess.run(["gdbus", *args], env=self.env, capture_output=True, text=True,
                           timeout=DEADLINE_S, stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def call(self, method, *args, dest=NAME, path=PATH, iface=IFACE):
        return self.gdbus("call", "--session", "--dest", dest, "--object-path", path,
                          "--method", iface + "." + method, *args)

    def bus_call(self, method, *args):
        return self.call(method, *args, dest="org.freedesktop.DBus",
                         path="/org/freedesktop/DBus", iface="org.freedesktop.DBus")

    def has_owner(self, name):
        rc, out, _ = self.bus_call("NameHasOwner", name)
        return rc == 0 and out == "(true,)"

    def unique_name_of(self, pid):
        """The unique name of the connection process pid opened, or None."""
        rc, out, _ = self.bus_call("ListNames")
        for name in re.findall(r"'(:[0-9.]+)'", out if rc == 0 else ""):
            rc, out, _ = self.bus_call("GetConnectionUnixProcessID", name)
            if rc == 0 and out == "(uint32 %d,)" % pid:
                return name
        return None

    def match_rules_of(self, name):
        """How many match rules connection `name` has (dbus-daemon's
        Debug.Stats), or None where the bus does not offer the interface."""
        rc, out, _ = self.bus_call("Debug.Stats.GetConnectionStats", name)
        m = re.search(r"'MatchRules': <uint32 (\d+)>", out) if rc == 0 else None
        return int(m.group(1)) if m else None


def state_of(printed):
    """The 'state' of an a{sv} as gdbus prints it: {'state': <'live'>, ...}."""
    m = re.search(r"'state': <'([a-z]+)'>", printed)
    return m.group(1) if m else None


class DbusApi(unittest.TestCase):

    def setUp(self):
        self.bus = SessionBus()
        self.addCleanup(self.bus.stop)
        self.m = Mirrord(env={"DBUS_SESSION_BUS_ADDRESS": self.bus.address,
                              "MIRROR_MONITORING_DBUS": "session"})
        self.addCleanup(self.m.stop)  # no-op once a test has stopped it
        wait_for(lambda: self.bus.has_owner(NAME), "%s on the bus" % NAME)

    def stop_mirrord(self):
        self.assertEqual(self.m.stop(), 0, self.m.output())

    def start_monitor(self):
        monitor = Process(["gdbus", "monitor", "--session", "--dest", NAME], env=self.bus.env,
                          log_name="gdbus-monitor")
        self.addCleanup(monitor.stop)
        # gdbus monitor prints "The name ... is owned by" when it has found
        # mirrord and only then subscribes to its signals: one AddMatch on top
        # of the one watching the name. Wait until the bus holds both, or a
        # signal sent right away could go unseen.
        wait_for(lambda: "The name %s is owned by" % NAME in monitor.output(),
                 "gdbus monitor to find %s" % NAME)
        unique = wait_for(lambda: self.bus.unique_name_of(monitor.pid),
                          "gdbus monitor's bus connection")
        if self.bus.match_rules_of(unique) is not None:
            wait_for(lambda: self.bus.match_rules_of(unique) >= 2,
                     "gdbus monitor's match rules")
        return monitor

    def ok(self, result, what):
        rc, out, err = result
        self.assertEqual(rc, 0, "%s failed: %s\nmirrord:\n%s" % (what, err, self.m.output()))
        return out

    def failed(self, result, what):
        rc, _, err = result
        self.assertNotEqual(rc, 0, "%s succeeded" % what)
        return err

    def state(self, stream_id):
        rc, out, _ = self.bus.call("GetStream", stream_id)
        return state_of(out) if rc == 0 else None

    def test_stream_lifecycle(self):
        monitor = self.start_monitor()

        status, _, doc = self.m.http("POST", "/api/v1/streams",
                                     {"id": "dbus1", "pipeline": "testsrc"})
        self.assertEqual(status, 201, doc)

        listing = self.ok(self.bus.call("ListStreams"), "ListStreams")
        self.assertIn("'id': <'dbus1'>", listing)
        self.assertIn("'pipeline': <'testsrc'>", listing)
        self.assertIn("'local': <true>", listing)

        wait_for(lambda: self.state("dbus1") == "live", "dbus1 live over D-Bus")
        stream = self.ok(self.bus.call("GetStream", "dbus1"), "GetStream dbus1")
        for key, kind in (("node_id", "'"), ("message", "'"), ("source", "'"),
                          ("pipeline_state", "'"), ("bytes", "uint64 "),
                          ("bitrate_bps", ""), ("codec", "'"), ("width", ""),
                          ("height", ""), ("frame_rate", "")):
            self.assertIn("'%s': <%s" % (key, kind), stream)

        self.ok(self.bus.call("PauseStream", "dbus1"), "PauseStream")
        wait_for(lambda: self.state("dbus1") == "paused", "dbus1 paused")
        self.ok(self.bus.call("ResumeStream", "dbus1"), "ResumeStream")
        wait_for(lambda: self.state("dbus1") == "live", "dbus1 live again")

        err = self.failed(self.bus.call("GetStream", "nope"), "GetStream nope")
        self.assertIn("io.mirror.Mirror1.Error.NotFound", err)
        self.assertIn("nope", err)
        err = self.failed(self.bus.call("PauseStream", "nope"), "PauseStream nope")
        self.assertIn("io.mirror.Mirror1.Error.NotFound", err)

        # StopStream answers once the stream is gone.
        self.ok(self.bus.call("StopStream", "dbus1"), "StopStream")
        self.assertEqual(self.ok(self.bus.call("ListStreams"), "ListStreams"), "(@aa{sv} [],)")

        def signal_seen(pattern):
            regex = re.compile(re.escape(PATH + ": " + IFACE + ".") + pattern)
            return lambda: regex.search(monitor.output())
        wait_for(signal_seen(r"StreamAdded \('dbus1',\)"), "StreamAdded for dbus1")
        wait_for(signal_seen(r"StreamStatusChanged \('dbus1', 'live', ''\)"),
                 "StreamStatusChanged dbus1 live")
        wait_for(signal_seen(r"StreamStatusChanged \('dbus1', 'paused', ''\)"),
                 "StreamStatusChanged dbus1 paused")
        wait_for(signal_seen(r"StreamRemoved \('dbus1',\)"), "StreamRemoved for dbus1")

        self.stop_mirrord()
        wait_for(lambda: not self.bus.has_owner(NAME), "%s released" % NAME)

    def test_version_property(self):
        out = self.ok(self.bus.call("Get", IFACE, "Version",
                                    iface="org.freedesktop.DBus.Properties"), "Get Version")
        self.assertRegex(out, r"^\(<'\d+\.\d+\.\d+[^']*'>,\)$")
        self.stop_mirrord()

    def test_second_mirrord_keeps_running_without_the_name(self):
        other = Mirrord(env={"DBUS_SESSION_BUS_ADDRESS": self.bus.address,
                             "MIRROR_MONITORING_DBUS": "session"})
        self.addCleanup(other.stop)
        wait_for(lambda: "cannot own %s" % NAME in other.output(),
                 "the second mirrord's name warning")
        self.assertEqual(other.http("GET", "/health")[0], 200, other.output())
        self.assertEqual(other.stop(), 0, other.output())
        self.stop_mirrord()


    def test_bus_going_away_leaves_mirrord_running(self):
        self.bus.stop()
        wait_for(lambda: "D-Bus: connection to the session bus closed" in self.m.output(),
                 "the connection-closed warning")
        self.assertTrue(self.m.running(), self.m.output())
        self.assertEqual(self.m.http("GET", "/health")[0], 200, self.m.output())
        self.stop_mirrord()


class NoSessionBus(unittest.TestCase):

    def test_starts_without_session_bus(self):
        # Mirrord drops DBUS_SESSION_BUS_ADDRESS from the environment.
        m = Mirrord(env={"MIRROR_MONITORING_DBUS": "session"})
        self.addCleanup(m.stop)
        self.assertEqual(m.http("GET", "/health")[0], 200, m.output())
        wait_for(lambda: NO_SESSION_BUS_LINE in m.output(), "the no-session-bus log line")
        self.assertEqual(m.stop(), 0, m.output())

    def test_unreachable_session_bus(self):
        missing = os.path.join(tempfile.mkdtemp(prefix="mirror-nobus-"), "bus")
        self.addCleanup(shutil.rmtree, os.path.dirname(missing), True)
        m = Mirrord(env={"MIRROR_MONITORING_DBUS": "session",
                         "DBUS_SESSION_BUS_ADDRESS": "unix:path=" + missing})
        self.addCleanup(m.stop)
        wait_for(lambda: "D-Bus: cannot connect to the session bus" in m.output(),
                 "the cannot-connect warning")
        self.assertEqual(m.http("GET", "/health")[0], 200, m.output())
        self.assertEqual(m.stop(), 0, m.output())


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
