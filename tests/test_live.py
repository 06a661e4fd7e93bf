"""The live display: every row when the tasks fit on the screen, a bounded view when
they do not, whose size does not grow with the number of tasks."""

from __future__ import annotations

import io

from rich.console import Console

from kpstask.models import Task, TaskResult
from kpstask.output.live import LiveProgress
from kpstask.wait.events import TaskDone, TaskSeen


def console(height: int = 24) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, height=height, color_system=None)


def rendered(display: LiveProgress) -> list[str]:
    probe = console()
    probe.print(display.__rich__())
    return probe.file.getvalue().splitlines()  # type: ignore[attr-defined]


def drive(n: int) -> LiveProgress:
    ids = [f"task-{i:05d}" for i in range(n)]
    display = LiveProgress(console(), ids)
    for i, task_id in enumerate(ids):
        display(TaskSeen(Task(task_id, "RUNNING_RESET", "srv", {}), None, 1.0))
        if i % 3 == 0:
            done = Task(task_id, "SUCCESS_RESET", "srv", {})
            display(TaskSeen(done, "RUNNING_RESET", 2.0))
            display(TaskDone(TaskResult(task_id, task=done)))
    return display


def test_few_tasks_get_a_row_each() -> None:
    display = drive(5)
    lines = rendered(display)
    display.stop()
    assert not display.compact
    assert sum("task-" in line for line in lines) == 5


def test_many_tasks_get_a_bounded_view_with_counts() -> None:
    small, large = drive(300), drive(30_000)
    for display in (small, large):
        display.stop()
    small_lines, large_lines = rendered(small), rendered(large)
    assert small.compact and large.compact
    assert len(small_lines) == len(large_lines) <= 24
    assert "30000 tasks: 20000 pending, 10000 succeeded" in large_lines[0]
    assert any("… " in line and "more" in line for line in large_lines)
    assert "task-29999" in "\n".join(large_lines)  # the latest change is on screen
    assert "task-00001" in "\n".join(large_lines)  # so is the task pending longest
