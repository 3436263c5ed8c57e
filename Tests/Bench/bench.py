#!/usr/bin/env python3
"""make bench: chatd and its peers, side by side, under the same workloads (docs/BENCHMARKS.md).

Starts each server in turn on a loopback port (chatd with config/bench.json, and again with one
event loop per core, "chatd-percore"; SwiftNIO's
NIOChatServer example, ngircd and InspIRCd with their flood limits raised), runs chat-bench's
workloads against it (those of shared/BASELINES.md: max rate with a 16-message window at 100
and 1,000 clients, fixed rate at 10 and 50 msg/s per sender with 1,000 clients, idle memory),
and prints one comparison table. BENCH_SECONDS (default 20) sets each run's length,
BENCH_SERVERS which servers run, BENCH_IDLE how many idle clients (default 10000; 0 skips the
idle run), BENCH_LOAD=0 skips the load workloads (idle memory only). Server CPU is chat-bench's
measure: the server's share of a core over the measured window.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RELEASE = os.path.join(ROOT, ".build", "release")
WORK = os.path.join(ROOT, ".build", "bench")
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
IDLE = int(os.environ.get("BENCH_IDLE", "10000"))
LOAD = os.environ.get("BENCH_LOAD", "1") != "0"
SERVERS = os.environ.get("BENCH_SERVERS", "chatd chatd-percore chatd-irc nio ngircd inspircd").split()
# BENCH_WORKLOADS: the first N workloads only (all by default).
WORKLOAD_COUNT = int(os.environ.get("BENCH_WORKLOADS", "99"))
NIO = os.path.join(WORK, "swift-nio", ".build", "release", "NIOChatServer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def config(template, port, directory):
    with open(os.path.join(ROOT, "Tests", "Bench", template)) as f:
        text = f.read().replace("@PORT@", str(port)).replace("@DIR@", directory)
    path = os.path.join(directory, template)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(directory, 0o777)
    return path


def start(server, port, directory):
    """Starts `server`; returns (process, protocol, pid whose memory is measured)."""
    if server in ("chatd", "chatd-percore", "chatd-irc"):
        argv = [os.path.join(RELEASE, "chatd"), "--config", os.path.join(ROOT, "config", "bench.json"),
                "--no-web", "--admin-socket", os.path.join(directory, "admin.sock"),
                "--state-directory", directory, "--log-level", "warning"]
        if server == "chatd-percore":
            # One event loop per core, instead of the default's one per core but one.
            argv += ["--event-loops", str(os.cpu_count() or 1)]
        if server == "chatd-irc":
            # The same chatd, measured through its IRC listener (IRC clients, like the peers').
            argv += ["--listen", f"127.0.0.1:{free_port()}", "--irc-listen", f"127.0.0.1:{port}"]
            protocol = "irc"
        else:
            argv += ["--listen", f"127.0.0.1:{port}"]
            protocol = "chatd"
    elif server == "nio":
        argv = [NIO, "127.0.0.1", str(port)]
        protocol = "line"
    elif server == "ngircd":
        argv = ["/usr/sbin/ngircd", "--nodaemon", "--config", config("ngircd.conf", port, directory)]
        protocol = "irc"
    elif server == "inspircd":
        argv = ["/usr/sbin/inspircd", "--nofork", "--runasroot", "--config", config("inspircd.conf", port, directory)]
        protocol = "irc"
    else:
        raise RuntimeError(f"unknown server {server}")
    log = open(os.path.join(directory, f"{server}.log"), "w")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_port(port, process)
    time.sleep(0.5)
    return process, protocol


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def bench(port, protocol, pid, *arguments):
    argv = [os.path.join(RELEASE, "chat-bench"), "--port", str(port), "--protocol", protocol, "--pid", str(pid),
            "--json", *arguments]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS * 3 + 600)
    if result.returncode != 0:
        return {"error": (result.stderr or result.stdout).strip().splitlines()[-1:] or ["failed"]}
    # chat-bench reports the server's CPU over the measured window (serverCPUPercent).
    return json.loads(result.stdout.strip().splitlines()[-1])


WORKLOADS = [
    ("max rate, 100 clients", ["--clients", "100", "--senders", "10", "--window", "16"]),
    ("max rate, 1,000 clients", ["--clients", "1000", "--senders", "10", "--window", "16"]),
    ("10 msg/s per sender, 1,000 clients", ["--clients", "1000", "--senders", "10", "--rate", "10"]),
    ("50 msg/s per sender, 1,000 clients", ["--clients", "1000", "--senders", "10", "--rate", "50"]),
]


def main():
    os.makedirs(WORK, exist_ok=True)
    rows = []
    for server in SERVERS:
        for name, arguments in (WORKLOADS[:WORKLOAD_COUNT] if LOAD else []) + ([(f"idle, {IDLE:,} clients", None)] if IDLE > 0 else []):
            directory = tempfile.mkdtemp(prefix=f"{server}-", dir=WORK)
            port = free_port()
            try:
                process, protocol = start(server, port, directory)
            except RuntimeError as error:
                rows.append((server, name, {"error": [f"cannot start {server}: {error}"]}))
                print(f"{server:9} {name:36} cannot start: {error}", file=sys.stderr, flush=True)
                continue
            try:
                if arguments is None:
                    result = bench(port, protocol, process.pid, "--clients", str(IDLE), "--idle", "--sources", "8")
                else:
                    result = bench(port, protocol, process.pid, *arguments, "--duration", str(SECONDS), "--sources", "2")
            finally:
                stop(process)
                shutil.rmtree(directory, ignore_errors=True)
            rows.append((server, name, result))
            print(f"{server:9} {name:36} {summary(result)}", file=sys.stderr, flush=True)
    print("| server | workload | deliveries/s | loss % | latency p50 / p99 (ms) | RSS per connection (KiB) | server CPU % |")
    print("|---|---|---|---|---|---|---|")
    for server, name, result in rows:
        print(f"| {server} | {name} | {summary(result, table=True)} |")


def summary(result, table=False):
    if "error" in result:
        text = f"failed: {' '.join(result['error'])}"
        return f"{text} | | | | " if table else text
    latency = result.get("latencyMs")
    cells = [
        f"{result['deliveriesPerSecond']:,.0f}" if "deliveriesPerSecond" in result else "",
        f"{result['lossPercent']}" if "lossPercent" in result else "",
        f"{latency['p50']:.1f} / {latency['p99']:.1f}" if latency else "",
        f"{result['rssPerConnectionKiB']}" if "rssPerConnectionKiB" in result else "",
        f"{result['serverCPUPercent']:.0f}" if "serverCPUPercent" in result else "",
    ]
    return " | ".join(cells) if table else "  ".join(c for c in cells if c)


if __name__ == "__main__":
    main()
