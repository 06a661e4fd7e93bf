"""The wait engine with a fleet, on a fake clock: list-assisted waiting, its fallback,
and the properties that must hold at 10,000 tasks. No test sleeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kpstask.choices import WaitOptions
from kpstask.errors import AuthError, ExitCode, KpsError
from kpstask.models import Task, TaskResult
from kpstask.wait.engine import WaitEngine
from kpstask.wait.events import Event, Notice
from kpstask.wait.runners import InlineRunner
from tests.test_wait import FakeClock


@dataclass
class Fleet:
    """Tasks finishing at given times; a running list that lists the unfinished ones."""

    clock: FakeClock
    finish: dict[str, float]
    unlisted: set[str] = field(default_factory=set)  # never shown by the list
    list_error: KpsError | None = None
    gets: list[tuple[float, str, str]] = field(default_factory=list)  # (time, task, status answered)
    pages: list[float] = field(default_factory=list)

    def status(self, task_id: str) -> str:
        return "SUCCESS_RESET" if self.clock.now >= self.finish[task_id] else "RUNNING_RESET"

    def get(self, task_id: str) -> Task:
        status = self.status(task_id)
        self.gets.append((self.clock.now, task_id, status))
        return Task(task_id, status, "srv", {"task_id": task_id, "task_status": status})

    def page(self, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        self.pages.append(self.clock.now)
        if self.list_error is not None:
            raise self.list_error
        running = [t for t in self.finish if self.status(t).startswith("RUNNING") and t not in self.unlisted]
        return len(running), [{"task_id": t, "operate_type": "RUNNING_RESET"} for t in running[offset : offset + limit]]


def wait(fleet: Fleet, **options: Any) -> tuple[list[TaskResult], list[Event]]:
    events: list[Event] = []
    engine = WaitEngine(
        list(fleet.finish),
        InlineRunner(fleet.get),
        WaitOptions(**options),
        clock=fleet.clock,
        sleep=fleet.clock.sleep,
        rand=lambda: 0.5,
        on_event=events.append,
        lister=fleet.page,
    )
    return engine.run(), events


def spread(n: int, over: float) -> Callable[[FakeClock], Fleet]:
    return lambda clock: Fleet(clock, {f"t{i}": over * (i + 1) / n for i in range(n)})


def starts(fleet: Fleet) -> list[float]:
    return sorted([at for at, _, _ in fleet.gets] + fleet.pages)


def test_ten_thousand_tasks_hold_every_property() -> None:
    fleet = spread(10_000, 200)(FakeClock())
    results, _ = wait(fleet, max_rate=100.0, timeout_s=1800)
    assert all(result.exit_code == ExitCode.OK for result in results)
    # No task is reported finished unless a GET said so.
    said_done = {task_id for _, task_id, status in fleet.gets if status.startswith("SUCCESS")}
    assert said_done == set(fleet.finish)
    # The rate cap holds in every 1 s window, list pages and GETs together.
    times = starts(fleet)
    assert all(times[i + 100] - times[i] >= 1.0 for i in range(len(times) - 100))
    # Few requests: about one GET per task, and a page per 1000 tasks a round.
    assert len(fleet.gets) <= 1.2 * len(fleet.finish)
    delays = [result.elapsed_s - fleet.finish[result.task_id] for result in results]  # type: ignore[operator]
    assert sum(delays) / len(delays) <= 5.0


def test_every_task_is_looked_at_before_the_deadline() -> None:
    fleet = Fleet(FakeClock(), {f"t{i}": 10_000.0 for i in range(3000)})
    results, _ = wait(fleet, timeout_s=60)
    assert {r.exit_code for r in results} == {ExitCode.DEADLINE}
    assert all(r.task is not None and r.task.task_status == "RUNNING_RESET" for r in results)


def test_a_refused_list_falls_back_to_polling_each_task() -> None:
    fleet = spread(20, 30)(FakeClock())
    fleet.list_error = AuthError("credentials refused", http_status=403)
    results, events = wait(fleet)
    assert all(result.exit_code == ExitCode.OK for result in results)
    assert len(fleet.pages) == 1
    assert next(e for e in events if isinstance(e, Notice)).text.startswith("the running-tasks list is not available")


def test_a_task_missing_from_the_list_but_running_keeps_being_waited_for() -> None:
    fleet = spread(10, 20)(FakeClock())
    fleet.finish["t0"] = 100.0
    fleet.unlisted.add("t0")
    results, _ = wait(fleet)
    t0 = next(result for result in results if result.task_id == "t0")
    assert t0.exit_code == ExitCode.OK and t0.elapsed_s >= 100  # type: ignore[operator]
    assert [status for _, task_id, status in fleet.gets if task_id == "t0"][-1] == "SUCCESS_RESET"


def test_a_task_that_left_the_list_too_early_is_polled_directly() -> None:
    fleet = spread(10, 20)(FakeClock())
    original = fleet.page

    def lagging(limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        total, items = original(limit, offset)
        return total, [item for item in items if item["task_id"] != "t9" or fleet.clock.now < 5]

    fleet.page = lagging  # type: ignore[method-assign]
    results, _ = wait(fleet)
    assert all(result.exit_code == ExitCode.OK for result in results)
    t9_gets = [status for _, task_id, status in fleet.gets if task_id == "t9"]
    assert t9_gets[0] == "RUNNING_RESET" and t9_gets[-1] == "SUCCESS_RESET"


def test_few_tasks_are_polled_without_the_list() -> None:
    fleet = spread(3, 10)(FakeClock())
    wait(fleet)
    assert fleet.pages == []
