"""Fleet costs (issue 19): the rows of `bench/scale.py` about a wait among other tasks.

As in scale.py (whose helpers this uses), the installed kpstask against the in-process
simulator; every child runs with `--debug`, its stderr kept whole. Four tables:

  among     N in (5, 50, 500) waited tasks among M in (20,000, 100,000) other running tasks
            (outcome `never`), finishing evenly over 120 s; the newest, listed after the others
            (with 100,000 others, past the 100,000 a round of the list reads). req/task = (GETs +
            list pages) / N; list % cap = pages / (wall x 10/s). Polling's cost: the same N tasks
            alone, the list refused (403) at the first request, so each task is polled on its own.
            Targets: req/task <= 1.1 x polling's; 5 among 20,000: list <= 25 % of the cap; 100,000
            others never starve the wait. Last column: the watches the engine said it chose.
  unlisted  700 tasks finishing evenly over 0-20 s, 300 over 20-300 s, every 20th (5 %) with
            `listed: false`. Targets: mean delay <= the rate-bound ideal's + 3 s; the unlisted
            ones' mean delay <= 5 s, <= 3 GETs each. Split: early (the 35 finishing in the first
            20 s) / tail (the 15 after), in brackets the rate-bound ideal's for them.
  quota     one simulator with `quota` 10 requests/s, two concurrent waits (default --max-rate
            10) of 1000 distinct tasks each, both finishing evenly over 200 s. Shared ideal: the
            2000 finishes at 10/s. Targets: the later end (from the first spawn) <= 1.2 x that
            ideal; <= 5 % of all requests answered 429. Below: requests/s (429s) by eighths.
  stream    `wait -o json` and `-o tsv`, 1000 tasks over 200 s, each stdout line stamped on arrival.
            Latency: arrival minus the task's finish (the first line's after the first finish,
            median, p95, max); JSON: lag = arrival minus the line's elapsed_s (start-up, ~0.2 s,
            included). "at end": lines in the last second. Target: each line when final.
Delays: elapsed_s minus the finish, both from the spawn. These rows take about 40 minutes (the
among table 20: each N also polled); with --scale 0.1 about 15 (rate-bound rows do not shrink).
"""

from __future__ import annotations

import collections
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from scale import (
    DEFAULT_RATE,
    Child,
    Stamped,
    Table,
    columns,
    cut_short,
    fmt,
    ideal_delays,
    ideal_wall,
    ratio,
    run_child,
    self_cpu,
    sim_env,
)

from kpstask.simulator import Fault, Scenario, SimTask, Simulator

AMONG_SPAN_S, FLEET_SPAN_S = 120.0, 200.0
WAITED, OTHERS = (5, 50, 500), (20_000, 100_000)
EARLY, EARLY_S, LATE, LATE_S = 700, 20.0, 300, 300.0  # the uneven fleet
UNLISTED_EVERY = 20  # every 20th task of the uneven fleet is never listed: 5 %
QUOTA, FLEET = 10, 1000
ROWS = {
    "among": [f"among-{n}-{m}" for m in OTHERS for n in WAITED],
    "unlisted": ["uneven-1000-unlisted"],
    "quota": ["shared-quota-2x1000"],
    "stream": ["json-latency-1000", "tsv-latency-1000"],
}
FINAL = ("succeeded", "failed")
Record = tuple[str, str, "int | str", float]  # a simulator request: method, path, status, arrival
Plan = tuple[Scenario, list[str]]  # a scenario and the ids waited for
Polled = tuple[float, "float | None"]  # per-task polling: GETs per task, mean delay


class Ran(NamedTuple):
    child: Child
    lines: Stamped  # stdout's lines, arrivals from the spawn
    stderr: str
    finish_at: dict[str, float]  # the waited tasks' finishes, from the spawn
    requests: tuple[Record, ...] = ()  # the simulator's records, arrivals from the spawn (`measure`)
    sim_cpu_pct: float = 0.0  # this process (the simulator) over the child's wall time (`measure`)


# -- scenarios -------------------------------------------------------------------------------


def even(n: int, span_s: float, start_s: float = 0.0) -> list[float]:
    return [start_s + span_s * (i + 1) / n for i in range(n)]


