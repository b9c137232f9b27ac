#!/usr/bin/env python3
"""What TLS to Redis costs: the same release server twice on one private Redis, once over plain TCP
and once over TLS (rediss://, a private CA made with openssl), the same loads in interleaved rounds.

    bench/tls              (builds release binaries; 3 rounds of 10 s per load)
    bench/tls --quick      (1 round of 3 s)

Prints, and writes to bench/results/<date>-tls.md, each load's median requests per second over plain
TCP and over TLS, and the median of the per-round ratios. Traffic goes to 127.0.0.1 only.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import finish, interleaved, redis, stop, table  # noqa: E402
from run import ROOT, build, free_port, http_ok, run, wait_for  # noqa: E402

LOADS = [("POST /hit, 1 key", ["--mix", "hit=100"]), ("POST /hit, 10000 keys", ["--mix", "hit=100", "--keys", "10000"]),
         ("GET /hits?range=60", ["--mix", "hits=100", "--range", "60"])]


def certificates(folder):
    """A private CA and Redis's certificate for 127.0.0.1."""
    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=bench CA",
            "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=redis", "-keyout", "redis.key",
            "-out", "redis.csr")
    with open(os.path.join(folder, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1", "-extfile", "san.cnf",
            "-out", "redis.crt")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, duration = (1, "3s") if args.quick else (3, "10s")
    server_binary, loader = build("HitCounterServer"), build("hitcounter-load")
    work = tempfile.mkdtemp(prefix="hitcounter-tls-bench-")
    certificates(work)
    processes = []
    try:
        port, tls_port = free_port(), free_port()
        processes.append(redis(port, work, "--tls-port", str(tls_port), "--tls-cert-file", os.path.join(work, "redis.crt"),
                               "--tls-key-file", os.path.join(work, "redis.key"), "--tls-ca-cert-file", os.path.join(work, "ca.crt"),
                               "--tls-auth-clients", "no"))
        servers = {}
        for name, url, extra in [("plain", f"redis://127.0.0.1:{port}", []),
                                 ("tls", f"rediss://127.0.0.1:{tls_port}", ["--redis-tls-ca", os.path.join(work, "ca.crt")])]:
            http = free_port()
            processes.append(subprocess.Popen([server_binary, "--port", str(http), "--redis-url", url, "--log-level", "warning", *extra]))
            wait_for(lambda: http_ok(http, "/readyz"), f"the {name} server")
            servers[name] = http
        results = interleaved(loader, servers, LOADS, rounds, duration, work)
        text = table(results, LOADS, "plain", ["tls"])
        commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
        text = f"TLS to Redis, {rounds} interleaved rounds of {duration} per load, 32 connections, commit {commit}\n\n" + text + "\n"
        finish(text, args.quick, ROOT, "tls")
    finally:
        stop(processes)


if __name__ == "__main__":
    main()
