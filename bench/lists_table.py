#!/usr/bin/env python3
"""Benchmark: `kpstask running` on long lists, the human table against `-o json`.

Starts the simulator in this process with N tasks that never finish, then runs the
installed `kpstask running` as a whole process, N = 10, 100, 1000, 10,000, a few rounds,
variants alternated within each round:
  - `-o json`, stdout a pipe (the baseline)
  - the human table, stdout a pipe
  - the human table, stdout a terminal (a pty of 200 x 50, drained by this script)
and prints the median wall time, CPU time (user + sys of the process, from `os.wait4`) and
peak RSS of each, and the ratio of the human table to JSON. Each process is forked by a
small spawner (bench/scale.py's SPAWNER), so its peak RSS is its own, not this process's.

Targets (fleet-scale issue): the human table on a pipe <= 1.5x the wall time and <= 1.2x the
peak RSS of `-o json` on the same list.

Run: .venv/bin/python bench/lists_table.py [--rounds N] [--sizes 10,100,1000,10000]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import pty
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import NamedTuple

from scale import SPAWNER

from kpstask.simulator import Scenario, Simulator

KPSTASK = Path(sys.executable).with_name("kpstask")
VARIANTS: dict[str, list[str]] = {"json": ["-o", "json"], "human (pipe)": [], "human (terminal)": []}


class Sample(NamedTuple):
    wall_s: float
    cpu_s: float
    rss_kib: int
    lines: int


def scenario(n: int) -> Scenario:
    tasks = [
        {
            "id": f"t{i}",
            "operation": "reset",
            "outcome": "never",
            "server_id": f"c9aa197b-a6b6-4c33-{i:012d}",
            "server_name": f"ecs-fleet-{i}",
            "keypair_name": f"kp-{i % 17}",
        }
        for i in range(n)
    ]
    return Scenario.parse({"auth": "any", "tasks": tasks})


def drain(fd: int, counted: list[int]) -> None:
    """Read everything from `fd` until its writer is gone; count the lines."""
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # EIO: the pty's other side is closed
            break
        if not chunk:
            break
        counted[0] += chunk.count(b"\n")


def measure(argv: list[str], env: dict[str, str], terminal: bool) -> Sample:
    """One whole process: wall time, user + sys CPU, peak RSS and lines written. It is forked by
    bench/scale.py's small SPAWNER, not by this process: a child forked from here would start
    its peak RSS from this process's, which holds the simulator's N tasks."""
    counted = [0]
    if terminal:
        reader, writer = pty.openpty()
        fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    else:
        reader, writer = os.pipe()
    report, into = os.pipe()
    spawner = [sys.executable, "-I", "-S", "-c", SPAWNER, str(into), *argv]
    proc = subprocess.Popen(spawner, env=env, stdout=writer, stderr=subprocess.DEVNULL, pass_fds=(into,))
    os.close(writer)
    os.close(into)
    thread = threading.Thread(target=drain, args=(reader, counted))
    thread.start()
    proc.wait()
    thread.join()
    os.close(reader)
    said = os.read(report, 4096).split()
    os.close(report)
    if not said:
        raise SystemExit(f"the spawner of {argv[1:]} exited {proc.returncode} without a report")
    took, cpu, rss_kib, code = float(said[1]), float(said[2]), int(said[3]), int(said[4])
    if code != 0:
        print(f"warning: {argv[1:]} exited {code}", file=sys.stderr)
    return Sample(took, cpu, rss_kib, counted[0])


def run_size(n: int, rounds: int) -> dict[str, list[Sample]]:
    """Every variant `rounds` times against a simulator with n running tasks, in a rotating order."""
    made = time.perf_counter()
    with Simulator(scenario(n)) as sim:
        print(f"N={n}: simulator up in {time.perf_counter() - made:.2f} s", file=sys.stderr)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": sim.scenario.project_id,
            "KPSTASK_TOKEN": sim.scenario.token,
            "TERM": "xterm-256color",
        }
        samples: dict[str, list[Sample]] = {name: [] for name in VARIANTS}
        names = list(VARIANTS)
        measure([str(KPSTASK), "running", "-o", "json"], env, False)  # warm the caches once
        for i in range(rounds):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                argv = [str(KPSTASK), "running", *VARIANTS[name]]
                samples[name].append(measure(argv, env, name.endswith("(terminal)")))
    return samples


def report(n: int, samples: dict[str, list[Sample]]) -> None:
    base = samples["json"]
    base_wall = statistics.median(s.wall_s for s in base)
    base_rss = max(s.rss_kib for s in base)
    for name, runs in samples.items():
        wall = statistics.median(s.wall_s for s in runs)
        cpu = statistics.median(s.cpu_s for s in runs)
        rss = max(s.rss_kib for s in runs)
        lines = statistics.median(s.lines for s in runs)
        ratio = "" if name == "json" else f"{wall / base_wall:>6.2f}x {rss / base_rss:>6.2f}x"
        print(f"{n:>7} {name:<17} {wall * 1000:>9.0f} {cpu * 1000:>8.0f} {rss / 1024:>8.1f} {lines:>7.0f}  {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"kpstask running, {args.rounds} rounds per size, variants alternated; medians, peak RSS the max")
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {platform.machine()}, {KPSTASK}")
    print(
        f"{'N':>7} {'variant':<17} {'wall ms':>9} {'CPU ms':>8} {'RSS MiB':>8} {'lines':>7}  {'wall/json':>7} "
        f"{'RSS/json':>7}"
    )
    for n in sizes:
        report(n, run_size(n, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
