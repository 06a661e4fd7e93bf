#!/usr/bin/env python3
"""Benchmark: what the typer pin saves, the same kpstask with the pinned typer and a newer one.

The runtime dependency is pinned below typer 0.29 because 0.29 imports pydantic on every
run. This runs the same commands from two installs of the same kpstask tree, paired and
alternated (each round runs every command from both, in a rotating order), as whole
processes against the local simulator, and reports per command the minimum and median
wall time and the median CPU time (user + sys, from wait4) of each, and the difference.

The installs are made by this script (not timed), outside the repository in
$TMPDIR/kpstask-bench-typer: `pinned` with `pip install TREE` (the pin as pyproject says),
`newer` with the same tree and `typer>=0.29` (needs PyPI the first time).

Run: python bench/typer_pin.py [--rounds N] [--source TREE] [--typer SPEC]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kpstask.simulator import Scenario, Simulator

HERE = Path(__file__).resolve().parent
TASK = "bench-task-1"
VENVS = Path(tempfile.gettempdir()) / "kpstask-bench-typer"


def install(venv: Path, source: Path, typer: str | None) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(source)], check=True)
    subprocess.run([*pip, "--force-reinstall", "--no-deps", str(source)], check=True)
    if typer:
        subprocess.run([*pip, typer], check=True)  # pip warns of the broken pin; that is the point
    return python


def version(python: Path, package: str) -> str:
    show = [str(python), "-m", "pip", "show", package]
    out = subprocess.run(show, check=False, capture_output=True, text=True).stdout
    return next((line.split()[-1] for line in out.splitlines() if line.startswith("Version:")), "-")


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys) of one whole process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return took, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--source", type=Path, default=HERE.parent, help="the kpstask tree to install")
    parser.add_argument("--typer", default="typer>=0.29", help="the newer typer to compare with")
    args = parser.parse_args()
    installs = {
        "pinned": install(VENVS / "pinned", args.source, None),
        "newer": install(VENVS / "newer", args.source, args.typer),
    }
    scenario = Scenario.parse({"tasks": [{"id": TASK, "status": "SUCCESS_RESET"}]})
    with Simulator(scenario) as sim:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": scenario.project_id,
            "KPSTASK_TOKEN": scenario.token,
        }
        complete = {**env, "_KPSTASK_COMPLETE": "complete_bash", "COMP_WORDS": "kpstask get --region cn-n"}
        complete["COMP_CWORD"] = "3"
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "kpstask --version": (["--version"], env),
            "kpstask --help": (["--help"], env),
            "kpstask get --help": (["get", "--help"], env),
            "Tab completion": ([], complete),
            "kpstask get ID -o json": (["get", TASK, "-o", "json"], env),
        }
        runs = [(command, which) for command in commands for which in installs]
        for command, which in runs:  # warm the file cache once
            measure([str(installs[which].with_name("kpstask")), *commands[command][0]], commands[command][1])
        wall: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
        cpu: dict[tuple[str, str], list[float]] = {run: [] for run in runs}
        for i in range(args.rounds):
            for command, which in runs[i % len(runs) :] + runs[: i % len(runs)]:
                argv = [str(installs[which].with_name("kpstask")), *commands[command][0]]
                took, used = measure(argv, commands[command][1])
                wall[command, which].append(took)
                cpu[command, which].append(used)
    print(
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}; "
        + "; ".join(
            f"{which}: typer {version(python, 'typer')}, pydantic {version(python, 'pydantic')}"
            for which, python in installs.items()
        )
    )
    print(f"{args.rounds} rounds, paired and alternated; ms")
    print(f"{'command':<24} {'min pinned':>10} {'min newer':>9} {'median CPU pinned':>17} {'newer':>6} {'+CPU':>6}")
    for command in commands:
        low = {which: min(wall[command, which]) * 1000 for which in installs}
        used = {which: statistics.median(cpu[command, which]) * 1000 for which in installs}
        print(
            f"{command:<24} {low['pinned']:>10.1f} {low['newer']:>9.1f} {used['pinned']:>17.1f} {used['newer']:>6.1f} "
            f"{used['newer'] - used['pinned']:>+6.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
