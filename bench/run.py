#!/usr/bin/env python3
"""HitCounter benchmark: the service's figures beside the ceilings measured in the same run.

    bench/run              (builds release binaries, starts its own Redis, service and nginx)
    bench/run --quick      (shorter runs, one round, for a smoke test)
    bench/run --rounds 5   (more interleaved rounds: medians steadier on a noisy machine)

Every figure is printed with its ratio to the ceiling it is bounded by and the target it must meet,
then written to bench/results/<date>-<cores>c<memory>g.{md,json}. Traffic goes to 127.0.0.1 only,
every run is bounded in time or count.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import statistics
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_port():
    """A free port whose cluster bus port (+10000) can be one too (a node with a bus port past 65535 does not start)."""
    while True:
        port = free_port()
        if port + 10000 <= 65535:
            return port


# What `ScriptGeometry.declarations` expands to (from `BucketLevel`), which every script starts with; `ScriptGeometryTests`
# holds this copy to it.
DECLARATIONS = """local secondsUnit, secondsSpan, secondsWidth, secondsType, secondsFormat = 1, 60, 4, 'u32', '>I4'
local minutesUnit, minutesSpan, minutesWidth, minutesType, minutesFormat = 60, 3600, 8, 'i64', '>i8'
local hoursUnit, hoursSpan, hoursWidth, hoursType, hoursFormat = 3600, 86400, 8, 'i64', '>i8'
local rollupHorizon = 86400"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def build(product):
    print(f"building {product} (release)", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)
    bin_path = run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT).strip()
    return os.path.join(bin_path, product)


def wait_for(check, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} did not come up")


def nginx_config(work, http, error_level="error"):
    """An nginx.conf for one worker in the foreground, keeping every file under `work`, with `http` (the
    upstreams and servers) inside its `http` block."""
    return textwrap.dedent(f"""\
        worker_processes 1;
        pid {work}/nginx.pid;
        error_log {work}/nginx-error.log {error_level};
        daemon off;
        events {{ worker_connections 4096; }}
        http {{
            access_log off;
            client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;
            fastcgi_temp_path {work}/fastcgi; uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
        """) + textwrap.indent(textwrap.dedent(http).strip(), "    ") + "\n}\n"


