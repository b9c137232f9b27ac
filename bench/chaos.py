#!/usr/bin/env python3
"""Chaos: faults at random under load, proving that nothing acknowledged is lost.

    bench/chaos                                   (release build; both topologies, 5 minutes each)
    bench/chaos --server PATH --topology single   (another HitCounterServer binary, one topology; no build)
    bench/chaos --seed 1234 --topology cluster    (replays a run: the seed fixes the schedule)
    bench/chaos --minutes 1 --no-write            (a smoke run; nothing saved)

Three HitCounterServer replicas behind nginx, on one of two topologies: `single`, one Redis primary
(AOF, `appendfsync always`) with a replica; `cluster`, a six-node Redis Cluster (three primaries with a
replica each) and the service with `--redis-wait-replicas 1`. A seeded schedule, printed up front,
injects a fault every 15 to 40 s: Redis killed -9 (restarted from its AOF; in the cluster failed over,
then rejoined as a replica), a service replica killed -9 and restarted 2 s later, Redis stopped for 2 s,
`CLIENT PAUSE 2000 WRITE`, Redis held at its maxmemory for 3 s, and in the cluster 200 slots resharded.
Meanwhile an asyncio load sends `POST /hit` with a fresh id each time over keep-alive connections to
nginx (`--rate` new ids per second at most), retrying each id (same key, same id) after 50 to 200 ms
until it gets a 2xx; when the time is up, only the open ids are retried. Beside it, a quarter as many
connections send hits without ids (the plain-command path most hits take), each once.

Targets, each a check: per key, the hits and the distinct ids counted equal the ids acknowledged;
per key without ids, the hits counted lie between those acknowledged and those sent;
every id acknowledged within 120 s of the last fault; the service answered only 2xx and 503 (nginx's
own 502s and connection errors are counted apart); each replica's RSS ends within 10 % of its value
20 s after it started; no replica exited unbidden; every fault ran. Appends a section per topology to
bench/results/<date>-chaos.md and exits 1 if a check failed, keeping that run's logs and data. Not in
CI: a run lasts minutes. Traffic goes to 127.0.0.1 only, and every phase is bounded in time.
"""
import argparse
import array
import asyncio
import bisect
import collections
import datetime
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import cluster_port  # noqa: E402
from compare import stop  # noqa: E402
from run import ROOT, build, free_port, http_ok, nginx_config, rss_kib, run, wait_for  # noqa: E402

FAULTS = {"single": ["redis-kill", "service-kill", "redis-stop", "redis-pause", "redis-maxmemory"],
          "cluster": ["redis-kill", "service-kill", "redis-stop", "redis-pause", "redis-maxmemory", "reshard"]}
ERROR, TIMEOUT = 0, -1  # attempt codes beside HTTP statuses; nginx's own answers are negated statuses
WARM_UP, DRAIN = 20, 120  # seconds: RSS taken this long after a replica starts; retries end this long after the last fault


class Fault:
    def __init__(self, at, kind, target):
        self.at, self.kind, self.target, self.start, self.end = at, kind, target, None, None
        self.detail = self.error = self.skipped = ""
        self.span, self.failures = 0.0, 0

    def describe(self, topology):
        if self.kind == "service-kill":
            return f"replica-{self.target + 1}"
        if self.kind == "reshard":
            return f"200 slots from primary #{self.target[0] + 1} to #{self.target[1] + 1}"
        return "the primary" if topology == "single" else f"primary #{self.target + 1}"


def plan(seed, topology, seconds):
    """The seeded schedule: a fault every 15 to 40 s. Primaries are numbered by their first slot at the fault's time."""
    rng = random.Random(f"{seed}-{topology}")
    faults, at = [], rng.uniform(15, 40)
    while at < seconds:
        kind = rng.choice(FAULTS[topology])
        faults.append(Fault(at, kind, tuple(rng.sample(range(3), 2)) if kind == "reshard" else rng.randrange(3)))
        at += rng.uniform(15, 40)
    return faults


