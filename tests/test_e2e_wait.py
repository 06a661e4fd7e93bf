"""`kpstask wait` end to end: the installed command against the simulator, in real time
(tasks last a second or two)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from kpstask.simulator import Scenario, Simulator
from tests.conftest import CANARY
from tests.test_e2e import KPSTASK, child_env, kpstask


@pytest.fixture
def sim() -> Iterator[Simulator]:
    scenario = Scenario.parse(
        {
            "token": CANARY,
            "tasks": [
                {"id": "bind", "operation": "bind", "ready_s": 0.3, "running_s": 1.0},
                {"id": "unbind", "operation": "unbind", "outcome": "failed", "ready_s": 0.3, "running_s": 1.2},
                {"id": "stuck", "operation": "reset", "outcome": "never", "ready_s": 0.2},
            ],
        }
    )
    with Simulator(scenario) as running:
        yield running


WAIT = ("wait", "--interval", "1", "-o", "json")


def records(stdout: str) -> dict[str, dict[str, object]]:
    return {r["task_id"]: r for r in (json.loads(line) for line in stdout.splitlines())}


def test_tasks_succeed_and_fail(sim: Simulator) -> None:
    result = kpstask(sim, *WAIT, "bind", "unbind")
    assert result.exit_code == 1
    got = records(result.stdout)
    assert got["bind"]["task_status"] == "SUCCESS_BIND" and got["unbind"]["task_status"] == "FAILED_UNBIND"
    assert all(isinstance(r["polls"], int) and r["polls"] >= 2 for r in got.values())
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert result.stderr.count("kpstask: error") == 0


def test_all_succeed(sim: Simulator) -> None:
    result = kpstask(sim, *WAIT, "bind")
    assert result.exit_code == 0


def test_deadline_is_124(sim: Simulator) -> None:
    result = kpstask(sim, *WAIT, "stuck", "--timeout", "2")
    assert result.exit_code == 124
    assert records(result.stdout)["stuck"]["state"] == "pending"
    assert "still pending at the deadline" in result.stderr


@pytest.mark.slow  # a whole process (or hundreds of runs): over 5 s
def test_transient_faults_are_ridden_out(sim: Simulator) -> None:
    sim.set_faults([{"type": "status", "statuses": [429, 502], "retry_after": 0}], task_id="bind")
    sim.set_faults([{"type": "reset", "times": 1}, {"type": "cut", "after": 1, "times": 1}], task_id="unbind")
    result = kpstask(sim, *WAIT, "bind", "unbind", "--progress", "plain", FORCE_COLOR="1")
    assert result.exit_code == 1, result.stderr
    got = records(result.stdout)
    assert got["bind"]["task_status"] == "SUCCESS_BIND"
    assert got["unbind"]["task_status"] == "FAILED_UNBIND"
    assert "warning: task bind: retrying" in result.stderr and "warning: task unbind: retrying" in result.stderr
    assert "\x1b" not in result.stderr
    assert_clean_lines(result.stderr)


def assert_clean_lines(stderr: str) -> None:
    assert "Traceback" not in stderr and CANARY not in stderr


def test_a_task_that_vanishes_is_not_found(sim: Simulator) -> None:
    proc = subprocess.Popen(
        [str(KPSTASK), *WAIT, "stuck", "--not-found-grace", "1"],
        env=child_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_requests(sim, "stuck", 1)
    sim.remove_task("stuck")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 5, stderr
    assert records(stdout)["stuck"]["error"]["kind"] == "not_found"  # type: ignore[index]


def test_credentials_lost_mid_wait(sim: Simulator) -> None:
    proc = subprocess.Popen(
        [str(KPSTASK), *WAIT, "stuck", "bind"],
        env=child_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_requests(sim, "stuck", 1)
    sim.set_token("rotated-token-value")
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 4, stderr
    assert "credentials refused" in stderr
    assert CANARY not in stderr + stdout


def test_ctrl_c_prints_what_is_known(sim: Simulator) -> None:
    proc = subprocess.Popen(
        [str(KPSTASK), *WAIT, "stuck"], env=child_env(sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for_requests(sim, "stuck", 2)  # the first answer has been read
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert records(stdout)["stuck"]["state"] == "pending"
    assert stderr.rstrip().endswith("kpstask: error: interrupted")
    assert "interrupted: 1 not finished" in stderr
    assert "Traceback" not in stderr


def test_ids_piped_from_a_create_api_answer(sim: Simulator) -> None:
    body = json.dumps({"tasks": [{"task_id": "bind", "server_id": "s1"}, {"task_id": "unbind", "server_id": "s2"}]})
    proc = subprocess.run(
        [str(KPSTASK), *WAIT, "-"],
        input=body,
        env=child_env(sim),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert set(records(proc.stdout)) == {"bind", "unbind"}


def test_wait_with_debug_never_leaks(sim: Simulator) -> None:
    result = kpstask(sim, *WAIT, "bind", "--debug")
    assert result.exit_code == 0
    assert_clean_lines(result.stderr)
    assert "X-Auth-Token: ***" in result.stderr


def wait_for_requests(sim: Simulator, task_id: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while sum(1 for _, path, _, _ in sim.requests if path.endswith("/" + task_id)) < count:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_live_display_on_a_terminal(sim: Simulator) -> None:
    """stderr is a terminal: the live table, a line per change, a summary; stdout stays clean."""
    import os
    import pty

    leader, follower = pty.openpty()
    args = [str(KPSTASK), "wait", "bind", "unbind", "--interval", "1", "-o", "tsv"]
    env = {**child_env(sim), "COLUMNS": "120"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    stdout, _ = proc.communicate(timeout=30)
    os.close(leader)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 1
    assert "\x1b[" in text  # it did draw live
    assert "SUCCESS_BIND" in text and "FAILED_UNBIND" in text and "→" in text
    assert "done: 1 succeeded, 1 failed" in text
    assert "\x1b" not in stdout.decode()
    assert stdout.decode().splitlines()[0].startswith("bind\t")


@pytest.mark.slow  # a whole process (or hundreds of runs): over 5 s
def test_a_fleet_of_1000_tasks_is_waited_for_with_the_running_list() -> None:
    tasks = [
        {"id": f"fleet-{i}", "operation": "bind", "ready_s": 0, "running_s": 1 + 4 * i / 1000} for i in range(1000)
    ]
    scenario = Scenario.parse({"token": CANARY, "tasks": tasks})
    with Simulator(scenario) as fleet:
        started = time.monotonic()
        proc = subprocess.run(
            [
                str(KPSTASK),
                "wait",
                "-",
                "--max-rate",
                "200",
                "--concurrency",
                "16",
                "-o",
                "json",
                "--progress",
                "plain",
                "--timeout",
                "55",
            ],
            env=child_env(fleet),
            input="\n".join(task["id"] for task in tasks),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        took = time.monotonic() - started
        requests = len(fleet.requests)
        pages = sum("/running-tasks" in path for _, path, _, _ in fleet.requests)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {record["state"] for record in records(proc.stdout).values()} == {"succeeded"}
    assert len(records(proc.stdout)) == 1000
    assert pages > 0 and requests <= 3 * 1000
    assert took < 60
