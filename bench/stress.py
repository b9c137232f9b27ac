#!/usr/bin/env python3
"""Reads beside hits on a loaded machine: does any read fail while Redis answers?

    bench/stress                  (release build; 2,000,000 reads)
    bench/stress --server PATH    (another HitCounterServer binary, for a before/after)
    bench/stress --reads 200000   (fewer reads)

One private Redis and the release server; two load tools at once, in rounds of 30 s until `--reads` reads
were sent: one sending only `GET /hits` (10,000 keys, windows of 60 s, an hour and a day, 64
connections), the other only `POST /hit` (10,000 keys, 64 connections); and a busy loop per `--hogs` beside them, so the
machine is loaded as a benchmark or a noisy neighbour loads it. Counts every answer by status, and the
server's warnings that a call missed Redis's second on every attempt (a 503 while Redis answered).
Appends a row to bench/results/<date>-stress.md. Target: 0 failed reads in 2,000,000. Traffic goes to
127.0.0.1 only.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import redis, stop  # noqa: E402
from run import ROOT, build, free_port, http_ok, run, wait_for  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="the HitCounterServer binary (default: a release build of this tree)")
    parser.add_argument("--reads", type=int, default=2_000_000)
    parser.add_argument("--hogs", type=int, default=1, help="busy loops beside the load (default 1)")
    args = parser.parse_args()
    server = args.server or build("HitCounterServer")
    loader = build("hitcounter-load")
    work = tempfile.mkdtemp(prefix="hitcounter-stress-")
    redis_port, port = free_port(), free_port()
    log_path = os.path.join(work, "server.log")
    processes = [redis(redis_port, work)]
    try:
        with open(log_path, "w") as log:
            processes.append(subprocess.Popen([server, "--hostname", "127.0.0.1", "--port", str(port), "--redis-url",
                                               f"redis://127.0.0.1:{redis_port}", "--rollup-log", "false"], stdout=log, stderr=log))
        wait_for(lambda: http_ok(port, "/readyz"), "the service")
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
        processes += hogs
        url = f"http://127.0.0.1:{port}"
        totals = {"reads": [0, 0, {}], "hits": [0, 0, {}]}
        started = time.time()
        # In rounds of 30 s, both tools at once, until enough reads were sent.
        while totals["reads"][0] < args.reads:
            runs = {}
            for name, mix in [("reads", ["--mix", "hits=100", "--range", "60,3600,86400"]), ("hits", ["--mix", "hit=100"])]:
                report = os.path.join(work, f"{name}.json")
                runs[name] = (report, subprocess.Popen([loader, "--url", url, *mix, "--keys", "10000", "--connections", "64", "--duration", "30s",
                                                        "--quiet", "--json", report]))
            for name, (report, process) in runs.items():
                process.wait()
                with open(report) as f:
                    result = json.load(f)
                totals[name][0] += result["requests"]
                totals[name][1] += result["errors"]
                for status, count in result.get("errors_by_status", {}).items():
                    totals[name][2][status] = totals[name][2].get(status, 0) + count
            print(f"  {totals['reads'][0]:,} reads ({totals['reads'][1]} failed), {totals['hits'][0]:,} hits ({totals['hits'][1]} failed)", flush=True)
        elapsed = time.time() - started
        stop(hogs)
        processes = [p for p in processes if p not in hogs]
        read = {"requests": totals["reads"][0], "errors": totals["reads"][1], "errors_by_status": totals["reads"][2]}
        hit = {"requests": totals["hits"][0], "errors": totals["hits"][1], "errors_by_status": totals["hits"][2]}
        with open(log_path) as f:
            missed = sum(1 for line in f if "missed Redis's second" in line)
        revision = run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).strip()
        if run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT).strip():
            revision += " with uncommitted changes"
        binary = args.server or f"release build of {revision}"
        row = (f"| {datetime.date.today().isoformat()} | {binary} | {read['requests']:,} | {read['errors']} {read.get('errors_by_status', {})} "
               f"| {hit['requests']:,} | {hit['errors']} {hit.get('errors_by_status', {})} | {missed} | {elapsed:.0f} s |")
        print(row)
        path = os.path.join(ROOT, "bench", "results", f"{datetime.date.today().isoformat()}-stress.md")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("# Reads beside hits on a loaded machine\n\n`bench/stress` (two load tools of 64 connections each, 10,000 keys, "
                        f"{args.hogs} busy loop(s) beside them, {os.cpu_count()} cores). Target: no read fails while Redis answers.\n\n"
                        "| date | server | reads | failed reads (by status) | hits | failed hits | \"missed Redis's second\" logged | time |\n"
                        "| --- | --- | ---: | --- | ---: | --- | ---: | ---: |\n")
        with open(path, "a") as f:
            f.write(row + "\n")
        print(f"written to {path}")
    finally:
        stop(reversed(processes))


if __name__ == "__main__":
    main()
