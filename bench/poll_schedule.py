#!/usr/bin/env python3
"""Benchmark 1: the poll schedule against task durations from 10 s to 30 min.

For each duration, the real wait engine runs on a fake clock (no sleeping) against a
task that finishes at that time, many times over (durations spread +/-5 % and the
jitter re-drawn), and we report the mean delay between the task finishing and
kpstask noticing, and the requests it made. Side by side: fixed 5 s (the KooCLI
waiter), 15 s (AWS CLI) and 20 s (Terraform provider) intervals.

Target for the adaptive default: delay <= max(2 s, 10 % of the duration), never
over 15 s, and requests <= duration / 15 s + 25.

Run: python bench/poll_schedule.py
"""

from __future__ import annotations

import random
import statistics
import sys

from kpstask.models import Task
from kpstask.wait import InlineRunner, WaitEngine, WaitOptions

DURATIONS = [10, 30, 60, 120, 300, 600, 1200, 1800]
SCHEDULES: dict[str, float | None] = {"adaptive": None, "fixed 5s": 5.0, "fixed 15s": 15.0, "fixed 20s": 20.0}
TRIALS = 200


def one_run(finish_at: float, interval: float | None, rng: random.Random) -> tuple[float, int]:
    now = [0.0]
    polls = [0]

    def poll(task_id: str) -> Task:
        polls[0] += 1
        status = "SUCCESS_RESET" if now[0] >= finish_at else "RUNNING_RESET"
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


def main() -> int:
    rng = random.Random(42)
    print(f"{'duration':>9} | " + " | ".join(f"{name:>22}" for name in SCHEDULES))
    print(f"{'':>9} | " + " | ".join(f"{'mean delay / requests':>22}" for _ in SCHEDULES))
    failures = []
    for duration in DURATIONS:
        cells = []
        for interval in SCHEDULES.values():
            delays, requests, over_budget = [], [], 0
            for _ in range(TRIALS):
                finish = duration * rng.uniform(0.95, 1.05)
                delay, polls = one_run(finish, interval, rng)
                delays.append(delay)
                requests.append(polls)
                over_budget += polls > finish / 15 + 25
            mean_delay, mean_requests, worst_delay = statistics.mean(delays), statistics.mean(requests), max(delays)
            cells.append(f"{mean_delay:6.1f}s / {mean_requests:6.1f}")
            if interval is None:
                if mean_delay > max(2.0, 0.1 * duration) or worst_delay > 15.0:
                    failures.append(f"{duration}s: delay mean {mean_delay:.1f}s, worst {worst_delay:.1f}s")
                if over_budget:
                    failures.append(f"{duration}s: {over_budget} of {TRIALS} runs over duration / 15 s + 25 requests")
        label = f"{duration // 60}m" if duration >= 60 else f"{duration}s"
        print(f"{label:>9} | " + " | ".join(f"{cell:>22}" for cell in cells))
    print()
    if failures:
        print("adaptive schedule MISSES its targets:\n  " + "\n  ".join(failures))
        return 1
    print(
        "adaptive schedule meets its targets: mean delay <= max(2 s, 10 % of duration), "
        "worst delay <= 15 s, requests <= duration / 15 s + 25"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
