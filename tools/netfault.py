#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""netfault: a user-space UDP impairment relay (this kernel has no netem).

    tools/netfault.py --listen 127.0.0.1:9000 --target 127.0.0.1:8890 \\
        [--loss 0.05] [--delay-ms 100] [--jitter-ms 5] [--reorder 0.02] \\
        [--reorder-ms 30] [--partition 20:30 ...] [--seed 1] [--control]

Callers send to --listen; each caller address gets its own socket towards
--target, so replies (SRT ACKs, NAKs, handshakes) find their way back. Every
datagram, both ways unless --direction says otherwise, goes through one
seeded schedule:

- dropped with probability --loss (a fraction: 0.05 is 5 %);
- held --delay-ms, one way (so 100 gives a 200 ms RTT), plus a uniform
  +-jitter-ms;
- with probability --reorder held --reorder-ms more, so later datagrams
  overtake it;
- dropped, both ways, while a partition is on: --partition START:LEN in
  seconds from start (repeatable; `--partition 20:30` is the issue's 30 s
  partition 20 s in).

The same --seed and the same traffic give the same drops. --control reads
commands on stdin, one a line, applied at once: `loss 0.15`, `delay 100`,
`jitter 5`, `reorder 0.02`, `partition 4` (from now, for 4 s; `partition`
alone: until `heal`), `heal`, `stats`. Counters go to stdout as one JSON
line on `stats`, every --report-s seconds when set, and at exit (SIGTERM,
SIGINT, end of stdin with --control).
"""

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time


def host_port(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: want HOST:PORT")
    return host, int(port)


def partition_arg(text):
    start, _, length = text.partition(":")
    try:
        return float(start), float(length)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: want START:LEN in seconds") from None


def fraction(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: a fraction from 0 to 1 (0.05 is 5 %)")
    return value


class Faults:
    """The impairments in force and the seeded schedule that applies them."""

    def __init__(self, loss=0.0, delay_ms=0.0, jitter_ms=0.0, reorder=0.0, reorder_ms=30.0,
                 partitions=(), seed=1, directions=("up", "down")):
        self.loss = loss
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        self.reorder = reorder
        self.reorder_ms = reorder_ms
        self.directions = set(directions)
        self.start = time.monotonic()
        # (start, end) in monotonic seconds; end None: until healed.
        self.partitions = [(self.start + s, self.start + s + n) for s, n in partitions]
        # One stream of numbers per direction: the caller's drops do not
        # depend on how many replies came back in between.
        self.rng = {d: random.Random(f"{seed}:{d}") for d in ("up", "down")}
        self.counts = {d: {"packets": 0, "bytes": 0, "dropped": 0, "partitioned": 0,
                           "reordered": 0} for d in ("up", "down")}

    def partitioned(self, now):
        return any(s <= now and (e is None or now < e) for s, e in self.partitions)

    def partition_now(self, seconds=None):
        now = time.monotonic()
        self.partitions.append((now, None if seconds is None else now + seconds))

    def heal(self):
        now = time.monotonic()
        self.partitions = [(s, e) for s, e in self.partitions if s > now]

    def decide(self, direction):
        """None: drop it; else the seconds to hold it."""
        c = self.counts[direction]
        c["packets"] += 1
        if self.partitioned(time.monotonic()):
            c["partitioned"] += 1
            return None
        if direction not in self.directions:
            return 0.0
        rng = self.rng[direction]
        # Always the same draws per datagram, whatever the settings.
        drop, jitter, reorder = rng.random(), rng.uniform(-1, 1), rng.random()
        if drop < self.loss:
            c["dropped"] += 1
            return None
        hold = max(0.0, self.delay_ms + jitter * self.jitter_ms)
        if reorder < self.reorder:
            c["reordered"] += 1
            hold += self.reorder_ms
        return hold / 1000.0

    def stats(self):
        return {"uptime_s": round(time.monotonic() - self.start, 3), "loss": self.loss,
                "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms, "reorder": self.reorder,
                "partitioned": self.partitioned(time.monotonic()), **self.counts}


class Relay:
    def __init__(self, listen, target, faults, session_idle_s=120.0):
        self.listen = listen
        self.target = target
        self.faults = faults
        self.session_idle_s = session_idle_s
        self.front = None       # transport on the listen address
        self.sessions = {}      # caller address -> [upstream transport, last seen]
        self.loop = None

    def _send_later(self, hold, send, data, *addr):
        def go():
            try:
                send(data, *addr)
            except OSError:
                pass  # the far side is gone; UDP forgets
        if hold:
            self.loop.call_later(hold, go)
        else:
            go()

    async def start(self):
        self.loop = asyncio.get_running_loop()
        relay = self

        class Front(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                relay.from_caller(data, addr)

        self.front, _ = await self.loop.create_datagram_endpoint(Front, local_addr=self.listen)
        self.loop.call_later(self.session_idle_s, self._expire)
        return self.front.get_extra_info("sockname")[1]

    def from_caller(self, data, addr):
        session = self.sessions.get(addr)
        if session is None:
            session = self.sessions[addr] = [None, time.monotonic(), []]
            self.loop.create_task(self._open(addr, session))
        session[1] = time.monotonic()
        hold = self.faults.decide("up")
        if hold is None:
            return
        if session[0] is None:  # still opening: sent once it is
            session[2].append((hold, data))
        else:
            self._send_later(hold, session[0].sendto, data)
        c = self.faults.counts["up"]
        c["bytes"] += len(data)

    async def _open(self, addr, session):
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data, _):
                hold = relay.faults.decide("down")
                if hold is not None:
                    relay.faults.counts["down"]["bytes"] += len(data)
                    relay._send_later(hold, relay.front.sendto, data, addr)

        transport, _ = await self.loop.create_datagram_endpoint(Back, remote_addr=self.target)
        session[0] = transport
        for hold, data in session[2]:
            self._send_later(hold, transport.sendto, data)
        session[2].clear()

    def _expire(self):
        now = time.monotonic()
        for addr, session in list(self.sessions.items()):
            if now - session[1] > self.session_idle_s and session[0] is not None:
                session[0].close()
                del self.sessions[addr]
        self.loop.call_later(self.session_idle_s, self._expire)

    def close(self):
        for session in self.sessions.values():
            if session[0] is not None:
                session[0].close()
        if self.front:
            self.front.close()


def command(faults, line):
    """Applies one --control line; returns a reply, or None."""
    words = line.split()
    if not words:
        return None
    verb, args = words[0], words[1:]
    try:
        if verb == "loss":
            faults.loss = fraction(args[0])
        elif verb == "delay":
            faults.delay_ms = float(args[0])
        elif verb == "jitter":
            faults.jitter_ms = float(args[0])
        elif verb == "reorder":
            faults.reorder = fraction(args[0])
        elif verb == "partition":
            faults.partition_now(float(args[0]) if args else None)
        elif verb == "heal":
            faults.heal()
        elif verb == "stats":
            return json.dumps(faults.stats())
        else:
            return f"netfault: unknown command {verb!r}"
    except (IndexError, ValueError, argparse.ArgumentTypeError) as e:
        return f"netfault: {line.strip()!r}: {e}"
    return f"netfault: {line.strip()}"


async def run(args):
    faults = Faults(args.loss, args.delay_ms, args.jitter_ms, args.reorder, args.reorder_ms,
                    args.partition, args.seed,
                    ("up", "down") if args.direction == "both" else (args.direction,))
    relay = Relay(args.listen, args.target, faults)
    port = await relay.start()
    print(f"netfault: {args.listen[0]}:{port} -> {args.target[0]}:{args.target[1]} "
          f"loss {args.loss} delay {args.delay_ms} ms jitter {args.jitter_ms} ms "
          f"reorder {args.reorder} partitions {args.partition} seed {args.seed}", flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    if args.control:
        pending = b""

        def on_stdin():
            # Raw reads: a buffered readline() would keep a second line that
            # came in the same chunk where the loop never looks.
            nonlocal pending
            chunk = os.read(sys.stdin.fileno(), 4096)
            if not chunk:
                loop.remove_reader(sys.stdin.fileno())
                done.set()
                return
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                reply = command(faults, line.decode(errors="replace"))
                if reply:
                    print(reply, flush=True)
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    if args.report_s:
        def report():
            print(json.dumps(faults.stats()), flush=True)
            loop.call_later(args.report_s, report)
        loop.call_later(args.report_s, report)
    if args.duration_s:
        loop.call_later(args.duration_s, done.set)
    await done.wait()
    relay.close()
    print(json.dumps(faults.stats()), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--listen", type=host_port, default=("127.0.0.1", 0),
                    help="HOST:PORT callers send to (port 0: any free one, printed)")
    ap.add_argument("--target", type=host_port, required=True, help="HOST:PORT of the listener")
    ap.add_argument("--loss", type=fraction, default=0.0, help="drop probability, 0..1")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay (RTT / 2), ms")
    ap.add_argument("--jitter-ms", "--jitter", type=float, default=0.0,
                    help="uniform +- on the delay, ms")
    ap.add_argument("--reorder", type=fraction, default=0.0,
                    help="probability a datagram is held back --reorder-ms more")
    ap.add_argument("--reorder-ms", type=float, default=30.0)
    ap.add_argument("--partition", type=partition_arg, action="append", default=[],
                    metavar="START:LEN", help="nothing passes from START s for LEN s (repeatable)")
    ap.add_argument("--direction", choices=("both", "up", "down"), default="both",
                    help="where loss, delay and reordering apply (partitions: always both)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--control", action="store_true", help="read commands on stdin")
    ap.add_argument("--report-s", type=float, default=0.0, help="print counters this often")
    ap.add_argument("--duration-s", type=float, default=0.0, help="stop after this long")
    args = ap.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
