#!/usr/bin/env python3
"""Whole-pipeline throughput: lines over one loopback TCP connection into the `tcp` source
and a `blackhole` sink, the setup of issue #4's reference figures (Fluent Bit tcp → null,
Vector socket → blackhole).

    cargo build --release -p logweir -p logweir-benches
    target/release/gen_logs --format json --lines 1000000 --seed 3 > /tmp/json-1m.log
    python3 benches/tcp_blackhole.py target/release/logweir /tmp/json-1m.log \\
        [--decoding text|json] [--rounds 5] [--workdir /tmp/tcp-bench]

Each round starts logweir under `/usr/bin/time -v` from an empty data dir, sends the file
with sendfile(2) on one connection, and stops the clock when the blackhole has counted every
line (`logweir_component_received_events_total{component_id="hole"}` polled from the API
every 5 ms), so the figure covers decoding and the hand-off through the pipeline, not only
the socket reads. Before each logweir round the same file goes over loopback into a receiver
that only counts newlines (the reference measured in the same run; these machines are
noisy). Prints each round, the medians of wall time, MB/s, CPU and peak RSS, and the
throughput ratio logweir / reference.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def received(api_port):
    try:
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % api_port, timeout=2).read()
    except OSError:
        return -1
    m = re.search(rb'logweir_component_received_events_total\{[^}]*component_id="hole"[^}]*\} (\d+)', body)
    return int(m.group(1)) if m else 0


def reference_round(data):
    """The same file over loopback into a receiver that only counts newlines (1 MiB reads):
    the cost of moving the bytes, measured in the same run as logweir."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    counter = subprocess.Popen(["python3", "-c", COUNTER], stdin=listener.fileno(), stdout=subprocess.PIPE)
    listener.close()
    start = time.time()
    conn = socket.create_connection(("127.0.0.1", port))
    with open(data, "rb") as f:
        conn.sendfile(f)
    conn.shutdown(socket.SHUT_WR)
    count = int(counter.communicate(timeout=600)[0])
    wall = time.time() - start
    conn.close()
    return wall, count


COUNTER = """
import socket, sys
listener = socket.socket(fileno=0)
conn, _ = listener.accept()
buf = bytearray(1 << 20)
view = memoryview(buf)
n = 0
while True:
    got = conn.recv_into(buf)
    if not got:
        break
    n += view[:got].tobytes().count(b"\\n")
print(n)
"""


def one_round(binary, data, lines, decoding, workdir):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    port, api_port = free_port(), free_port()
    config = os.path.join(workdir, "pipeline.toml")
    with open(config, "w") as f:
        f.write('data_dir = "%s/data"\n[api]\naddress = "127.0.0.1:%d"\n'
                '[sources.lines]\ntype = "tcp"\naddress = "127.0.0.1:%d"\ndecoding = "%s"\n'
                '[sinks.hole]\ntype = "blackhole"\ninputs = ["lines"]\n'
                % (workdir, api_port, port, decoding))
    stderr_path = os.path.join(workdir, "stderr.log")
    with open(stderr_path, "w") as err:
        timed = subprocess.Popen(["/usr/bin/time", "-v", binary, "--log-format", "json", "run", "-c", config],
                                 stderr=err, stdout=subprocess.DEVNULL)
    deadline = time.time() + 30
    while received(api_port) < 0:
        assert time.time() < deadline and timed.poll() is None, open(stderr_path).read()
        time.sleep(0.01)
    start = time.time()
    conn = socket.create_connection(("127.0.0.1", port))
    with open(data, "rb") as f:
        conn.sendfile(f)
    conn.shutdown(socket.SHUT_WR)
    deadline = time.time() + 600
    while received(api_port) < lines:
        assert time.time() < deadline, "the blackhole did not count every line"
        time.sleep(0.005)
    wall = time.time() - start
    conn.close()
    child = subprocess.run(["pgrep", "-P", str(timed.pid)], capture_output=True, text=True).stdout.split()
    os.kill(int(child[0]), signal.SIGTERM)
    timed.wait(timeout=60)
    text = open(stderr_path).read()
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    return wall, user + system, rss_kib / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("data")
    ap.add_argument("--decoding", default="text", choices=["text", "json"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp/tcp-bench")
    args = ap.parse_args()
    size = os.path.getsize(args.data)
    with open(args.data, "rb") as f:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    print("%s: %d lines, %.1f MB, decoding = %s" % (args.data, lines, size / 1e6, args.decoding))
    results, references = [], []
    for i in range(args.rounds):
        ref_wall, ref_lines = reference_round(args.data)
        assert ref_lines == lines, (ref_lines, lines)
        references.append(ref_wall)
        print("round %d: reference (loopback, count newlines): %.3f s, %.1f MB/s"
              % (i + 1, ref_wall, size / 1e6 / ref_wall))
        wall, cpu, rss = one_round(args.binary, args.data, lines, args.decoding, args.workdir)
        results.append((wall, cpu, rss))
        print("round %d: logweir: %.3f s, %.1f MB/s, %.0f lines/s, CPU %.2f s, peak RSS %.1f MiB"
              % (i + 1, wall, size / 1e6 / wall, lines / wall, cpu, rss))
    wall = statistics.median(r[0] for r in results)
    print("median: %.3f s, %.1f MB/s, %.0f lines/s, CPU %.2f s, peak RSS %.1f MiB (max %.1f)"
          % (wall, size / 1e6 / wall, lines / wall, statistics.median(r[1] for r in results),
             statistics.median(r[2] for r in results), max(r[2] for r in results)))
    ratios = [ref / r[0] for ref, r in zip(references, results)]
    print("logweir / reference throughput, per round: %s; median %.2f"
          % (" ".join("%.2f" % r for r in ratios), statistics.median(ratios)))


if __name__ == "__main__":
    main()
