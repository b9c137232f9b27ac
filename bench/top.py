#!/usr/bin/env python3
"""GET /top's latency with an hour of 100,000 one-hit counters (what an anonymous client making a new key
per request leaves) beside 300 counters with skewed traffic.

    bench/top                  (release build; 10 s per window)
    bench/top --server PATH    (another HitCounterServer binary, for a before/after)
    bench/top --quick          (2 s per window, 10,000 one-hit counters; nothing saved)

The hour is written through the library at Redis's past seconds (`TopKeysBenchData`, a test that runs
only when told, in the debug test build), then the release server answers `GET /top` for each window
to `wrk -t1 -c4 --latency`. Prints p50 and p99 and Redis's slowest command (`SLOWLOG`), and writes
bench/results/<date>-top.md. Target: p99 under 5 ms. Traffic goes to 127.0.0.1 only.
"""
import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import finish, redis, stop  # noqa: E402
from run import ROOT, build, free_port, http_ok, run, wait_for  # noqa: E402

# The dashboard's read (limit 15), the default limit at four windows, and the largest limit.
WINDOWS = ["/top?range=60", "/top?range=600", "/top?range=3600", "/top?range=3600&limit=15", "/top?range=86400", "/top?range=3600&limit=100"]


def latency(port, path, duration):
    """p50 and p99 in ms, and requests per second, of `path` under `wrk -t1 -c4`."""
    out = run(["wrk", "-t1", "-c4", f"-d{duration}", "--latency", f"http://127.0.0.1:{port}{path}"])
    assert "Non-2xx" not in out and "Socket errors" not in out, out

    def ms(label):
        value = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        number, unit = float(value.group(1)), value.group(2)
        return number / 1000 if unit == "us" else number * 1000 if unit == "s" else number
    rate = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M).group(1))
    return ms("50"), ms("99"), rate


def slowest(redis_port):
    """Redis's slowest command since the log was reset, in µs, and its name."""
    log = run(["redis-cli", "-p", str(redis_port), "SLOWLOG", "GET", "100000"]).split("\n")
    entries = [(int(log[i - 1]), log[i]) for i in range(1, len(log)) if log[i].isupper() and log[i - 1].isdigit() and log[i - 2].isdigit()]
    return max(entries, default=(0, "none"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="the HitCounterServer binary (default: a release build of this tree)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    server = args.server or build("HitCounterServer")
    duration = "2s" if args.quick else "10s"
    flood = "10000" if args.quick else "100000"
    print("building the debug tests (they write the hour)", flush=True)
    subprocess.run(["swift", "build", "--build-tests"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="hitcounter-top-")
    redis_port, port = free_port(), free_port()
    processes = [redis(redis_port, work)]
    try:
        print(f"writing an hour of {flood} one-hit counters and 300 busy ones", flush=True)
        environment = dict(os.environ, HITCOUNTER_BENCH_TOP_REDIS=f"redis://127.0.0.1:{redis_port}", HITCOUNTER_BENCH_TOP_FLOOD=flood)
        subprocess.run(["swift", "test", "--skip-build", "--filter", "TopKeysBenchData"], cwd=ROOT, env=environment, check=True,
                       stdout=subprocess.DEVNULL)
        members = run(["redis-cli", "-p", str(redis_port), "EVAL",
                       "local n = 0 for _, k in ipairs(redis.call('KEYS', 'hc:top:h:*')) do n = n + redis.call('ZCARD', k) end return n", "0"]).strip()
        command = [server, "--hostname", "127.0.0.1", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}", "--log-level", "error"]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: http_ok(port, "/readyz"), "the service")
        run(["redis-cli", "-p", str(redis_port), "CONFIG", "SET", "slowlog-log-slower-than", "500"])
        run(["redis-cli", "-p", str(redis_port), "CONFIG", "SET", "slowlog-max-len", "100000"])
        rows = []
        for path in WINDOWS:
            run(["redis-cli", "-p", str(redis_port), "SLOWLOG", "RESET"])
            p50, p99, rate = latency(port, path, duration)
            micros, name = slowest(redis_port)
            rows.append(f"| `GET {path}` | {p50:.2f} | {p99:.2f} | {rate:.0f} | {micros / 1000:.2f} ms ({name}) |")
            print(rows[-1], flush=True)
        revision = run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).strip()
        if run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT).strip():
            revision += " with uncommitted changes"
        text = "\n".join([
            f"# GET /top under a flood of one-hit counters, {datetime.date.today().isoformat()}",
            "",
            f"`bench/top{' --server ' + args.server if args.server else ''}` at {revision}: {members} members in the hour sets "
            f"({flood} counters with one hit each over the hour before the reads, beside 300 whose i-th has 3000 / i hits); "
            f"`wrk -t1 -c4 --latency` for {duration} per window, on {os.cpu_count()} cores. Target: p99 under 5 ms.",
            "",
            "| window | p50 ms | p99 ms | req/s | Redis's slowest command |",
            "| --- | ---: | ---: | ---: | --- |",
            *rows,
            "",
        ])
        finish(text, args.quick, ROOT, "top")
    finally:
        stop(reversed(processes))


if __name__ == "__main__":
    main()
