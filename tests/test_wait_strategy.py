"""The wait engine chooses its watch by cost: the running list when it costs no more (or
when polling every task would need more than the cap), per-task polls otherwise; and
keeps choosing as tasks finish and the project's list grows or shrinks. Fake clock."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from kpstask.api.rate import RateLimiter
from kpstask.choices import WaitOptions
from kpstask.errors import ApiError, ExitCode
from kpstask.models import Task, TaskResult
from kpstask.wait.engine import GAP_ROUNDS, OVERDUE_S, UNLISTED_CAP_S, WaitEngine
from kpstask.wait.listwatch import LIST_SHARE, list_wins
from kpstask.wait.runners import InlineRunner
from tests.test_wait import FakeClock
from tests.test_wait_fleet import Fleet


@dataclass
class Project(Fleet):
    """The fleet waited for, inside a project with `others` more running tasks listed first."""

    others: int = 0

    def page(self, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        self.pages.append(self.clock.now)
        ours = [t for t in self.finish if self.status(t).startswith("RUNNING") and t not in self.unlisted]
        total = self.others + len(ours)
        shown = range(offset, min(offset + limit, total))
        items = [{"task_id": f"other-{i}"} if i < self.others else {"task_id": ours[i - self.others]} for i in shown]
        return total, [{**item, "operate_type": "RUNNING_RESET"} for item in items]


def wait(project: Project, **options: Any) -> tuple[list[TaskResult], list[str]]:
    said: list[str] = []
    engine = WaitEngine(
        list(project.finish),
        InlineRunner(project.get),
        WaitOptions(**options),
        clock=project.clock,
        sleep=project.clock.sleep,
        rand=lambda: 0.5,
        lister=project.page,
        debug=said.append,
    )
    return engine.run(), said


def project(n: int, others: int, finish_s: float = 600.0) -> Project:
    return Project(FakeClock(), {f"t{i}": finish_s for i in range(n)}, others=others)


def per_task_cost(n: int, finish_s: float) -> int:
    """What polling the same tasks on their own costs: one engine without a list."""
    alone = project(n, 0, finish_s)
    engine = WaitEngine(
        list(alone.finish),
        InlineRunner(alone.get),
        WaitOptions(),
        clock=alone.clock,
        sleep=alone.clock.sleep,
        rand=lambda: 0.5,
    )
    engine.run()
    return len(alone.gets)


def test_five_tasks_among_twenty_thousand_cost_what_polling_them_costs() -> None:
    waited = project(5, 20_000)
    results, said = wait(waited)
    assert all(result.exit_code == ExitCode.OK for result in results)
    requests = len(waited.gets) + len(waited.pages)
    assert requests <= 1.1 * per_task_cost(5, 600.0)
    # The list was measured (its first page), never paged through.
    assert len(waited.pages) <= 6
    assert any("per-task polls" in line for line in said)


def test_a_fleet_that_is_the_whole_project_is_watched_with_the_list() -> None:
    waited = project(1000, 0, finish_s=100.0)
    results, said = wait(waited)
    assert all(result.exit_code == ExitCode.OK for result in results)
    assert len(waited.gets) <= 1.1 * 1000  # about one GET per task: after it left the list
    assert "the running list" in said[0]


def test_five_hundred_among_twenty_thousand_use_the_list_within_its_share() -> None:
    waited = project(500, 20_000, finish_s=300.0)
    results, said = wait(waited, timeout_s=1200)
    assert all(result.exit_code == ExitCode.OK for result in results)
    assert "the running list" in said[0]
    # 21 pages a round, rounds no closer than the list's share of the cap allows.
    rounds = math.ceil(len(waited.pages) / 21)
    assert rounds <= 300.0 / (21 / (LIST_SHARE * 10.0)) + 2
    assert len(waited.gets) <= 1.2 * 500


def test_the_choice_changes_as_tasks_finish() -> None:
    """Many tasks: the list; once only a few are left, their own polls cost less."""
    waited = Project(FakeClock(), {f"t{i}": (20.0 if i < 195 else 900.0) for i in range(200)}, others=5000)
    results, said = wait(waited, timeout_s=1800)
    assert all(result.exit_code == ExitCode.OK for result in results)
    assert "the running list" in said[0]
    assert any("per-task polls" in line for line in said[1:])
    late_pages = [at for at in waited.pages if at > 100.0]
    assert len(late_pages) <= 10  # measured now and then, not paged every round


def test_a_list_that_shrinks_is_taken_up_again() -> None:
    waited = project(20, 50_000, finish_s=900.0)
    engine_said: list[str] = []

    def shrink(limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        if waited.clock.now > 60.0:
            waited.others = 0  # the project's other tasks have finished
        return Project.page(waited, limit, offset)

    engine = WaitEngine(
        list(waited.finish),
        InlineRunner(waited.get),
        WaitOptions(),
        clock=waited.clock,
        sleep=waited.clock.sleep,
        rand=lambda: 0.5,
        lister=shrink,
        debug=engine_said.append,
    )
    engine.run()
    assert "per-task polls" in engine_said[0]
    assert any("the running list" in line for line in engine_said[1:])
    # Once the list is taken up, about one GET per task is left to make.
    assert len([at for at, _, _ in waited.gets if at > 300.0]) <= 1.2 * 20


@pytest.mark.parametrize(
    ("pending", "pages", "age", "rate", "chosen"),
    [
        (5, 21, 0.0, 10.0, False),  # 20,000 running for five tasks: polls
        (5, 1, 0.0, 10.0, True),  # one page: rounds every 1.3 s cost what five tasks' polls cost
        (5, 5, 0.0, 10.0, False),  # as many pages as tasks: a round no sooner than a poll
        (2, 1, 60.0, 10.0, True),  # fewer pages than tasks: sooner for the same cost
        (50, 21, 0.0, 10.0, True),  # 21 pages look at 50 tasks
        (500, 21, 0.0, 10.0, True),  # polling 500 would need the whole cap and more
        (1000, 100, 60.0, 10.0, True),  # 100,000 running: rounds slow, polls slower
    ],
)
def test_the_cost_model(pending: int, pages: int, age: float, rate: float, chosen: bool) -> None:
    wins, why = list_wins(pending, pages, age, rate)
    assert wins is chosen
    assert f"{pending} task(s)" in why and f"{pages} page(s)" in why


# -- tasks the list does not show --------------------------------------------------------


def unlisted_fleet(finish: dict[str, float], every: int = 20) -> Project:
    ids = list(finish)
    return Project(FakeClock(), finish, unlisted=set(ids[::every]))


def delays(project: Project, results: list[TaskResult], ids: set[str]) -> list[float]:
    return [r.elapsed_s - project.finish[r.task_id] for r in results if r.task_id in ids]  # type: ignore[operator]


def test_tasks_the_list_never_shows_are_seen_within_five_seconds() -> None:
    waited = unlisted_fleet({f"t{i}": 200 * (i + 1) / 1000 for i in range(1000)})
    results, _ = wait(waited, timeout_s=1800)
    unlisted = delays(waited, results, waited.unlisted)
    assert sum(unlisted) / len(unlisted) <= 5.0
    assert max(unlisted) <= UNLISTED_CAP_S + 1.0
    listed = delays(waited, results, set(waited.finish) - waited.unlisted)
    assert sum(listed) / len(listed) <= 5.0


def test_a_task_the_list_does_not_show_is_asked_at_the_next_rounds() -> None:
    waited = Project(FakeClock(), {**{f"t{i}": 300.0 for i in range(20)}, "late": 12.0}, unlisted={"late"})
    wait(waited, timeout_s=600)
    asked = [at for at, task_id, _ in waited.gets if task_id == "late"]
    first_rounds = [at for at in waited.pages if at <= asked[GAP_ROUNDS]]
    assert len(asked) <= 5 and asked[-1] - 12.0 <= 8.0
    assert len(first_rounds) >= GAP_ROUNDS + 1  # one GET after each of the first rounds


def test_a_task_that_left_the_list_is_asked_before_the_polls_of_unlisted_ones() -> None:
    """A burst: 300 tasks finish at once while 50 unlisted ones are due; the cap lets 10 a
    second through. The tasks that left the list go first; the others wait, but not for ever."""
    finish = {f"t{i}": 30.0 for i in range(300)} | {f"u{i}": 900.0 for i in range(50)}
    waited = Project(FakeClock(), finish, unlisted={f"u{i}" for i in range(50)})
    results, _ = wait(waited, timeout_s=1200)
    burst = delays(waited, results, {f"t{i}" for i in range(300)})
    assert max(burst) <= 300 / 10 * 1.5 + 5.0  # near the rate-bound ideal of 30 s for the last
    during = sorted(at for at, task_id, _ in waited.gets if task_id.startswith("u") and 30.0 < at < 60.0)
    assert during  # the unlisted tasks were still asked about during the burst
    assert all(b - a <= OVERDUE_S + 16.0 for a, b in itertools.pairwise(during))


# -- throttling: one rate for every task ------------------------------------------------------


@dataclass
class Quota(Project):
    """A project whose gateway answers 429 APIGW.0308 above `per_second` requests in any 1 s."""

    per_second: int = 5
    sent: list[float] = field(default_factory=list)
    throttled: int = 0

    def _admit(self) -> None:
        now = self.clock.now
        self.sent = [at for at in self.sent if at > now - 1.0]
        if len(self.sent) >= self.per_second:
            self.throttled += 1
            raise ApiError("throttled", code="APIGW.0308", http_status=429)
        self.sent.append(now)

    def get(self, task_id: str) -> Task:
        self._admit()
        return super().get(task_id)

    def page(self, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        self._admit()
        return super().page(limit, offset)


def test_a_throttle_slows_every_task_down(monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled_share(adapt: bool) -> tuple[float, list[str]]:
        waited = Quota(FakeClock(), {f"t{i}": 2.0 + i * 0.1 for i in range(300)}, per_second=5)
        if not adapt:
            monkeypatch.setattr(RateLimiter, "throttled", lambda self, now: False)
        results, said = wait(waited, timeout_s=1800)
        assert all(result.exit_code == ExitCode.OK for result in results)
        return waited.throttled / (waited.throttled + len(waited.gets) + len(waited.pages)), said

    adaptive, said = throttled_share(True)
    fixed, _ = throttled_share(False)
    assert adaptive <= 0.1 and adaptive < fixed / 2
    assert any("throttled: at most" in line for line in said)
