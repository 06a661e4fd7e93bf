#!/usr/bin/env python3
"""Benchmark 2: a soak. 100 tasks on the simulator, about 20 % of answers replaced by
injected transient faults (503, 429, connection resets, truncated JSON), waited on by
the installed `kpstask wait` in a subprocess with the default rate cap (10 requests/s).

Checks that every task ends in its true final state and that the request rate never
exceeds the cap (requests counted by arrival at the simulator, in every 1 s window);
reports the peak memory of the kpstask process.

Run: python bench/soak.py   (takes about a minute)
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from kpstask.simulator import Scenario, Simulator

TASKS = 100
FAULT_SHARE = 0.20
CAP = 10.0
KPSTASK = Path(sys.executable).with_name("kpstask")


def scenario(rng: random.Random) -> tuple[Scenario, dict[str, str]]:
    tasks, expected = [], {}
    for i in range(TASKS):
        operation = rng.choice(["reset", "replace", "bind", "unbind"])
        outcome = "failed" if rng.random() < 0.2 else "success"
        task_id = f"soak-{i:03d}"
        tasks.append(
            {
                "id": task_id,
                "operation": operation,
                "outcome": outcome,
                "ready_s": rng.uniform(0.5, 3),
                "running_s": rng.uniform(5, 40),
            }
        )
        expected[task_id] = f"{'SUCCESS' if outcome == 'success' else 'FAILED'}_{operation.upper()}"
    # Four faults checked in turn, each hitting p of what reaches it: 1 - (1 - p)^4 = 20 %.
    p = 1 - (1 - FAULT_SHARE) ** 0.25
    faults = [
        {"type": "status", "status": 503, "probability": p},
        {"type": "status", "status": 429, "retry_after": 1, "probability": p},
        {"type": "reset", "probability": p},
        {"type": "truncated", "probability": p},
    ]
    return Scenario.parse({"token": "soak-token-123456", "tasks": tasks, "faults": faults, "seed": 7}), expected


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def main() -> int:
    plan, expected = scenario(random.Random(1))
    with Simulator(plan) as sim:
        env = {
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": plan.project_id,
            "KPSTASK_TOKEN": plan.token,
            "PATH": "/usr/bin:/bin",
        }
        started = time.monotonic()
        proc = subprocess.run(
            [str(KPSTASK), "wait", *expected, "-o", "json", "--progress", "plain", "--timeout", "10m"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.monotonic() - started
        api = [(status, t) for _, path, status, t in sim.requests if path.startswith("/v3/")]
        faulted = sim.faults_served
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    got = {r["task_id"]: r for r in map(json.loads, proc.stdout.splitlines())}
    wrong = [tid for tid, status in expected.items() if got.get(tid, {}).get("task_status") != status]
    arrivals = [t for _, t in api]
    window = max_in_window(arrivals)
    warnings = proc.stderr.count(" warning: ")
    print(f"tasks: {TASKS}; wall time {took:.1f}s; exit code {proc.returncode}")
    print(
        f"requests: {len(api)} ({len(api) / TASKS:.1f} per task), {faulted} faulted "
        f"({100 * faulted / max(len(api), 1):.1f} %), {warnings} warning lines"
    )
    print(
        f"request rate: mean {len(api) / (max(arrivals) - min(arrivals)):.2f}/s, "
        f"max {window} in any 1 s window (cap {CAP:g}/s)"
    )
    print(f"tasks in their true final state: {TASKS - len(wrong)}/{TASKS}")
    print(f"peak memory of the kpstask process: {peak_kib / 1024:.1f} MiB")
    ok = not wrong and window <= CAP and proc.returncode == 1
    print("soak OK" if ok else f"soak FAILED: wrong={wrong[:5]} stderr tail={proc.stderr[-500:]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
