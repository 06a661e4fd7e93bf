#!/usr/bin/env python3
"""Benchmark: Ctrl-C at any instant. The installed `kpstask wait` on two tasks against the
simulator (one never finishes, the other is done at its first poll), SIGINT sent at a random
instant 5-120 ms after the start (`Popen` returns once the exec is done; `--to-ms 600` reaches
the wait itself: the first poll is 200-300 ms in on 2 cores); prints how the runs ended:

  exit 130                       what it should be: a clean "interrupted" line, no traceback
  killed by SIGINT               before the interpreter had its own handler: a shell reports
                                 130 for this too, and nothing is printed
  traceback before kpstask ran   no frame of the kpstask package past its line 0: the
                                 interpreter's start-up (`site`, the editable install's finder,
                                 the console script's `import re`), which no package can guard
  traceback inside kpstask       a frame of the package in it ("Exception ignored" included)
  exit 130, a result lost        a task shown on stderr as seen, but no row for it on stdout
  no exit within N s             a hang (the process is killed and counted)
  exit N                         anything else

Several `--kpstask` console scripts (say, one installed from the tree before a change and one
from after) are run in turn at the same instants, under the same load: a paired comparison.

Not a test: the outcome depends on the machine's load, and its point is the distribution.
`--load N` runs N busy processes meanwhile (the hang of issue 20 item 18 was seen under load).

Run: .venv/bin/python bench/ctrl_c.py [--runs N] [--seed S] [--to-ms MS] [--load N]
                                      [--kpstask PATH ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator

TOKEN = "bench-ctrl-c-token"
TASKS = ("never", "done")
FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
CLEAN, KILLED, LOST = "exit 130", "killed by SIGINT (before Python)", "exit 130, a result lost"
BEFORE, INSIDE = "traceback before kpstask ran", "traceback inside kpstask"
SHOWN = (CLEAN, KILLED, BEFORE, INSIDE, LOST)  # always printed, 0 or not


def in_package(path: str, line: str) -> bool:
    """A frame of the kpstask package (not the console script `bin/kpstask`) that had begun:
    line 0 is a module's or function's entry, where a signal that came before is taken."""
    return "/kpstask/" in path.replace("\\", "/") and line != "0"


def traceback_kind(stderr: str) -> str | None:
    """BEFORE or INSIDE for a traceback; a bare `KeyboardInterrupt` line (the interpreter's,
    while it reads the script: no frame yet) is BEFORE; None for anything else."""
    marks = ("Traceback", "Fatal Python error", "Exception ignored")
    if not any(mark in stderr for mark in marks) and not stderr.rstrip().endswith("KeyboardInterrupt"):
        return None
    return INSIDE if any(in_package(path, line) for path, line, _ in FRAME.findall(stderr)) else BEFORE


def lost(stdout: str, stderr: str) -> bool:
    """A task the run had seen (its state line on stderr) missing from the table on stdout."""
    rows = {line.split()[0] for line in stdout.splitlines() if line.split()}
    return any(f" {task} on server " in stderr and task not in rows for task in TASKS)


class Ending(NamedTuple):
    kind: str  # one of the lines of the docstring's table
    stderr: str
    code: int | None  # None: killed after the timeout


def outcome(proc: subprocess.Popen[str], timeout_s: float) -> Ending:
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        return Ending(f"no exit within {timeout_s:g} s", stderr, None)
    kind = traceback_kind(stderr)
    if kind is None and proc.returncode == -signal.SIGINT:
        kind = KILLED
    elif kind is None and proc.returncode == 130:
        kind = LOST if lost(stdout, stderr) else CLEAN
    return Ending(kind or f"exit {proc.returncode}", stderr, proc.returncode)


def where(ending: Ending) -> str:
    """The innermost frame of a traceback (where the KeyboardInterrupt landed), and the exit
    code (-2: the interpreter ended itself by SIGINT, as it does for an uncaught one)."""
    frames = FRAME.findall(ending.stderr)
    if not frames:
        first = (ending.stderr.strip().splitlines() or ["nothing on stderr"])[0][:60]
        return f"no frame ({first}), exit {ending.code}"
    path, line, function = frames[-1]
    return f"{Path(path).name}:{line} {function}, exit {ending.code}"


@contextmanager
def load(processes: int) -> Iterator[None]:
    """`processes` busy loops for the duration (ended by their own ids)."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