class Node:
    """A redis-server on its port and its own directory, restartable with the same arguments (its AOF, its nodes.conf)."""
    def __init__(self, env, port, *arguments):
        self.env, self.port, self.process = env, port, None
        directory = os.path.join(env.work, f"redis-{port}")
        os.makedirs(directory)
        self.command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "", *arguments]

    def start(self):
        self.process = self.env.spawn(self.command, f"redis-{self.port}.log")
        wait_for(lambda: self.cli("PING") == "PONG", f"redis on {self.port}", timeout=60)

    def cli(self, *arguments):
        try:  # bounded: a stopped Redis would hold redis-cli forever
            return subprocess.run(["redis-cli", "-p", str(self.port), *arguments], capture_output=True, text=True, timeout=5).stdout.strip()
        except subprocess.TimeoutExpired:
            return ""


class Replica:
    """One HitCounterServer; `started` is when it last became live (seconds into the run), `warm` its RSS WARM_UP s later."""
    def __init__(self, env, number, arguments):
        self.env, self.name, self.port = env, f"replica-{number}", free_port()
        self.command = [env.server, "--hostname", "127.0.0.1", "--port", str(self.port), "--server-name", self.name,
                        "--log-level", "warning", *arguments]
        self.process, self.started, self.warm, self.restarts, self.restarting, self.crashed = None, 0.0, None, 0, False, ""

    def start(self, now=0.0):
        self.process = self.env.spawn(self.command, f"{self.name}.log")
        wait_for(lambda: http_ok(self.port, "/healthz"), self.name, timeout=30)
        self.started, self.warm = now, None


class Env:
    """The processes of one topology: Redis nodes, three replicas, nginx. All under one temporary directory."""
    def __init__(self, topology, server):
        self.topology, self.server = topology, server
        self.work = tempfile.mkdtemp(prefix=f"hitcounter-chaos-{topology}-")
        self.processes, self.lock, self.closing = [], threading.Lock(), False
        self.nodes, self.replicas, self.port, self.t0 = [], [], None, time.monotonic()

    def now(self):
        """Seconds into the run (the load's start)."""
        return time.monotonic() - self.t0

    def spawn(self, command, log):
        with self.lock:  # the fault thread may restart a process while Ctrl-C tears everything down
            if self.closing:
                raise SystemExit("shutting down")
            with open(os.path.join(self.work, log), "a") as out:
                process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            self.processes.append(process)
        return process

    def close(self, keep):
        with self.lock:
            self.closing = True
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)  # a stopped Redis handles SIGTERM only once continued
        try:
            stop(reversed(self.processes))
        except subprocess.TimeoutExpired:
            for process in self.processes:
                process.kill()
        if keep:
            print(f"logs and data kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def up(self):
        if self.topology == "single":
            primary = Node(self, free_port(), "--appendonly", "yes", "--appendfsync", "always")
            primary.start()
            replica = Node(self, free_port(), "--replicaof", "127.0.0.1", str(primary.port))
            replica.start()
            wait_for(lambda: "master_link_status:up" in replica.cli("INFO", "replication"), "the Redis replica")
            self.nodes, url, extra = [primary, replica], f"redis://127.0.0.1:{primary.port}", []
        else:
            self.nodes = [Node(self, cluster_port(), "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
                               "--cluster-require-full-coverage", "no") for _ in range(6)]
            for node in self.nodes:
                node.start()
            run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes], "--cluster-replicas", "1", "--cluster-yes"], timeout=120)
            wait_for(self.settled, "the Redis Cluster", timeout=60)
            url, extra = f"redis://127.0.0.1:{self.nodes[0].port},127.0.0.1:{self.nodes[1].port}", ["--redis-wait-replicas", "1"]
        self.replicas = [Replica(self, n, ["--redis-url", url, *extra]) for n in (1, 2, 3)]
        for replica in self.replicas:
            replica.start()
            wait_for(lambda: http_ok(replica.port, "/readyz"), f"{replica.name} ready", timeout=30)
        self.port = free_port()
        conf = os.path.join(self.work, "nginx.conf")
        upstreams = "".join(f"server 127.0.0.1:{r.port} max_fails=3 fail_timeout=2s; " for r in self.replicas)
        with open(conf, "w") as f:
            # proxy_next_upstream without non_idempotent: nginx retries a POST only if it never reached a
            # replica; a POST cut in mid-request is a 502 here, and the client retries it with its id.
            f.write(nginx_config(self.work, f"""
                upstream hitcounter {{ {upstreams}keepalive 64; }}
                server {{
                    listen 127.0.0.1:{self.port};
                    location / {{
                        proxy_pass http://hitcounter; proxy_http_version 1.1; proxy_set_header Connection "";
                        proxy_next_upstream error timeout; proxy_next_upstream_tries 3; proxy_connect_timeout 1s;
                    }}
                }}""", error_level="warn"))
        self.spawn(["nginx", "-e", os.path.join(self.work, "nginx-error.log"), "-p", self.work, "-c", conf], "nginx.log")
        wait_for(lambda: http_ok(self.port, "/healthz"), "nginx")

    def settled(self):
        """cluster_state:ok on every node, and every node in every node's CLUSTER SLOTS (a replica shows there once synced), as the tests wait."""
        ports = {n.port for n in self.nodes}
        for node in self.nodes:
            if "cluster_state:ok" not in node.cli("CLUSTER", "INFO"):
                return False
            if not ports <= {int(word) for word in node.cli("CLUSTER", "SLOTS").split() if word.isdigit()}:
                return False
        return True

    def cluster_nodes(self):
        """CLUSTER NODES from the first node that answers: [(id, port, flags, its primary's id, first slot)]."""
        for node in self.nodes:
            lines = [line.split() for line in node.cli("CLUSTER", "NODES").splitlines()]
            if lines and all(len(fields) >= 8 for fields in lines):
                return [(f[0], int(f[1].split("@")[0].rsplit(":", 1)[1]), f[2], f[3],
                         min((int(s.split("-")[0]) for s in f[8:] if not s.startswith("[")), default=None)) for f in lines]
        raise SystemExit("no Redis node answers CLUSTER NODES")

    def primary(self, index):
        """The Redis a fault hits: the single primary, or the cluster's index-th primary by first slot. (node, id)"""
        if self.topology == "single":
            return self.nodes[0], None
        primaries = sorted((slot, port, node_id) for node_id, port, flags, _, slot in self.cluster_nodes()
                           if "master" in flags and "fail" not in flags and slot is not None)
        _, port, node_id = primaries[index % len(primaries)]
        return next(n for n in self.nodes if n.port == port), node_id


