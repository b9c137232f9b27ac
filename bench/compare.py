"""Interleaved rounds of the same loads against several servers, for benchmarks that compare settings
of one service (bench/tls, bench/tracing): each round runs every load against every server in turn,
so drift of the machine's speed falls on all of them alike."""
import datetime
import json
import os
import statistics
import subprocess

from run import run, wait_for


def redis(port, work, *arguments):
    """A private redis-server on `port` (no persistence), its files under `work`, answering PING."""
    directory = os.path.join(work, str(port))
    os.makedirs(directory)
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", directory, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: run(["redis-cli", "-p", str(port), "ping"]).strip() == "PONG", f"redis on {port}")
    return process


def interleaved(loader, servers, loads, rounds, duration, work):
    """{(load, server name): [requests per second, one per round]} for `servers` ({name: port})."""
    results = {(load, name): [] for load, _ in loads for name in servers}
    for number in range(1, rounds + 1):
        print(f"round {number} of {rounds}", flush=True)
        for load, options in loads:
            for name, port in servers.items():
                out = os.path.join(work, "report.json")
                subprocess.run([loader, "--url", f"http://127.0.0.1:{port}", "--quiet", "--json", out, "--connections", "32",
                                "--duration", duration, *options], check=True, stdout=subprocess.DEVNULL)
                with open(out) as f:
                    report = json.load(f)
                assert report["errors"] == 0, f"{load} on {name}: {report['errors']} errors"
                results[(load, name)].append(report["requests_per_second"])
                print(f"  {load} on {name}: {report['requests_per_second']:.0f} req/s", flush=True)
    return results


def table(results, loads, baseline, others):
    """A Markdown table: each load's median over the rounds for `baseline` and each of `others`, and
    the median of the per-round ratios to `baseline`."""
    lines = ["| load | " + " | ".join([baseline] + [f"{name} | {name} / {baseline}" for name in others]) + " |",
             "| --- |" + " ---: |" * (1 + 2 * len(others))]
    for load, _ in loads:
        base = results[(load, baseline)]
        cells = [f"{statistics.median(base):.0f}"]
        for name in others:
            values = results[(load, name)]
            cells += [f"{statistics.median(values):.0f}", f"{statistics.median(v / b for b, v in zip(base, values)):.2f}"]
        lines.append(f"| {load} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finish(text, quick, root, name):
    """Prints a result, and unless `quick`, saves it as bench/results/<date>-<name>.md."""
    print(text)
    if not quick:
        save(text, root, name)


def save(text, root, name):
    """Writes a result to bench/results/<date>-<name>.md."""
    path = os.path.join(root, "bench", "results", f"{datetime.date.today().isoformat()}-{name}.md")
    with open(path, "w") as f:
        f.write(text)
    print(f"written to {path}")


def stop(processes):
    """Terminates the processes a benchmark started, and waits for them."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(10)
