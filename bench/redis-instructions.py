#!/usr/bin/env python3
"""What the hit script costs Redis, in instructions: repeatable where CPU time on this machine is not.

    bench/redis-instructions                 (the script as it is now)
    bench/redis-instructions --before REV    (and as it was at commit REV, for a before/after)
    bench/redis-instructions --top-keys      (with the top sets written, as the service does by default)
    bench/redis-instructions --new-seconds   (the measured calls a second after those that made the keys)
    bench/redis-instructions --service       (everything the service sends Redis per hit, whatever it is)
    bench/redis-instructions --service --cluster   (the same on 10,000 keys, on one Redis and on a cluster)
    bench/redis-instructions --service [--cluster] --fold   (and one fold of every counter hit, counted)

A redis-server runs under `valgrind --tool=callgrind`, and `redis-benchmark` sends the hit script
(`HitScript.swift`'s Lua, run as the store runs it) with flights of 1 counter (each hit its own call,
as in a Redis Cluster) and of 16 (one Redis under load), over 300 and 10,000 counters. Instructions
are counted only while the measured calls run, after a first pass that made the keys. Prints
instructions per counter, Redis's whole work included (reading the command, the script, replying).

`--service` measures the service instead of the script: a release HitCounterServer (default settings,
top keys on, no roll-up sink) on the Redis under callgrind, sent `POST /hit` one at a
time (a flight of one counter each) and `POST /hit/batch` of 16 distinct keys one at a time (a flight
of 16), over 300 keys (each hit again every few seconds, in the same minute: the steady state of a busy
counter) and 10,000 (most hits a counter's first of its minute at callgrind's pace). So it counts
whatever the write path sends (a script, transactions, `TIME`, expiries), as the hits arrive in live
seconds. The roll-up's fold (docs/fold.md) runs once a minute has closed, so whether one falls in the
few seconds counted is chance; `--fold` makes it certain: the measured requests start early in a
minute, and the count lasts until the fold has folded that minute (the service's polling while idle,
counted apart for as long, is taken off). Runs on 127.0.0.1 only.
"""
import argparse
import http.client
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import DECLARATIONS, ROOT, build, cluster_port, free_port, http_ok, run, wait_for  # noqa: E402

SCRIPT = "Sources/HitCounter/Store/Scripts/HitScript.swift"
# (counters per call, distinct counters, calls)
SHAPES = [(1, 300, 3000), (1, 10000, 3000), (16, 300, 500), (16, 10000, 500)]


def lua(swift):
    """The Lua source of HitScript.swift's `script`, as the store sends it."""
    body = swift.split('source: """\n', 1)[1].split('"""', 1)[0]
    indent = min(len(line) - len(line.lstrip()) for line in body.splitlines() if line.strip())
    return "\n".join(line[indent:] for line in body.splitlines()).replace("\\(ScriptGeometry.declarations)", DECLARATIONS)


def shared_keys(source):
    """The keys a call of the script `source` starts with: the index and the minute's top set, and the
    hour's top set in scripts from before the fold wrote it (their counters' keys start at KEYS[4])."""
    hour = "local k, a = 4, 7" in source
    return ["hc:rollup:keys:0", "hc:top:m:0"] + (["hc:top:h:0"] if hour else [])


def arguments(minute, counters, top_keys, offset=30, shared=("hc:rollup:keys:0", "hc:top:m:0")):
    """KEYS and ARGV of one call on `counters` counters, in the script's order; the counters are random
    among redis-benchmark's `-r` range (`__rand_int__`). The call names its second, `offset` into
    `minute` (as tests drive time), so a run that spans a minute's end counts the same."""
    keys = list(shared)
    argv = [str(minute + offset), str(minute), "86400", "86400", str(counters), "1" if top_keys else "0"]
    for index in range(counters):
        counter = f"hc:{{page-__rand_int__-{index}}}"
        keys += [f"{counter}:h:s:{minute}", f"{counter}:h:m:{minute - minute % 3600}", f"{counter}:h:h:{minute - minute % 86400}"]
        argv += [f"page-__rand_int__-{index}", "1", "0", "0"]
    return [str(len(keys))] + keys + argv