def redis_target(env, fault):
    """The Redis a fault hits, named in the fault's detail: (node, its cluster id or None)."""
    node, node_id = env.primary(fault.target)
    fault.detail = f"port {node.port}"
    return node, node_id


def kill_redis(env, fault):
    node, node_id = redis_target(env, fault)
    replica = next((port for _, port, flags, primary, _ in env.cluster_nodes() if primary == node_id and "fail" not in flags), None) if node_id else None
    fault.detail += f", its replica {replica}" if replica else ""
    node.process.kill()
    node.process.wait()
    try:
        if replica:  # restarted before its replica took over, the empty node would take its slots back
            replica_node = next(n for n in env.nodes if n.port == replica)
            wait_for(lambda: replica_node.cli("ROLE").startswith("master"), f"the failover to {replica}", timeout=30)
    finally:
        node.start()


def kill_service(env, fault):
    replica = env.replicas[fault.target]
    fault.detail = f"port {replica.port}"
    replica.restarting = True
    try:
        replica.process.kill()
        replica.process.wait()
        time.sleep(2)
        replica.start(env.now())
        replica.restarts += 1
    finally:
        replica.restarting = False


def stop_redis(env, fault):
    node, _ = redis_target(env, fault)
    node.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2)
    finally:
        node.process.send_signal(signal.SIGCONT)


def pause_redis(env, fault):
    node, _ = redis_target(env, fault)
    node.cli("CLIENT", "PAUSE", "2000", "WRITE")
    time.sleep(2)