def fleet_plan(finishes: list[float], others: int = 0, unlisted: Iterable[int] = (), **keys: Any) -> Plan:
    """Built in-process (100,000 tasks through JSON would take seconds): `others` tasks running for
    ever, then the waited ones, task i finishing finishes[i] after the simulator starts."""
    hidden = set(unlisted)
    tasks = [SimTask(f"b{i:06d}", f"server-b{i:06d}", outcome="never", ready_s=0.0) for i in range(others)]
    waited = [
        SimTask(f"t{i:05d}", f"server-t{i:05d}", ready_s=0.0, running_s=f, in_list=i not in hidden)
        for i, f in enumerate(finishes)
    ]
    return Scenario(tasks=tasks + waited, auth="any", **keys), [t.task_id for t in waited]


def finishes_of(plan: Scenario, ids: list[str]) -> dict[str, float]:
    """Finish times on time.monotonic() (the simulator's clock has started)."""
    chosen = set(ids)
    return {t.task_id: (t.created_at or 0.0) + t.ready_s + t.running_s for t in plan.tasks if t.task_id in chosen}


def timeout_for(done_at: Iterable[float], rate: float) -> int:
    """Twice the rate-bound ideal plus 60 s, as in scale.py."""
    now = time.monotonic()
    return math.ceil(2 * ideal_wall([at - now for at in done_at], rate) + 60)


# -- running a wait ----------------------------------------------------------------------------


def run_wait(sim: Simulator, plan: Scenario, ids: list[str], kpstask: str, *extra: str, timeout: int = 0) -> Ran:
    """`kpstask wait - --debug --progress plain` on `ids`, stdout stamped line by line."""
    done_at = finishes_of(plan, ids)
    timeout = timeout or timeout_for(done_at.values(), DEFAULT_RATE)
    argv = [kpstask, "wait", "-", "--debug", "--progress", "plain", "--timeout", f"{timeout}s", *extra]
    stamped: Stamped = []
    err: collections.deque[bytes] = collections.deque()
    ask = "\n".join(ids).encode()
    child = run_child(argv, sim_env(sim, plan), ask, limit_s=timeout + 120, stamped=stamped, stderr=err)
    lines = [(at - child.started, line) for at, line in stamped]
    finish_at = {tid: at - child.started for tid, at in done_at.items()}
    return Ran(child, lines, b"".join(err).decode(errors="replace"), finish_at)


def measure(plan: Scenario, ids: list[str], kpstask: str, *extra: str) -> Ran:
    """One wait against a fresh simulator (the tasks' clocks start with it)."""
    with Simulator(plan) as sim:
        cpu = self_cpu()
        ran = run_wait(sim, plan, ids, kpstask, "-o", "json", *extra)
        sim_cpu = self_cpu() - cpu
        requests = tuple((m, path, status, at - ran.child.started) for m, path, status, at in sim.requests)
    return ran._replace(requests=requests, sim_cpu_pct=100 * sim_cpu / ran.child.wall_s)


def is_page(record: Record) -> bool:
    return record[1].endswith("/running-tasks")


def task_gets(requests: Iterable[Record]) -> collections.Counter[str]:
    """GETs of each task (whatever the answer)."""
    return collections.Counter(path.rpartition("/tasks/")[2] for _, path, _, _ in requests if "/tasks/" in path)


def delays_by_task(stdout: bytes, finish_at: dict[str, float]) -> dict[str, float]:
    """elapsed_s minus the finish, both from the spawn, of each task seen finished."""
    seen: dict[str, float] = {}
    for line in stdout.decode(errors="replace").splitlines():
        record = json.loads(line)
        if record.get("state") in FINAL and record.get("elapsed_s") is not None:
            seen.setdefault(record["task_id"], record["elapsed_s"] - finish_at[record["task_id"]])
    return seen


def mean(values: Iterable[float]) -> float | None:
    listed = list(values)
    return statistics.mean(listed) if listed else None


def seen_done(child: Child, seen: int, n: int) -> str:
    return f"{seen}/{n}" + (" cut" if cut_short(child) else "")


# -- among: N waited tasks among M running ones -----------------------------------------------


def watches(stderr: str) -> str:
    """The watches the engine chose, in order, from its --debug lines."""
    said = [line.partition("wait: watching with ")[2] for line in stderr.splitlines()]
    chosen = ["list" if line.startswith("the running list") else "polls" for line in said if line]
    if len(chosen) > 3:
        return f"{chosen[0]}>...>{chosen[-1]} ({len(chosen) - 1} switches)"
    return ">".join(chosen) or "none said"


