#!/usr/bin/env python3
"""The async issue's concurrency check: N connections each ask
`/sleep?ms=MS` at once (one request each); report the wall time until all
have answered, and the latency of a `/plaintext` request sent meanwhile.

usage: loadtest/sleep_burst.py PORT [N] [MS]     (defaults 1000, 200)
"""
import resource, selectors, socket, sys, time

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
ms = int(sys.argv[3]) if len(sys.argv) > 3 else 200
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))

req = f"GET /sleep?ms={ms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
sel = selectors.DefaultSelector()
socks = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    socks.append(s)
start = time.monotonic()
for s in socks:
    s.sendall(req)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, bytearray())
# The fast request, while every sleeper waits.
fast = socket.create_connection(("127.0.0.1", port))
t = time.monotonic()
fast.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
got = b""
while not got.endswith(b"Hello, World!"):
    chunk = fast.recv(4096)
    if not chunk:
        break
    got += chunk
fast_ms = (time.monotonic() - t) * 1000
done = 0
ok = 0
deadline = start + 30
while done < n and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=1):
        chunk = key.fileobj.recv(4096)
        if chunk:
            key.data.extend(chunk)
            continue
        sel.unregister(key.fileobj)
        key.fileobj.close()
        done += 1
        if key.data.endswith(f"slept {ms} ms".encode()):
            ok += 1
wall = time.monotonic() - start
print(f"connections={n} sleep_ms={ms} answered={ok} wall_s={wall:.3f} plaintext_meanwhile_ms={fast_ms:.2f}")
