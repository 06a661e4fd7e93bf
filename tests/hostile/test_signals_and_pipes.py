"""Pipes and signals as the README promises: a closed stdout is 141 in every format, a
closed stderr does not change the result, Ctrl-C and SIGTERM end cleanly however early."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.conftest import CANARY

KPSTASK = Path(sys.executable).with_name("kpstask")
LONG = "s" * 200_000  # one row far bigger than a pipe's buffer


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    tasks = [{"id": "big", "status": "SUCCESS_RESET", "server_id": LONG}, {"id": "ok", "status": "SUCCESS_RESET"}]
    tasks += [{"id": f"run-{i}", "operation": "reset", "outcome": "never"} for i in range(2000)]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as running:
        yield running


def env_for(sim: Simulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    return env | {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}


@pytest.mark.parametrize(
    "args",
    [["get", "big", "-o", "human"], ["get", "big", "-o", "json"], ["running"], ["running", "-o", "tsv"]],
    ids=["get-human", "get-json", "running-human", "running-tsv"],
)
def test_a_reader_that_goes_away_is_exit_141(sim: Simulator, args: list[str]) -> None:
    command = " ".join([str(KPSTASK), *args]) + ' | head -c 10 >/dev/null; echo "${PIPESTATUS[0]}"'
    proc = subprocess.run(
        ["bash", "-c", command], env=env_for(sim), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stdout.strip() == "141", proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_closed_stderr_does_not_change_the_result(sim: Simulator) -> None:
    proc = subprocess.Popen(
        [str(KPSTASK), "wait", "ok", "--progress", "plain", "-o", "json"],
        env=env_for(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None and proc.stdout is not None
    proc.stderr.close()  # the reader of stderr is gone before the first line
    out = proc.stdout.read()
    assert proc.wait(timeout=30) == 0
    assert b'"state":"succeeded"' in out


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_early_signal_ends_cleanly(sim: Simulator, sent: signal.Signals, code: int) -> None:
    # Fourteen instants from interpreter start-up to the end of the command, however long a
    # whole run takes on this machine now (a busy machine starts slowly).
    began = time.monotonic()
    subprocess.run([str(KPSTASK), "get", "ok"], env=env_for(sim), capture_output=True, timeout=30, check=True)
    whole = time.monotonic() - began
    codes = []
    for delay in [0.03 + (whole - 0.03) * i / 13 for i in range(14)]:
        proc = subprocess.Popen(
            [str(KPSTASK), "get", "ok"], env=env_for(sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        time.sleep(delay)
        proc.send_signal(sent)
        _, stderr = proc.communicate(timeout=30)
        if "Traceback" in stderr and "/kpstask/" not in stderr:
            continue  # the interpreter or the console script's own import, before any of kpstask's code ran
        assert "Traceback" not in stderr, f"after {delay:.3f}s: {stderr}"
        assert proc.returncode in (code, 0, -sent), f"after {delay:.3f}s: {proc.returncode} {stderr}"
        codes.append(proc.returncode)
    assert code in codes  # the signal did land while kpstask was running
