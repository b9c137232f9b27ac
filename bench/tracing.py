#!/usr/bin/env python3
"""What tracing costs: the same release server on one private Redis with tracing off, on with every
request sampled, and on with 1 in 100 sampled (OTEL_TRACES_SAMPLER=traceidratio), exporting over
OTLP/HTTP to a sink started here; the same loads in interleaved rounds. With `--before BINARY` (a
release build of an earlier commit), that binary too, to show what tracing costs when off.

    bench/tracing                        (builds release binaries; 3 rounds of 10 s per load)
    bench/tracing --quick                (1 round of 3 s)
    bench/tracing --before /tmp/old/HitCounterServer

Prints, and writes to bench/results/<date>-tracing.md, each load's median requests per second and
the median of the per-round ratios to tracing off. Traffic goes to 127.0.0.1 only.
"""
import argparse
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import finish, interleaved, stop, table  # noqa: E402
from compare import redis as private_redis  # noqa: E402
from run import ROOT, build, free_port, http_ok, run, wait_for  # noqa: E402

LOADS = [("POST /hit, 1 key", ["--mix", "hit=100"]), ("POST /hit, 10000 keys", ["--mix", "hit=100", "--keys", "10000"]),
         ("GET /hits?range=60", ["--mix", "hits=100", "--range", "60"])]


class Sink(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP endpoint that takes every export and keeps only its size."""
    def __init__(self):
        self.exports, self.bytes = 0, 0
        super().__init__(("127.0.0.1", 0), SinkHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class SinkHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.exports += 1
        self.server.bytes += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *arguments):
        pass


def dropped_spans(log):
    """The spans a server's batch processor said it dropped."""
    total = 0
    with open(log) as f:
        for line in f:
            if '"dropped_count"' in line:
                total += int(json.loads(line)["dropped_count"])
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--before", help="a release HitCounterServer of an earlier commit, run with tracing off")
    args = parser.parse_args()
    rounds, duration = (1, "3s") if args.quick else (3, "10s")
    server_binary, loader = build("HitCounterServer"), build("hitcounter-load")
    work = tempfile.mkdtemp(prefix="hitcounter-tracing-bench-")
    sink = Sink()
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_address[1]}"}
    processes = []
    try:
        redis = free_port()
        processes.append(private_redis(redis, work))
        # Every span of every request: a queue that holds a second of them and large exports, else the
        # batch processor drops spans (and says so in a warning each time).
        everything = {**endpoint, "OTEL_BSP_MAX_QUEUE_SIZE": "131072", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "16384",
                      "OTEL_BSP_SCHEDULE_DELAY": "500"}
        configurations = [("off", server_binary, {}), ("all sampled", server_binary, everything),
                          ("1% sampled", server_binary, {**endpoint, "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"})]
        if args.before:
            configurations.append(("before", args.before, {}))
        servers = {}
        for name, binary, environment in configurations:
            port = free_port()
            processes.append(subprocess.Popen([binary, "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis}", "--log-level", "error"],
                                              env={**os.environ, **environment}, stdout=open(os.path.join(work, f"{port}.log"), "w"),
                                              stderr=subprocess.STDOUT))
            wait_for(lambda: http_ok(port, "/readyz"), f"the server with tracing {name}")
            servers[name] = port
        results = interleaved(loader, servers, LOADS, rounds, duration, work)
        dropped = {name: dropped_spans(os.path.join(work, f"{port}.log")) for name, port in servers.items()}
        commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
        text = (f"Tracing, {rounds} interleaved rounds of {duration} per load, 32 connections, commit {commit}; "
                f"{sink.exports} OTLP exports ({sink.bytes / 1e6:.0f} MB) reached the sink; spans dropped by a full queue: "
                + ", ".join(f"{name} {count}" for name, count in dropped.items()) + "\n\n"
                + table(results, LOADS, "off", [name for name in servers if name != "off"]) + "\n")
        finish(text, args.quick, ROOT, "tracing")
    finally:
        stop(processes)
        sink.shutdown()


if __name__ == "__main__":
    main()
