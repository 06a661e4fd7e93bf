"""The simulator's tasks by id, and its running list kept as the clock goes on.

A project of 100,000 running tasks is asked for a page of its running list ten times a
second: scanning every task for each page (and every task for each GET) would make the
simulator, not the client, the thing measured. A task leaves the running list once, at a
time its clock says (READY, RUNNING, then done): so the list is built once, and a task is
taken out when its time comes (a heap of those times). The answers are the same as a scan's:
each task taken out is checked against `SimTask.status_at` itself. The index follows the
scenario's list of tasks: a new list (a task added or removed) or a clock that went back
builds it again.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable

from kpstask.simulator.scenario import SimTask

IN_FLIGHT = ("READY", "RUNNING")
EARLY_S = 1e-6  # a task is checked this much before its time: the sum c + r may round either way


def running_at(task: SimTask, now: float) -> bool:
    """In the running list: shown by it (`listed`) and in flight."""
    return task.in_list and task.status_at(now).startswith(IN_FLIGHT)


def leaves_at(task: SimTask) -> float:
    """When the task's clock takes it out of flight (infinity: never, or not started)."""
    if task.status is not None or task.outcome == "never" or task.created_at is None:
        return math.inf
    return task.created_at + task.ready_s + task.running_s - EARLY_S


class TaskIndex:
    """Tasks by id (the first of a duplicated id, as a scan would find) and the running list."""

    def __init__(self) -> None:
        self._tasks: list[SimTask] | None = None  # the list indexed
        self._count = 0
        self._by_id: dict[str, SimTask] = {}
        self._position: dict[int, int] = {}  # id(task) -> its place in the list
        self._alive: list[int] | None = None  # places of the running list's tasks, in order
        self._leaving: list[tuple[float, int]] = []  # (when, place): a heap
        self._now = -math.inf

    def _sync(self, tasks: list[SimTask]) -> None:
        if tasks is self._tasks and len(tasks) == self._count:
            return
        self._tasks, self._count = tasks, len(tasks)
        self._by_id = {}
        for task in tasks:
            self._by_id.setdefault(task.task_id, task)
        self._position = {id(task): place for place, task in enumerate(tasks)}
        self._alive = None

    def find(self, tasks: list[SimTask], task_id: str) -> SimTask | None:
        self._sync(tasks)
        return self._by_id.get(task_id)

    def started(self, tasks: list[SimTask], task: SimTask) -> None:
        """`task`'s clock has just started (a first query): it will leave the list in time."""
        self._sync(tasks)
        place = self._position.get(id(task))
        when = leaves_at(task)
        if self._alive is not None and place is not None and when < math.inf:
            heapq.heappush(self._leaving, (when, place))

    def running(self, tasks: list[SimTask], now: float) -> tuple[int, Callable[[int, int], list[SimTask]]]:
        """The running list at `now` as a scan would give it, in the scenario's order: how many
        tasks it holds, and its page at (offset, limit)."""
        self._sync(tasks)
        if self._alive is None or now < self._now:
            self._build(tasks, now)
        else:
            self._advance(tasks, now)
        self._now = now
        places = self._alive
        assert places is not None
        return len(places), lambda offset, limit: [tasks[place] for place in places[offset : offset + limit]]

    def _build(self, tasks: list[SimTask], now: float) -> None:
        self._alive = [place for place, task in enumerate(tasks) if running_at(task, now)]
        self._leaving = [(leaves_at(tasks[place]), place) for place in self._alive]
        self._leaving = [entry for entry in self._leaving if entry[0] < math.inf]
        heapq.heapify(self._leaving)

    def _advance(self, tasks: list[SimTask], now: float) -> None:
        alive, later = self._alive, []
        assert alive is not None
        while self._leaving and self._leaving[0][0] <= now:
            _, place = heapq.heappop(self._leaving)
            if running_at(tasks[place], now):
                later.append((math.nextafter(now, math.inf), place))  # not yet: looked at again later
                continue
            at = bisect.bisect_left(alive, place)
            if at < len(alive) and alive[at] == place:
                del alive[at]
        for entry in later:
            heapq.heappush(self._leaving, entry)