def polling_cost(n: int, span_s: float, kpstask: str) -> Polled:
    """The same N tasks alone, polled on their own: the list refused (403) at the first request."""
    refuse = Fault("status", times=1, statuses=[403])  # request 0 is the first list page
    plan, ids = fleet_plan(even(n, span_s), faults=[refuse])
    run = measure(plan, ids, kpstask)
    if not run.requests or not is_page(run.requests[0]) or run.requests[0][2] != 403:
        print(f"  (polling {n}: the first request was not a refused list page: {run.requests[:1]})", flush=True)
    gets = sum(task_gets(run.requests).values())
    return gets / n, mean(delays_by_task(run.child.stdout, run.finish_at).values())


def among_row(n: int, others: int, span_s: float, kpstask: str, polled: Polled) -> list[object]:
    finishes, (poll_cost, poll_delay) = even(n, span_s), polled
    plan, ids = fleet_plan(finishes, others=others)
    run = measure(plan, ids, kpstask)
    child, wall = run.child, run.child.wall_s
    pages = sum(map(is_page, run.requests))
    cost = (pages + sum(task_gets(run.requests).values())) / n
    delays = delays_by_task(child.stdout, run.finish_at)
    return [
        *(n, f"{others:,}", fmt(cost), pages, fmt(100 * pages / (wall * DEFAULT_RATE), 1)),
        *(fmt(poll_cost), ratio(cost, poll_cost), fmt(wall, 1), fmt(ideal_wall(finishes, DEFAULT_RATE), 1)),
        *(fmt(mean(delays.values())), fmt(poll_delay), fmt(mean(ideal_delays(finishes, DEFAULT_RATE)))),
        *(fmt(child.cpu_s), fmt(child.rss_mib, 1), fmt(run.sim_cpu_pct, 0), child.code),
        *(seen_done(child, len(delays), n), watches(run.stderr)),
    ]


def among_table(names: list[str], scale: float, kpstask: str) -> None:
    span_s = AMONG_SPAN_S * scale
    table = Table(
        f"fleet costs: N tasks finishing evenly over {span_s:g} s among M running ones (targets: "
        "req/task <= 1.1 x polling's; 5 among 20,000: list <= 25 % of the cap; 100,000 never starve the wait)",
        columns(
            "N 4|others 7|req/task 8|list pages 10|list % cap 10|poll req/task 13|÷ poll 6|wall s 6|ideal s 7|"
            "delay mean 10|poll delay 10|ideal delay 11|CPU s 5|RSS MiB 7|sim CPU % 9|exit 4|seen done 9|watch 5"
        ),
    )
    polled: dict[int, Polled] = {}
    for others in OTHERS:
        for n in WAITED:
            if f"among-{n}-{others}" in names:
                if n not in polled:
                    polled[n] = polling_cost(n, span_s, kpstask)
                table.row(among_row(n, others, span_s, kpstask, polled[n]))


# -- unlisted: the uneven fleet, 5 % never in the running list ------------------------------------


def unlisted_row(scale: float, kpstask: str) -> list[object]:
    finishes = even(EARLY, EARLY_S * scale) + even(LATE, (LATE_S - EARLY_S) * scale, EARLY_S * scale)
    hidden = [i for i in range(len(finishes)) if i % UNLISTED_EVERY == UNLISTED_EVERY - 1]
    plan, ids = fleet_plan(finishes, unlisted=hidden)
    run = measure(plan, ids, kpstask)
    child, gets, delays = run.child, task_gets(run.requests), delays_by_task(run.child.stdout, run.finish_at)
    ideal = dict(zip(ids, ideal_delays(finishes, DEFAULT_RATE), strict=True))  # the finishes are sorted
    early, tail = [ids[i] for i in hidden if i < EARLY], [ids[i] for i in hidden if i >= EARLY]  # 35, 15
    unseen = set(early + tail)
    hidden_delays = [delays[t] for t in unseen if t in delays]
    ideal_mean, delay_mean = statistics.mean(ideal.values()), mean(delays.values())
    return [
        *(len(ids), fmt(child.wall_s, 1), fmt(ideal_wall(finishes, DEFAULT_RATE), 1)),
        *(fmt(len(run.requests) / len(ids)), fmt(delay_mean), fmt(ideal_mean)),
        *(fmt(None if delay_mean is None else delay_mean - ideal_mean), fmt(mean(hidden_delays))),
        *(fmt(max(hidden_delays, default=None)), fmt(mean(gets[t] for t in unseen)), max(gets[t] for t in unseen)),
        f"{pair(delays.get, early, tail)} ({pair(ideal.get, early, tail)})",
        *(pair(lambda t: gets[t], early, tail), fmt(mean(gets[t] for t in ids if t not in unseen))),
        *(fmt(child.cpu_s), fmt(child.rss_mib, 1), fmt(run.sim_cpu_pct, 0), child.code),
        seen_done(child, len(delays), len(ids)),
    ]


