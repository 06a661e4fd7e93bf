#!/usr/bin/env python3
"""Benchmark 2: a soak. N tasks (5-40 s each, a fifth of them failing) on the simulator,
about 20 % of answers replaced by injected transient faults (503, 429, connection resets,
truncated JSON), waited on by the installed `kpstask wait -o json` in a subprocess: N = 10,
100 and 1000 with the default rate cap (10 requests/s), 10,000 with `--max-rate 100` (at
10/s its GETs alone would take 1000 s).

Checks that every task ends in its true final state and that the request rate never
exceeds the cap (requests counted by arrival at the simulator, in every 1 s window);
reports the wall time, the CPU time (user + sys) and the peak memory of the kpstask
process (from wait4, in a small process that forks it: bench/scale.py's SPAWNER, so that
the benchmark's own memory is not counted).

Run: python bench/soak.py [--sizes 10,100,1000,10000] [--kpstask PATH]   (takes about 10 minutes)
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
from pathlib import Path

from scale import run_child

from kpstask.simulator import Scenario, Simulator

FAULT_SHARE = 0.20
DEFAULT_CAP = 10.0
FAST_CAP = 100.0  # for 10,000 tasks
KPSTASK = [str(Path(sys.executable).with_name("kpstask"))]  # --kpstask replaces it


def scenario(rng: random.Random, n: int) -> tuple[Scenario, dict[str, str]]:
    tasks, expected = [], {}
    for i in range(n):
        operation = rng.choice(["reset", "replace", "bind", "unbind"])
        outcome = "failed" if rng.random() < 0.2 else "success"
        task_id = f"soak-{i:05d}"
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


def soak(n: int) -> bool:
    cap = DEFAULT_CAP if n <= 1000 else FAST_CAP
    plan, expected = scenario(random.Random(1), n)
    with Simulator(plan) as sim:
        env = {
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": plan.project_id,
            "KPSTASK_TOKEN": plan.token,
            "PATH": "/usr/bin:/bin",
        }
        argv = [KPSTASK[0], "wait", *expected, "-o", "json", "--progress", "plain", "--timeout", "30m"]
        argv += [] if cap == DEFAULT_CAP else ["--max-rate", f"{cap:g}"]
        stderr: collections.deque[bytes] = collections.deque()
        done_at = {t.task_id: (t.created_at or 0.0) + t.ready_s + t.running_s for t in plan.tasks}
        child = run_child(argv, env, limit_s=2400, stderr=stderr)
        api = [(status, t) for _, path, status, t in sim.requests if path.startswith("/v3/")]
        faulted = sim.faults_served
    got = {r["task_id"]: r for r in map(json.loads, child.stdout.decode().splitlines())}
    delays = [r["elapsed_s"] - (done_at[tid] - child.started) for tid, r in got.items() if r.get("elapsed_s")]
    last = max(done_at.values()) - child.started
    wrong = [tid for tid, status in expected.items() if got.get(tid, {}).get("task_status") != status]
    arrivals = [t for _, t in api]
    window = max_in_window(arrivals)
    warnings = b"".join(stderr).count(b" warning: ")
    rate = f"--max-rate {cap:g}" if cap != DEFAULT_CAP else "default cap"
    print(f"\ntasks: {n} ({rate}); wall time {child.wall_s:.1f}s; exit code {child.code}")
    print(
        f"requests: {len(api)} ({len(api) / n:.2f} per task), {faulted} faulted "
        f"({100 * faulted / max(len(api), 1):.1f} %), {warnings} warning lines"
    )
    print(
        f"request rate: mean {len(api) / (max(arrivals) - min(arrivals)):.2f}/s, "
        f"max {window} in any 1 s window (cap {cap:g}/s)"
    )
    print(f"tasks in their true final state: {n - len(wrong)}/{n}")
    if delays:
        print(
            f"seen final after finishing: mean {statistics.mean(delays):.1f} s, max {max(delays):.1f} s; "
            f"the last task finished {last:.1f} s after the start"
        )
    print(f"kpstask process: CPU {child.cpu_s:.2f} s ({1000 * child.cpu_s / max(len(api), 1):.1f} ms per request)")
    print(f"peak memory of the kpstask process: {child.rss_mib:.1f} MiB")
    ok = not wrong and window <= cap and child.code == 1
    print("soak OK" if ok else f"soak FAILED: wrong={wrong[:5]} stderr tail={child.stderr_tail!r}", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--kpstask", default=KPSTASK[0], help="the kpstask executable to measure")
    args = parser.parse_args()
    KPSTASK[0] = args.kpstask
    results = [soak(int(n)) for n in args.sizes.split(",")]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
