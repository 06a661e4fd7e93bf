"""The running list as the main signal of a large wait.

One paged pass over `GET /v3/{project_id}/running-tasks` per round says which tasks
are still in flight, for up to 1000 tasks a request. It is only a hint: a task that
left the list is asked about once (`GET /tasks/{id}`) before anything is concluded,
and a task never listed is polled on its own. A list refused with 403 (the user may not
have the list permission) or one that keeps failing ends the watch; credentials refused
otherwise (401) end the wait, with no further request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container
from typing import Any, cast

from kpstask.api.policy import LIST_ROUND, POLL, Interval
from kpstask.errors import AuthError, KpsError
from kpstask.i18n import _
from kpstask.models import MAX_LISTED, PAGE_SIZE, Lister, State, Task, classify

LIST_JOB = "\x00running-tasks"  # a runner job name no task id can be
LIST_FROM = 5  # a wait on this many tasks or more watches the list
FAILURES_TO_GIVE_UP = 3
# The list's rounds may take at most this share of --max-rate: the GETs that confirm what
# the list says must still go out. A longer list gets its rounds further apart.
LIST_SHARE = 0.5
# While tasks are polled on their own, the list is measured again (its first page only) after
# 30 s, then 60, 120 ... at most 5 minutes apart: projects' lists grow and shrink.
REMEASURE = Interval.exponential(30.0, cap_s=300.0, retries=0, jitter=(1.0, 1.0))
MIDDLE = 0.5  # the cost model uses the schedules without their random spread


class ListWatch:
    """One round at a time: pages are asked one after another until the list ends. Of the
    items it keeps only the waited tasks' (`wanted`): a project may run 100,000 tasks."""

    def __init__(self, lister: Lister, wanted: Container[str], page_size: int = PAGE_SIZE) -> None:
        self.lister = lister
        self.wanted = wanted
        self.page_size = page_size
        self.active = True
        self.in_flight = False
        self.next_at = 0.0
        self.failures = 0
        self.rounds = 0
        self.watching = False  # the list, not per-task polls, watches the tasks it shows
        self.said = False  # a choice of watch was said (--debug)
        self.total: int | None = None  # running tasks in the project, as the last page said
        self.measures = 0  # first pages asked while tasks were polled on their own
        self._offset = 0
        self.seen: dict[str, dict[str, Any]] = {}  # the waited tasks this round listed so far
        # What the last complete round did for the waited tasks: how many it showed or saw
        # leave (None: no round yet), and whether the list was cut at MAX_LISTED then. A list
        # that cannot reach the tasks (past MAX_LISTED) is priced by what it reaches.
        self.reached: int | None = None
        self.reached_cut = False
        self.shown = 0  # waited tasks the last complete round showed (the fleet's survival)

    @property
    def first_page(self) -> bool:
        """The page just taken was a round's first: the total is known, nothing else asked."""
        return self._offset <= self.page_size

    def pages(self) -> int:
        """Requests a whole round costs."""
        listed = self.total if self.total is not None else len(self.seen)
        return max(1, math.ceil(min(listed, MAX_LISTED) / self.page_size))

    @property
    def cut(self) -> bool:
        """The list goes on past what a round reads (MAX_LISTED)."""
        return self.total is not None and self.total > MAX_LISTED

    def priced(self, pending: int) -> int:
        """How many of the pending tasks the list is priced by: what its last complete round
        reached, or all of them before any round (or once a list cut then is whole now)."""
        if self.reached_cut and not self.cut:
            self.reached = None  # the tasks past the cut may be in reach now
        return pending if self.reached is None else min(pending, self.reached)

    def reach(self, reached: int, shown: int) -> None:
        """What the round just completed did for the waited tasks."""
        self.reached, self.reached_cut, self.shown = reached, self.cut, shown

    def round_s(self, pending: int, age_s: float, rate: float, rand: Callable[[], float] = lambda: MIDDLE) -> float:
        """Seconds between rounds (see `round_interval`), the random spread of LIST_ROUND included."""
        return round_interval(pending, self.pages(), age_s, rate, rand)

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
        self.total = total if isinstance(total, int) and total >= 0 else None
        for item in items:
            task_id = str(item["task_id"])
            if task_id in self.wanted:
                self.seen[task_id] = item
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

    def measure_later(self, now: float) -> None:
        """Polling it is: the list's first page again after REMEASURE."""
        self.watching = False
        self.next_round(now + REMEASURE(self.measures, lambda: 1.0))
        self.measures += 1


def poll_cost(pending: int, age_s: float, rate: float) -> float:
    """Requests a second that polling every pending task on its schedule takes, within the cap."""
    return min(pending / POLL(age_s, lambda: MIDDLE), rate)


def round_interval(
    pending: int, pages: int, age_s: float, rate: float, rand: Callable[[], float] = lambda: MIDDLE
) -> float:
    """Seconds between rounds of the list: as often as young tasks are polled, up to 4 s apart
    (LIST_ROUND); within LIST_SHARE of the cap; and never costing more than polling the same
    tasks would (a long list for a few tasks gets its rounds further apart)."""
    return max(LIST_ROUND(age_s, rand), pages / (LIST_SHARE * rate), pages / poll_cost(pending, age_s, rate))


def list_wins(pending: int, pages: int, age_s: float, rate: float, reached: int | None = None) -> tuple[bool, str]:
    """The watch that confirms tasks sooner within the cap, and why. Polling looks at a task
    once per interval (or less often, when the cap cannot take every task's polls), at a
    request per task; a round of the list looks at every task for `pages` requests, whoever
    is waited for. With rounds that cost no more than the polls would, the list is chosen
    when its rounds come sooner than a task's next poll: when fewer pages than tasks, or
    when the cap holds the polls back. A list whose last round reached only `reached` of the
    tasks (the rest past where it can be paged, or never in it) is priced by those: its
    rounds cost no more than polling them would, and the others are polled either way."""
    served = pending if reached is None else min(pending, reached)
    if served == 0:
        return False, f"{pending} task(s) polled; the running list ({pages} page(s)) reached none in its last round"
    poll_s = POLL(age_s, lambda: MIDDLE)
    cost = poll_cost(pending, age_s, rate)
    gap_s, round_s = pending / cost, round_interval(served, pages, age_s, rate)
    said = (
        f"{pending} task(s) polled every {gap_s:.1f}s cost {cost:.2f} requests/s; "
        f"the running list ({pages} page(s)) every {round_s:.1f}s, {pages / round_s:.2f}/s"
    )
    if served < pending:
        said += f", reaching {served} of them in its last round"
    if gap_s > poll_s:
        said += " (the cap holds the polls back)"
    return round_s < gap_s, said


def listed_task(task_id: str, item: dict[str, Any]) -> Task:
    """What the list says of a task, for display: in flight (never finished: only a GET says that)."""
    kind = str(item.get("operate_type") or "")
    status = kind.upper() if classify(kind.upper())[0] is State.PENDING else f"RUNNING_{kind.upper()}"
    server = item.get("server_id")
    return Task(task_id, status, server if isinstance(server, str) else None, {"task_id": task_id, "listed": True})


def refusals(error: KpsError) -> tuple[AuthError, AuthError]:
    """The list refused the credentials: what the first task carries, and what the rest say."""
    said = AuthError(
        _("not waited for: the running-tasks list: {error}").format(error=error.message),
        hint=error.hint,
        code=error.code,
        http_status=error.http_status,
        request_id=error.request_id,
    )
    return said, AuthError(_("not waited for: the credentials were refused for the running-tasks list"))
