"""The running list's part of the wait engine: what a page, a round and a refusal of the
list do to the tasks waited for. `WaitEngine` mixes it in; the per-task answers, the loop
and the rate cap are the engine's (`kpstask.wait.engine`).

A round says which waited tasks run. A task that left it has most likely finished: it is
asked at once, before any other GET. A task a GET says runs though the list does not show
it (never listed, or a gap in what the list knows) cannot be seen to finish by the list:
it is polled on its own, after the urgent GETs; and since tasks created together tend to
finish together, it is asked at the head of the queue once half of the waited tasks the
list showed at its last GET have left the list (it has then more likely finished than not,
and confirming it before another task costs the fleet nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kpstask.api.policy import MIN_INTERVAL_S, TROUBLE, Action, for_wait
from kpstask.choices import WaitOptions
from kpstask.errors import KpsError
from kpstask.i18n import _
from kpstask.models import TaskResult
from kpstask.wait.events import Event, Notice, TaskSeen
from kpstask.wait.listwatch import ListWatch, list_wins, listed_task, refusals
from kpstask.wait.runners import Outcome
from kpstask.wait.tracked import DuePolls, Tracked

# A task the list does not show is asked first once the waited tasks the list showed at its
# last GET are down to this share: the chance it finished since is then 1 - HAZARD_SHARE.
# At one half, a GET that jumps the queue saves that task as much, on average, as it costs
# the tasks behind it when it finds the task still running.
HAZARD_SHARE = 0.5
HAZARD_COHORT = 20  # with fewer tasks in the cohort, its halving says little
# Whether the fleet's tasks do finish together is checked: once ODDS_TRIAL GETs sent on the
# odds have come back, fewer than half of them finding the task finished ends the practice.
ODDS_TRIAL = 10


@dataclass
class Odds:
    """What GETs sent first on a cohort's odds found."""

    finished: int = 0
    running: int = 0

    @property
    def trusted(self) -> bool:
        tried = self.finished + self.running
        return tried < ODDS_TRIAL or self.finished >= (1 - HAZARD_SHARE) * tried


