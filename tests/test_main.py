"""`kpstask.cli.main(argv, run) -> int`: the whole command line in a run the caller made (its
streams, environment, clock and sleep), the exit code returned, nothing read from the process."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator

import pytest
import responses

from kpstask.cli import load, main
from kpstask.context import Run, run_of
from tests.conftest import CANARY, ENDPOINT, PROJECT, FakeClock, add_task, task_url


@pytest.fixture(autouse=True)
def every_command() -> Iterator[None]:
    """`main` registers only the command it runs (as the console script does, once a process):
    the app is given all of them back for the tests that follow in this worker."""
    yield
    load()


def a_run(clock: FakeClock, **env: str) -> tuple[Run, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    base = {"KPSTASK_ENDPOINT": ENDPOINT, "KPSTASK_PROJECT_ID": PROJECT, "KPSTASK_TOKEN": CANARY}
    env = {**os.environ, **base, **env}
    run = Run(stdout=out, stderr=err, env=env, wall=lambda: 1_800_000_000.0, clock=clock, sleep=clock.sleep)
    return run, out, err


def test_the_exit_code_is_returned_and_the_output_is_the_runs(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "FAILED_BIND")
    run, out, err = a_run(FakeClock())
    assert main(["get", "t1", "-o", "json"], run) == 1
    assert json.loads(out.getvalue())["task_status"] == "FAILED_BIND"
    assert CANARY not in out.getvalue() + err.getvalue()


def test_a_usage_error_is_a_code_too(kps: responses.RequestsMock) -> None:
    run, _, err = a_run(FakeClock())
    assert main(["get", "not an id!"], run) == 2
    assert err.getvalue().startswith("kpstask: error:")


def test_a_wait_passes_on_the_runs_clock(kps: responses.RequestsMock) -> None:
    """Ten minutes of polls go by on the run's clock at once: its sleep is the only one."""
    kps.get(task_url("t1"), json={"task_id": "t1", "task_status": "RUNNING_BIND"})
    clock = FakeClock()
    run, out, err = a_run(clock)
    started = time.monotonic()
    code = main(["wait", "t1", "--timeout", "10m", "-o", "json", "--progress", "plain"], run)
    assert code == 124, err.getvalue()
    assert sum(clock.sleeps) >= 9 * 60 and time.monotonic() - started < 5
    assert json.loads(out.getvalue())["state"] == "pending"
    # The plain progress: stamped by the run's wall clock, the time taken by its monotonic one.
    assert err.getvalue().startswith("2027-01-15T08:00:00Z t1: RUNNING_BIND")
    assert "still pending at the deadline after 10m00s" in err.getvalue()


def test_a_command_without_its_run_is_a_bug_said_as_such() -> None:
    with pytest.raises(TypeError, match=r"kpstask\.cli\.main"):
        run_of(None)