def fill_redis(env, fault):
    node, _ = redis_target(env, fault)
    used = re.search(r"used_memory:(\d+)", node.cli("INFO", "memory")).group(1)
    policy = node.cli("CONFIG", "GET", "maxmemory-policy").split()[-1]
    fault.detail += f", maxmemory {int(used) // 1024} KiB"
    node.cli("CONFIG", "SET", "maxmemory-policy", "noeviction")
    node.cli("CONFIG", "SET", "maxmemory", used)
    try:
        time.sleep(3)
    finally:
        node.cli("CONFIG", "SET", "maxmemory", "0")
        node.cli("CONFIG", "SET", "maxmemory-policy", policy)


def reshard(env, fault):
    (source, source_id), (_, target_id) = env.primary(fault.target[0]), env.primary(fault.target[1])
    fault.detail = f"{source_id[:8]} to {target_id[:8]}"
    done = subprocess.run(["redis-cli", "--cluster", "reshard", f"127.0.0.1:{source.port}", "--cluster-from", source_id, "--cluster-to", target_id,
                           "--cluster-slots", "200", "--cluster-yes"], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"redis-cli --cluster reshard failed: {(done.stdout + done.stderr).strip().splitlines()[-1:]}")


INJECT = {"redis-kill": kill_redis, "service-kill": kill_service, "redis-stop": stop_redis, "redis-pause": pause_redis,
          "redis-maxmemory": fill_redis, "reshard": reshard}


def chaos(env, load, schedule, seconds):
    """The fault thread: each fault at its time (or once the one before is over), then, on the cluster, until it has settled."""
    try:
        for fault in schedule:
            while env.now() < fault.at and not env.closing:
                time.sleep(0.1)
            if env.closing or env.now() >= seconds:
                fault.skipped = "skipped: the load had stopped"
                continue
            fault.start = env.now()
            print(f"  {fault.start:6.1f} s  {fault.kind} {fault.describe(env.topology)}", flush=True)
            try:
                INJECT[fault.kind](env, fault)
                if env.topology == "cluster":
                    wait_for(env.settled, "the Redis Cluster settled", timeout=60)
            except (Exception, SystemExit) as error:  # a fault that failed is reported, and the run goes on
                fault.error = str(error) or type(error).__name__
                print(f"          failed: {fault.error}", flush=True)
            fault.end = env.now()
    finally:
        load.deadline = max([seconds] + [f.end for f in schedule if f.end]) + DRAIN


class Connection:
    """One keep-alive HTTP/1.1 connection to nginx, reopened after any error."""
    def __init__(self, port):
        self.port, self.reader, self.writer = port, None, None

    async def request(self, method, path):
        """(code, body): the status, negated when nginx answered itself (no X-Served-By); ERROR or TIMEOUT."""
        try:
            return await asyncio.wait_for(self.exchange(method, path), 5)
        except (OSError, EOFError, ValueError, IndexError, asyncio.LimitOverrunError) as error:  # TimeoutError is an OSError
            self.close()
            return (TIMEOUT if isinstance(error, TimeoutError) else ERROR), b""

    async def exchange(self, method, path):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: chaos\r\nContent-Length: 0\r\n\r\n".encode())
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        status = int(lines[0].split()[1])
        return (status if "x-served-by" in headers else -status), body

    def close(self):
        if self.writer:
            self.writer.close()
        self.reader = self.writer = None