def count_instructions(work, setup, drive, nodes=1, cluster=False, before=None, after=None, idle=0):
    """Instructions redis-servers under callgrind spend in `drive(port, state)` (summed over `nodes`
    servers; with `cluster`, the three primaries of a Redis Cluster, made with `redis-cli --cluster
    create`), the second time it runs: the first makes the keys. `setup(port)` runs before both
    (loading a script, say) and returns their `state`; `port` is the first server's. Fails if Redis
    answered any command of the measured run with an error (but NOSCRIPT, which the client answers by
    loading the script). `before(port, state)` runs just before the count starts, `after(port, state)`
    just after `drive`, still counted. With `idle` seconds, also counts that long with nothing sent
    (the service's own polling, say) and returns (counted, counted idle) instead."""
    ports = [cluster_port() if cluster else free_port() for _ in range(nodes)]
    servers = []
    for port in ports:
        out = os.path.join(work, f"callgrind.out.{port}")
        clustered = ["--cluster-enabled", "yes", "--cluster-config-file", os.path.join(work, f"nodes-{port}.conf")] if cluster else []
        servers.append(subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", "redis-server", "--port",
                                         str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work, *clustered],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def control(*args):
        for server in servers:
            subprocess.run(["callgrind_control", *args, str(server.pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def each(*args):
        return [run(["redis-cli", "-p", str(port), *args]) for port in ports]

    try:
        for port in ports:
            wait_for(lambda: run(["redis-cli", "-p", str(port), "ping"]).strip() == "PONG", "redis under callgrind", timeout=60)
        if cluster:
            run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{port}" for port in ports], "--cluster-replicas", "0", "--cluster-yes"])
            wait_for(lambda: all("cluster_state:ok" in info for info in each("cluster", "info")), "the cluster", timeout=120)
        state = setup(ports[0])
        drive(ports[0], state)
        each("config", "resetstat")  # errors of the first pass (NOSCRIPT, say) are not the measured ones
        if before:
            before(ports[0], state)
        control("-i", "on")
        drive(ports[0], state)
        if after:
            after(ports[0], state)
        control("-i", "off")
        control("-d")
        if idle:
            control("-i", "on")
            time.sleep(idle)
            control("-i", "off")
            control("-d")
        # NOSCRIPT is no failure: the client loads the script and sends it again (the roll-up's first
        # fold of a minute that closed during the run, say).
        errors = [line for info in each("info", "errorstats") for line in info.splitlines()
                  if line.startswith("errorstat_") and not line.startswith("errorstat_NOSCRIPT")]
        assert not errors, f"Redis answered errors: {errors}"
    finally:
        for port, server in zip(ports, servers):
            subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            server.wait()
    total = idled = 0
    for name in os.listdir(work):
        if name.startswith("callgrind.out"):
            with open(os.path.join(work, name)) as f:
                # Each dump holds what was counted since the one before; its summary and totals agree.
                counted = max([int(m.group(1)) for m in re.finditer(r"^(?:summary|totals): (\d+)", f.read(), re.M)] or [0])
            # The idle count is each server's second dump (`<file>.2`).
            if idle and name.endswith(".2"):
                idled += counted
            else:
                total += counted
            os.remove(os.path.join(work, name))
    return (total, idled) if idle else total


def measure(source, counters, distinct, calls, work, top_keys=False, new_seconds=False):
    """Instructions per counter of `calls` calls with `counters` counters each. With `new_seconds`, the
    measured calls count a second later than those that made the keys, in the same minute."""
    def setup(port):
        sha = run(["redis-cli", "-p", str(port), "script", "load", source]).strip()
        # One minute for both passes, so the measured one counts in the minute whose keys the first made.
        minute = int(run(["redis-cli", "-p", str(port), "time"]).split()[0]) // 60 * 60
        call = ["redis-benchmark", "-p", str(port), "-q", "-n", str(calls), "-P", "16", "-r", str(distinct), "evalsha", sha]
        return iter([call + arguments(minute, counters, top_keys, offset, shared_keys(source)) for offset in ([30, 31] if new_seconds else [30, 30])])

    def drive(port, passes):
        subprocess.run(next(passes), check=True, stdout=subprocess.DEVNULL)

    return count_instructions(work, setup, drive) / (calls * counters)


def measure_service(server, counters, distinct, requests, work, cluster=False, fold=False):
    """Instructions per counter of `requests` requests to a HitCounterServer, each a flight of `counters`
    distinct counters; with `cluster`, on a Redis Cluster of three primaries, summed over them.

    With `fold`, the measured requests start early in a minute whose previous minutes are folded, and
    the count goes on until the fold has folded their minute: so it holds one fold of every counter hit
    (and nothing else of the fold), however long callgrind makes the pass. What the service sends Redis
    while idle (the roll-up's polling, once a second) is counted apart, for as long, and taken off.
    Returns (per counter, seconds counted) then."""
    processes = []  # stopped however the count ends
    position = "hc:rollup:{rollup}:next:fold" if cluster else "hc:rollup:next:fold"
    timing = {}

    def redis_second(redis_port):
        return int(run(["redis-cli", "-p", str(redis_port), "time"]).split()[0])

    def folded_before(redis_port):
        value = run(["redis-cli", "-c", "-p", str(redis_port), "get", position]).strip()
        return int(value) if value.isdigit() else 0

    def align(redis_port, _port):
        # Early in a minute (second 5 to 15), once the minutes before it are folded.
        deadline = time.time() + 180
        while time.time() < deadline:
            now = redis_second(redis_port)
            if 5 <= now % 60 <= 15 and folded_before(redis_port) >= now - now % 60:
                timing["minute"], timing["start"] = now - now % 60, time.time()
                return
            time.sleep(0.5)
        raise RuntimeError("the fold did not catch up within 3 minutes")

    def until_folded(redis_port, _port):
        assert redis_second(redis_port) - timing["minute"] < 60, "the measured requests ran past their minute"
        # Asked once a second: each ask is counted too (a connection and a GET, a few thousand instructions).
        deadline = time.time() + 180
        while folded_before(redis_port) <= timing["minute"]:
            assert time.time() < deadline, "the fold of the measured minute did not come within 3 minutes"
            time.sleep(1)
        timing["seconds"] = time.time() - timing["start"]

    def setup(redis_port):
        port = free_port()
        processes.append(subprocess.Popen([server, "--hostname", "127.0.0.1", "--port", str(port), "--redis-url", f"redis://127.0.0.1:{redis_port}",
                                           "--rollup-log", "false", "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: http_ok(port, "/readyz"), "HitCounterServer", timeout=60)
        return port

    def drive(_redis_port, port):
        names = random.Random(7)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(requests):
            keys = names.sample(range(distinct), counters)
            if counters == 1:
                connection.request("POST", f"/hit?key=page-{keys[0]}")
            else:
                connection.request("POST", "/hit/batch", body=json.dumps([{"key": f"page-{key}"} for key in keys]),
                                   headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, f"the service answered {response.status}: {body[:200]}"
        connection.close()

    try:
        if not fold:
            return count_instructions(work, setup, drive, nodes=3 if cluster else 1, cluster=cluster) / (requests * counters)
        idle = 20
        counted, idled = count_instructions(work, setup, drive, nodes=3 if cluster else 1, cluster=cluster, before=align, after=until_folded, idle=idle)
        hits = requests * counters
        return (counted - idled * timing["seconds"] / idle) / hits, timing["seconds"]
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", metavar="REV", help="also measure the script as it was at this commit")
    parser.add_argument("--top-keys", action="store_true", help="write the top sets (--top-keys true); off by default, as in a cluster")
    parser.add_argument("--new-seconds", action="store_true",
                        help="count the measured calls a second after the calls that made the keys (a busy counter's steady state)")
    parser.add_argument("--service", nargs="?", const="", metavar="SERVER",
                        help="measure a HitCounterServer's hits instead of the script (default: a release build of this tree)")
    parser.add_argument("--fold", action="store_true",
                        help="with --service: count one fold of every counter hit too (a measure waits for its minute to close: about two minutes)")
    parser.add_argument("--cluster", action="store_true",
                        help="with --service: also on a Redis Cluster of three primaries (instructions summed over them), beside one Redis")
    args = parser.parse_args()
    if args.service is not None:
        server = args.service or build("HitCounterServer")
        work = tempfile.mkdtemp(prefix="hitcounter-instructions-")
        shapes = [shape for shape in SHAPES if shape[1] == 10000] if args.cluster else SHAPES
        print("| counters per flight | distinct counters | instructions per counter |" + (" cluster, summed | cluster / one Redis |" if args.cluster else ""))
        print("| ---: | ---: | ---: |" + (" ---: | ---: |" if args.cluster else ""))
        def measure(counters, distinct, requests, cluster=False):
            if not args.fold:
                return measure_service(server, counters, distinct, requests, work, cluster=cluster)
            figure, seconds = measure_service(server, counters, distinct, requests, work, cluster=cluster, fold=True)
            print(f"({counters} a flight, {'cluster' if cluster else 'one Redis'}: counted {seconds:.0f} s to the fold's end)", file=sys.stderr, flush=True)
            return figure

        for counters, distinct, requests in shapes:
            one = measure(counters, distinct, requests)
            cells = [f"{one:,.0f}"]
            if args.cluster:
                clustered = measure(counters, distinct, requests, cluster=True)
                cells += [f"{clustered:,.0f}", f"{clustered / one:.2f}"]
            print(f"| {counters} | {distinct:,} | " + " | ".join(cells) + " |", flush=True)
        print(f"\n(instructions per counter in redis-server under the service{', one fold of each counter included' if args.fold else ''}, "
              f"{time.strftime('%Y-%m-%d')}, commit "
              f"{run(['git', '-C', ROOT, 'describe', '--always', '--dirty']).strip()})")
        return
    scripts = {"now": lua(open(os.path.join(ROOT, SCRIPT)).read())}
    if args.before:
        scripts[args.before] = lua(run(["git", "-C", ROOT, "show", f"{args.before}:{SCRIPT}"]))
    work = tempfile.mkdtemp(prefix="hitcounter-instructions-")
    names = list(scripts)
    print("| counters per call | distinct counters | " + " | ".join(names) + (" | now / before |" if args.before else ""))
    print("| ---: | ---: |" + " ---: |" * (len(names) + (1 if args.before else 0)))
    for counters, distinct, calls in SHAPES:
        figures = {name: measure(scripts[name], counters, distinct, calls, work, args.top_keys, args.new_seconds) for name in names}
        cells = [f"{figures[name]:,.0f}" for name in names]
        if args.before:
            cells.append(f"{figures['now'] / figures[args.before]:.2f}")
        print(f"| {counters} | {distinct:,} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n(instructions per counter in redis-server, top sets {'on' if args.top_keys else 'off'}"
          f"{', each counter at a new second of its minute' if args.new_seconds else ''}, {time.strftime('%Y-%m-%d')}, commit "
          f"{run(['git', '-C', ROOT, 'describe', '--always', '--dirty']).strip()})")


if __name__ == "__main__":
    main()
