#!/usr/bin/env python3
"""Benchmark: `kpstask running` on long lists, the human table against `-o json`.

Starts the simulator in this process with N tasks that never finish, then runs the
installed `kpstask running` as a whole process, N = 10, 100, 1000, 10,000, a few rounds,
variants alternated within each round:
  - `-o json`, stdout a pipe (the baseline)
  - the human table, stdout a pipe
  - the human table, stdout a terminal (a pty of 200 x 50, drained by this script)
and prints the median wall time, CPU time (user + sys of the process, from `os.wait4`) and
peak RSS of each, and the ratio of the human table to JSON.

Targets (fleet-scale issue): the human table on a pipe <= 1.5x the wall time and <= 1.2x the
peak RSS of `-o json` on the same list.

Run: .venv/bin/python bench/lists_table.py [--rounds N] [--sizes 10,100,1000,10000]
"""

from __future__ import annotations

import argparse
import fcntl
import os
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
    """One whole process: wall time, user + sys CPU, peak RSS and lines written."""
    counted = [0]
    if terminal:
        reader, writer = pty.openpty()
        fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    else:
        reader, writer = os.pipe()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=writer, stderr=subprocess.DEVNULL)
    os.close(writer)
    thread = threading.Thread(target=drain, args=(reader, counted))
    thread.start()
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    thread.join()
    os.close(reader)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(f"warning: {argv[1:]} exited {proc.returncode}", file=sys.stderr)
    return Sample(took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, counted[0])


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
    print(
        f"{'N':>7} {'variant':<17} {'wall ms':>9} {'CPU ms':>8} {'RSS MiB':>8} {'lines':>7}  {'wall/json':>7} "
        f"{'RSS/json':>7}"
    )
    for n in sizes:
        report(n, run_size(n, args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