class Load:
    """Hits with ids, each retried (same key, same id) until a 2xx; every attempt's time and code recorded.
    Beside them, hits without ids (the path most hits take: plain commands, not the script), each sent
    once: per key, what was acknowledged must be counted, and nothing counted that was not sent."""
    PLAIN_KEYS = 20

    def __init__(self, port, args, prefix, seed):
        self.port, self.args, self.prefix, self.seed = port, args, prefix, seed
        self.times, self.codes = array.array("d"), array.array("h")  # compact: a 5-minute run makes a million attempts
        self.acknowledged = [0] * args.keys
        self.plain_sent, self.plain_acknowledged = [0] * self.PLAIN_KEYS, [0] * self.PLAIN_KEYS
        self.open, self.sending, self.deadline = 0, True, None

    async def plain_worker(self, env, number):
        rng, connection = random.Random(f"{self.seed}-plain-{number}"), Connection(self.port)
        interval = self.args.connections / self.args.rate
        try:
            while self.sending:
                key, sent = rng.randrange(self.PLAIN_KEYS), time.monotonic()
                self.plain_sent[key] += 1
                code, _ = await connection.request("POST", f"/hit?key={self.prefix}p{key}")
                self.times.append(env.now())
                self.codes.append(code)
                if 200 <= code < 300:
                    self.plain_acknowledged[key] += 1
                await asyncio.sleep(max(0.0, sent + interval - time.monotonic()))
        finally:
            connection.close()

    async def worker(self, env, number):
        rng, connection, sequence = random.Random(f"{self.seed}-{number}"), Connection(self.port), 0
        interval = self.args.connections / self.args.rate
        try:
            while self.sending:
                key, sequence, sent = rng.randrange(self.args.keys), sequence + 1, time.monotonic()
                path = f"/hit?key={self.prefix}{key}&id={number}-{sequence}"
                self.open += 1
                while True:
                    code, _ = await connection.request("POST", path)
                    self.times.append(env.now())
                    self.codes.append(code)
                    if 200 <= code < 300:
                        break
                    if self.deadline and env.now() > self.deadline:
                        return  # left open: a failed check
                    await asyncio.sleep(rng.uniform(0.05, 0.2))
                self.open -= 1
                self.acknowledged[key] += 1
                await asyncio.sleep(max(0.0, sent + interval - time.monotonic()))
        finally:
            connection.close()

    async def count(self, connection, key, unique, deadline):
        """A key's hits (or distinct ids) in the last day, asked until a 2xx or the deadline (then None)."""
        path = f"/hits?key={self.prefix}{key}&range=86400" + ("&unique=true" if unique else "")
        while time.monotonic() < deadline:
            code, body = await connection.request("GET", path)
            if 200 <= code < 300:
                return json.loads(body)["unique" if unique else "hits"]
            await asyncio.sleep(0.2)
        return None


async def watch(env, load):
    """Once a second: each replica's warm-up RSS and whether it died unbidden; progress every 10 s."""
    progress, seen = 10, 0
    while True:
        await asyncio.sleep(1)
        now = env.now()
        for replica in env.replicas:
            if replica.restarting or replica.crashed:
                continue
            if replica.process.poll() is not None:
                replica.crashed = f"exited with {replica.process.returncode} at {now:.0f} s"
            elif replica.warm is None and now - replica.started >= WARM_UP:
                try:
                    replica.warm = rss_kib(replica.process.pid)
                except (OSError, AttributeError):
                    pass  # it died this instant: the next round says so
        if now >= progress:
            progress += 10
            failed = sum(1 for code in load.codes[seen:] if not 200 <= code < 300)
            print(f"  {now:6.0f} s  {len(load.codes):,} attempts ({len(load.codes) - seen:,} in 10 s, {failed} not 2xx), "
                  f"{sum(load.acknowledged):,} ids acknowledged, {load.open} open", flush=True)
            seen = len(load.codes)


