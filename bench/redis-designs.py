#!/usr/bin/env python3
"""What a hit would cost Redis under other write designs, in instructions: the figures that choose the
next layout (issue 27), measured the way `bench/redis-instructions` measures the hit script.

    bench/redis-designs                  (every design; about 5 minutes)
    bench/redis-designs script fold      (some of them)

A redis-server runs under `valgrind --tool=callgrind`; one connection sends flights of 1 and of 16
counters over 10,000 counters, 16 flights pipelined at a time, first to make the keys, then counted.
Every flight counts one hit per counter at one second, with top sets on, as the default service does.
The designs:

- `script`: today's `HitScript` (`EVALSHA`; three levels, roll-up index, two top sets).
- `multi`: the same writes as plain commands in `MULTI`/`EXEC` with `TIME` (three `BITFIELD`s,
  `ZADD NX` on the index, two `ZINCRBY`), no script.
- `multi-safe`: as `multi`, with what the service would need: each `BITFIELD` reads its unit before
  adding (`GET`, then `OVERFLOW SAT INCRBY`: what was added, for an undo), an `EXPIREAT ... NX` on
  every bucket per counter and on the index and top sets per flight.
- `fold`: `MULTI`/`EXEC` with `TIME`, only the seconds' `BITFIELD`, the index's `ZADD NX` and the
  minute's `ZINCRBY`: minutes, hours and the hour's top set folded when the minute closes.
- `fold-merged`: as `fold`, with the index and the minute's top set one sorted set (`ZINCRBY`).
- `plain`: what the service sends for hits without ids (`HitTransaction`): `MULTI`, `TIME`, per counter
  the second's `BITFIELD ... OVERFLOW FAIL` and the minute's `ZINCRBY`, plus `ZADD NX` on the index,
  `EXPIREAT ... NX` on the bucket and `SET NX` of the empty hour bucket the first time this client
  writes the counter in the minute (it
  remembers, as a replica does), and the minute's shared keys' `EXPIREAT ... NX` with its first flight
  of the minute; `EXEC`.

Prints instructions per counter, Redis's whole work included (reading the commands, replying). An
`EXPIRE` on a counter's new second is not in any of them (the same second is sent twice); it costs
about 7,000 in the script (docs/performance.md). Runs on 127.0.0.1 only.
"""
import importlib.machinery
import os
import random
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, run  # noqa: E402

# The hit script's Lua, as bench/redis-instructions reads it from HitScript.swift.
_instructions = importlib.machinery.SourceFileLoader("redis_instructions", os.path.join(os.path.dirname(os.path.abspath(__file__)), "redis-instructions.py")).load_module()


def hit_script():
    with open(os.path.join(ROOT, _instructions.SCRIPT)) as f:
        return _instructions.lua(f.read())

DESIGNS = ["script", "multi", "multi-safe", "fold", "fold-merged", "plain"]
# `<design>-new`: the measured flights hit 10,000 other counters than those that made the keys, so
# every counter's first hits of the minute are measured, as `bench/redis-instructions --top-keys` counts
# them (its counters are nearly all new in their minute).
ALL = DESIGNS + [design + "-new" for design in DESIGNS]
SHAPES = [(1, 10000, 3000), (16, 10000, 500)]  # (counters per flight, distinct counters, flights)


def command(*args):
    """One command in RESP."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


# What the `plain` design's client has written in the minute: counters, and whether the shared keys.
WRITTEN = {"minute": None, "counters": set(), "shared": False}


def plain_flight(names, minute, second):
    """`HitTransaction`'s commands for one flight, as a replica remembering its minute sends them."""
    if WRITTEN["minute"] != minute:
        WRITTEN.update(minute=minute, counters=set(), shared=False)
    index, top = f"hc:rollup:keys:{minute}", f"hc:top:m:{minute}"
    commands = [command("MULTI"), command("TIME")]
    for name in names:
        bucket = f"hc:{{{name}}}:s:{minute}"
        commands.append(command("BITFIELD", bucket, "OVERFLOW", "FAIL", "INCRBY", "u32", f"#{second % 60}", 1))
        if name not in WRITTEN["counters"]:
            commands.append(command("ZADD", index, "NX", 0, name))
            commands.append(command("EXPIREAT", bucket, minute + 60 + 86400, "NX"))
            day = minute - minute % 86400
            commands.append(command("SET", f"hc:{{{name}}}:h:{day}", "", "NX", "EXAT", day + 2 * 86400))
            WRITTEN["counters"].add(name)
        commands.append(command("ZINCRBY", top, 1, name))
    if not WRITTEN["shared"]:
        commands += [command("EXPIREAT", index, minute + 60 + 86400, "NX"), command("EXPIREAT", top, minute + 60 + 86400, "NX")]
        WRITTEN["shared"] = True
    commands.append(command("EXEC"))
    return b"".join(commands), len(commands)


