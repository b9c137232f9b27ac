#!/usr/bin/env python3
"""What Redis Cluster mode costs: the same release server on one private Redis, on one Redis with a
replica (what a cluster's shard is), and on a private six-node Redis Cluster (three primaries with a
replica each, started and joined here), plus one with `--redis-wait-replicas 1` on the cluster; the
same loads in interleaved rounds.

    bench/cluster            (builds release binaries; 3 rounds of 10 s per load)
    bench/cluster --quick    (1 round of 3 s)

Prints, and writes to bench/results/<date>-cluster.md, each load's median requests per second and the
median of the per-round ratios to one Redis with a replica. On one machine every Redis shares its cores, replicas
included, and a cluster keeps no top sets (docs/cluster.md), so "one Redis + replica" runs with
`--top-keys false`: "cluster" against it is the cost of routing (slots, a connection per
primary, a call per slot), not the throughput a cluster of machines adds. Traffic goes to 127.0.0.1
only.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import finish, interleaved, redis, stop, table  # noqa: E402
from run import ROOT, build, cluster_port, free_port, http_ok, run, wait_for  # noqa: E402

LOADS = [("POST /hit, 1 key", ["--mix", "hit=100"]), ("POST /hit, 10000 keys", ["--mix", "hit=100", "--keys", "10000"]),
         ("GET /hits?range=60", ["--mix", "hits=100", "--range", "60", "--keys", "10000"])]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, duration = (1, "3s") if args.quick else (3, "10s")
    server_binary, loader = build("HitCounterServer"), build("hitcounter-load")
    work = tempfile.mkdtemp(prefix="hitcounter-cluster-bench-")
    processes = []
    try:
        single, primary, replica = free_port(), free_port(), free_port()
        processes.append(redis(single, work))
        processes.append(redis(primary, work))
        processes.append(redis(replica, work, "--replicaof", "127.0.0.1", str(primary)))
        wait_for(lambda: "master_link_status:up" in run(["redis-cli", "-p", str(replica), "info", "replication"]), "the replica")
        nodes = [cluster_port() for _ in range(6)]
        for port in nodes:
            processes.append(redis(port, work, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000"))
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{port}" for port in nodes], "--cluster-replicas", "1",
                        "--cluster-yes"], check=True, stdout=subprocess.DEVNULL)
        wait_for(lambda: all("cluster_state:ok" in run(["redis-cli", "-p", str(port), "cluster", "info"]) for port in nodes), "the cluster")
        seeds = ",".join(f"redis://127.0.0.1:{port}" for port in nodes[:2])
        configurations = [("one Redis", [f"redis://127.0.0.1:{single}"]), ("one Redis + replica", [f"redis://127.0.0.1:{primary}", "--top-keys", "false"]), ("cluster", [seeds]),
                          ("cluster, WAIT 1", [seeds, "--redis-wait-replicas", "1"])]
        servers = {}
        for name, (url, *rest) in configurations:
            port = free_port()
            processes.append(subprocess.Popen([server_binary, "--port", str(port), "--redis-url", url, *rest, "--log-level", "error"],
                                              stdout=open(os.path.join(work, f"{port}.log"), "w"), stderr=subprocess.STDOUT))
            wait_for(lambda: http_ok(port, "/readyz"), f"the server on {name}")
            servers[name] = port
        results = interleaved(loader, servers, LOADS, rounds, duration, work)
        commit = run(["git", "-C", ROOT, "describe", "--always", "--dirty"]).strip()
        text = (f"Redis Cluster (3 primaries, 3 replicas, all on this machine) against one Redis (alone, and with a replica), {rounds} interleaved rounds of "
                f"{duration} per load, 32 connections, commit {commit}\n\n"
                + table(results, LOADS, "one Redis + replica", [name for name in servers if name != "one Redis + replica"]) + "\n")
        finish(text, args.quick, ROOT, "cluster")
    finally:
        stop(processes)


if __name__ == "__main__":
    main()