async def session(env, load, schedule, seconds):
    """Load and faults for `seconds`, then retries until every id is acknowledged (or the deadline), then the counts."""
    env.t0 = time.monotonic()
    workers = [asyncio.create_task(load.worker(env, n)) for n in range(load.args.connections)]
    workers += [asyncio.create_task(load.plain_worker(env, n)) for n in range(max(1, load.args.connections // 4))]
    watcher = asyncio.create_task(watch(env, load))
    faults = threading.Thread(target=chaos, args=(env, load, schedule, seconds), daemon=True)
    faults.start()
    await asyncio.sleep(seconds)
    load.sending = False
    print(f"  {env.now():6.0f} s  time is up: no new ids; retrying {load.open} open ones", flush=True)
    while faults.is_alive():  # polled, not joined in an executor thread that Ctrl-C would have to wait for
        await asyncio.sleep(0.2)
    await asyncio.gather(*workers)
    watcher.cancel()
    drained = env.now()
    connection, deadline = Connection(env.port), time.monotonic() + 120
    counts = [(await load.count(connection, key, False, deadline), await load.count(connection, key, True, deadline))
              for key in range(load.args.keys)]
    load.plain_counts = [await load.count(connection, f"p{key}", False, deadline) for key in range(load.PLAIN_KEYS)]
    connection.close()
    return counts, drained


def spans(schedule, load):
    """Per fault, seconds from its start to the last attempt that was not a 2xx before the next fault; and before any fault."""
    ran = [f for f in schedule if f.start is not None]
    starts = [f.start for f in ran]
    before = 0
    for t, code in zip(load.times, load.codes):
        if 200 <= code < 300:
            continue
        i = bisect.bisect_right(starts, t) - 1
        if i < 0:
            before += 1
        else:
            ran[i].span, ran[i].failures = max(ran[i].span, t - ran[i].start), ran[i].failures + 1
    return before


def revision():
    commit = run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).strip()
    if run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT).strip():
        commit += " with uncommitted changes"
    return commit


def report(env, load, schedule, counts, drained, seed, args):
    """The section for bench/results/<date>-chaos.md, and whether every check passed."""
    before = spans(schedule, load)
    codes = collections.Counter(load.codes)
    service = {c: n for c, n in codes.items() if c > 0}
    nginx = {-c: n for c, n in codes.items() if c < 0 and c != TIMEOUT}
    wrong = [f"{load.prefix}{k}: acknowledged {a}, hits {h}, unique {u}"
             for k, (a, (h, u)) in enumerate(zip(load.acknowledged, counts)) if not a == h == u]
    plain_wrong = [f"{load.prefix}p{k}: acknowledged {a}, sent {s}, hits {h}"
                   for k, (a, s, h) in enumerate(zip(load.plain_acknowledged, load.plain_sent, load.plain_counts)) if not (h is not None and a <= h <= s)]
    rss_rows, rss_ok = [], True
    for r in env.replicas:
        if not r.crashed and r.process.poll() is not None:
            r.crashed = f"exited with {r.process.returncode} by the end"
        if r.crashed or r.warm is None:
            rss_rows.append(f"| {r.name} | {r.restarts} | - | - | excluded: {r.crashed or 'restarted less than %d s before the end' % WARM_UP} |")
            continue
        end = rss_kib(r.process.pid)
        change = (end - r.warm) / r.warm
        rss_ok &= abs(change) <= 0.10
        rss_rows.append(f"| {r.name} | {r.restarts} | {r.warm / 1024:.1f} | {end / 1024:.1f} | {change:+.1%} |")
    checks = [
        ("every id acknowledged within 120 s of the last fault", load.open == 0, f"{load.open} left open"),
        ("per key: hits = distinct ids = ids acknowledged", not wrong, "; ".join(wrong[:5]) or f"{args.keys} keys exact"),
        ("hits without ids: acknowledged <= counted <= sent, per key", not plain_wrong,
         "; ".join(plain_wrong[:5]) or f"{load.PLAIN_KEYS} keys: {sum(load.plain_acknowledged):,} acknowledged, {sum(load.plain_counts):,} counted, "
         f"{sum(load.plain_sent):,} sent"),
        ("the service answered only 2xx and 503", all(200 <= c < 300 or c == 503 for c in service), service),
        ("each replica's RSS within 10 % of its warm-up value", rss_ok, "see the RSS table"),
        ("no replica exited unbidden", not any(r.crashed for r in env.replicas), "; ".join(f"{r.name} {r.crashed}" for r in env.replicas if r.crashed)),
        ("every fault ran (and the cluster settled after it)", not any(f.error for f in schedule), "; ".join(f"{f.kind}: {f.error}" for f in schedule if f.error)),
    ]
    passed = all(ok for _, ok, _ in checks)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"## {env.topology}, {stamp}, commit {revision()}: {'PASS' if passed else 'FAIL'}", "",
             f"`bench/chaos --topology {env.topology} --minutes {args.minutes:g} --seed {seed} --connections {args.connections} --keys {args.keys} "
             f"--rate {args.rate:g}`{' with --server ' + args.server if args.server else ''}, {os.cpu_count()} cores. "
             f"New ids for {args.minutes * 60:.0f} s; the last id acknowledged {drained:.0f} s into the run.", "",
             "| check | result | detail |", "| --- | --- | --- |",
             *[f"| {name} | {'PASS' if ok else 'FAIL'} | {detail} |" for name, ok, detail in checks], "",
             "| planned s | started s | fault | target | took s | not 2xx for s | attempts not 2xx | note |",
             "| ---: | ---: | --- | --- | ---: | ---: | ---: | --- |",
             f"| | 0 | (before the first fault) | | | | {before} | |"]
    for f in schedule:
        started = f"{f.start:.1f}" if f.start is not None else "-"
        took = f"{f.end - f.start:.1f}" if f.start is not None else "-"
        lines.append(f"| {f.at:.1f} | {started} | {f.kind} | {f.describe(env.topology)} ({f.detail}) | {took} | {f.span:.1f} | {f.failures} | {f.error or f.skipped} |")
    errors = codes.get(ERROR, 0) + codes.get(TIMEOUT, 0)
    lines += ["", f"Attempts {len(load.codes):,}; ids acknowledged {sum(load.acknowledged):,}; counted: hits "
              f"{sum(h or 0 for h, _ in counts):,}, distinct ids {sum(u or 0 for _, u in counts):,}. The service's answers by status "
              f"{dict(sorted(service.items()))}; nginx's own {dict(sorted(nginx.items()))}; connection errors {codes.get(ERROR, 0)}, "
              f"timeouts {codes.get(TIMEOUT, 0)} ({errors} in all, expected while a replica is down).", "",
              "| replica | restarts | RSS after warm-up MiB | at the end MiB | change |", "| --- | ---: | ---: | ---: | --- |", *rss_rows, ""]
    return "\n".join(lines), passed


