#!/usr/bin/env python3
"""Benchmark: Ctrl-C at any instant. The installed `kpstask wait` on a task that never
finishes, against the simulator, SIGINT sent 0, 5, 10, ... 120 ms after the start, several
rounds; prints how each run ended: 130 (what it should be), a traceback from before kpstask's
first line ran (the interpreter's own start-up, which no package can guard), a traceback
inside kpstask, another exit code, or no exit within 10 s (a hang).

Not a test: the outcome depends on the machine's load, and its point is the distribution.

Run: .venv/bin/python bench/ctrl_c.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator

KPSTASK = Path(sys.executable).with_name("kpstask")
TOKEN = "bench-ctrl-c-token"


def outcome(proc: subprocess.Popen[str]) -> str:
    try:
        _, stderr = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "no exit within 10 s"
    if "Traceback" in stderr or "Fatal Python error" in stderr:
        return "traceback inside kpstask" if "kpstask/" in stderr else "traceback before kpstask ran"
    return f"exit {proc.returncode}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    rounds = parser.parse_args().rounds
    tasks = [{"id": "never", "operation": "reset", "outcome": "never", "ready_s": 0}]
    counts: Counter[str] = Counter()
    with Simulator(Scenario.parse({"token": TOKEN, "tasks": tasks})) as sim:
        env = {**os.environ, "KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": TOKEN}
        for delay_ms in [ms for _ in range(rounds) for ms in range(0, 125, 5)]:
            proc = subprocess.Popen(
                [str(KPSTASK), "wait", "never", "--progress", "plain"],
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            threading.Event().wait(delay_ms / 1000)
            proc.send_signal(signal.SIGINT)
            counts[outcome(proc)] += 1
    print(f"{sum(counts.values())} runs, SIGINT 0-120 ms after the start")
    for name, count in counts.most_common():
        print(f"  {name:<32} {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