def http_ok(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return s.recv(64).startswith(b"HTTP/1.1 2")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="hitcounter-bench-")
        self.processes = []
        self.rows = []
        self.raw = {}
        self.duration = "3s" if args.quick else "10s"
        if args.rounds is None:
            args.rounds = 1 if args.quick else 3

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.work, "stderr.log"), "a"), **kw)
        self.processes.append(p)
        return p

    def close(self):
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(self.work, ignore_errors=True)

    def load(self, name, port, *options, duration=None, requests=None):
        """Runs hitcounter-load and returns its JSON report."""
        out = os.path.join(self.work, f"{name}.json")
        cmd = [self.loader, "--url", f"http://127.0.0.1:{port}", "--quiet", "--json", out, *options]
        cmd += ["--requests", str(requests)] if requests else ["--duration", duration or self.duration]
        print(f"  {name}: {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            report = json.load(f)
        self.raw[name] = report
        return report

    def row(self, figure, value, unit, ceiling=None, ratio=None, target=None, passed=None):
        ratio = f"{ratio:.2f}" if ratio else ""
        self.rows.append({"figure": figure, "value": value, "unit": unit, "ceiling": ceiling or "",
                          "ratio": ratio, "target": target or "", "met": "" if passed is None else ("yes" if passed else "NO")})

    def main(self):
        args = self.args
        self.server_binary = build("HitCounterServer")
        self.loader = build("hitcounter-load")
        connections = ["--connections", str(args.connections)]

        redis_port = free_port()
        self.start(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.work])
        wait_for(lambda: run(["redis-cli", "-p", str(redis_port), "ping"]).strip() == "PONG", "redis")

        print("ceilings", flush=True)
        zincrby = {}
        for depth in (1, 16):
            out = run(["redis-benchmark", "-p", str(redis_port), "-n", "200000" if not args.quick else "50000", "-c", "50",
                       "-P", str(depth), "-q", "ZINCRBY", "bench", "1", "member"])
            zincrby[depth] = float(re.search(r"([\d.]+) requests per second", out).group(1))
        run(["redis-cli", "-p", str(redis_port), "FLUSHALL"])

        port = free_port()
        server = self.start([self.server_binary, "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}", "--log-level", "warning"])
        wait_for(lambda: http_ok(port, "/readyz"), "HitCounterServer")

        # This machine's speed drifts by tens of percent from minute to minute (a shared VM), so each
        # closed-loop figure is run in interleaved rounds and its median reported, and each ratio is the
        # median of the ratios taken within a round.
        workloads = {
            "healthz": ["--mix", "healthz=100"],
            "hit-1-key": ["--mix", "hit=100"],
            "hit-10000-keys": ["--mix", "hit=100", "--keys", "10000"],
            # 100 hits a request on the same 10000 keys: the row to set beside POST /hit's in hits per second.
            "batch-10000-keys": ["--mix", "batch=100", "--keys", "10000"],
            "hits-range-60": ["--mix", "hits=100", "--range", "60"],
            "hits-range-3600": ["--mix", "hits=100", "--range", "3600"],
            "hits-range-86400": ["--mix", "hits=100", "--range", "86400"],
        }
        rounds = {name: [] for name in workloads}
        open_loops = []
        nginx = None
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds}", flush=True)
            for name, options in workloads.items():
                rounds[name].append(self.load(f"{name}-{number}", port, *connections, *options))
            if number == 1 and shutil.which("nginx"):
                nginx = self.nginx_ceiling(connections)
            # Open loop at 60% of this round's /healthz throughput: machines differ, so a rate, not a number.
            rate = int(0.6 * rounds["healthz"][-1]["requests_per_second"])
            open_loops.append((rate, self.load(f"open-loop-{number}", port, "--connections", "32", "--rate", str(rate),
                                               "--mix", "hit=100", "--keys", "100")))
        hits_day_alone = self.load("hits-range-86400-alone", port, "--connections", "1", "--mix", "hits=100", "--range", "86400")
        # The live view's reads, one at a time, on the Redis every round above filled: an hour in which
        # one key took most hits, 100 keys the open loop's and 10,000 keys a few each.
        series_alone = self.load("series-3600-alone", port, "--connections", "1", "--mix", "series=100", "--range", "3600")
        top_alone = self.load("top-3600-alone", port, "--connections", "1", "--mix", "top=100", "--range", "3600")

        print("memory", flush=True)
        million = 1_000_000 if not args.quick else 100_000
        before = rss_kib(server.pid)
        self.load("one-million-hits", port, *connections, "--mix", "hit=100", "--keys", "1000", requests=million)
        after = rss_kib(server.pid)
        per_counter_hour = self.redis_memory_per_counter_hour(redis_port)

        def rps(name):
            return statistics.median(r["requests_per_second"] for r in rounds[name])

        def ratio(name):
            return statistics.median(r["requests_per_second"] / h["requests_per_second"] for r, h in zip(rounds[name], rounds["healthz"]))

        def clean(name):
            return all(r["errors"] == 0 for r in rounds[name])

        healthz = rps("healthz")
        h = "GET /healthz (same round)"
        self.row("GET /healthz, no Redis", healthz, "req/s", "ceiling")
        if nginx:
            self.row("nginx returning 204", nginx, "req/s", "ceiling")
        self.row("redis-benchmark ZINCRBY, one at a time", zincrby[1], "op/s", "ceiling")
        self.row("redis-benchmark ZINCRBY, pipelined 16", zincrby[16], "op/s", "reference")
        for figure, name, target in [("POST /hit, 1 key", "hit-1-key", 0.85), ("POST /hit, 10000 keys", "hit-10000-keys", 0.75),
                                     ("GET /hits?range=60", "hits-range-60", 0.75), ("GET /hits?range=3600", "hits-range-3600", None),
                                     ("GET /hits?range=86400", "hits-range-86400", None)]:
            self.row(figure, rps(name), "req/s", h, ratio(name), f">= {target}" if target else None,
                     None if target is None else ratio(name) >= target and clean(name))
        # Hits per second, batched or not, in the same rounds.
        batch_hits = 100 * rps("batch-10000-keys")
        single_hits = rps("hit-10000-keys")
        batch_ratio = statistics.median(100 * b["requests_per_second"] / s["requests_per_second"]
                                        for b, s in zip(rounds["batch-10000-keys"], rounds["hit-10000-keys"]))
        self.row("hits/s through POST /hit/batch, 100 a request, 10000 keys", batch_hits, "hits/s", "POST /hit, 10000 keys (same round)",
                 batch_ratio)
        self.row("hits/s through POST /hit, one a request, 10000 keys", single_hits, "hits/s")
        p99_day = hits_day_alone["latency_ms"]["p99"]
        self.row("GET /hits?range=86400 p99, no other load", p99_day, "ms", target="< 5", passed=p99_day < 5 and hits_day_alone["errors"] == 0)
        for figure, report in [("GET /series?range=3600&step=60", series_alone), ("GET /top?range=3600", top_alone)]:
            p99 = report["latency_ms"]["p99"]
            self.row(f"{figure} p99, no other load", p99, "ms", target="< 5", passed=p99 < 5 and report["errors"] == 0)
        p99_open = statistics.median(report["latency_ms"]["p99"] for _, report in open_loops)
        rates = "/".join(str(rate) for rate, _ in open_loops)
        achieved = statistics.median(report["requests_per_second"] for _, report in open_loops)
        self.row(f"open loop POST /hit at 0.6x the round's /healthz ({rates} req/s): achieved", achieved, "req/s")
        self.row("open loop POST /hit at 0.6x /healthz: p99 (median of rounds: " +
                 ", ".join(f"{report['latency_ms']['p99']:.1f}" for _, report in open_loops) + ")", p99_open, "ms",
                 target="< 5, no errors", passed=p99_open < 5 and all(report["errors"] == 0 for _, report in open_loops))
        self.row(f"server RSS after {million} hits", after / 1024, "MiB", target="< 64", passed=after / 1024 < 64)
        self.row("server RSS before them", before / 1024, "MiB")
        self.row("Redis memory per counter, 1 hit/s for an hour", per_counter_hour / 1024, "KiB", target="bounded by range")
        self.report(healthz)

    def nginx_ceiling(self, connections):
        port = free_port()
        conf = os.path.join(self.work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_config(self.work, f"server {{ listen 127.0.0.1:{port}; location / {{ return 204; }} }}"))
        p = self.start(["nginx", "-p", self.work, "-c", conf])
        wait_for(lambda: http_ok(port, "/healthz"), "nginx")
        rps = self.load("nginx-204", port, *connections, "--mix", "healthz=100")["requests_per_second"]
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        return rps

    def redis_memory_per_counter_hour(self, redis_port):
        """One hit per second for an hour on 100 counters, with driven time, through the service's own
        hit script (read from its source, so the figure is for the layout that ships)."""
        source = open(os.path.join(ROOT, "Sources/HitCounter/Store/Scripts/HitScript.swift")).read()
        script = textwrap.dedent(re.findall(r'"""\n(.*?)\n\s*"""', source, re.S)[0]).replace("\\(ScriptGeometry.declarations)", DECLARATIONS)
        cli = ["redis-cli", "-p", str(redis_port)]
        run(cli + ["FLUSHALL"])
        sha = run(cli + ["SCRIPT", "LOAD", script]).strip()
        used = lambda: int(re.search(r"used_memory:(\d+)", run(cli + ["INFO", "memory"])).group(1))
        base = used()
        counters = 100
        start = int(time.time()) - 3600
        commands = []
        for t in range(start, start + 3600):
            # The keys and arguments HitScript passes (spelled by KeySchema), one call per second for
            # all the counters: KEYS the minute's roll-up index and top set, then per counter its three hit buckets;
            # ARGV the driven second, its minute, max range, dedup period, number of counters, top sets on, then per
            # counter its key, count, no ids, no callbacks. A drift makes the script refuse, and --pipe fail.
            minute, hour, day = t - t % 60, t - t % 3600, t - t % 86400
            keys, counter_args = [f"hc:rollup:keys:{minute}", f"hc:top:m:{minute}"], []
            for c in range(counters):
                keys += [f"hc:{{bench-{c}}}:s:{minute}", f"hc:{{bench-{c}}}:m:{hour}", f"hc:{{bench-{c}}}:h:{day}"]
                counter_args += [f"bench-{c}", "1", "0", "0"]
            args = ["EVALSHA", sha, str(len(keys)), *keys, str(t), str(minute), "86400", "86400", str(counters), "1", *counter_args]
            commands.append(f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args))
        subprocess.run(cli + ["--pipe"], input="".join(commands), text=True, check=True, capture_output=True)
        self.raw["redis_keys_per_counter"] = int(run(cli + ["DBSIZE"]).strip()) / counters
        return (used() - base) / counters

    def report(self, healthz):
        cores = os.cpu_count()
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
        today = datetime.date.today().isoformat()
        commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
        if run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).strip():
            commit += " with uncommitted changes"
        lines = [f"# HitCounter benchmark, {today}, commit {commit}", "",
                 f"Machine: {cores} cores, {memory} GiB, {os.uname().sysname} {os.uname().release}; "
                 f"load tool, service and Redis on the same machine, `{self.args.connections}` connections, {self.duration} a run, "
                 f"{self.args.rounds} interleaved round(s) of the closed-loop and open-loop runs, medians.", "",
                 "| figure | value | unit | ceiling | ratio | target | met |", "| --- | ---: | --- | --- | ---: | --- | --- |"]
        for r in self.rows:
            value = f"{r['value']:.0f}" if r["value"] >= 100 else f"{r['value']:.2f}"
            lines.append(f"| {r['figure']} | {value} | {r['unit']} | {r['ceiling']} | {r['ratio']} | {r['target']} | {r['met']} |")
        text = "\n".join(lines) + "\n"
        print()
        print(text)
        if not self.args.no_write:
            os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
            stem = os.path.join(ROOT, "bench/results", f"{today}-{cores}c{memory}g")
            with open(stem + ".md", "w") as f:
                f.write(text)
            with open(stem + ".json", "w") as f:
                json.dump({"date": today, "commit": commit, "cores": cores, "memory_gib": memory, "rows": self.rows, "runs": self.raw}, f, indent=1)
            print(f"written to {stem}.md and .json")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds of the closed-loop runs (3, or 1 with --quick)")
    parser.add_argument("--no-write", action="store_true", help="print only, write nothing to bench/results")
    bench = Bench(parser.parse_args())
    try:
        bench.main()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
