"""What the wait engine knows of each task it waits for, and the result it ends with."""

from __future__ import annotations

from dataclasses import dataclass

from kpstask.errors import DeadlineError, KpsError
from kpstask.models import Task, TaskResult


@dataclass(slots=True)
class Tracked:
    task_id: str
    next_at: float = 0.0
    last_start: float | None = None
    polls: int = 0
    task: Task | None = None
    last_error: KpsError | None = None
    errors_in_row: int = 0
    not_found_since: float | None = None
    in_flight: bool = False
    queued: bool = False  # has a live entry in the heap of due polls
    listed: bool = False  # in the last round of the running list: the list watches it

    def result(
        self, elapsed_s: float, *, deadline: bool = False, cancelled: bool = False, reason: KpsError | None = None
    ) -> TaskResult:
        """The task's result now. A task never seen reports why. At the deadline: the last
        error, else that no answer came. Cut short (Ctrl-C, fail-fast): only the reason the
        wait ended, if it is an error; trouble still being retried is "not finished"."""
        error = None
        if self.task is None and deadline:
            error = self.last_error or DeadlineError("no answer before the deadline")
        elif self.task is None and cancelled:
            error = reason
        return TaskResult(
            self.task_id, task=self.task, error=error, elapsed_s=elapsed_s, polls=self.polls, deadline=deadline
        )