def run_topology(topology, schedule, seed, args, server):
    env = Env(topology, server)
    passed = False
    try:
        print(f"{topology}: starting Redis, three replicas and nginx in {env.work}", flush=True)
        env.up()
        load = Load(env.port, args, f"chaos-{topology}-{int(time.time())}-", seed)
        counts, drained = asyncio.run(session(env, load, schedule, args.minutes * 60))
        text, passed = report(env, load, schedule, counts, drained, seed, args)
        print("\n" + text, flush=True)
        if not args.no_write:
            path = os.path.join(ROOT, "bench", "results", f"{datetime.date.today().isoformat()}-chaos.md")
            new = not os.path.exists(path)
            with open(path, "a") as f:
                f.write(("# Chaos: faults at random under load (bench/chaos)\n\n" if new else "") + text + "\n")
            print(f"appended to {path}")
    finally:
        env.close(keep=not passed)
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", help="the HitCounterServer binary (default: a release build of this tree)")
    parser.add_argument("--topology", choices=["single", "cluster", "both"], default="both")
    parser.add_argument("--minutes", type=float, default=5, help="of load and faults per topology (default 5)")
    parser.add_argument("--seed", type=int, help="fixes the schedule (default: random, printed)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--rate", type=float, default=1000, help="new ids per second at most, all connections together; retries come on top (default 1000)")
    parser.add_argument("--no-write", action="store_true", help="print only, write nothing to bench/results")
    args = parser.parse_args()
    server = args.server or build("HitCounterServer")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    topologies = ["single", "cluster"] if args.topology == "both" else [args.topology]
    schedules = {t: plan(seed, t, args.minutes * 60) for t in topologies}
    print(f"seed {seed} (replay with --seed {seed})")
    for topology, schedule in schedules.items():
        print(f"{topology} schedule:")
        for fault in schedule:
            print(f"  {fault.at:6.1f} s  {fault.kind} {fault.describe(topology)}")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanup in the finally blocks, as on Ctrl-C
    try:
        results = {t: run_topology(t, schedules[t], seed, args, server) for t in topologies}
    except KeyboardInterrupt:
        sys.exit("interrupted; every process it started is stopped")
    print(", ".join(f"{t}: {'PASS' if ok else 'FAIL'}" for t, ok in results.items()))
    sys.exit(0 if all(results.values()) else 1)


if __name__ == "__main__":
    main()