def one_run(command: list[str], env: dict[str, str], delay_ms: float, timeout_s: float) -> Ending:
    proc = subprocess.Popen(command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    threading.Event().wait(delay_ms / 1000)
    proc.send_signal(signal.SIGINT)
    return outcome(proc, timeout_s)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="runs of each console script")
    parser.add_argument("--seed", type=int, default=None, help="for the instants (default: a new one each time)")
    parser.add_argument("--from-ms", type=float, default=5.0, help="the earliest instant (ms after the start)")
    parser.add_argument("--to-ms", type=float, default=120.0, help="the latest instant")
    parser.add_argument("--load", type=int, default=0, help="busy processes meanwhile")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a run may take after the signal")
    parser.add_argument("--kpstask", type=Path, action="append", help="a console script (default: this venv's)")
    parser.add_argument("--keep", type=Path, default=None, help="a directory for the stderr of every unclean run")
    return parser.parse_args()


class Tally:
    """How one console script's runs ended, and where its tracebacks landed."""

    def __init__(self, script: Path) -> None:
        self.script = script
        self.ends: Counter[str] = Counter()
        self.places: Counter[str] = Counter()

    def add(self, ending: Ending) -> None:
        self.ends[ending.kind] += 1
        if ending.kind in (BEFORE, INSIDE):
            self.places[f"{ending.kind}: {where(ending)}"] += 1


def measure(args: argparse.Namespace, seed: int, tallies: list[Tally]) -> None:
    instants = random.Random(seed)
    tasks = [
        {"id": "never", "operation": "reset", "outcome": "never", "ready_s": 0},
        {"id": "done", "operation": "bind", "ready_s": 0, "running_s": 0},
    ]
    with Simulator(Scenario.parse({"token": TOKEN, "tasks": tasks})) as sim, load(args.load):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
        env |= {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": TOKEN}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled once, then loaded compiled
        for tally in tallies:  # that once
            command = [str(tally.script), "wait", "done", "--progress", "plain"]
            subprocess.run(command, env=env, capture_output=True, timeout=60, check=True)
        for number in range(args.runs):
            delay_ms = instants.uniform(args.from_ms, args.to_ms)
            for index, tally in enumerate(tallies):
                command = [str(tally.script), "wait", *TASKS, "--progress", "plain"]
                ending = one_run(command, env, delay_ms, args.timeout)
                tally.add(ending)
                if args.keep is not None and ending.kind != CLEAN:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    text = f"{tally.script}\n{ending.kind} (exit {ending.code})\n{ending.stderr}"
                    (args.keep / f"{number:04d}-{index}-{delay_ms:.1f}ms.txt").write_text(text, encoding="utf-8")


def report(args: argparse.Namespace, seed: int, tallies: list[Tally]) -> None:
    print(f"{args.runs} runs of each, SIGINT {args.from_ms:g}-{args.to_ms:g} ms after the start")
    print(f"(seed {seed}, {os.cpu_count()} cores, {args.load} busy processes meanwhile)")
    for tally in tallies:
        print(f"{tally.script}:")
        ends = Counter(tally.ends)
        for name in SHOWN:
            print(f"  {name:<34} {ends.pop(name, 0)}")
        for name, count in ends.most_common():
            print(f"  {name:<34} {count}")
        if tally.places:
            print("  where the tracebacks landed (innermost frame):")
            for place, count in tally.places.most_common():
                print(f"    {count:>4}  {place}")


def main() -> int:
    args = arguments()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    tallies = [Tally(script) for script in args.kpstask or [Path(sys.executable).with_name("kpstask")]]
    measure(args, seed, tallies)
    report(args, seed, tallies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