class ListRounds:
    """The engine's handling of the running list (see the module's docstring)."""

    options: WaitOptions
    rand: Callable[[], float]
    on_event: Callable[[Event], None]
    debug: Callable[[str], None]
    _tracked: dict[str, Tracked]
    _pending: dict[str, None]
    _polls: DuePolls
    _watch: ListWatch | None
    _start: float
    _answered: bool
    _odds: Odds

    # The engine's own, used here.
    def _never_answered(self, error: KpsError) -> bool:
        raise NotImplementedError

    def _finish(self, tracked: Tracked, result: TaskResult) -> None:
        raise NotImplementedError

    def _finish_all(self, make: Callable[[Tracked], TaskResult]) -> None:
        raise NotImplementedError

    def _result(self, tracked: Tracked, **how: object) -> TaskResult:
        raise NotImplementedError

    def _interval(self, now: float, tracked: Tracked | None = None) -> float:
        raise NotImplementedError

    def _on_list(self, outcome: Outcome, now: float) -> None:
        watch = self._watch
        assert watch is not None
        watch.in_flight = False
        if isinstance(outcome, KpsError):
            if self._never_answered(outcome):
                return
            if for_wait(outcome) is Action.STOP_ALL and outcome.http_status != 403:
                self._list_refused(outcome)
                return
            if for_wait(outcome) is Action.RETRY and not watch.trouble():
                watch.next_round(now + TROUBLE(watch.failures - 1, self.rand))
            else:
                self._fall_back(outcome, now)
            return
        self._answered = True
        complete = watch.page(outcome)
        if watch.first_page and not self._choose(watch, now):
            self._to_polling(watch, now)
        elif complete:
            self._round_done(watch, now)
        else:
            watch.next_at = now  # the next page, at once

    def _choose(self, watch: ListWatch, now: float) -> bool:
        """At a round's first page the total is known, at a round's end what it reached: the
        list or per-task polls, by cost."""
        if self.options.interval_s is not None:  # a fixed interval: every round costs as asked
            chosen, why = True, f"--interval {self.options.interval_s:g}s"
        else:
            pending, age = len(self._pending), now - self._start
            chosen, why = list_wins(pending, watch.pages(), age, self.options.max_rate, watch.priced(pending))
        if chosen != watch.watching or not watch.said:
            self.debug(f"wait: watching with {'the running list' if chosen else 'per-task polls'}: {why}")
        watch.watching, watch.said = chosen, True
        return chosen

    def _to_polling(self, watch: ListWatch, now: float) -> None:
        """Each task on its own schedule; tasks the list watched are spread over an interval."""
        watch.measure_later(now)
        for task_id in self._pending:
            tracked = self._tracked[task_id]
            if tracked.listed or not (tracked.in_flight or tracked.queued):
                delay = 0.0 if tracked.polls == 0 else self._interval(now, tracked) * self.rand()
                tracked.listed = False
                self._polls.push(tracked, now + delay)

    def _round_done(self, watch: ListWatch, now: float) -> None:
        """Tasks that left the list are asked about at once, ahead of other GETs; one never
        asked about is asked when the cap allows; one the list does not show though it runs,
        on its own schedule, or first once its cohort has halved. Then the watch is chosen
        again if the round did not reach every task (past where the list can be paged)."""
        shown = sum(task_id in self._pending for task_id in watch.seen)
        left = 0
        for task_id in self._pending:
            tracked = self._tracked[task_id]
            item = watch.seen.get(task_id)
            if item is not None:
                self._listed(tracked, item, now)
            elif tracked.listed:
                left += 1
                self._left(tracked, now)
            elif not tracked.in_flight:
                self._unlisted(tracked, shown, now)
        watch.reach(shown + left, shown)
        if shown + left < len(self._pending) and not self._choose(watch, now):
            self._to_polling(watch, now)
            return
        interval = self.options.interval_s or watch.round_s(
            watch.priced(len(self._pending)), now - self._start, self.options.max_rate, self.rand
        )
        watch.next_round(now + max(MIN_INTERVAL_S, interval))

    def _left(self, tracked: Tracked, now: float) -> None:
        """It ran at the last round and is not in this one: it has most likely finished."""
        tracked.listed = False
        tracked.cohort = None
        if not tracked.in_flight:
            self._polls.push(tracked, now, urgent=True)

    def _unlisted(self, tracked: Tracked, shown: int, now: float) -> None:
        """Not in the list, not known to have been in it: never asked yet, or a GET said it runs."""
        cohort = tracked.cohort or 0
        if cohort >= HAZARD_COHORT and shown <= cohort * HAZARD_SHARE and self._odds.trusted:
            tracked.cohort, tracked.on_odds = None, True  # the cohort is set again if it still runs
            self._polls.push(tracked, now, first=True)
        elif tracked.polls == 0 and not tracked.queued:
            # Finished before the wait, or never listed: a GET says which, when the cap allows.
            tracked.cohort = tracked.cohort or shown
            self._polls.push(tracked, now)

    def _listed(self, tracked: Tracked, item: dict[str, object], now: float) -> None:
        if not tracked.listed and tracked.task is None:  # the display learns what the list says
            tracked.task = listed_task(tracked.task_id, item)
            self.on_event(TaskSeen(tracked.task, None, now - self._start))
        tracked.listed = True
        tracked.cohort = None
        tracked.queued = False  # a direct poll waiting in the heap is not needed any more

    def _list_refused(self, error: KpsError) -> None:
        """The list refused the credentials (not a 403, which may mean only that the list is not
        allowed): no task is asked with them. The first task carries the refusal, the rest say
        why they were not waited for, as after a refusal on a task."""
        assert self._watch is not None
        self._watch.active = False
        if not self._pending:  # the last task finished in the same batch of outcomes
            return
        said, skipped = refusals(error)
        first = next(iter(self._pending))
        self._finish(self._tracked[first], self._result(self._tracked[first])._replace(error=said))
        self._finish_all(lambda t: self._result(t, cancelled=True, reason=skipped))

    def _fall_back(self, error: KpsError, now: float) -> None:
        assert self._watch is not None
        self._watch.active = False
        said = _("the running-tasks list is not available ({error}); asking each task on its own")
        self.on_event(Notice(said.format(error=error)))
        for task_id in self._pending:
            tracked = self._tracked[task_id]
            tracked.listed = False
            if not (tracked.in_flight or tracked.queued):
                self._polls.push(tracked, now)

    def _unlisted_answer(self, tracked: Tracked, finished: bool) -> None:
        """A GET answered: what a GET sent on the odds found is counted; if the task runs and
        the list watches but does not show it, how many waited tasks the list showed (its
        cohort) is remembered, for `_unlisted`."""
        if tracked.on_odds:
            tracked.on_odds, trusted = False, self._odds.trusted
            self._odds.finished += finished
            self._odds.running += not finished
            if trusted and not self._odds.trusted:
                self._polls.demote_first()
                odds = self._odds
                self.debug(
                    f"wait: tasks the list does not show are no longer asked first as their cohort leaves it: "
                    f"{odds.finished} of {odds.finished + odds.running} such GETs found the task finished"
                )
        watch = self._watch
        if not finished and watch is not None and watch.watching and not tracked.listed:
            tracked.cohort = watch.shown