def pair(of: Callable[[str], float | None], *groups: list[str]) -> str:  # each group's mean, "a/b"
    return "/".join(fmt(mean(v for v in map(of, group) if v is not None), 1) for group in groups)


def unlisted_table(scale: float, kpstask: str) -> None:
    table = Table(
        f"unlisted: {EARLY} tasks over {EARLY_S * scale:g} s, {LATE} over a tail to {LATE_S * scale:g} s, every "
        f"{UNLISTED_EVERY}th never listed (targets: delay <= ideal's + 3 s; unlisted: mean <= 5 s, <= 3 GETs each)",
        columns(
            "N 5|wall s 6|ideal s 7|req/task 8|delay mean 10|ideal mean 10|+ s 5|unlisted mean 13|unlisted max 12|"
            "GETs/unlisted 13|max GETs 8|early/tail mean (ideal) 25|early/tail GETs 15|GETs/listed 11|CPU s 5|"
            "RSS MiB 7|sim CPU % 9|exit 4|seen done 9"
        ),
    )
    table.row(unlisted_row(scale, kpstask))


# -- quota: two waits sharing one project's quota --------------------------------------------------


def shared_quota(scale: float, kpstask: str) -> tuple[list[Ran], list[Record], float, float]:
    """Two concurrent waits, one fleet each; requests and the finishes' ideal from the first spawn."""
    finishes = even(FLEET, FLEET_SPAN_S * scale)
    plan, ids = fleet_plan(finishes * 2, quota=QUOTA)
    with Simulator(plan) as sim:
        done_at = finishes_of(plan, ids)
        timeout = timeout_for(done_at.values(), QUOTA)  # the shared ideal's
        cpu = self_cpu()
        with ThreadPoolExecutor(2) as pool:
            fleets = [ids[:FLEET], ids[FLEET:]]
            runs = list(pool.map(lambda own: run_wait(sim, plan, own, kpstask, "-o", "json", timeout=timeout), fleets))
        sim_cpu = self_cpu() - cpu
        first = min(run.child.started for run in runs)
        requests = [(m, path, status, at - first) for m, path, status, at in sim.requests]
    end = max(run.child.started + run.child.wall_s for run in runs) - first
    return runs, requests, ideal_wall([at - first for at in done_at.values()], QUOTA), 100 * sim_cpu / end


