"""A running list that cannot reach the waited tasks (they sit past the MAX_LISTED a round
can page through) is priced by what its rounds reach: after one round that shows none of
them, the tasks are polled on their own, and the list is measured again now and then. The
watch keeps only the waited tasks' items of a page. Fake clock."""

from __future__ import annotations

from typing import Any

from kpstask.errors import ExitCode
from kpstask.models import MAX_LISTED, PAGE_SIZE
from kpstask.wait.listwatch import ListWatch, list_wins
from tests.test_wait import FakeClock
from tests.test_wait_strategy import Project, wait

ROUND = MAX_LISTED // PAGE_SIZE  # the pages of a round of a list cut at MAX_LISTED


def beyond_reach(n: int, span_s: float = 120.0) -> Project:
    """`n` tasks finishing evenly over `span_s`, listed after 100,000 others: out of reach."""
    return Project(FakeClock(), {f"t{i}": span_s * (i + 1) / n for i in range(n)}, others=MAX_LISTED)


def test_a_list_that_reaches_none_of_the_tasks_is_left_after_one_round() -> None:
    waited = beyond_reach(500)
    results, said = wait(waited, timeout_s=1800)
    assert all(result.exit_code == ExitCode.OK for result in results)
    # One whole round, then its first page now and then (30 s, 60 s ... apart); before: a
    # round every 20 s for the whole wait (about 200 pages).
    assert len(waited.pages) <= ROUND + 5
    assert "the running list" in said[0]
    assert any("per-task polls" in line and "reached none" in line for line in said[1:])


def test_a_list_cut_then_whole_again_is_taken_up() -> None:
    waited = beyond_reach(500, span_s=600.0)
    original = waited.page

    def shrinking(limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
        if waited.clock.now > 60.0:
            waited.others = 2000  # most of the project's other tasks have finished: ours are in reach
        return original(limit, offset)

    waited.page = shrinking  # type: ignore[method-assign]
    results, said = wait(waited, timeout_s=1800)
    assert all(result.exit_code == ExitCode.OK for result in results)
    assert [line.split(":")[1].strip() for line in said] == [
        "watching with the running list",
        "watching with per-task polls",
        "watching with the running list",
    ]
    # Once the list watches again, about one GET per task is left to make.
    late = [at for at, _, _ in waited.gets if at > 200.0]
    assert len(late) <= 1.2 * sum(1 for finish in waited.finish.values() if finish > 200.0)


def test_a_partial_reach_prices_the_list_by_the_tasks_it_reaches() -> None:
    chosen, why = list_wins(500, 100, 0.0, 10.0, reached=0)
    assert not chosen and "reached none" in why
    chosen, why = list_wins(30, 21, 0.0, 10.0, reached=2)
    assert not chosen and "reaching 2 of them" in why  # 21 pages a round to look at 2 tasks: polls
    assert list_wins(30, 21, 0.0, 10.0)[0]  # the same list for all 30
    # The cap holds 500 polls back to one every 50 s: rounds for the 20 the list reaches pay.
    assert list_wins(500, 21, 0.0, 10.0, reached=20)[0]


def test_the_watch_keeps_only_the_waited_tasks_items() -> None:
    wanted = {"w1", "w2"}
    items = [{"task_id": f"other-{i}"} for i in range(PAGE_SIZE - 2)] + [{"task_id": "w1"}, {"task_id": "w2"}]
    watch = ListWatch(lambda limit, offset: (5000, items), wanted)
    watch.call()
    assert not watch.page((5000, items))  # more pages to come
    assert set(watch.seen) == wanted
