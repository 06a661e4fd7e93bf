"""What the wait engine tells a display: plain data, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass

from kpstask.errors import ExitCode, KpsError
from kpstask.models import Task, TaskResult


@dataclass(frozen=True)
class TaskSeen:
    """A task's status, the first time or when it changed."""

    task: Task
    previous: str | None
    elapsed_s: float


@dataclass(frozen=True)
class TaskTrouble:
    """A request failed in a way worth retrying."""

    task_id: str
    error: KpsError
    retry_in_s: float
    elapsed_s: float


@dataclass(frozen=True)
class TaskDone:
    """A task is finished with, whichever way."""

    result: TaskResult


@dataclass(frozen=True)
class Tick:
    """Time passes: `count` tasks are still waited on, `pending` the first few of them."""

    elapsed_s: float
    pending: tuple[str, ...]
    count: int = -1

    @property
    def waiting(self) -> int:
        return self.count if self.count >= 0 else len(self.pending)


@dataclass(frozen=True)
class Notice:
    """Something about the whole wait a person should know (a warning)."""

    text: str


Event = TaskSeen | TaskTrouble | TaskDone | Tick | Notice


class WaitInterrupted(Exception):
    """Ctrl-C or SIGTERM during a wait; carries what was known, and the exit code."""

    def __init__(self, results: list[TaskResult], code: ExitCode = ExitCode.INTERRUPTED) -> None:
        super().__init__("interrupted")
        self.results = results
        self.code = code