def profile(requests: list[Record], end_s: float) -> str:
    """Requests a second, and how many were answered 429, in each eighth of the run."""
    window_s = max(1, math.ceil(end_s / 8))
    windows: list[list[int]] = []
    for _, _, status, at in requests:
        k = max(0, int(at // window_s))
        windows.extend([0, 0] for _ in range(k + 1 - len(windows)))
        windows[k][0] += 1
        windows[k][1] += status == 429
    cells = [f"{total / window_s:.1f} ({throttled})" for total, throttled in windows]
    return f"  requests/s (429s) per {window_s:g} s: " + ", ".join(cells)


def quota_table(scale: float, kpstask: str) -> None:
    table = Table(
        f"shared quota: two `wait`s of {FLEET} tasks each over {FLEET_SPAN_S * scale:g} s, one quota of {QUOTA} "
        "requests/s (targets: end <= 1.2 x the shared ideal; <= 5 % answered 429)",
        columns(
            "fleets 6|walls s 11|end s 6|ideal s 7|end/ideal 9|requests 8|429s 5|429 % 5|req/task 8|"
            "delay means 11|ideal delay 11|CPU s 9|RSS MiB 9|sim CPU % 9|exits 5|seen done 13"
        ),
    )
    runs, requests, ideal, sim_cpu = shared_quota(scale, kpstask)
    first = min(run.child.started for run in runs)
    end = max(run.child.started + run.child.wall_s for run in runs) - first
    throttled = sum(status == 429 for _, _, status, _ in requests)
    delays = [delays_by_task(run.child.stdout, run.finish_at) for run in runs]
    merged = [at + run.child.started - first for run in runs for at in run.finish_at.values()]
    table.row(
        [
            *(f"2x{FLEET}", "/".join(fmt(run.child.wall_s, 1) for run in runs), fmt(end, 1), fmt(ideal, 1)),
            *(ratio(end, ideal, any(cut_short(run.child) for run in runs)), len(requests), throttled),
            *(fmt(100 * throttled / len(requests), 1), fmt(len(requests) / (2 * FLEET))),
            *("/".join(fmt(mean(each.values())) for each in delays), fmt(mean(ideal_delays(merged, QUOTA)))),
            *("/".join(fmt(run.child.cpu_s) for run in runs), "/".join(fmt(run.child.rss_mib, 1) for run in runs)),
            *(fmt(sim_cpu, 0), "/".join(str(run.child.code) for run in runs)),
            " ".join(seen_done(run.child, len(each), FLEET) for run, each in zip(runs, delays, strict=True)),
        ]
    )
    print(profile(requests, end), flush=True)


# -- stream: each line when its task is final ---------------------------------------------------


def final_line(output: str, line: bytes) -> tuple[str, float | None] | None:
    """The task a final line names, and (JSON) its elapsed_s; None for any other line."""
    if output == "json":
        record = json.loads(line)
        return (record["task_id"], record.get("elapsed_s")) if record.get("state") in FINAL else None
    cells = line.decode(errors="replace").split("\t")
    return (cells[0], None) if len(cells) >= 4 and cells[3] in FINAL else None


def stream_row(output: str, scale: float, kpstask: str) -> list[object]:
    plan, ids = fleet_plan(even(FLEET, FLEET_SPAN_S * scale))
    with Simulator(plan) as sim:
        ran = run_wait(sim, plan, ids, kpstask, "-o", output)
    arrived: dict[str, tuple[float, float | None]] = {}
    for at, line in ran.lines:
        said = final_line(output, line)
        if said is not None:
            arrived.setdefault(said[0], (at, said[1]))
    latency = sorted(at - ran.finish_at[task_id] for task_id, (at, _) in arrived.items())
    lags = sorted(at - elapsed for at, elapsed in arrived.values() if elapsed is not None)
    first = min((at for at, _ in arrived.values()), default=None)
    at_end = sum(at >= ran.child.wall_s - 1 for at, _ in arrived.values())
    return [
        *(
            f"-o {output}",
            f"{len(arrived)}/{len(ids)}",
            fmt(None if first is None else first - min(ran.finish_at.values())),
        ),
        *(fmt(quantile(latency, 0.5)), fmt(quantile(latency, 0.95)), fmt(quantile(latency, 1.0))),
        *(fmt(mean(ideal_delays(list(ran.finish_at.values()), DEFAULT_RATE))), fmt(quantile(lags, 0.5))),
        *(fmt(quantile(lags, 1.0)), at_end, fmt(ran.child.wall_s, 1), ran.child.code),
    ]


def quantile(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def stream_table(outputs: list[str], scale: float, kpstask: str) -> None:
    table = Table(
        f"stream: `wait -o json|tsv` on {FLEET} tasks over {FLEET_SPAN_S * scale:g} s, stdout read as it comes "
        "(latency = line arrival - task finish, s; lag = arrival - elapsed_s; target: each line when final)",
        columns(
            "output 7|lines 9|1st line 8|median 6|p95 5|max 5|ideal mean 10|lag median 10|lag max 7|at end 6|"
            "wall s 6|exit 4"
        ),
    )
    for output in outputs:
        table.row(stream_row(output, scale, kpstask))


def run_fleet(names: list[str], scale: float, kpstask: str) -> None:
    """The chosen rows (names of ROWS), table by table."""
    among = [name for name in ROWS["among"] if name in names]
    if among:
        among_table(among, scale, kpstask)
    if ROWS["unlisted"][0] in names:
        unlisted_table(scale, kpstask)
    if ROWS["quota"][0] in names:
        quota_table(scale, kpstask)
    outputs = [name.partition("-")[0] for name in ROWS["stream"] if name in names]
    if outputs:
        stream_table(outputs, scale, kpstask)
