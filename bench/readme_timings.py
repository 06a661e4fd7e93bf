#!/usr/bin/env python3
"""Benchmark: the README's and docs' own timings, as a new user would see them.

  install    a fresh `git clone` of this repository, then the README's first command in
             parts: `python3 -m venv .venv` and `.venv/bin/pip install -q .` (no pip cache,
             as on a fresh machine; the package index is whatever pip is configured with)
  demo       `kpstask demo` from that install, then `kpstask demo --tasks 300`
  test-deps  the README's second command without the test run: `python3 -m venv --clear
             .venv && .venv/bin/pip install -q -e '.[test]'` (no pip cache)
  all-running  `kpstask simulate --tasks 300` in the background, then `kpstask wait
             --all-running` on it (the README's simulator section), default options
  refused    `kpstask wait` against a port where nothing listens (127.0.0.1:1): how long
             until it gives up ("3 tries, never an answer")

Each step is one whole process (or shell line) with its wall time and the CPU time (user +
sys) of it and its children, from wait4. The installs need the package index; the other
steps run from the fresh clone's install.

Run: python bench/readme_timings.py [--repo PATH] [--only STEP ...] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = ("install", "demo", "test-deps", "all-running", "refused")
NO_CACHE = {"PIP_NO_CACHE_DIR": "1"}


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, int, bytes]:
    """Wall s, CPU s (user + sys, the process and its children), exit code and output tail."""
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    if proc.stdout:
        proc.stdout.close()
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status), out[-300:]


def report(what: str, wall: float, cpu: float, code: int, tail: bytes = b"") -> None:
    print(f"{what:<44} {wall:>7.1f} s wall {cpu:>6.1f} s CPU  exit {code}", flush=True)
    if code not in (0, 1, 7):
        print(f"  {tail!r}", flush=True)


def install(clone: Path) -> None:
    report("python3 -m venv .venv", *timed(["python3", "-m", "venv", ".venv"], clone))
    report("pip install -q .", *timed([".venv/bin/pip", "install", "-q", "."], clone, NO_CACHE))


def demo(clone: Path, runs: int) -> None:
    for _ in range(runs):
        report("kpstask demo", *timed([".venv/bin/kpstask", "demo", "--no-color"], clone))
    report("kpstask demo --tasks 300", *timed([".venv/bin/kpstask", "demo", "--no-color", "--tasks", "300"], clone))


def test_deps(clone: Path) -> None:
    line = "python3 -m venv --clear .venv && .venv/bin/pip install -q -e '.[test]'"
    report("venv --clear + pip install -q -e '.[test]'", *timed(["sh", "-c", line], clone, NO_CACHE))


def all_running(clone: Path) -> None:
    env_file = clone / "sim.env"
    with env_file.open("w") as out:
        sim = subprocess.Popen(
            [".venv/bin/kpstask", "simulate", "--port", "0", "-q", "--tasks", "300"], cwd=clone, stdout=out
        )
    try:
        while "# ready" not in env_file.read_text():
            time.sleep(0.1)
        settings = dict(
            line.removeprefix("export ").split("=", 1)
            for line in env_file.read_text().splitlines()
            if line.startswith("export ")
        )
        wait = [".venv/bin/kpstask", "wait", "--all-running", "--progress", "plain", "-q"]
        report("kpstask wait --all-running (300 tasks)", *timed(wait, clone, settings))
    finally:
        sim.terminate()
        sim.wait()


def refused(clone: Path, runs: int) -> None:
    env = {"KPSTASK_ENDPOINT": "http://127.0.0.1:1", "KPSTASK_PROJECT_ID": "0" * 32, "KPSTASK_TOKEN": "x"}
    for _ in range(runs):
        argv = [".venv/bin/kpstask", "wait", "task-1", "--progress", "plain", "-q", "--timeout", "5m"]
        report("kpstask wait, connection refused", *timed(argv, clone, env))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", default=str(HERE.parent), help="the repository to clone (its HEAD)")
    parser.add_argument("--only", action="append", choices=STEPS, help="run only this step (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="runs of `demo` and of `refused`")
    args = parser.parse_args()
    steps = args.only or list(STEPS)
    work = Path(tempfile.mkdtemp(prefix="kpstask-readme-"))
    clone = work / "kpstask"
    try:
        subprocess.run(["git", "clone", "-q", args.repo, str(clone)], check=True)
        head = subprocess.check_output(["git", "log", "-1", "--format=%h"], cwd=clone, text=True).strip()
        python = subprocess.check_output(["python3", "--version"], text=True).strip()
        print(
            f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {platform.machine()}, {python}, "
            f"commit {head}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            flush=True,
        )
        if "install" in steps or not (clone / ".venv").exists():
            install(clone)
        if "demo" in steps:
            demo(clone, args.runs)
        if "all-running" in steps:
            all_running(clone)
        if "refused" in steps:
            refused(clone, args.runs)
        if "test-deps" in steps:  # last: it replaces the .venv
            test_deps(clone)
        print(f"load at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
