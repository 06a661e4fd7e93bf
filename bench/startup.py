#!/usr/bin/env python3
"""Benchmark: whole-process start-up, kpstask against the official Huawei SDK, equal work.

Runs, paired and alternated in one run (each round runs every variant once, in a
rotating order), against the local simulator, which verifies every AK/SK signature
(scenario `access_keys`: a request it cannot verify gets 401 and the run stops):
  - `python -c pass`
  - a bare `requests` script that signs the request with AK/SK itself (SDK-HMAC-SHA256)
  - the official SDK (huaweicloudsdkkps, `BasicCredentials(ak, sk, project_id)`),
    installed by this script in its own virtual environment (bench/.sdk-venv)
  - `kpstask get TASK -o json` with KPSTASK_ACCESS_KEY/KPSTASK_SECRET_KEY (no token)
  - the same with KPSTASK_TOKEN instead: not equal work, so not a comparison with the SDK,
    but what signing costs kpstask
  - a Tab completion (`_KPSTASK_COMPLETE=complete_bash ...`)
  - `kpstask --version`
(kpstask and the requests script run from bench/.kpstask-venv, where this tree is
installed with a plain `pip install .`, as users install it; the installs are not timed.)

Equal work: the three that fetch the task with AK/SK use the same access key pair (no token
is set: the simulator answers 200 only to a signature it verified), each sends exactly one
GET (counted at the simulator), and each prints the same JSON line, byte for
byte (the task's fields, its operation and its state, as `kpstask get -o json` prints
them): the run stops if not. A round's processes are whole: interpreter start-up,
imports, the request, the output.

Reports, per variant: the median and the minimum wall time, the median CPU time (user +
sys, from wait4: less sensitive than wall time to other work on the machine) and the
peak RSS. Targets (on the minimum, the figure least disturbed by other work): `kpstask
get -o json` <= 0.9x the SDK; completion <= 0.5x; `--version` <= 0.4x; peak memory below
the SDK's.

Run: python bench/startup.py [--rounds N] [--source TREE]   (needs PyPI the first time, for the SDK)
  --source: the kpstask tree to install and measure, e.g. a `git archive` of one commit
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
SDK_VENV = HERE / ".sdk-venv"
KPSTASK_VENV = HERE / ".kpstask-venv"
TASK = "bench-task-1"
ACCESS_KEY, SECRET_KEY = "AKBENCHMARK00000000", "benchmark-secret-key"
FETCHERS = ("bare requests script", "official SDK", "kpstask get -o json", "kpstask get, a token")

# The line `kpstask get -o json` prints for a task with these fields; the two other fetchers print it too.
OUTPUT = """
def line(task):
    status = task["task_status"]
    outcome, _, operation = status.partition("_")
    state = {"SUCCESS": "succeeded", "FAILED": "failed"}.get(outcome, "running")
    record = {"task_id": task["task_id"], "task_status": status, "server_id": task["server_id"]}
    return json.dumps({**record, "operation": operation.lower(), "state": state}, separators=(",", ":"))
"""

REQUESTS_SCRIPT = (
    """
import datetime, hashlib, hmac, json, os, sys
from urllib.parse import urlsplit
import requests
"""
    + OUTPUT
    + """
url = f"{os.environ['EP']}/v3/{os.environ['PID']}/tasks/{sys.argv[1]}"
parts = urlsplit(url)
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
headers = {"Host": parts.netloc, "X-Sdk-Date": date, "X-Project-Id": os.environ["PID"]}
names = sorted(headers, key=str.lower)
canonical = "\\n".join(
    ["GET", parts.path + "/", "", "".join(f"{n.lower()}:{headers[n]}\\n" for n in names),
     ";".join(n.lower() for n in names), hashlib.sha256(b"").hexdigest()]
)
to_sign = f"SDK-HMAC-SHA256\\n{date}\\n{hashlib.sha256(canonical.encode()).hexdigest()}"
signature = hmac.new(os.environ["SK"].encode(), to_sign.encode(), hashlib.sha256).hexdigest()
headers["Authorization"] = (
    f"SDK-HMAC-SHA256 Access={os.environ['AK']}, SignedHeaders={';'.join(n.lower() for n in names)}, "
    f"Signature={signature}"
)
answer = requests.get(url, headers=headers, timeout=10)
answer.raise_for_status()
print(line(answer.json()))
"""
)

SDK_SCRIPT = (
    """
import json, os, sys
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkkps.v3 import KpsClient, ListKeypairTaskRequest
"""
    + OUTPUT
    + """
