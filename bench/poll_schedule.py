#!/usr/bin/env python3
"""Benchmark 1: the poll schedule against task durations from 10 s to 30 min.

For each duration, the real wait engine runs on a fake clock (no sleeping) against a
task that finishes at that time, many times over (durations spread +/-5 % and the
jitter re-drawn), and we report the mean delay between the task finishing and
kpstask noticing, and the requests it made. Side by side: fixed 5 s (the KooCLI
waiter), 15 s (AWS CLI) and 20 s (Terraform provider) intervals.

The schedule keys on a task's age, never on its operation, so a reset that finishes in
30 s is seen as soon as a 30 s bind. Each duration runs as the operation that typically
takes that long, plus a 30-second and a 2-minute reset. Targets for the default schedule
(issue 19): a 30 s task (bind or reset) is seen within 5 s on average for at most 10
requests, a 10-minute reset within 8 s for at most 45; no task is seen later than 16 s
after it finished.

Run: python bench/poll_schedule.py
"""

from __future__ import annotations

import random
import statistics
import sys

from kpstask.choices import WaitOptions
from kpstask.models import Task
from kpstask.wait.engine import WaitEngine
from kpstask.wait.runners import InlineRunner

# (duration, operation): the operation a task of that duration typically is (DEW user
# guide), and resets that finish sooner than the usual 10 minutes.
CASES = [
    (10, "BIND"),
    (30, "BIND"),
    (30, "RESET"),
    (60, "REPLACE"),
    (120, "UNBIND"),
    (120, "RESET"),
    (300, "BIND"),
    (600, "RESET"),
    (1200, "RESET"),
    (1800, "RESET"),
]
SCHEDULES: dict[str, float | None] = {"default": None, "fixed 5s (KooCLI)": 5.0, "fixed 15s (AWS CLI)": 15.0}
# (duration, operation) -> (mean delay, mean requests)
TARGETS = {(30, "BIND"): (5.0, 10.0), (30, "RESET"): (5.0, 10.0), (600, "RESET"): (8.0, 45.0)}
TRIALS = 1000


def one_run(finish_at: float, interval: float | None, rng: random.Random, operation: str) -> tuple[float, int]:
    now = [0.0]
    polls = [0]

    def poll(task_id: str) -> Task:
        polls[0] += 1
        status = ("SUCCESS_" if now[0] >= finish_at else "RUNNING_") + operation
        return Task(task_id, status, None, {})

    def sleep(seconds: float) -> None:
        now[0] += seconds

    engine = WaitEngine(
        ["t"],
        InlineRunner(poll),
        WaitOptions(timeout_s=None, interval_s=interval),
        clock=lambda: now[0],
        sleep=sleep,
        rand=rng.random,
    )
    engine.run()
    return now[0] - finish_at, polls[0]


def measure(duration: int, operation: str, interval: float | None, rng: random.Random) -> tuple[float, float, float]:
    """Mean delay, mean requests and worst delay over TRIALS runs."""
    delays, requests = [], []
    for _ in range(TRIALS):
        delay, polls = one_run(duration * rng.uniform(0.95, 1.05), interval, rng, operation)
        delays.append(delay)
        requests.append(polls)
    return statistics.mean(delays), statistics.mean(requests), max(delays)


def main() -> int:
    rng = random.Random(42)
    print(f"{'duration':>9} {'operation':>9} | " + " | ".join(f"{name:>22}" for name in SCHEDULES))
    print(f"{'':>19} | " + " | ".join(f"{'mean delay / requests':>22}" for _ in SCHEDULES))
    failures = []
    for duration, operation in CASES:
        cells = []
        label = f"{duration // 60}m" if duration >= 60 else f"{duration}s"
        for interval in SCHEDULES.values():
            mean_delay, mean_requests, worst = measure(duration, operation, interval, rng)
            cells.append(f"{mean_delay:6.1f}s / {mean_requests:6.1f}")
            if interval is None:
                delay_cap, request_cap = TARGETS.get((duration, operation), (float("inf"), float("inf")))
                if mean_delay > delay_cap or mean_requests > request_cap or worst > 16.0:
                    failures.append(
                        f"{label} {operation.lower()}: delay mean {mean_delay:.1f}s, worst {worst:.1f}s, "
                        f"{mean_requests:.1f} requests"
                    )
        print(f"{label:>9} {operation.lower():>9} | " + " | ".join(f"{cell:>22}" for cell in cells))
    print()
    if failures:
        print("the default schedule MISSES its targets:\n  " + "\n  ".join(failures))
        return 1
    print(
        "the default schedule meets its targets: a 30 s bind or reset <= 5 s / 10 requests,"
        " a 10 min reset <= 8 s / 45, worst <= 16 s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
