#!/usr/bin/env python3
"""Overhead of end-to-end acknowledgements and of the disk buffer, as throughput ratios
against the same pipeline without them, on one input file in one session.

    cargo build --release -p logweir -p logweir-benches
    target/release/gen_logs --format cri --lines 1000000 --seed 3 > /dev/shm/cri-1m.log
    python3 benches/delivery_overhead.py target/release/logweir /dev/shm/cri-1m.log \
        --workdir /tmp/delivery-bench --logs-dir /dev/shm/delivery-bench [--rounds 21]

The three pipelines of benches/pipelines/ read the same CRI file into a blackhole:

    file_blackhole               acknowledgements on, memory buffer (the defaults)
    file_blackhole_no_acks       the sink has `acknowledgements = false`
    file_blackhole_disk_buffer   acknowledgements on, `buffer = { type = "disk", ... }`

They run interleaved (A B C, A B C, ...) so that load drifting on a shared machine hits all
of them alike. Each run starts from an empty data dir, is measured by GNU time (wall, user and
system CPU seconds, peak RSS) and must report every line of the file in the blackhole's
closing log line. Per variant the medians are kept (and the least disturbed run's CPU time);
the ratios are

    acknowledgements: throughput with them / without them   (file_blackhole vs no_acks)
    disk buffer:      throughput with it / with memory       (disk_buffer vs file_blackhole)

in lines per CPU-second (user + system, user alone, best run) and per second of wall time.
CPU time is the steadier figure on a shared machine. The disk buffer's segments go under
--workdir: put it on a real disk to measure the fsyncs.
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys

VARIANTS = [
    ("file_blackhole", "acks on, memory buffer"),
    ("file_blackhole_no_acks", "acks off, memory buffer"),
    ("file_blackhole_disk_buffer", "acks on, disk buffer"),
]
POD_DIR = "pods/bench_load-7d9f8b-x2v4q_0f9c2a4e-1111-2222-3333-444455556666/app"


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                return n
            n += chunk.count(b"\n")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def place_input(source, workdir):
    """The input under a kubelet-style path (a hard link when possible, else a copy)."""
    pod_dir = os.path.join(workdir, POD_DIR)
    os.makedirs(pod_dir, exist_ok=True)
    target = os.path.join(pod_dir, "0.log")
    if os.path.exists(target):
        os.remove(target)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def run_once(binary, pipeline, workdir, logs_dir, variant):
    data = os.path.join(workdir, "data-" + variant)
    shutil.rmtree(data, ignore_errors=True)
    env = dict(os.environ, LOGWEIR_DATA_DIR=data, BENCH_LOGS=logs_dir)
    log_path = os.path.join(workdir, variant + ".log")
    times_path = os.path.join(workdir, variant + ".time")
    # GNU time measures logweir itself: a child forked from this Python process would report
    # Python's resident size as its peak (the high-water mark survives exec).
    with open(log_path, "w") as log:
        status = subprocess.call(
            ["/usr/bin/time", "-f", "%e %U %S %M %w", "-o", times_path,
             binary, "--log-format", "json", "run", "-c", pipeline],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    if status != 0:
        sys.exit("%s failed (exit %s); see %s" % (variant, status, log_path))
    with open(times_path) as f:
        wall, user, system, rss_kib, wakeups = f.read().split()[-5:]
    events = None
    with open(log_path) as log:
        for line in log:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "blackhole discarded events":
                events = record.get("events")
    shutil.rmtree(data, ignore_errors=True)
    return {
        "wall": float(wall),
        "cpu": float(user) + float(system),
        "user": float(user),
        "sys": float(system),
        "rss_mib": int(rss_kib) / 1024,
        "waits": int(wakeups),
        "events": events,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("logweir", help="the release binary (target/release/logweir)")
    parser.add_argument("input", help="CRI log file (gen_logs --format cri)")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--workdir", help="data dirs (and the disk buffer's segments); "
                        "default: logweir-delivery-bench beside the input")
    parser.add_argument("--logs-dir", help="where the input is linked under a kubelet-style "
                        "path (default: the workdir); on the input's filesystem it is a hard "
                        "link, so an input in /dev/shm stays out of the page cache's churn")
    args = parser.parse_args()

    here = os.path.dirname(os.path.abspath(__file__))
    binary = os.path.abspath(args.logweir)
    source = os.path.abspath(args.input)
    workdir = os.path.abspath(args.workdir or os.path.join(
        os.path.dirname(source), "logweir-delivery-bench"))
    logs_dir = os.path.abspath(args.logs_dir or workdir)
    os.makedirs(workdir, exist_ok=True)
    place_input(source, logs_dir)
    lines = count_lines(source)  # also brings the file into the page cache
    size = os.path.getsize(source)

    load_before = os.getloadavg()
    print("date %s, %d CPUs (%s), load average before %.2f %.2f %.2f" % (
        datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), os.cpu_count(), cpu_model(),
        *load_before))
    print("input %s: %d lines, %d bytes; logs under %s; data under %s; %d rounds" % (
        source, lines, size, logs_dir, workdir, args.rounds))

    results = {name: [] for name, _ in VARIANTS}
    for round_no in range(args.rounds):
        for name, _ in VARIANTS:
            pipeline = os.path.join(here, "pipelines", name + ".toml")
            r = run_once(binary, pipeline, workdir, logs_dir, name)
            if r["events"] != lines:
                sys.exit("%s passed %s events of %d lines" % (name, r["events"], lines))
            results[name].append(r)
            print("round %d %-28s wall %5.2f s  cpu %5.2f s (user %.2f sys %.2f)  rss %5.1f MiB  "
                  "voluntary context switches %d"
                  % (round_no + 1, name, r["wall"], r["cpu"], r["user"], r["sys"], r["rss_mib"],
                     r["waits"]), flush=True)
    load_after = os.getloadavg()

    med = {}
    print()
    print("| variant | wall | CPU user+sys | CPU user | best CPU | lines per CPU-s | "
          "MB per CPU-s | peak RSS | voluntary context switches |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, label in VARIANTS:
        rs = results[name]
        m = {key: statistics.median(r[key] for r in rs)
             for key in ("wall", "cpu", "user", "waits")}
        m["best"] = min(r["cpu"] for r in rs)
        med[name] = m
        print("| %s (%s) | %.2f s | %.2f s | %.2f s | %.2f s | %s | %.0f | %.1f MiB | %s |" % (
            name, label, m["wall"], m["cpu"], m["user"], m["best"],
            format(int(lines / m["cpu"]), ","), size / 1e6 / m["cpu"],
            max(r["rss_mib"] for r in rs), format(int(m["waits"]), ",")))
    print("(medians over the rounds; best CPU = the least disturbed run)")
    print()

    def ratios(with_, without):
        w, o = med[with_], med[without]
        return tuple(o[key] / w[key] for key in ("cpu", "user", "best", "wall"))

    def paired(with_, without):
        """Per round (the variants of one round ran seconds apart, under the same load): the
        CPU throughput ratio; its quartiles."""
        rs = sorted(o["cpu"] / w["cpu"] for w, o in zip(results[with_], results[without]))
        q = statistics.quantiles(rs, n=4) if len(rs) > 1 else [rs[0]] * 3
        return q[0], q[1], q[2]

    print("throughput ratios of the medians (lines per second of: CPU user+sys, CPU user, "
          "best run's CPU, wall), then per-round CPU ratios (quartiles)")
    for label, with_, without in (
            ("acknowledgements (with / without)", "file_blackhole", "file_blackhole_no_acks"),
            ("disk buffer (disk / memory)      ", "file_blackhole_disk_buffer",
             "file_blackhole")):
        print("%s: %.3f  %.3f  %.3f  %.3f;  per round %.3f / %.3f / %.3f" % (
            (label,) + ratios(with_, without) + paired(with_, without)))
    print("load average after %.2f %.2f %.2f" % load_after)


if __name__ == "__main__":
    main()
