#!/usr/bin/env python3
"""Whole-pipeline throughput: JSON lines over one loopback TCP connection into the `tcp`
source (`decoding = "json"`) and a `blackhole` sink.

    cargo build --release
    python3 benches/tcp_blackhole.py target/release/logweir /tmp/tcp-bench [lines]

Generates the input once (~400-byte JSON lines), runs logweir under `/usr/bin/time -v`,
sends the file with sendfile(2), and reports the wall time from connect until the source
logged the end of the connection (every line decoded and handed to the pipeline), MB/s and
the peak RSS.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time


def generate(path, lines):
    if os.path.exists(path):
        return
    with open(path + ".tmp", "w") as f:
        for i in range(lines):
            f.write(json.dumps({
                "@timestamp": "2026-11-24T10:%02d:%02d.%03dZ" % (i // 60000 % 60, i // 1000 % 60, i % 1000),
                "level": ["info", "warn", "error", "debug"][i % 4],
                "service": "checkout-api",
                "host": {"name": "web-%d.prod.example.com" % (i % 32)},
                "trace_id": "%032x" % (i * 2654435761),
                "http": {"method": "GET", "path": "/api/v1/orders/%d/items" % i,
                         "status": 200 + (i % 5), "duration_ms": (i % 997) / 10.0},
                "user": {"id": i % 100000, "tier": "gold"},
                "message": "order items listed for customer %d with %d items in cart and a "
                           "discount applied at checkout" % (i, i % 17),
            }, separators=(",", ":")) + "\n")
    os.rename(path + ".tmp", path)


def main():
    binary, workdir = sys.argv[1], sys.argv[2]
    lines = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    os.makedirs(workdir, exist_ok=True)
    data = os.path.join(workdir, "lines-%d.ndjson" % lines)
    generate(data, lines)
    size = os.path.getsize(data)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    config = os.path.join(workdir, "pipeline.toml")
    with open(config, "w") as f:
        f.write('data_dir = "%s/data"\n[sources.lines]\ntype = "tcp"\naddress = "127.0.0.1:%d"\n'
                'decoding = "json"\n[sinks.hole]\ntype = "blackhole"\ninputs = ["lines"]\n' % (workdir, port))
    stderr_path = os.path.join(workdir, "stderr.log")
    with open(stderr_path, "w") as err:
        timed = subprocess.Popen(["/usr/bin/time", "-v", binary, "--log-format", "json",
                                  "--log-level", "info,logweir::sources::net=debug", "run", "-c", config],
                                 stderr=err, stdout=subprocess.DEVNULL)

    def logs():
        with open(stderr_path) as f:
            return f.read()

    deadline = time.time() + 30
    while "listening for tcp" not in logs():
        assert time.time() < deadline, logs()
        time.sleep(0.01)
    start = time.time()
    conn = socket.create_connection(("127.0.0.1", port))
    with open(data, "rb") as f:
        conn.sendfile(f)
    conn.shutdown(socket.SHUT_WR)
    deadline = time.time() + 600
    while '"connection closed"' not in logs():
        assert time.time() < deadline, "no end of connection"
        time.sleep(0.002)
    wall = time.time() - start
    conn.close()
    child = subprocess.run(["pgrep", "-P", str(timed.pid)], capture_output=True, text=True).stdout.split()
    os.kill(int(child[0]), signal.SIGTERM)
    timed.wait(timeout=60)
    text = logs()
    closed = [json.loads(l) for l in text.splitlines() if '"connection closed"' in l][0]
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    print("lines sent:        %d (%.1f MB)" % (lines, size / 1e6))
    print("events decoded:    %d" % closed["events"])
    print("wall time:         %.3f s" % wall)
    print("throughput:        %.1f MB/s, %.0f events/s" % (size / 1e6 / wall, lines / wall))
    print("peak RSS:          %.1f MiB" % (rss_kib / 1024))
    print("logweir cpu:       user %.2f s, system %.2f s" % (user, system))
    assert closed["events"] == lines, closed


if __name__ == "__main__":
    main()
