#!/usr/bin/env python3
"""Benchmark: how `kpstask wait` and `kpstask get` scale with the number of tasks.

The installed kpstask runs as a subprocess against the in-process simulator (its CPU
time and peak RSS from os.wait4, in a small process that forks it: see SPAWNER); seven
tables, each row printed as soon as it is done:

  wait  10, 100, 1000 tasks finishing evenly over 200 s; 10,000 over 200 s with
        --max-rate 100; 1000 over 0-30 s. The rate-bound ideal: each task needs a GET
        after it finishes, so with finish times f1 <= ... <= fN from the wait's start
        (taken as the spawn) the wait cannot end before max_k(f_k + (N - k + 1)/r), and
        task k is confirmed at best at c_k = max(f_k, c_{k-1}) + 1/r. Detection delay:
        elapsed_s minus the finish time, both from the spawn.
  live  10, 100, 1000, 10,000 finished tasks, --max-rate 1000 --concurrency 16: --progress
        plain (stderr a pipe) against live (stderr a pseudo-terminal). Target live <= 1.2x plain.
  get   `kpstask get` with 1, 10, 100, 1000, 10,000 ids at 0 and 50 ms latency, default
        options (up to 1000 ids) and --max-rate 1000 (n/a if refused, exit 2), against 8
        threads of `requests` with the same token, printing the same lines (checked).
The fleet tables of issue 19 (bench/scale_fleet.py, whose docstring has the details):
  among     5, 50, 500 waited tasks among 20,000 and 100,000 other running ones: requests
            per task against per-task polling's (target <= 1.1x), the list's share of the
            10/s cap (target <= 25 % for 5 among 20,000), delays; 100,000 never starve it.
  unlisted  700 tasks over 20 s, 300 over a tail to 300 s, 5 % never listed: mean delay <=
            the ideal's + 3 s; the unlisted: mean delay <= 5 s, <= 3 GETs each.
  quota     two waits of 1000 tasks sharing a quota of 10 requests/s: end <= 1.2x the
            shared ideal (2000 GETs at 10/s), <= 5 % of requests answered 429.
  stream    `wait -o json` and `-o tsv` on 1000 tasks: each line's arrival against its
            task's finish (first line, median, p95): every line when its task is final.

Run: python bench/scale.py [--scale F] [--only NAME ...] [--kpstask PATH]
  --scale 0.1  task durations x 0.1 (20 s instead of 200 s): a smoke run
  --only NAME  a row (even-1000, even-10000, burst-1000, live-1000, get-10-50ms,
               among-5-20000, uneven-1000-unlisted, shared-quota-2x1000, json-latency-1000, ...)
               or a table (wait, live, get, among, unlisted, quota, stream; fleet: the last four); repeatable
  --kpstask P  the executable to measure (default: kpstask next to this Python)
A full run takes 70-90 minutes (the fleet tables about 40 of them, get about 8) and ends by itself: each
wait has a --timeout (twice its ideal plus 60 s; live rows plus 180 s). ">" marks a ratio of
a run cut by it (exit 124).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import json
import math
import os
import resource
import signal
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from kpstask.simulator import Scenario, Simulator

HERE = Path(__file__).resolve().parent
SPAN_S, BURST_S = 200.0, 30.0
DEFAULT_RATE = 10.0
GET_RUNS = 3  # up to 100 ids; 1 from 1000 on (runs of seconds to minutes)
GET_CAPPED_MAX = 1000  # the default cap's column up to this many ids (10,000 would take 1000 s by the cap alone)
LIVE_SLACK_S = 180.0  # the live rows' --timeout: twice the rate-bound ideal plus this
MAX_RECORDED = 100_000  # the simulator keeps only this many request records

# Each child is forked by this small process, which reports its wait4: on Linux a process's peak
# RSS starts from that of the process it was forked from (exec keeps the old address space's
# high-water mark), and the benchmark grows to 100 MiB and more with 100,000 simulated tasks.
SPAWNER = """
import os, sys, time
report, argv = int(sys.argv[1]), sys.argv[2:]
started = time.monotonic()
pid = os.fork()
if pid == 0:
    os.close(report)
    try:
        os.execve(argv[0], argv, os.environ)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.monotonic() - started
