#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A loopback HTTP proxy in front of an S3 server that injects the faults a
test asks for (Python 3 standard library only, a thread per connection).

    s3_fault_proxy.py UPSTREAM_PORT

Prints "PROXY_PORT CONTROL_PORT" on stdout as one line once both listen, and
exits when stdin closes (or on SIGTERM).

Each client connection carries one request: the proxy sets "Connection:
close" in the request head it forwards (the one byte change; curl does not
sign that header), so the server closes after its answer and no second
request can pass unseen. Everything else is forwarded byte for byte, both
ways, 100 Continue included.

The control port takes one command per line and answers one line:
  fault KIND COUNT METHOD PATH_SUBSTRING   -> ok
      the next COUNT requests whose method is METHOD ('*': any) and whose
      request target (path and query) contains PATH_SUBSTRING get KIND:
        slowdown  503 with S3's SlowDown XML body
        throttle  429 with an empty body
        stall     the request is read (and anything after it), then nothing
                  is sent until the client gives up
        reset     part of the request body is read (half of it, at most
                  64 KiB; none for a request without one), then the
                  connection is closed with an RST (SO_LINGER 0)
  counts   -> "requests=N forwarded=N slowdown=N throttle=N stall=N reset=N"
  clear    -> ok (forgets the faults not yet used, and zeroes the counts)
"""

import socket
import struct
import sys
import threading

KINDS = ("slowdown", "throttle", "stall", "reset")

lock = threading.Lock()
rules = []  # [kind, count_left, method, substring]
counts = {}


def zero_counts():
    counts.clear()
    counts["requests"] = 0
    counts["forwarded"] = 0
    for kind in KINDS:
        counts[kind] = 0


zero_counts()


def take_fault(method, target):
    with lock:
        counts["requests"] += 1
        for rule in rules:
            kind, left, rule_method, substring = rule
            if left > 0 and rule_method in ("*", method) and substring in target:
                rule[1] -= 1
                counts[kind] += 1
                return kind
        counts["forwarded"] += 1
        return None


def read_head(sock):
    """The request head (up to and with the blank line) and what followed."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > 65536:
            return None, None
        chunk = sock.recv(65536)
        if not chunk:
            return None, None
        data += chunk
    end = data.index(b"\r\n\r\n") + 4
    return data[:end], data[end:]


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    method, target = lines[0].split(" ")[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def with_connection_close(head):
    lines = head.split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        if line and not line.lower().startswith(b"connection:"):
            kept.append(line)
    kept.append(b"Connection: close")
    return b"\r\n".join(kept) + b"\r\n\r\n"


def pump(source, sink):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        # One side reset: pass it on as a reset of the other, and wake the
        # thread reading the other way.
        for s in (source, sink):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def forward(client, head, rest, upstream_port):
    upstream = socket.create_connection(("127.0.0.1", upstream_port))
    upstream.sendall(with_connection_close(head) + rest)
    back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    back.start()
    pump(client, upstream)
    back.join()
    upstream.close()


def answer(client, status, reason, body, content_type):
    head = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n" % (
        status,
        reason,
        len(body),
    )
    if content_type:
        head += "Content-Type: %s\r\n" % content_type
    client.sendall(head.encode() + b"\r\n" + body)


def drain_body(client, headers, rest):
    """Reads the rest of a request body of Content-Length, unless the client
    waits for a 100 Continue (then it sends none after a final answer)."""
    if headers.get("expect", "").lower() == "100-continue":
        return
    left = int(headers.get("content-length", "0")) - len(rest)
    while left > 0:
        chunk = client.recv(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)


def handle(client, upstream_port):
    try:
        head, rest = read_head(client)
        if head is None:
            return
        method, target, headers = parse_head(head)
        kind = take_fault(method, target)
        if kind is None:
            forward(client, head, rest, upstream_port)
        elif kind == "slowdown":
            drain_body(client, headers, rest)
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                b"<Message>Please reduce your request rate.</Message>"
                b"<RequestId>fault-proxy</RequestId></Error>"
            )
            answer(client, 503, "Slow Down", body, "application/xml")
        elif kind == "throttle":
            drain_body(client, headers, rest)
            answer(client, 429, "Too Many Requests", b"", None)
        elif kind == "stall":
            if headers.get("expect", "").lower() == "100-continue":
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            while client.recv(65536):
                pass
        elif kind == "reset":
            if headers.get("expect", "").lower() == "100-continue":
                client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            length = int(headers.get("content-length", "0"))
            want = min(length // 2, 65536) - len(rest)
            while want > 0:
                chunk = client.recv(min(want, 65536))
                if not chunk:
                    break
                want -= len(chunk)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    finally:
        try:
            client.close()
        except OSError:
            pass


def control(conn):
    with conn, conn.makefile("rwb", buffering=0) as stream:
        for raw in stream:
            words = raw.decode().split()
            reply = "error"
            if len(words) == 5 and words[0] == "fault" and words[1] in KINDS:
                with lock:
                    rules.append([words[1], int(words[2]), words[3], words[4]])
                reply = "ok"
            elif words == ["counts"]:
                with lock:
                    reply = " ".join("%s=%d" % (k, v) for k, v in counts.items())
            elif words == ["clear"]:
                with lock:
                    rules.clear()
                    zero_counts()
                reply = "ok"
            stream.write((reply + "\n").encode())


def serve(listener, handler, *args):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handler, args=(conn,) + args, daemon=True).start()


def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def main():
    upstream_port = int(sys.argv[1])
    proxy = listen()
    controller = listen()
    threading.Thread(target=serve, args=(proxy, handle, upstream_port), daemon=True).start()
    threading.Thread(target=serve, args=(controller, control), daemon=True).start()
    print(proxy.getsockname()[1], controller.getsockname()[1], flush=True)
    # Until stdin closes: the test holds its other end.
    while sys.stdin.buffer.read(4096):
        pass


if __name__ == "__main__":
    main()
