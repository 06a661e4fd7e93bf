"""The wait engine: asks about tasks until they are terminal, within a deadline.

Plain logic: the clock, sleep, randomness and the way requests run are injected,
and progress is reported as events for a display to render. It knows nothing of
rich or of the terminal. Its cost per request does not grow with the number of
tasks: due polls wait in a heap, pending tasks in an ordered dict; only a round of
the running list (which serves every task at once) looks at every task.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kpstask.api.policy import MIN_INTERVAL_S, POLL, TROUBLE, Action, for_wait
from kpstask.api.rate import RateLimiter, is_throttle
from kpstask.choices import WaitOptions
from kpstask.errors import AuthError, KpsError, NetworkError, NotFoundError, interrupt_code
from kpstask.i18n import _
from kpstask.models import Lister, State, Task, TaskResult
from kpstask.wait.events import Event, TaskDone, TaskSeen, TaskTrouble, Tick, WaitInterrupted
from kpstask.wait.listwatch import LIST_FROM, LIST_JOB, ListWatch
from kpstask.wait.rounds import ListRounds, Odds
from kpstask.wait.runners import Outcome, Runner
from kpstask.wait.tracked import DuePolls, Tracked

NOT_FOUND_RETRY_S = 5.0
# An endpoint that has never answered (a typo in the region: DNS fails; a closed port) ends
# the wait after this many network errors, rather than at the deadline.
NEVER_ANSWERED_TRIES = 3
SHOWN_PENDING = 5  # how many pending ids a Tick carries
UNLISTED_CAP_S = 12.0  # at most this between GETs of a running task the list does not show
# A round of the list waits while urgent GETs would keep the cap busy this long: what it would
# find could not be asked about sooner, and its pages would delay the GETs. It goes once fewer
# are left, so that the next finished tasks are known before the queue runs dry.
ROUND_AHEAD_S = 1.0
LIST_PATIENCE_S = 6.0  # but a round waits at most this long past its time


@dataclass
class WaitEngine(ListRounds):
    """Asks about each task until SUCCESS_* or FAILED_*, the deadline, or a fatal error."""

    task_ids: list[str]
    runner: Runner
    options: WaitOptions = field(default_factory=WaitOptions)
    clock: Callable[[], float] = field(default_factory=lambda: time.monotonic)
    sleep: Callable[[float], None] = field(default_factory=lambda: time.sleep)
    rand: Callable[[], float] = field(default_factory=lambda: random.random)
    on_event: Callable[[Event], None] = lambda event: None
    lister: Lister | None = None  # the running list; used for LIST_FROM tasks or more, when it costs less
    debug: Callable[[str], None] = lambda line: None  # --debug: the watch chosen, and why

    def __post_init__(self) -> None:
        self._tracked = {task_id: Tracked(task_id) for task_id in self.task_ids}
        self._pending = dict.fromkeys(self.task_ids)  # in the order given; O(1) removal
        self._results: dict[str, TaskResult] = {}
        self._polls = DuePolls(self._tracked, self._pending)
        self._limiter = RateLimiter(self.options.max_rate)
        watched = self.lister is not None and len(self.task_ids) >= LIST_FROM
        self._watch = ListWatch(self.lister, self._pending) if self.lister is not None and watched else None
        self._odds = Odds()  # what GETs of tasks the list does not show, sent on the fleet's odds, found
        self._start = 0.0
        self._last_tick = float("-inf")
        self._answered = False  # anything at all came back from the endpoint
        self._unanswered = 0  # network errors before that

    def run(self) -> list[TaskResult]:
        """Results in the order of `task_ids`; raises WaitInterrupted on Ctrl-C."""
        self._start = self.clock()
        if self._watch is not None:
            self._watch.next_at = self._start
        else:
            for tracked in self._tracked.values():
                self._polls.push(tracked, self._start)
        try:
            self._loop()
        except KeyboardInterrupt as stop:
            self._finish_all(lambda t: self._result(t, cancelled=True))
            raise WaitInterrupted(self._ordered(), interrupt_code(stop)) from None
        finally:
            self.runner.close()
        return self._ordered()

    def _ordered(self) -> list[TaskResult]:
        return [self._results[task_id] for task_id in self.task_ids if task_id in self._results]

    def _deadline(self) -> float | None:
        timeout = self.options.timeout_s
        return None if timeout is None else self._start + timeout

    def left_s(self) -> float | None:
        """What is left of the deadline now (None: no deadline): what a lookup after the
        wait (the failure reasons) may take, so that --timeout holds for the whole command."""
        deadline = self._deadline()
        return None if deadline is None else max(0.0, deadline - self.clock())

    def _loop(self) -> None:
        deadline = self._deadline()
        while self._pending:
            now = self.clock()
            if deadline is not None and now >= deadline:
                self._finish_all(lambda t: self._result(t, deadline=True))
                return
            self._launch(now)
            self._handle_all(self.runner.collect(0))
            if not self._pending:
                return
            self._tick(self.clock())
            wait = self._next_wake(self.clock(), deadline)
            if self.runner.in_flight:
                self._handle_all(self.runner.collect(wait))
            elif wait > 0:
                self.sleep(wait)

    def _tick(self, now: float) -> None:
        if now - self._last_tick >= self.options.tick_s:
            self._last_tick = now
            shown = tuple(itertools.islice(self._pending, SHOWN_PENDING))
            self.on_event(Tick(now - self._start, shown, len(self._pending)))

    # -- starting requests: the heap of due polls, the list rounds, the one rate cap -------

    def _launch(self, now: float) -> None:
        # Urgent GETs (tasks that left the list) go first, then a round of the list, then the
        # other polls. While enough urgent GETs wait to keep the cap busy, the round waits: it
        # could only add to their queue (see ROUND_AHEAD_S).
        while self.runner.in_flight < self.options.concurrency and self._limiter.free_at(now) <= now:
            watch = self._watch
            tracked = None if self._round_first(now) else self._polls.pop(now)
            if tracked is None and watch is not None and watch.due(now):
                self._limiter.take(now)
                self.runner.submit(LIST_JOB, watch.call())
                continue
            if tracked is None:
                return
            self._limiter.take(now)
            tracked.in_flight = True
            tracked.last_start = now
            tracked.polls += 1
            self.runner.submit(tracked.task_id)

    def _round_first(self, now: float) -> bool:
        """A round of the list is due and goes before any GET: urgent ones would not keep the
        cap busy for ROUND_AHEAD_S, or it has waited LIST_PATIENCE_S."""
        watch = self._watch
        if watch is None or not watch.due(now):
            return False
        ahead = max(1.0, self._limiter.rate * ROUND_AHEAD_S)
        return watch.due(now - LIST_PATIENCE_S) or self._polls.urgent() < ahead

    def _next_wake(self, now: float, deadline: float | None) -> float:
        wake = now + self.options.tick_s
        due = [at for at in (self._polls.first(),) if at is not None]
        if self._watch is not None and self._watch.active and not self._watch.in_flight:
            due.append(self._watch.next_at)
        if due and self.runner.in_flight < self.options.concurrency:
            wake = min(wake, self._limiter.free_at(min(due)))
        if deadline is not None:
            wake = min(wake, deadline)
        return max(0.0, wake - now)

    # -- outcomes -----------------------------------------------------------------------

    def _handle_all(self, outcomes: list[tuple[str, Outcome]]) -> None:
        for job, outcome in outcomes:
            self._pace(outcome)
            if job == LIST_JOB:
                self._on_list(outcome, self.clock())
            else:
                self._handle(job, outcome)

    def _pace(self, outcome: Outcome) -> None:
        """A throttle slows every task's requests down, clean answers speed them up again."""
        now = self.clock()
        if isinstance(outcome, KpsError) and is_throttle(outcome):
            if self._limiter.throttled(now):
                self.debug(f"wait: throttled: at most {self._limiter.rate:.2f} requests/s for now")
        else:
            self._limiter.feedback(outcome, now)

    def _handle(self, task_id: str, outcome: Outcome) -> None:
        tracked = self._tracked[task_id]
        tracked.in_flight = False
        if task_id not in self._pending:  # finished meanwhile (fail-fast, abort)
            return
        now = self.clock()
        if isinstance(outcome, Task):
            self._answered = True
            self._on_task(tracked, outcome, now)
            return
        assert isinstance(outcome, KpsError)
        if self._never_answered(outcome):
            return
        action = for_wait(outcome)
        if action is Action.RETRY_WHILE_NEW and isinstance(outcome, NotFoundError):
            self._on_not_found(tracked, outcome, now)
        elif action is Action.RETRY:
            self._on_trouble(tracked, outcome, now)
        else:
            self._finish(tracked, self._result(tracked)._replace(error=outcome))
        if action is Action.STOP_ALL:
            refused = _("not waited for: the credentials were refused for task {task}")
            skipped = AuthError(refused.format(task=tracked.task_id))
            self._finish_all(lambda t: self._result(t, cancelled=True, reason=skipped))

    def _never_answered(self, error: KpsError) -> bool:
        """After NEVER_ANSWERED_TRIES failures to reach the endpoint at all (DNS, connection
        refused, TLS) and never an answer, end every task with the reason."""
        if not isinstance(error, NetworkError):
            self._answered = True  # an HTTP answer, even an error, means the endpoint is there
            return False
        if self._answered or not error.unreachable:
            return False
        self._unanswered += 1
        if self._unanswered < NEVER_ANSWERED_TRIES:
            return False
        stop = NetworkError(
            _("{error} ({tries} tries, never an answer)").format(error=error.message, tries=self._unanswered),
            hint=error.hint or _("check --region / --endpoint and the network"),
        )
        for task_id in self._pending:
            self._tracked[task_id].last_error = stop
        self._finish_all(lambda t: self._result(t, cancelled=True, reason=stop))
        return True

    def _on_task(self, tracked: Tracked, task: Task, now: float) -> None:
        previous = tracked.task.task_status if tracked.task is not None else None
        tracked.task = task
        tracked.last_error = None
        tracked.errors_in_row = 0
        tracked.not_found_since = None
        if task.task_status != previous:
            self.on_event(TaskSeen(task, previous, now - self._start))
        self._unlisted_answer(tracked, task.state in (State.SUCCEEDED, State.FAILED))
        if task.state in (State.SUCCEEDED, State.FAILED):
            # Finished at the first look: "already done", not an elapsed time of ~0 s.
            self._finish(tracked, self._result(tracked)._replace(already_done=previous is None))
            if task.state is State.FAILED and self.options.fail_fast:
                self._finish_all(lambda t: self._result(t, cancelled=True))
            return
        self._schedule(tracked, now, self._interval(now, tracked))

    def _on_not_found(self, tracked: Tracked, error: NotFoundError, now: float) -> None:
        if tracked.not_found_since is None:
            tracked.not_found_since = now
        remaining = tracked.not_found_since + self.options.not_found_grace_s - now
        if remaining <= 0:
            self._finish(tracked, self._result(tracked)._replace(error=error))
            return
        delay = min(max(MIN_INTERVAL_S, self._interval(now, tracked)), NOT_FOUND_RETRY_S, remaining)
        tracked.last_error = error
        self.on_event(TaskTrouble(tracked.task_id, error, delay, now - self._start, grace_left_s=remaining))
        self._schedule(tracked, now, delay)

    def _on_trouble(self, tracked: Tracked, error: KpsError, now: float) -> None:
        tracked.last_error = error
        tracked.errors_in_row += 1
        backoff = TROUBLE(tracked.errors_in_row - 1, self.rand)
        # A throttled poll was never made: it is due again once the (now slower) rate allows,
        # not a whole poll interval later.
        interval = 0.0 if is_throttle(error) else self._interval(now, tracked)
        delay = max(interval, backoff, error.retry_after_s or 0.0)
        self.on_event(TaskTrouble(tracked.task_id, error, delay, now - self._start))
        self._schedule(tracked, now, delay)

    def _interval(self, now: float, tracked: Tracked | None = None) -> float:
        if self.options.interval_s is not None:
            return max(MIN_INTERVAL_S, self.options.interval_s)
        interval = POLL(now - self._start, self.rand)
        if tracked is not None and tracked.cohort is not None and self._watch is not None and self._watch.watching:
            return min(interval, UNLISTED_CAP_S)  # the list will not say when it ends: only a GET can
        return interval

    def _schedule(self, tracked: Tracked, now: float, delay: float) -> None:
        start = tracked.last_start if tracked.last_start is not None else now
        next_at = max(now + delay, start + MIN_INTERVAL_S)
        deadline = self._deadline()
        if deadline is not None and next_at > deadline:
            # One last look just before the deadline, rather than none at all.
            next_at = max(min(next_at, deadline - 0.5), start + MIN_INTERVAL_S)
        self._polls.push(tracked, next_at)

    # -- results ------------------------------------------------------------------------

    def _result(self, tracked: Tracked, **how: Any) -> TaskResult:
        return tracked.result(round(self.clock() - self._start, 3), **how)

    def _finish(self, tracked: Tracked, result: TaskResult) -> None:
        self._results[tracked.task_id] = result
        self._pending.pop(tracked.task_id, None)
        self.on_event(TaskDone(result))

    def _finish_all(self, make: Callable[[Tracked], TaskResult]) -> None:
        for task_id in list(self._pending):
            self._finish(self._tracked[task_id], make(self._tracked[task_id]))
