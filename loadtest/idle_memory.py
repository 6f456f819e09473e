#!/usr/bin/env python3
"""Idle keep-alive memory: open N connections to a server, one request each,
keep them open, and report the server's RSS growth per connection; then a
fresh connection must still be served.

usage: loadtest/idle_memory.py PID PORT [N]    (N defaults to 10000)
"""
import resource, socket, sys, time

pid, port = int(sys.argv[1]), int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))

def rss_kib():
    # Sum over all threads is the same as the process: VmRSS is per process.
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

REQ = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"

def one_request(s):
    s.sendall(REQ)
    data = b""
    while b"Hello, World!" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        data += chunk

# Warm up the server's pools with a few connections first, then measure.
warm = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
for s in warm:
    one_request(s)
for s in warm:
    s.close()
time.sleep(0.5)
before = rss_kib()
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    one_request(s)
    conns.append(s)
time.sleep(1.0)
after = rss_kib()
fresh = socket.create_connection(("127.0.0.1", port))
fresh.settimeout(5)
one_request(fresh)
per_conn = (after - before) * 1024 / n
print(f"connections={n} rss_before_kib={before} rss_after_kib={after} bytes_per_connection={per_conn:.0f} fresh_request=ok")
for s in conns:
    s.close()
