"""The simulator's index of tasks: found by id and the running list kept as the clock goes
on, with the same answers as a scan of every task, and without one scan per request (a
project of 100,000 running tasks). Fake clocks, no sleeping."""

from __future__ import annotations

import json
import random

import pytest

from kpstask.simulator import Scenario, SimTask, Simulator
from kpstask.simulator.replies import Request
from kpstask.simulator.tasklist import TaskIndex, running_at

PROJECT = "0123456789abcdef0123456789abcdef"


def scan(tasks: list[SimTask], now: float) -> list[str]:
    """The running list as the simulator computed it before the index: every task looked at."""
    return [t.task_id for t in tasks if t.in_list and t.status_at(now).startswith(("READY", "RUNNING"))]


def some_tasks(rng: random.Random, n: int) -> list[SimTask]:
    tasks = []
    for i in range(n):
        task = SimTask(
            f"t{i}",
            f"s{i}",
            outcome=rng.choice(["success", "failed", "never"]),
            ready_s=rng.choice([0.0, 0.5, 1.0]),
            running_s=rng.choice([0.0, 0.3, 2.0, 7.5]),
            status=rng.choice([None] * 9 + ["RUNNING_RESET", "PAUSED_RESET"]),
            in_list=rng.random() > 0.1,
        )
        task.created_at = rng.choice([None, 0.0, 0.25, 3.0])
        tasks.append(task)
    return tasks


@pytest.mark.parametrize("seed", range(20))
def test_the_running_list_is_what_a_scan_gives(seed: int) -> None:
    rng = random.Random(seed)
    tasks, index, now = some_tasks(rng, 60), TaskIndex(), 0.0
    for _ in range(80):
        now = max(0.0, now + rng.choice([0.0, 0.1, 0.7, 3.0, -2.0]))  # a fake clock may go back
        if rng.random() < 0.2:  # a first query starts a clock
            task = rng.choice(tasks)
            if task.created_at is None:
                task.start(now)
                index.started(tasks, task)
        if rng.random() < 0.05:  # a task added: a new list
            tasks = [*tasks, SimTask(f"n{len(tasks)}", "s", running_s=rng.random() * 5)]
            tasks[-1].start(now)
        total, page = index.running(tasks, now)
        expected = scan(tasks, now)
        assert total == len(expected)
        offset = rng.randrange(0, max(1, total))
        assert [t.task_id for t in page(offset, 7)] == expected[offset : offset + 7]


def test_a_duplicated_id_finds_the_first_task_as_a_scan_does() -> None:
    first, second = SimTask("same", "s1"), SimTask("same", "s2")
    assert TaskIndex().find([first, second], "same") is first
    assert TaskIndex().find([first], "other") is None


def test_a_page_of_a_long_list_does_not_look_at_every_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """100,000 running tasks: the list is built once; a page later looks at a page's tasks and at
    the tasks whose time to leave has come, not at all of them (before: 100,000 a page)."""
    tasks = [SimTask(f"b{i}", "s", outcome="never", ready_s=0.0) for i in range(100_000)]
    tasks += [SimTask(f"t{i}", "s", ready_s=0.0, running_s=1.0 + i) for i in range(10)]
    clock = [0.0]
    with Simulator(Scenario(tasks=tasks, auth="any"), clock=lambda: clock[0]) as sim:
        assert _page(sim, 0)["total"] == 100_010
        looked: list[str] = []
        original = SimTask.status_at
        monkeypatch.setattr(SimTask, "status_at", lambda self, now: looked.append(self.task_id) or original(self, now))
        clock[0] = 3.5  # t0, t1 and t2 have finished
        answer = _page(sim, 100_000)
        assert answer["total"] == 100_007
        assert [item["task_id"] for item in answer["tasks"]] == [f"t{i}" for i in range(3, 10)]
        assert len(looked) <= 3
        looked.clear()
        assert _task(sim, "t9") == "RUNNING_RESET" and len(looked) == 1  # found by id, not by a scan


def _page(sim: Simulator, offset: int) -> dict[str, object]:
    request = Request("GET", f"/v3/{PROJECT}/running-tasks", [("limit", "1000"), ("offset", str(offset))], {}, b"")
    reply, _ = sim.answer(request)
    return dict(json.loads(reply.body))


def _task(sim: Simulator, task_id: str) -> str:
    reply, _ = sim.answer(Request("GET", f"/v3/{PROJECT}/tasks/{task_id}", [], {}, b""))
    return str(json.loads(reply.body)["task_status"])


def test_running_at_is_the_lists_own_rule() -> None:
    task = SimTask("t", "s", ready_s=1.0, running_s=2.0)
    task.start(10.0)
    assert [running_at(task, at) for at in (10.0, 11.5, 12.999, 13.0)] == [True, True, True, False]
