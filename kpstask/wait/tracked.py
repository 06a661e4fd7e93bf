"""What the wait engine knows of each task it waits for, and the result it ends with."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from kpstask.errors import DeadlineError, KpsError
from kpstask.i18n import _
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
    gap_rounds: int = 0  # rounds that did not list it while it ran, each followed by a GET

    def result(
        self, elapsed_s: float, *, deadline: bool = False, cancelled: bool = False, reason: KpsError | None = None
    ) -> TaskResult:
        """The task's result now. A task never seen reports why. At the deadline: the last
        error, else that no answer came. Cut short (Ctrl-C, fail-fast): only the reason the
        wait ended, if it is an error; trouble still being retried is "not finished"."""
        error = None
        if self.task is None and deadline:
            error = self.last_error or DeadlineError(_("no answer before the deadline"))
        elif self.task is None and cancelled:
            error = reason
        return TaskResult(
            self.task_id, task=self.task, error=error, elapsed_s=elapsed_s, polls=self.polls, deadline=deadline
        )


class DuePolls:
    """The tasks' next polls, in two heaps by time: urgent ones and the rest. An entry is
    stale once its task has a newer one, is in flight, listed or finished: dropped when met,
    never searched for. The cost of a poll does not grow with the number of tasks."""

    def __init__(self, tracked: dict[str, Tracked], pending: dict[str, None], overdue_s: float) -> None:
        self._tracked = tracked
        self._pending = pending
        self._overdue_s = overdue_s  # a regular poll this late goes before urgent ones
        self._due: list[tuple[float, int, str]] = []
        self._urgent: list[tuple[float, int, str]] = []
        self._order = itertools.count()

    def push(self, tracked: Tracked, at: float, *, urgent: bool = False) -> None:
        """Into the heap of due polls; `urgent` ones (a task that left the list: it has most
        likely finished) go before the others that are due, when the cap allows only some."""
        tracked.next_at = at
        tracked.queued = True
        heapq.heappush(self._urgent if urgent else self._due, (at, next(self._order), tracked.task_id))

    def _live(self, at: float, task_id: str) -> Tracked | None:
        """The task a heap entry stands for, if the entry is still the task's own."""
        tracked = self._tracked[task_id]
        usable = tracked.queued and tracked.next_at == at and not tracked.in_flight and task_id in self._pending
        return tracked if usable and not tracked.listed else None

    def pop(self, now: float) -> Tracked | None:
        overdue = bool(self._due) and self._due[0][0] <= now - self._overdue_s  # not kept waiting for ever
        for heap in (self._due, self._urgent) if overdue else (self._urgent, self._due):
            while heap and heap[0][0] <= now:
                at, _, task_id = heapq.heappop(heap)
                tracked = self._live(at, task_id)
                if tracked is not None:
                    tracked.queued = False
                    return tracked
        return None

    def first(self) -> float | None:
        for heap in (self._urgent, self._due):
            while heap and self._live(heap[0][0], heap[0][2]) is None:
                heapq.heappop(heap)  # a stale entry: dropped once, never scanned again
        return min((heap[0][0] for heap in (self._urgent, self._due) if heap), default=None)
