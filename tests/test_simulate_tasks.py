"""`kpstask simulate --tasks N` and `kpstask demo --tasks N`: N generated tasks, no scenario file."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests

from kpstask.cli import sim as sim_command
from kpstask.cli.sim import MAX_GENERATED, generated_scenario
from kpstask.simulator import DEFAULT_PROJECT, DEFAULT_TOKEN, Simulator, default_scenario
from tests.conftest import run

KPSTASK = Path(sys.executable).with_name("kpstask")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- what is generated ------------------------------------------------------------------------


def test_ids_operations_and_outcomes() -> None:
    tasks = generated_scenario(20).tasks
    assert [task.task_id for task in tasks] == [f"task-{n:04d}" for n in range(1, 21)]
    assert [task.operation for task in tasks[:5]] == ["reset", "replace", "bind", "unbind", "reset"]
    assert [task.task_id for task in tasks if task.outcome == "failed"] == ["task-0010", "task-0020"]
    assert {task.outcome for task in tasks} == {"success", "failed"}  # none runs for ever
    assert not any(task.faults or task.never_finishes for task in tasks)
    assert tasks[0].server_id == "c9aa197b-a6b6-4c33-b3a6-000000000001" and tasks[0].server_name == "ecs-0001"


@pytest.mark.parametrize(
    ("count", "first", "last"),
    [(1, "task-0001", "task-0001"), (9999, "task-0001", "task-9999"), (10_000, "task-00001", "task-10000")],
)
def test_ids_are_padded_to_four_digits_or_to_ns_width(count: int, first: str, last: str) -> None:
    tasks = generated_scenario(count).tasks
    assert (tasks[0].task_id, tasks[-1].task_id, len(tasks)) == (first, last, count)


def test_durations_are_spread_evenly_in_a_repeatable_shuffled_order() -> None:
    tasks = generated_scenario(300).tasks
    running = [task.running_s for task in tasks]
    assert sorted(running) == [round(5 + 55 * k / 299, 1) for k in range(300)]
    assert running != sorted(running)  # the order of finishing is not the order of the ids
    assert running == [task.running_s for task in generated_scenario(300).tasks]
    assert {task.ready_s for task in tasks} == {1.0}
    assert [task.running_s for task in generated_scenario(1).tasks] == [5.0]


def test_the_demo_sets_clock_and_credentials() -> None:
    plan, demo = generated_scenario(3), default_scenario()
    assert plan.clock == demo.clock == "first_query"
    assert (plan.access_keys, plan.users, plan.token, plan.project_id) == (
        demo.access_keys,
        demo.users,
        DEFAULT_TOKEN,
        DEFAULT_PROJECT,
    )
    assert all(task.created_at is None for task in plan.tasks)  # each clock waits for a first query


# -- served by the simulator, on a fake clock ---------------------------------------------------


def listed(sim: Simulator, command: str) -> list[dict[str, object]]:
    env = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": DEFAULT_TOKEN}
    result = run(command, "-o", "json", env=env, with_defaults=False)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_generated_tasks_run_and_finish_on_the_simulators_clock() -> None:
    clock = FakeClock()
    with Simulator(generated_scenario(30), clock=clock) as sim:
        running = listed(sim, "running")
        assert [item["task_id"] for item in running] == [f"task-{n:04d}" for n in range(1, 31)]
        assert Counter(item["operation"] for item in running) == {"reset": 8, "replace": 8, "bind": 7, "unbind": 7}
        clock.now += 1 + 60  # READY for 1 s, RUNNING for at most 60 s
        assert listed(sim, "running") == []
        failed = listed(sim, "failed")
        assert [item["task_id"] for item in failed] == ["task-0010", "task-0020", "task-0030"]
        assert {item["task_error_code"] for item in failed} == {"KPS.0003"}


# -- `kpstask simulate --tasks N` ----------------------------------------------------------------


def test_simulate_serves_n_generated_tasks() -> None:
    proc = subprocess.Popen(
        [str(KPSTASK), "simulate", "--port", "0", "-q", "--tasks", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline() for _ in range(6)]
        url = lines[1].strip().split("=", 1)[1]
        served = requests.get(f"{url}/_sim/tasks", timeout=10).json()["tasks"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines[-2:] == ["# tasks: task-0001 task-0002 task-0003\n", "# ready\n"]
    assert [task["task_id"] for task in served] == ["task-0001", "task-0002", "task-0003"]
    assert proc.returncode == 0


@pytest.mark.parametrize("command", ["simulate", "demo"])
@pytest.mark.parametrize("count", ["0", "-1", str(MAX_GENERATED + 1), "many"])
def test_an_n_out_of_range_is_a_usage_error(command: str, count: str) -> None:
    result = run(command, "--tasks", count, with_defaults=False)
    assert result.exit_code == 2
    assert "Invalid value for '--tasks'" in result.stderr and result.stdout == ""


def test_tasks_and_a_scenario_file_are_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"  # never read: the conflict is said first
    result = run("simulate", "--tasks", "3", "--scenario", str(missing), with_defaults=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert "kpstask: error: --tasks and --scenario cannot be used together" in result.stderr
    assert "cannot read scenario" not in result.stderr


# -- `kpstask demo --tasks N` --------------------------------------------------------------------


def test_demo_waits_on_the_generated_tasks_from_the_running_list(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def nested(_run: object, args: list[str]) -> int:
        """In place of the real wait (which would take a minute): what it is asked to do and against what."""
        endpoint = args[args.index("--endpoint") + 1]
        seen["args"] = args
        seen["tasks"] = requests.get(f"{endpoint}/_sim/tasks", timeout=10).json()["tasks"]
        return 1

    monkeypatch.setattr(sim_command, "_run_nested", nested)
    result = run("demo", "--tasks", "12", "--no-color", with_defaults=False)
    assert result.exit_code == 0, result.stderr
    args = seen["args"]
    assert isinstance(args, list) and args[:2] == ["wait", "--all-running"]
    assert not any(str(arg).startswith("task-") for arg in args)  # the ids are not on the command line
    assert len(seen["tasks"]) == 12  # type: ignore[arg-type]
    assert "serves 12 generated tasks at http://127.0.0.1:" in result.stderr
    assert "$ kpstask wait --all-running --endpoint" in result.stderr
    assert "`kpstask wait` exited 1 (a task failed)" in result.stderr


def test_demo_without_tasks_still_waits_on_the_demo_set(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(sim_command, "_run_nested", lambda _run, args: seen.append(args) or 0)
    result = run("demo", "--no-color", with_defaults=False)
    assert result.exit_code == 0 and "serves demo tasks at" in result.stderr
    assert seen[0][: 1 + len(sim_command.DEMO_TASKS)] == ["wait", *sim_command.DEMO_TASKS]
