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
    # Not in the list though a GET said it runs (never listed, or a gap in what the list
    # knows): how many waited tasks the list showed when it was last asked. Tasks created
    # together tend to finish together: once that many have halved, it has more likely than
    # not finished too (see HAZARD_SHARE).
    cohort: int | None = None
    on_odds: bool = False  # its GET was sent first on its cohort's odds (see HAZARD_SHARE)

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
    """The tasks' next polls, in two heaps: urgent ones (a task the list saw leave: it has
    most likely finished) and the rest, by time. Urgent ones always go first: while they keep
    the cap busy, a GET of a task still running would only delay them. An entry is stale once
    its task has a newer one, is in flight, listed or finished: dropped when met, never
    searched for. The cost of a poll does not grow with the number of tasks."""

    def __init__(self, tracked: dict[str, Tracked], pending: dict[str, None]) -> None:
        self._tracked = tracked
        self._pending = pending
        self._due: list[tuple[float, int, str]] = []
        self._urgent: list[tuple[int, float, int, str]] = []  # (0 jumps the queue, 1 in turn), time, order
        self._order = itertools.count()

    def push(self, tracked: Tracked, at: float, *, urgent: bool = False, first: bool = False) -> None:
        """Into the heap of due polls. `urgent` ones go before the others that are due; `first`
        ones (likely finished, though the list never showed them) before the other urgent ones:
        confirming one task before another costs the fleet nothing, a GET that finds a task still
        running costs every task behind it."""
        tracked.next_at = at
        tracked.queued = True
        if urgent or first:
            heapq.heappush(self._urgent, (0 if first else 1, at, next(self._order), tracked.task_id))
        else:
            heapq.heappush(self._due, (at, next(self._order), tracked.task_id))

    def demote_first(self) -> None:
        """The `first` polls waiting go in turn with the other non-urgent ones."""
        first = [entry for entry in self._urgent if entry[0] == 0]
        self._urgent = [entry for entry in self._urgent if entry[0] != 0]
        heapq.heapify(self._urgent)
        for _rank, at, order, task_id in first:
            heapq.heappush(self._due, (at, order, task_id))

    def _live(self, at: float, task_id: str) -> Tracked | None:
        """The task a heap entry stands for, if the entry is still the task's own."""
        tracked = self._tracked[task_id]
        usable = tracked.queued and tracked.next_at == at and not tracked.in_flight and task_id in self._pending
        return tracked if usable and not tracked.listed else None

    def _drop_stale(self) -> None:
        while self._urgent and self._live(self._urgent[0][1], self._urgent[0][3]) is None:
            heapq.heappop(self._urgent)  # a stale entry: dropped once, never scanned again
        while self._due and self._live(self._due[0][0], self._due[0][2]) is None:
            heapq.heappop(self._due)

    def urgent(self) -> int:
        """About how many urgent polls wait (stale entries below the first may be counted)."""
        self._drop_stale()
        return len(self._urgent)

    def pop(self, now: float) -> Tracked | None:
        self._drop_stale()
        if self._urgent and self._urgent[0][1] <= now:
            return self._take(heapq.heappop(self._urgent)[3])
        if self._due and self._due[0][0] <= now:
            return self._take(heapq.heappop(self._due)[2])
        return None

    def _take(self, task_id: str) -> Tracked:
        tracked = self._tracked[task_id]
        tracked.queued = False
        return tracked

    def first(self) -> float | None:
        self._drop_stale()
        return min([entry[1] for entry in self._urgent[:1]] + [entry[0] for entry in self._due[:1]], default=None)
