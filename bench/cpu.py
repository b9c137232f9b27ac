#!/usr/bin/env python3
"""CPU per request, the service's and its Redis's, beside the Go peer's, on the peers benchmark's loads.

    bench/cpu                       (release build; ROUNDS rounds, 2 by default)
    bench/cpu --server PATH         (another HitCounterServer binary, e.g. an older build, for a before/after)

`perf stat` sees no hardware counters on this VM and callgrind crashes on the Swift server, so a
request's cost is measured as CPU time: each process's user + system time from /proc/<pid>/stat over a
closed-loop `wrk -t1 -c64` run, divided by the requests it answered. Each server has its own private
Redis (so each Redis's time is its own server's), and each round runs every load against each server in
turn, so drift of the machine's speed falls on both alike. Prints the median of the rounds, in
microseconds per request, and writes them to bench/results/<date>-cpu.md. Traffic goes to 127.0.0.1 only; every run lasts DURATION.
"""
import argparse
import datetime
import os
import socket
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import redis  # noqa: E402
from run import ROOT, build, free_port, run, wait_for  # noqa: E402

PEERS = os.environ.get("PEERS", os.path.join(ROOT, "..", "shared", "peers"))
DURATION = os.environ.get("DURATION", "10s")
# The peers benchmark's loads: (name, path, wrk script)
LOADS = [
    ("POST /hit, one key", "/hit", 'wrk.method = "POST"\n'),
    ("POST /hit, 10000 keys", "/hit", 'math.randomseed(7)\nrequest = function() return wrk.format("POST", "/hit?key=k" .. math.random(10000)) end\n'),
    ("GET /hits?range=60", "/hits?range=60", ""),
]


def cpu_ticks(pid):
    """User + system time of `pid`, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def load(port, path, script, work, duration=DURATION):
    """Requests answered and their rate, of one closed-loop run."""
    script_path = os.path.join(work, "load.lua")
    with open(script_path, "w") as f:
        f.write(script)
    out = run(["wrk", "-t1", "-c64", f"-d{duration}", "-s", script_path, f"http://127.0.0.1:{port}{path}"])
    requests = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
    rate = float(next(line for line in out.splitlines() if line.startswith("Requests/sec")).split()[1])
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    return requests, rate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="the HitCounterServer binary (default: a release build of this tree)")
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "2")))
    args = parser.parse_args()
    server = args.server or build("HitCounterServer")
    go_peer = run([os.path.join(PEERS, "go", "build.sh")]).strip().splitlines()[-1]
    tick = 1_000_000 / os.sysconf("SC_CLK_TCK")
    work = tempfile.mkdtemp(prefix="hitcounter-cpu-")
    processes = []
    try:
        servers = {}
        for name in ["hitcounter", "go"]:
            redis_port, port = free_port(), free_port()
            store = redis(redis_port, work)
            command = ([server, "--hostname", "127.0.0.1", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}", "--log-level", "error"]
                       if name == "hitcounter" else [go_peer, "-port", str(port), "-redis", f"127.0.0.1:{redis_port}"])
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            processes += [store, process]
            wait_for(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None, name)  # the Go peer has no /healthz
            servers[name] = (port, process.pid, store.pid)
        figures = {(label, name): [] for label, _, _ in LOADS for name in servers}
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds}", file=sys.stderr, flush=True)
            for label, path, script in LOADS:
                for name, (port, pid, redis_pid) in servers.items():
                    load(port, path, script, work, "3s")  # warm-up, and for the 10000 keys their buckets
                    before = cpu_ticks(pid), cpu_ticks(redis_pid)
                    requests, rate = load(port, path, script, work)
                    after = cpu_ticks(pid), cpu_ticks(redis_pid)
                    figures[(label, name)].append((rate, (after[0] - before[0]) * tick / requests, (after[1] - before[1]) * tick / requests))
        lines = ["| load | HitCounter req/s | server µs | Redis µs | Go req/s | server µs | Redis µs |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for label, _, _ in LOADS:
            cells = []
            for name in servers:
                rounds = figures[(label, name)]
                cells += [f"{statistics.median(r[0] for r in rounds):,.0f}", f"{statistics.median(r[1] for r in rounds):.1f}",
                          f"{statistics.median(r[2] for r in rounds):.1f}"]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        described = run(["git", "-C", ROOT, "describe", "--always", "--dirty"]).strip()
        lines.append(f"\n(medians of {args.rounds} rounds, wrk -t1 -c64 -d{DURATION}, {os.cpu_count()} cores, {datetime.date.today()}, "
                     f"{os.path.basename(server)} at {described})")
        print("\n".join(lines))
        with open(os.path.join(ROOT, "bench", "results", f"{datetime.date.today()}-cpu.md"), "w") as f:
            f.write("# CPU per request: bench/cpu\n\n" + "\n".join(lines) + "\n")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()


if __name__ == "__main__":
    main()
