"""`wait -o json|tsv`: each task's line on stdout the moment it is final, in the order tasks
finish (every line names its task), flushed. A script reading the lines acts on the first
tasks while the last are still running.

A failed task's JSON line carries its reason, which only the failed-tasks list knows: failed
tasks are held for up to HOLD_S, so that one lookup of the list serves every task that failed
in those seconds, rather than one lookup each. TSV has no reason column: nothing is held.
The time comes from the engine's own ticks: no clock of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kpstask.failures import unexplained
from kpstask.wait.events import Event, TaskDone, Tick

if TYPE_CHECKING:
    from kpstask.models import TaskResult
    from kpstask.output import Renderer

HOLD_S = 2.0  # how long a failed task's line may wait for its reason
Explain = Callable[[list["TaskResult"]], list["TaskResult"]]


class ResultStream:
    """An event sink: writes TaskDone results through `out` as they come."""

    def __init__(self, out: Renderer, explain: Explain | None) -> None:
        self._out = out
        self._explain = explain  # None: reasons are not wanted (TSV)
        self._held: list[TaskResult] = []
        self._held_since: float | None = None
        self._now = 0.0  # the elapsed seconds of the last tick
        self.written: dict[str, TaskResult] = {}  # by task id: what each line said

    def __call__(self, event: Event) -> None:
        if isinstance(event, Tick):
            self._now = event.elapsed_s
            if self._held_since is not None and self._now - self._held_since >= HOLD_S:
                self.flush()
        elif isinstance(event, TaskDone):
            self._done(event.result)

    def _done(self, result: TaskResult) -> None:
        if self._explain is not None and unexplained([result]):
            self._held.append(result)
            if self._held_since is None:
                self._held_since = self._now
            return
        self._write(result)

    def flush(self) -> None:
        """Look up the held tasks' reasons (one lookup for all), then write them."""
        held, self._held, self._held_since = self._held, [], None
        try:
            if held and self._explain is not None:
                held = self._explain(held)
        finally:  # Ctrl-C during the lookup: the lines are written without their reasons
            for result in held:
                self._write(result)

    def _write(self, result: TaskResult) -> None:
        self.written[result.task_id] = result
        self._out.task(result)

    def known(self, results: list[TaskResult]) -> list[TaskResult]:
        """The results as their lines said them (with the reasons already looked up)."""
        return [self.written.get(result.task_id, result) for result in results]

    def unwritten(self, results: list[TaskResult]) -> list[TaskResult]:
        return [result for result in results if result.task_id not in self.written]