def flight(design, sha, names, minute, second):
    """The commands of one flight, and how many replies they get."""
    design = design.removesuffix("-new")
    if design == "plain":
        return plain_flight(names, minute, second)
    hour, day = minute - minute % 3600, minute - minute % 86400
    if design == "script":
        keys = _instructions.shared_keys(hit_script())
        argv = [second, minute, 86400, 86400, len(names), 1]
        for name in names:
            keys += [f"hc:{{{name}}}:h:s:{minute}", f"hc:{{{name}}}:h:m:{hour}", f"hc:{{{name}}}:h:h:{day}"]
            argv += [name, 1, 0, 0]
        return command("EVALSHA", sha, len(keys), *keys, *argv), 1
    commands = [command("MULTI"), command("TIME")]
    if design == "multi-safe":
        for name in names:
            base = f"hc:{{{name}}}:h"
            buckets = [(f"{base}:s:{minute}", "u32", second % 60, minute + 60), (f"{base}:m:{hour}", "i64", (minute % 3600) // 60, hour + 3600),
                       (f"{base}:h:{day}", "i64", (minute % 86400) // 3600, day + 86400)]
            for key, kind, slot, end in buckets:
                commands.append(command("BITFIELD", key, "GET", kind, f"#{slot}", "OVERFLOW", "SAT", "INCRBY", kind, f"#{slot}", 1))
                commands.append(command("EXPIREAT", key, end + 86400, "NX"))
            commands.append(command("ZADD", f"hc:rollup:keys:{minute}", "NX", 0, name))
            commands.append(command("ZINCRBY", f"hc:top:m:{minute}", 1, name))
            commands.append(command("ZINCRBY", f"hc:top:h:{hour}", 1, name))
        for key, end in [(f"hc:rollup:keys:{minute}", minute + 60 + 86400), (f"hc:top:m:{minute}", minute + 60 + 86400), (f"hc:top:h:{hour}", hour + 3600 + 86400)]:
            commands.append(command("EXPIREAT", key, end, "NX"))
        commands.append(command("EXEC"))
        return b"".join(commands), len(commands)
    for name in names:
        base = f"hc:{{{name}}}:h"
        commands.append(command("BITFIELD", f"{base}:s:{minute}", "OVERFLOW", "SAT", "INCRBY", "u32", f"#{second % 60}", 1))
        if design == "multi":
            commands.append(command("BITFIELD", f"{base}:m:{hour}", "INCRBY", "i64", f"#{(minute % 3600) // 60}", 1))
            commands.append(command("BITFIELD", f"{base}:h:{day}", "INCRBY", "i64", f"#{(minute % 86400) // 3600}", 1))
        if design in ("multi", "fold"):
            commands.append(command("ZADD", f"hc:rollup:keys:{minute}", "NX", 0, name))
        commands.append(command("ZINCRBY", f"hc:top:m:{minute}", 1, name))
        if design == "multi":
            commands.append(command("ZINCRBY", f"hc:top:h:{hour}", 1, name))
    commands.append(command("EXEC"))
    return b"".join(commands), len(commands)


def skip_reply(buffer, at):
    """Where the reply starting at `at` ends; IndexError or ValueError when it is not all there yet."""
    kind, end = buffer[at:at + 1], buffer.index(b"\r\n", at)
    if kind in (b"+", b":"):
        return end + 2
    if kind == b"-":
        raise SystemExit(f"Redis answered an error: {buffer[at:end].decode()}")
    if kind == b"$":
        length = int(buffer[at + 1:end])
        if length >= 0 and len(buffer) < end + 4 + length:
            raise IndexError
        return end + 2 if length < 0 else end + 4 + length
    if kind == b"*":
        count, at = int(buffer[at + 1:end]), end + 2
        for _ in range(max(count, 0)):
            at = skip_reply(buffer, at)
        return at
    raise ValueError(buffer[at:at + 20])


def read_replies(connection, count):
    """Reads `count` replies, whole."""
    buffer, at, read = b"", 0, 0
    while read < count:
        try:
            at = skip_reply(buffer, at)
            read += 1
        except (IndexError, ValueError):
            data = connection.recv(1 << 20)
            if not data:
                raise SystemExit("Redis closed the connection")
            buffer += data


def drive(port, design, sha, per_flight, distinct, flights, seed=7):
    minute = int(run(["redis-cli", "-p", str(port), "time"]).split()[0]) // 60 * 60
    connection = socket.create_connection(("127.0.0.1", port))
    names = random.Random(seed)
    for first in range(0, flights, 16):
        other = distinct if seed != 7 else 0  # the `-new` designs' measured pass: counters of their own
        batch = [flight(design, sha, [f"page-{other + names.randrange(distinct)}" for _ in range(per_flight)], minute, minute + 30)
                 for _ in range(first, min(first + 16, flights))]
        connection.sendall(b"".join(data for data, _ in batch))
        read_replies(connection, sum(replies for _, replies in batch))
    connection.close()


def measure(design, per_flight, distinct, flights, work):
    WRITTEN.update(minute=None, counters=set(), shared=False)  # a new Redis: nothing written yet

    def setup(port):
        return run(["redis-cli", "-p", str(port), "script", "load", hit_script()]).strip()

    passes = iter([7, 8 if design.endswith("-new") else 7])

    def drive_flights(port, sha):
        drive(port, design, sha, per_flight, distinct, flights, next(passes))

    return _instructions.count_instructions(work, setup, drive_flights) / (flights * per_flight)


def main():
    designs = sys.argv[1:] or DESIGNS
    unknown = [design for design in designs if design not in ALL]
    if unknown:
        raise SystemExit(f"unknown design {unknown[0]}; one of {', '.join(ALL)}")
    work = tempfile.mkdtemp(prefix="hitcounter-designs-")
    print("| design | " + " | ".join(f"flights of {per}" for per, _, _ in SHAPES) + " |")
    print("| --- |" + " ---: |" * len(SHAPES))
    for design in designs:
        cells = [f"{measure(design, per, distinct, flights, work):,.0f}" for per, distinct, flights in SHAPES]
        print(f"| {design} | " + " | ".join(cells) + " |", flush=True)
    print(f"\n(instructions per counter in redis-server over 10,000 counters, top sets on, {time.strftime('%Y-%m-%d')}, commit "
          f"{run(['git', '-C', ROOT, 'describe', '--always', '--dirty']).strip()})")


if __name__ == "__main__":
    main()