said = (started, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
os.write(report, " ".join(map(str, said)).encode())
"""
Account = tuple[float, float, float, float, int]  # a child's start, wall s, CPU s, peak RSS MiB, exit code
Stamped = list[tuple[float, bytes]]  # lines of a child's stdout, each with its arrival (time.monotonic())

PEER_SCRIPT = """
import json, os, sys, threading
from concurrent.futures import ThreadPoolExecutor
import requests
base = f"{os.environ['EP']}/v3/{os.environ['PID']}/tasks/"
local = threading.local()
def fetch(task_id):
    if not hasattr(local, "session"):
        local.session = requests.Session()
    return local.session.get(base + task_id, headers={"X-Auth-Token": os.environ["TOKEN"]}, timeout=10).json()
def line(task):  # the line `kpstask get -o json` prints for these tasks
    status = task["task_status"]
    outcome, _, operation = status.partition("_")
    state = {"SUCCESS": "succeeded", "FAILED": "failed"}.get(outcome, "running")
    record = {"task_id": task["task_id"], "task_status": status, "server_id": task["server_id"]}
    return json.dumps({**record, "operation": operation.lower(), "state": state}, separators=(",", ":"))
with ThreadPoolExecutor(8) as pool:
    for answer in pool.map(fetch, sys.argv[1:]):
        print(line(answer))
"""


class Child(NamedTuple):
    started: float  # time.monotonic() just before the spawn
    wall_s: float
    cpu_s: float  # user + sys
    rss_mib: float
    code: int
    stdout: bytes
    stderr_tail: bytes


class WaitRow(NamedTuple):
    name: str
    n: int
    span_s: float
    rate: float | None  # None: the default --max-rate


def default_kpstask() -> str:
    beside = Path(sys.executable).with_name("kpstask")
    return str(beside if beside.exists() else HERE.parent / ".venv" / "bin" / "kpstask")


KPSTASK = [default_kpstask()]  # the command under test; --kpstask replaces it


def kpstask_path() -> str:
    return KPSTASK[0]


def sim_env(sim: Simulator, plan: Scenario, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "KPSTASK_ENDPOINT": sim.url,
        "KPSTASK_PROJECT_ID": plan.project_id,
        "KPSTASK_TOKEN": plan.token,
        "EP": sim.url,
        "PID": plan.project_id,
        "TOKEN": plan.token,
        **extra,
    }


# -- running a child --------------------------------------------------------------


def _pump(
    read: Callable[[], bytes], keep: collections.deque[bytes], stamped: Stamped | None = None
) -> threading.Thread:
    """Read until end of file (or EIO, for a pty) in a thread, keeping what `keep` holds; with
    `stamped`, each complete line too, with the time.monotonic() at which its end was read."""

    def run() -> None:
        partial = b""
        try:
            for chunk in iter(read, b""):
                keep.append(chunk)
                if stamped is not None:
                    at = time.monotonic()
                    *lines, partial = (partial + chunk).split(b"\n")
                    stamped.extend((at, line) for line in lines)
        except OSError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _reader(fd: int) -> Callable[[], bytes]:
    return lambda: os.read(fd, 65536)


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> threading.Thread:
    def run() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except OSError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _pty_stderr() -> tuple[int, int]:
    """A pseudo-terminal of 120 x 40: (master, slave)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    return master, slave


def _spawn(argv: list[str], env: dict[str, str], stderr: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start `argv` through SPAWNER, in a process group of its own; (the spawner, its report's pipe)."""
    report, into = os.pipe()
    command = [sys.executable, "-I", "-S", "-c", SPAWNER, str(into), *argv]
    proc = subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        pass_fds=(into,),
        start_new_session=True,
    )
    os.close(into)
    return proc, report


def _kill(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _account(report: int, status: int, usage: resource.struct_rusage, started: float) -> Account:
    """The child as the spawner saw it (its clock, CLOCK_MONOTONIC, is ours). If the spawner was killed
    (the watchdog), a lower bound of the wall time and the spawner's own usage."""
    said = os.read(report, 4096).split()
    os.close(report)
    if said:
        return float(said[0]), float(said[1]), float(said[2]), int(said[3]) / 1024, int(said[4])
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    return started, time.monotonic() - started, cpu, rss, os.waitstatus_to_exitcode(status)


def run_child(
    argv: list[str],
    env: dict[str, str],
    stdin: bytes = b"",
    *,
    tty: bool = False,
    limit_s: float = 900.0,
    stamped: Stamped | None = None,
    stderr: collections.deque[bytes] | None = None,
) -> Child:
    """Run to the end, draining every stream; killed after `limit_s` (kpstask's own --timeout should come first).
    `stamped` receives stdout's lines with their arrival times; `stderr`, all of stderr."""
    master, slave = _pty_stderr() if tty else (-1, -1)
    out: collections.deque[bytes] = collections.deque()
    tail: collections.deque[bytes] = collections.deque(maxlen=4) if stderr is None else stderr
    started = time.monotonic()
    proc, report = _spawn(argv, env, slave if tty else subprocess.PIPE)
    watchdog = threading.Timer(limit_s, _kill, (proc.pid,))
    watchdog.start()
    assert proc.stdout is not None
    pumps = [_feed(proc, stdin), _pump(_reader(proc.stdout.fileno()), out, stamped)]
    if tty:
        os.close(slave)
    stderr_fd = master if tty else proc.stderr.fileno() if proc.stderr is not None else -1
    pumps.append(_pump(_reader(stderr_fd), tail))
    _, status, usage = os.wait4(proc.pid, 0)
    watchdog.cancel()
    started, wall, cpu, rss, code = _account(report, status, usage, started)
    for pump in pumps:
        pump.join(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    if tty:
        os.close(master)
    if code not in (0, 2, 124):  # 2: a refused option, reported as n/a
        print(
            f"  ({Path(argv[0]).name} {argv[1]} exited {code}: {b''.join(tail)[-200:]!r})", file=sys.stderr, flush=True
        )
    return Child(started, wall, cpu, rss, code, b"".join(out), b"".join(tail)[-300:])


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the rate-bound ideal -------------------------------------------------------------


def ideal_wall(finishes: list[float], rate: float) -> float:
    """max over k of f_k + (N - k + 1)/r, with f sorted (k from 1)."""
    f, n = sorted(finishes), len(finishes)
    return max(f[k] + (n - k) / rate for k in range(n))


def ideal_delays(finishes: list[float], rate: float) -> list[float]:
    """c_k = max(f_k, c_{k-1}) + 1/r, c_0 = 0: a queue served at r per second; delay c_k - f_k."""
    confirmed, delays = 0.0, []
    for f in sorted(finishes):
        confirmed = max(f, confirmed) + 1 / rate
        delays.append(confirmed - f)
    return delays


# -- tables ------------------------------------------------------------------------------


class Table:
    def __init__(self, title: str, columns: list[tuple[str, int]]) -> None:
        self.widths = [width for _, width in columns]
        print(f"\n{title}", flush=True)
        self.row([name for name, _ in columns])

    def row(self, cells: Iterable[object]) -> None:
        print("  ".join(f"{cell!s:>{w}}" for cell, w in zip(cells, self.widths, strict=True)).rstrip(), flush=True)


def columns(spec: str) -> list[tuple[str, int]]:
    """'N 4|wall s 6' -> [("N", 4), ("wall s", 6)]: each column's title and width."""
    return [(title, int(width)) for title, _, width in (cell.rpartition(" ") for cell in spec.split("|"))]


def fmt(value: float | None, places: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{places}f}"


def ratio(a: float | None, b: float | None, cut: bool = False) -> str:
    """a / b; `cut`: a run stopped by its deadline, so at least this."""
    return "n/a" if a is None or not b else f"{'>' if cut else ''}{a / b:.2f}"


def cut_short(child: Child) -> bool:
    """Ended by --timeout (124) or killed by the watchdog: its wall time is a lower bound."""
    return child.code == 124 or child.code < 0


# -- wait: N tasks finishing over a span ---------------------------------------------------


def wait_rows(scale: float) -> list[WaitRow]:
    span, burst = SPAN_S * scale, BURST_S * scale
    rows = [WaitRow(f"even-{n}", n, span, None) for n in (10, 100, 1000)]
    return [*rows, WaitRow("even-10000", 10_000, span, 100.0), WaitRow("burst-1000", 1000, burst, None)]


def spread_scenario(n: int, span_s: float) -> Scenario:
    """Task i finishes at span * (i + 1) / n after the simulator starts."""
    tasks = [{"id": f"t{i:05d}", "ready_s": 0, "running_s": span_s * (i + 1) / n} for i in range(n)]
    return Scenario.parse({"auth": "any", "tasks": tasks})


def detection_delays(stdout: bytes, finish_at: dict[str, float]) -> list[float]:
    """elapsed_s minus the finish time, both from the spawn, for every task seen finished."""
    delays = []
    for line in stdout.decode(errors="replace").splitlines():
        record = json.loads(line)
        if record.get("state") in ("succeeded", "failed") and record.get("elapsed_s") is not None:
            delays.append(record["elapsed_s"] - finish_at[record["task_id"]])
    return delays


class WaitRun(NamedTuple):
    child: Child
    finish_at: dict[str, float]  # seconds from the spawn
    arrivals: list[float]  # of every request at the simulator, seconds from the spawn
    sim_cpu_s: float  # this process (the simulator) meanwhile


def measure_wait(row: WaitRow, rate: float) -> WaitRun:
    plan = spread_scenario(row.n, row.span_s)
    options = [] if row.rate is None else ["--max-rate", f"{row.rate:g}"]
    with Simulator(plan) as sim:  # the tasks' clocks start here
        done_at = {t.task_id: (t.created_at or 0.0) + t.ready_s + t.running_s for t in plan.tasks}
        timeout = math.ceil(2 * ideal_wall([at - time.monotonic() for at in done_at.values()], rate) + 60)
        argv = [kpstask_path(), "wait", "-", "-o", "json", "--progress", "plain", "--timeout", f"{timeout}s", *options]
        cpu_before = self_cpu()
        child = run_child(argv, sim_env(sim, plan), "\n".join(done_at).encode(), limit_s=timeout + 120)
        sim_cpu = self_cpu() - cpu_before
        arrivals = [arrived - child.started for _, _, _, arrived in sim.requests]
    return WaitRun(child, {tid: at - child.started for tid, at in done_at.items()}, arrivals, sim_cpu)


def run_wait_row(row: WaitRow) -> list[object]:
    rate = row.rate or DEFAULT_RATE
    child, finish_at, arrivals, sim_cpu = measure_wait(row, rate)
    ideal = ideal_wall(list(finish_at.values()), rate)
    delays = detection_delays(child.stdout, finish_at)
    requests = len(arrivals)
    scenario = f"even over {row.span_s:g}s" + (f", --max-rate {row.rate:g}" if row.rate else "")
    return [
        *(row.n, scenario, fmt(child.wall_s, 1), fmt(ideal, 1), ratio(child.wall_s, ideal, cut_short(child))),
        ("≥" if requests >= MAX_RECORDED else "") + fmt(requests / row.n),
        *(fmt(statistics.mean(delays) if delays else None), fmt(max(delays) if delays else None)),
        fmt(statistics.mean(ideal_delays(list(finish_at.values()), rate))),
        *(fmt(1000 * child.cpu_s / requests if requests else None, 1), fmt(child.rss_mib, 1), child.code),
        *(fmt(min(arrivals) if arrivals else None), fmt(100 * sim_cpu / child.wall_s, 0), f"{len(delays)}/{row.n}"),
    ]


def wait_table(rows: list[WaitRow]) -> None:
    table = Table(
        "wait: N tasks, one `kpstask wait -o json --progress plain` each (delays in s; ideal = rate-bound)",
        columns(
            "N 6|scenario 31|wall s 7|ideal s 7|wall/ideal 10|req/task 8|delay mean 10|delay max 9|"
            "ideal mean 10|CPU ms/req 10|RSS MiB 7|exit 4|1st GET s 9|sim CPU % 9|seen done 11"
        ),
    )
    for row in rows:
        table.row(run_wait_row(row))


# -- live vs plain ------------------------------------------------------------------------------


def finished_scenario(n: int, faults: list[dict[str, Any]] | None = None) -> Scenario:
    tasks = [{"id": f"d{i:05d}", "status": "SUCCESS_RESET"} for i in range(n)]
    return Scenario.parse({"auth": "any", "tasks": tasks, "faults": faults or []})


def run_live_row(n: int) -> list[object]:
    plan = finished_scenario(n)
    ids = "\n".join(task.task_id for task in plan.tasks).encode()
    timeout = math.ceil(2 * n / 1000 + LIVE_SLACK_S)
    base = [kpstask_path(), "wait", "-", "-o", "json", "--max-rate", "1000", "--concurrency", "16"]
    base += ["--timeout", f"{timeout}s"]
    with Simulator(plan) as sim:
        plain = run_child([*base, "--progress", "plain"], sim_env(sim, plan), ids, limit_s=timeout + 120)
        term = sim_env(sim, plan, COLUMNS="120", LINES="40", TERM="xterm-256color")
        live = run_child([*base, "--progress", "live"], term, ids, tty=True, limit_s=timeout + 120)
    return [
        *(n, fmt(n / 1000), fmt(plain.wall_s), fmt(live.wall_s)),
        ratio(live.wall_s, plain.wall_s, cut_short(live) and not cut_short(plain)),
        *(fmt(plain.cpu_s), fmt(live.cpu_s), f"{plain.code}/{live.code}"),
    ]


def live_table(ns: list[int]) -> None:
    table = Table(
        "live vs plain: finished tasks, `kpstask wait --max-rate 1000 --concurrency 16` (target live/plain <= 1.2)",
        columns("N 5|ideal s 7|plain s 7|live s 7|live/plain 10|plain CPU s 11|live CPU s 10|exits 5"),
    )
    for n in ns:
        table.row(run_live_row(n))


# -- get against a peer -----------------------------------------------------------------------------


def median_wall(argv: list[str], env: dict[str, str], runs: int) -> tuple[float | None, int, bytes]:
    """Median wall time of `runs` runs, the last exit code and stdout; None when the options are refused (exit 2)."""
    times, out = [], b""
    for _ in range(runs):
        child = run_child(argv, env, limit_s=900)
        if child.code == 2:
            return None, 2, b""
        times.append(child.wall_s)
        out = child.stdout
    return statistics.median(times), child.code, out


def run_get_row(sim: Simulator, plan: Scenario, n: int, latency_ms: int) -> list[object]:
    ids = [task.task_id for task in plan.tasks[:n]]
    env = sim_env(sim, plan)
    get = [kpstask_path(), "get", *ids, "-o", "json"]
    runs = GET_RUNS if n <= 100 else 1
    plain, code = (None, 0) if n > GET_CAPPED_MAX else median_wall(get, env, runs)[:2]
    rated, rated_code, rated_out = median_wall([*get, "--max-rate", "1000"], env, runs)
    peer, peer_code, peer_out = median_wall([sys.executable, "-c", PEER_SCRIPT, *ids], env, runs)
    return [
        *(n, latency_ms, fmt(plain), fmt(rated), fmt(peer), ratio(plain, peer), ratio(rated, peer)),
        f"{code}/{rated_code}/{peer_code}",
        *(runs, "yes" if rated_out == peer_out and rated_out.count(b"\n") == n else "NO"),
    ]


def get_table(rows: list[tuple[int, int]]) -> None:
    table = Table(
        "get: `kpstask get ID... -o json` against 8 threads of requests, the same token, the same output (median "
        f"wall s of {GET_RUNS} runs, 1 from 1000 ids; the default cap's column up to {GET_CAPPED_MAX} ids)",
        columns(
            "ids 6|latency ms 10|get s 7|get --max-rate 1000 s 21|peer s 6|get/peer 8|rate/peer 9|exits 6|runs 4|"
            "same output 11"
        ),
    )
    for latency_ms in sorted({latency for _, latency in rows}):
        faults = [{"type": "latency", "seconds": latency_ms / 1000}] if latency_ms else []
        plan = finished_scenario(max(n for n, _ in rows), faults)
        with Simulator(plan) as sim:
            for n, latency in rows:
                if latency == latency_ms:
                    table.row(run_get_row(sim, plan, n, latency_ms))


# -- main --------------------------------------------------------------------------------------------


def chosen(name: str, table: str, only: list[str] | None) -> bool:
    return only is None or name in only or table in only


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the task durations (0.1: a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="a row (even-1000, among-5-20000, ...: see the docstring) or a table: wait, live, get, among, unlisted, "
        "quota, stream, fleet (the last four)",
    )
    parser.add_argument("--kpstask", default=KPSTASK[0], help="the kpstask executable to measure")
    args = parser.parse_args()
    KPSTASK[0] = args.kpstask
    waits = [row for row in wait_rows(args.scale) if chosen(row.name, "wait", args.only)]
    lives = [n for n in (10, 100, 1000, 10_000) if chosen(f"live-{n}", "live", args.only)]
    sizes = (1, 10, 100, 1000, 10_000)
    gets = [(n, ms) for ms in (0, 50) for n in sizes if chosen(f"get-{n}-{ms}ms", "get", args.only)]
    import scale_fleet  # here: it imports this module's helpers

    rows = [(name, table) for table, names in scale_fleet.ROWS.items() for name in names]
    fleet = [name for name, table in rows if chosen(name, table, args.only) or chosen(name, "fleet", args.only)]
    if not (waits or lives or gets or fleet):
        parser.error(f"--only: no such row or table: {', '.join(args.only or [])}")
    print(f"kpstask: {kpstask_path()}; {os.cpu_count()} CPUs; scale {args.scale:g}", flush=True)
    if waits:
        wait_table(waits)
    if lives:
        live_table(lives)
    if gets:
        get_table(gets)
    if fleet:
        scale_fleet.run_fleet(fleet, args.scale, kpstask_path())
    return 0


if __name__ == "__main__":
    sys.exit(main())