credentials = BasicCredentials(os.environ["AK"], os.environ["SK"], os.environ["PID"])
client = KpsClient.new_builder().with_credentials(credentials).with_endpoints([os.environ["EP"]]).build()
print(line(client.list_keypair_task(ListKeypairTaskRequest(task_id=sys.argv[1])).to_dict()))
"""
)


def kpstask_python(source: Path) -> Path:
    """kpstask as users get it: `pip install .` (not editable), reinstalled from `source`."""
    python = KPSTASK_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(KPSTASK_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(source)], check=True
    )
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(source)], check=True)
    return python


def sdk_python() -> Path:
    python = SDK_VENV / "bin" / "python"
    if not python.exists():
        print("installing huaweicloudsdkkps into bench/.sdk-venv ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "huaweicloudsdkkps"], check=True)
    return python


def installed(python: Path, package: str) -> str:
    show = [str(python), "-m", "pip", "show", package]
    out = subprocess.run(show, check=False, capture_output=True, text=True).stdout
    return next((line.split()[-1] for line in out.splitlines() if line.startswith("Version:")), "?")


def measure(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, bytes]:
    """Wall seconds, CPU seconds (user + sys), peak RSS in KiB and stdout of one whole process."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.stdout:
            proc.stdout.close()
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{argv[:3]} exited {proc.returncode}: {err.read()[-300:]!r}")
    return took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--source", type=Path, default=HERE.parent, help="the kpstask tree to install")
    args = parser.parse_args()
    rounds = args.rounds
    sdk = sdk_python()
    python = kpstask_python(args.source)
    kpstask = python.with_name("kpstask")
    scenario = Scenario.parse(
        {
            "tasks": [{"id": TASK, "status": "SUCCESS_RESET"}],
            "access_keys": [{"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}],
        }
    )
    with Simulator(scenario) as sim:
        # The same AK/SK for every fetcher; no token anywhere (the simulator would take one).
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "EP": sim.url,
            "PID": scenario.project_id,
            "AK": ACCESS_KEY,
            "SK": SECRET_KEY,
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": scenario.project_id,
            "KPSTASK_ACCESS_KEY": ACCESS_KEY,
            "KPSTASK_SECRET_KEY": SECRET_KEY,
        }
        # Not equal work, so not compared with the SDK: what signing costs kpstask against a token.
        token = {k: v for k, v in env.items() if k not in ("KPSTASK_ACCESS_KEY", "KPSTASK_SECRET_KEY")}
        token["KPSTASK_TOKEN"] = scenario.token
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
            "kpstask get, a token": ([str(kpstask), "get", TASK, "-o", "json"], token),
            "kpstask Tab completion": ([str(kpstask)], complete),
            "kpstask --version": ([str(kpstask), "--version"], env),
        }
        outputs = {}
        for name, (argv, variant_env) in variants.items():  # warm the file cache once; check the work is equal
            before = len(sim.requests)
            outputs[name] = measure(argv, variant_env)[3]
            if name in FETCHERS:
                sent = sim.requests[before:]
                if [(method, status) for method, _, status, _ in sent] != [("GET", 200)]:
                    raise SystemExit(f"{name}: {sent!r}, expected one GET answered 200")
        if len({outputs[name] for name in FETCHERS}) != 1:
            raise SystemExit(f"the fetchers' outputs differ: {[outputs[name] for name in FETCHERS]}")
        times: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        memory: dict[str, list[int]] = {name: [] for name in variants}
        names = list(variants)
        for i in range(rounds):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                took, used, rss, out = measure(*variants[name])
                if name in FETCHERS and out != outputs[name]:
                    raise SystemExit(f"{name} printed {out!r}, not {outputs[name]!r}")
                times[name].append(took)
                cpu[name].append(used)
                memory[name].append(rss)
        requests_seen = len(sim.requests)
    sdk_min, sdk_median = min(times["official SDK"]), statistics.median(times["official SDK"])
    sdk_cpu, sdk_mem = statistics.median(cpu["official SDK"]), max(memory["official SDK"])
    print(
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}, "
        f"kpstask {installed(python, 'kpstask')}, typer {installed(python, 'typer')}, "
        f"huaweicloudsdkkps {installed(sdk, 'huaweicloudsdkkps')}; os.getloadavg() at the end: "
        + " ".join(f"{load:.2f}" for load in os.getloadavg())
    )
    print(f"{rounds} rounds, paired and alternated; {requests_seen} GETs answered 200 (AK/SK: signatures verified)")
    print(f"every fetcher printed: {outputs['kpstask get -o json'].decode().strip()}")
    print(
        f"{'variant':<24} {'min ms':>8} {'x SDK':>6} {'median ms':>10} {'x SDK':>6} "
        f"{'CPU ms':>8} {'x SDK':>6} {'peak MiB':>9}"
    )
    for name in names:
        low, median, used = min(times[name]), statistics.median(times[name]), statistics.median(cpu[name])
        print(
            f"{name:<24} {low * 1000:>8.1f} {low / sdk_min:>6.2f} {median * 1000:>10.1f} {median / sdk_median:>6.2f} "
            f"{used * 1000:>8.1f} {used / sdk_cpu:>6.2f} {max(memory[name]) / 1024:>9.1f}"
        )
    checks = {  # on the minimum wall time
        "kpstask get -o json <= 0.9x SDK": min(times["kpstask get -o json"]) <= 0.9 * sdk_min,
        "Tab completion <= 0.5x SDK": min(times["kpstask Tab completion"]) <= 0.5 * sdk_min,
        "--version <= 0.4x SDK": min(times["kpstask --version"]) <= 0.4 * sdk_min,
        "peak memory below the SDK's": max(memory["kpstask get -o json"]) < sdk_mem,
    }
    print()
    for what, ok in checks.items():
        print(f"{'met ' if ok else 'MISSED'}  {what}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
