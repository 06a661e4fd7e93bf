"""When a simulated task's clock starts: at the simulator's start (scenario files, by default)
or at the task's first query (`"clock": "first_query"`, the demo set), so `kpstask simulate` now
and `kpstask wait` a minute later still see the states go by. The clock is faked: no sleeping."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from kpstask.errors import UsageError
from kpstask.simulator import DEFAULT_PROJECT, DEFAULT_TOKEN, Scenario, Simulator, default_scenario
from tests.conftest import fake_run, invoke
from tests.test_e2e import KPSTASK


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def demo(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(default_scenario(), clock=clock) as sim:
        yield sim


def status(sim: Simulator, task_id: str) -> str:
    answer = requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/tasks/{task_id}", headers=TOKEN, timeout=5)
    return str(answer.json()["task_status"])


def listed(sim: Simulator, kind: str) -> list[dict[str, object]]:
    answer = requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/{kind}-tasks", headers=TOKEN, timeout=5)
    return list(answer.json()["tasks"])


def started(sim: Simulator) -> dict[str, bool]:
    return {task["task_id"]: task["clock_started"] for task in sim.snapshot()["tasks"]}


TOKEN = {"X-Auth-Token": DEFAULT_TOKEN}


def test_the_demo_set_starts_each_clock_at_the_first_query(demo: Simulator, clock: FakeClock) -> None:
    clock.now += 60  # `kpstask simulate`, then a minute later the first `kpstask get`
    assert not any(started(demo).values())
    assert status(demo, "demo-bind-ok") == "READY_BIND"  # ready_s 0.5, running_s 2
    clock.now += 1
    assert status(demo, "demo-bind-ok") == "RUNNING_BIND"
    clock.now += 2
    assert status(demo, "demo-bind-ok") == "SUCCESS_BIND"
    # The others have not been asked about: still in their first state, their clocks not started.
    assert status(demo, "demo-reset-ok") == "READY_RESET"
    assert [task for task, on in started(demo).items() if on] == ["demo-bind-ok", "demo-reset-ok"]


def test_a_task_not_queried_stays_in_its_first_state(demo: Simulator, clock: FakeClock) -> None:
    clock.now += 3600
    snapshot = {task["task_id"]: task["task_status"] for task in demo.snapshot()["tasks"]}
    assert snapshot["demo-unbind-failed"] == "READY_UNBIND"
    assert listed(demo, "failed") == []  # nothing has failed: nothing has started


def test_being_listed_is_a_query(demo: Simulator, clock: FakeClock) -> None:
    """A wait on 5 tasks or more watches the running list instead of asking each task: a task
    listed but never started would be listed for ever, and the wait would never end."""
    clock.now += 60
    assert {item["task_id"] for item in listed(demo, "running")} == set(started(demo))
    assert all(started(demo).values())
    clock.now += 10
    running = {item["task_id"] for item in listed(demo, "running")}
    assert running == {"demo-bind-stuck"}  # the others are done by now
    assert {item["task_id"] for item in listed(demo, "failed")} == {"demo-unbind-failed", "demo-reset-failed"}


def test_a_paged_list_starts_only_the_tasks_it_shows(demo: Simulator, clock: FakeClock) -> None:
    answer = requests.get(f"{demo.url}/v3/{DEFAULT_PROJECT}/running-tasks?limit=2", headers=TOKEN, timeout=5)
    shown = [item["task_id"] for item in answer.json()["tasks"]]
    assert [task for task, on in started(demo).items() if on] == shown


def test_task_time_is_when_the_clock_started(demo: Simulator, clock: FakeClock) -> None:
    demo.wall = lambda: 1_764_300_000.0 + clock.now
    clock.now += 60
    status(demo, "demo-bind-stuck")
    clock.now += 30
    item = next(item for item in listed(demo, "running") if item["task_id"] == "demo-bind-stuck")
    assert item["task_time"] == str(int((1_764_300_000.0 + 1060) * 1000))


def test_scenario_files_keep_starting_at_the_simulators_start(clock: FakeClock) -> None:
    plan = Scenario.parse({"tasks": [{"id": "t1", "ready_s": 1, "running_s": 2}]})
    assert plan.clock == "start"
    with Simulator(plan, clock=clock) as sim:
        assert started(sim) == {"t1": True}
        clock.now += 60
        assert status(sim, "t1") == "SUCCESS_RESET"


def test_a_scenario_can_choose_first_query(clock: FakeClock) -> None:
    plan = Scenario.parse({"clock": "first_query", "tasks": [{"id": "t1", "ready_s": 1, "running_s": 2}]}, now=5.0)
    assert plan.tasks[0].created_at is None  # `now` is not a start for a first-query clock
    with Simulator(plan, clock=clock) as sim:
        clock.now += 60
        assert status(sim, "t1") == "READY_RESET"
        sim.add_task({"id": "t2"})  # added tasks wait for their first query too
        clock.now += 60
        assert status(sim, "t2") == "READY_RESET"
        assert status(sim, "t1") == "SUCCESS_RESET"


def test_a_refused_request_does_not_start_a_clock(demo: Simulator) -> None:
    answer = requests.get(f"{demo.url}/v3/{DEFAULT_PROJECT}/tasks/demo-bind-ok", timeout=5)
    assert answer.status_code == 401
    assert not started(demo)["demo-bind-ok"]


def test_an_unknown_clock_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="clock must be one of start, first_query"):
        Scenario.parse({"clock": "later"})


def test_kpstask_get_a_minute_after_simulate(demo: Simulator, clock: FakeClock) -> None:
    clock.now += 60
    env = {"KPSTASK_ENDPOINT": demo.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": DEFAULT_TOKEN}
    result = invoke(["get", "demo-replace-ok", "-o", "json"], env=env, obj=fake_run())
    assert result.exit_code == 3, result.stderr  # not finished: its clock started with this query
    assert json.loads(result.stdout)["task_status"] == "READY_REPLACE"


def test_kpstask_wait_a_minute_after_simulate_sees_the_states_go_by() -> None:
    """End to end, in real time (about 3 s): the simulator's clock jumps a minute ahead first."""
    offset = [0.0]
    with Simulator(default_scenario(), clock=lambda: time.monotonic() + offset[0]) as sim:
        offset[0] = 60.0
        env = {
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": DEFAULT_PROJECT,
            "KPSTASK_TOKEN": DEFAULT_TOKEN,
            "PATH": "/usr/bin:/bin",
        }
        proc = subprocess.run(
            [str(KPSTASK), "wait", "demo-bind-ok", "--interval", "1s", "--progress", "plain"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr
    seen = [word for word in ("READY_BIND", "RUNNING_BIND", "SUCCESS_BIND") if word in proc.stderr]
    assert seen == ["READY_BIND", "RUNNING_BIND", "SUCCESS_BIND"], proc.stderr
