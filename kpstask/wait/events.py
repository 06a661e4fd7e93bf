"""What the wait engine tells a display: plain data, and the words for it that every
display shares."""

from __future__ import annotations

from dataclasses import dataclass

from kpstask.durations import elapsed
from kpstask.errors import ExitCode, KpsError
from kpstask.i18n import _
from kpstask.models import Task, TaskResult


@dataclass(frozen=True)
class TaskSeen:
    """A task's status, the first time or when it changed."""

    task: Task
    previous: str | None
    elapsed_s: float


@dataclass(frozen=True)
class TaskTrouble:
    """A request failed in a way worth retrying. A task not found yet carries the seconds
    of --not-found-grace it has left."""

    task_id: str
    error: KpsError
    retry_in_s: float
    elapsed_s: float
    grace_left_s: float | None = None

    def describe(self) -> str:
        """The warning, the same in every display, and worded as `get`'s retries:
        `task ID: retrying in 2.0s: what`."""
        if self.grace_left_s is not None:
            # A new task may take a moment to be visible: say how long we keep asking, and
            # which flag changes that, rather than the next retry's delay.
            left = max(1, round(self.grace_left_s))
            said = _("task {task}: not found yet; asking again for up to {seconds}s (--not-found-grace)")
            return said.format(task=self.task_id, seconds=left)
        said = _("task {task}: retrying in {wait}: {error}")
        return said.format(task=self.task_id, wait=elapsed(self.retry_in_s), error=self.error)


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
