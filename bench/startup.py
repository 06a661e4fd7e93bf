#!/usr/bin/env python3
"""Benchmark: whole-process start-up, kpstask against the official Huawei SDK.

Runs, paired and alternated in one run (each round runs every variant once, in a
rotating order), against the local simulator:
  - `python -c pass`
  - a bare `requests` script fetching the task
  - the official SDK (huaweicloudsdkkps) fetching the task, installed by this script
    in its own virtual environment (bench/.sdk-venv)
  (kpstask and the requests script run from bench/.kpstask-venv, where this tree is
  installed with a plain `pip install .`, as users install it)
  - `kpstask get TASK -o json`, signing with AK/SK like the SDK (the same keys)
  - a Tab completion (`_KPSTASK_COMPLETE=complete_bash ...`)
  - `kpstask --version`
and reports the median wall time and peak memory (max RSS) of each process.

Targets: `kpstask get -o json` <= 0.9x the SDK; completion <= 0.5x; `--version` <= 0.4x;
peak memory below the SDK's.

Run: python bench/startup.py [--rounds N]   (needs PyPI the first time, for the SDK)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from kpstask.simulator import Scenario, Simulator

HERE = Path(__file__).resolve().parent
SDK_VENV = HERE / ".sdk-venv"
KPSTASK_VENV = HERE / ".kpstask-venv"
TASK = "bench-task-1"
ACCESS_KEY, SECRET_KEY = "AKBENCHMARK00000000", "benchmark-secret-key"

REQUESTS_SCRIPT = """
import json, os, sys
import requests
url = f"{os.environ['EP']}/v3/{os.environ['PID']}/tasks/{sys.argv[1]}"
print(json.dumps(requests.get(url, headers={"X-Auth-Token": os.environ["TOKEN"]}, timeout=10).json()))
"""

SDK_SCRIPT = """
import os, sys
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkkps.v3 import KpsClient, ListKeypairTaskRequest
credentials = BasicCredentials(os.environ["AK"], os.environ["SK"], os.environ["PID"])
client = KpsClient.new_builder().with_credentials(credentials).with_endpoints([os.environ["EP"]]).build()
print(client.list_keypair_task(ListKeypairTaskRequest(task_id=sys.argv[1])))
"""


def kpstask_python() -> Path:
    """kpstask as users get it: `pip install .` (not editable), reinstalled from this tree."""
    python = KPSTASK_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(KPSTASK_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(HERE.parent)], check=True
    )
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(HERE.parent)], check=True)
    return python


def sdk_python() -> Path:
    python = SDK_VENV / "bin" / "python"
    if not python.exists():
        print("installing huaweicloudsdkkps into bench/.sdk-venv ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "huaweicloudsdkkps"], check=True)
    return python


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, int, bytes]:
    """Wall seconds, peak RSS in KiB and stdout of one whole process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} exited {proc.returncode}")
    return took, usage.ru_maxrss, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    rounds = parser.parse_args().rounds
    sdk = sdk_python()
    python = kpstask_python()
    kpstask = python.with_name("kpstask")
    scenario = Scenario.parse({"auth": "any", "tasks": [{"id": TASK, "status": "SUCCESS_RESET"}]})
    with Simulator(scenario) as sim:
        # kpstask and the SDK do the same work: the same AK/SK, each request signed (SDK-HMAC-SHA256).
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "EP": sim.url,
            "PID": scenario.project_id,
            "TOKEN": scenario.token,
            "AK": ACCESS_KEY,
            "SK": SECRET_KEY,
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": scenario.project_id,
            "KPSTASK_ACCESS_KEY": ACCESS_KEY,
            "KPSTASK_SECRET_KEY": SECRET_KEY,
        }
        complete = {
            **env,
            "_KPSTASK_COMPLETE": "complete_bash",
            "COMP_WORDS": "kpstask get --region cn-n",
            "COMP_CWORD": "3",
        }
        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass": ([str(python), "-c", "pass"], env),
            "bare requests script": ([str(python), "-c", REQUESTS_SCRIPT, TASK], env),
            "official SDK": ([str(sdk), "-c", SDK_SCRIPT, TASK], env),
            "kpstask get -o json": ([str(kpstask), "get", TASK, "-o", "json"], env),
            "kpstask Tab completion": ([str(kpstask)], complete),
            "kpstask --version": ([str(kpstask), "--version"], env),
        }
        for argv, variant_env in variants.values():  # warm the file cache once
            measure(argv, variant_env)
        times: dict[str, list[float]] = {name: [] for name in variants}
        memory: dict[str, list[int]] = {name: [] for name in variants}
        names = list(variants)
        for i in range(rounds):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                took, rss, _ = measure(*variants[name])
                times[name].append(took)
                memory[name].append(rss)
    sdk_time = statistics.median(times["official SDK"])
    sdk_mem = max(memory["official SDK"])
    print(f"{rounds} rounds, paired and alternated; median wall time, peak RSS")
    print(f"{'variant':<24} {'median ms':>10} {'x SDK':>7} {'peak MiB':>9}")
    for name in names:
        median = statistics.median(times[name])
        print(f"{name:<24} {median * 1000:>10.1f} {median / sdk_time:>7.2f} {max(memory[name]) / 1024:>9.1f}")
    checks = {
        "kpstask get -o json <= 0.9x SDK": statistics.median(times["kpstask get -o json"]) <= 0.9 * sdk_time,
        "Tab completion <= 0.5x SDK": statistics.median(times["kpstask Tab completion"]) <= 0.5 * sdk_time,
        "--version <= 0.4x SDK": statistics.median(times["kpstask --version"]) <= 0.4 * sdk_time,
        "peak memory below the SDK's": max(memory["kpstask get -o json"]) < sdk_mem,
    }
    print()
    for what, ok in checks.items():
        print(f"{'met ' if ok else 'MISSED'}  {what}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
