"""The running list as the main signal of a large wait.

One paged pass over `GET /v3/{project_id}/running-tasks` per round says which tasks
are still in flight, for up to 1000 tasks a request. It is only a hint: a task that
left the list is asked about once (`GET /tasks/{id}`) before anything is concluded,
and a task never listed is polled on its own. A list refused with 403 (the user may not
have the list permission) or one that keeps failing ends the watch; credentials refused
otherwise (401) end the wait, with no further request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from kpstask.models import State, Task, classify

LIST_JOB = "\x00running-tasks"  # a runner job name no task id can be
LIST_FROM = 5  # a wait on this many tasks or more watches the list
PAGE_SIZE = 1000  # the API's largest page
MAX_LISTED = 100_000  # as for `kpstask running`: a list past this is a server paging wrong
FAILURES_TO_GIVE_UP = 3

Lister = Callable[[int, int], tuple[int | None, list[dict[str, Any]]]]  # (limit, offset) -> (total, items)


class ListWatch:
    """One round at a time: pages are asked one after another until the list ends."""

    def __init__(self, lister: Lister, page_size: int = PAGE_SIZE) -> None:
        self.lister = lister
        self.page_size = page_size
        self.active = True
        self.in_flight = False
        self.next_at = 0.0
        self.failures = 0
        self.rounds = 0
        self._offset = 0
        self.seen: dict[str, dict[str, Any]] = {}

    def due(self, now: float) -> bool:
        return self.active and not self.in_flight and now >= self.next_at

    def call(self) -> Callable[[], object]:
        offset, size = self._offset, self.page_size
        self.in_flight = True
        return lambda: self.lister(size, offset)

    def page(self, outcome: object) -> bool:
        """Take one page; True when the round is complete."""
        total, items = cast("tuple[int | None, list[dict[str, Any]]]", outcome)
        self.failures = 0
        for item in items:
            self.seen[str(item["task_id"])] = item
        self._offset += len(items)
        more = len(items) >= self.page_size and (total is None or self._offset < total)
        return not (more and self._offset < MAX_LISTED)

    def trouble(self) -> bool:
        """A page failed transiently; True when it has failed too often to go on."""
        self.failures += 1
        return self.failures >= FAILURES_TO_GIVE_UP

    def next_round(self, at: float) -> None:
        self.rounds += 1
        self._offset = 0
        self.seen = {}
        self.next_at = at


def listed_task(task_id: str, item: dict[str, Any]) -> Task:
    """What the list says of a task, for display: in flight (never finished: only a GET says that)."""
    kind = str(item.get("operate_type") or "")
    status = kind.upper() if classify(kind.upper())[0] is State.PENDING else f"RUNNING_{kind.upper()}"
    server = item.get("server_id")
    return Task(task_id, status, server if isinstance(server, str) else None, {"task_id": task_id, "listed": True})
