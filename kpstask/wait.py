"""The wait engine: polls tasks until they are terminal, within a deadline.

Plain logic: the clock, sleep, randomness and the way polls run are injected,
and progress is reported as events for a display to render. It knows nothing
of rich or of the terminal.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kpstask.choices import WaitOptions
from kpstask.errors import AuthError, DeadlineError, ExitCode, KpsError, NotFoundError, interrupt_code
from kpstask.models import State, Task, TaskResult
from kpstask.policy import POLL, TROUBLE, Action, RateLimiter, for_wait

MIN_INTERVAL_S = POLL.floor_s  # never poll one task faster than this
MAX_INTERVAL_S = POLL.cap_s
NOT_FOUND_RETRY_S = 5.0


def adaptive_interval(age_s: float, rand: Callable[[], float]) -> float:
    """Frequent while a task is young, slower as it ages; capped and jittered.

    Noticing delay is about half the interval, so about 7.5 % of a task's
    duration and never more than 15 s.
    """
    return POLL(age_s, rand)


# -- events --------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSeen:
    """A task's status, the first time or when it changed."""

    task: Task
    previous: str | None
    elapsed_s: float


@dataclass(frozen=True)
class TaskTrouble:
    """A poll failed in a way worth retrying."""

    task_id: str
    error: KpsError
    retry_in_s: float
    elapsed_s: float


@dataclass(frozen=True)
class TaskDone:
    """A task is finished with, whichever way."""

    result: TaskResult


@dataclass(frozen=True)
class Tick:
    """Time passes; `pending` tasks are still being waited on."""

    elapsed_s: float
    pending: tuple[str, ...]


Event = TaskSeen | TaskTrouble | TaskDone | Tick


class WaitInterrupted(Exception):
    """Ctrl-C or SIGTERM during a wait; carries what was known, and the exit code."""

    def __init__(self, results: list[TaskResult], code: ExitCode = ExitCode.INTERRUPTED) -> None:
        super().__init__("interrupted")
        self.results = results
        self.code = code


# -- how polls run ----------------------------------------------------------------

Outcome = Task | KpsError
Poll = Callable[[str], Task]


class Runner(Protocol):
    """Runs polls; the engine collects their outcomes."""

    in_flight: int

    def submit(self, task_id: str) -> None: ...

    def collect(self, timeout_s: float) -> list[tuple[str, Outcome]]: ...

    def close(self) -> None: ...


def _call(poll: Poll, task_id: str) -> Outcome:
    try:
        return poll(task_id)
    except KpsError as error:
        return error


class InlineRunner:
    """Polls at once, in the caller's thread: for tests with a fake clock."""

    def __init__(self, poll: Poll) -> None:
        self._poll = poll
        self._done: list[tuple[str, Outcome]] = []
        self.in_flight = 0

    def submit(self, task_id: str) -> None:
        self._done.append((task_id, _call(self._poll, task_id)))

    def collect(self, timeout_s: float) -> list[tuple[str, Outcome]]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        pass


class ThreadRunner:
    """A few daemon threads share one HTTP session; a hung request never blocks exit."""

    def __init__(self, poll: Poll, workers: int) -> None:
        self._poll = poll
        self._todo: queue.Queue[str | None] = queue.Queue()
        self._done: queue.Queue[tuple[str, Outcome | BaseException]] = queue.Queue()
        self.in_flight = 0
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"kps-poll-{i}") for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (task_id := self._todo.get()) is not None:
            try:
                outcome: Outcome | BaseException = _call(self._poll, task_id)
            except Exception as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it
                outcome = exc
            self._done.put((task_id, outcome))

    def submit(self, task_id: str) -> None:
        self.in_flight += 1
        self._todo.put(task_id)

    def collect(self, timeout_s: float) -> list[tuple[str, Outcome]]:
        items = []
        try:
            items.append(self._done.get(timeout=timeout_s) if timeout_s > 0 else self._done.get_nowait())
            while True:
                items.append(self._done.get_nowait())
        except queue.Empty:
            pass
        self.in_flight -= len(items)
        outcomes: list[tuple[str, Outcome]] = []
        for task_id, outcome in items:
            if isinstance(outcome, BaseException) and not isinstance(outcome, KpsError):
                raise outcome  # a bug in a worker is a bug of the command
            outcomes.append((task_id, outcome))
        return outcomes

    def close(self) -> None:
        for _ in self._threads:
            self._todo.put(None)


# -- the engine ----------------------------------------------------------------------


@dataclass
class _Tracked:
    task_id: str
    next_at: float = 0.0
    last_start: float | None = None
    polls: int = 0
    task: Task | None = None
    last_error: KpsError | None = None
    errors_in_row: int = 0
    not_found_since: float | None = None
    in_flight: bool = False


@dataclass
class WaitEngine:
    """Polls each task until SUCCESS_* or FAILED_*, the deadline, or a fatal error."""

    task_ids: list[str]
    runner: Runner
    options: WaitOptions = field(default_factory=WaitOptions)
    clock: Callable[[], float] = field(default_factory=lambda: time.monotonic)
    sleep: Callable[[float], None] = field(default_factory=lambda: time.sleep)
    rand: Callable[[], float] = field(default_factory=lambda: random.random)
    on_event: Callable[[Event], None] = lambda event: None

    def __post_init__(self) -> None:
        self._tracked = {task_id: _Tracked(task_id) for task_id in self.task_ids}
        self._results: dict[str, TaskResult] = {}
        self._limiter = RateLimiter(self.options.max_rate)
        self._start = 0.0
        self._last_tick = float("-inf")

    def run(self) -> list[TaskResult]:
        """Results in the order of `task_ids`; raises WaitInterrupted on Ctrl-C."""
        self._start = self.clock()
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

    def _loop(self) -> None:
        deadline = self._deadline()
        while len(self._results) < len(self._tracked):
            now = self.clock()
            if deadline is not None and now >= deadline:
                self._finish_all(lambda t: self._result(t, deadline=True))
                return
            self._launch_due(now)
            for task_id, outcome in self.runner.collect(0):
                self._handle(task_id, outcome)
            if len(self._results) == len(self._tracked):
                return
            self._tick(self.clock())
            wait = self._next_wake(self.clock(), deadline)
            if self.runner.in_flight:
                for task_id, outcome in self.runner.collect(wait):
                    self._handle(task_id, outcome)
            elif wait > 0:
                self.sleep(wait)

    def _tick(self, now: float) -> None:
        if now - self._last_tick >= self.options.tick_s:
            self._last_tick = now
            pending = tuple(t for t in self.task_ids if t not in self._results)
            self.on_event(Tick(now - self._start, pending))

    def _launch_due(self, now: float) -> None:
        due = sorted(
            (t for t in self._tracked.values() if t.task_id not in self._results and not t.in_flight),
            key=lambda t: t.next_at,
        )
        for tracked in due:
            if tracked.next_at > now or self.runner.in_flight >= self.options.concurrency:
                break
            if not self._limiter.take(now):  # the one rate cap, all tasks together
                break
            tracked.in_flight = True
            tracked.last_start = now
            tracked.polls += 1
            self.runner.submit(tracked.task_id)

    def _next_wake(self, now: float, deadline: float | None) -> float:
        waiting = [t.next_at for t in self._tracked.values() if t.task_id not in self._results and not t.in_flight]
        wake = now + self.options.tick_s
        if waiting and self.runner.in_flight < self.options.concurrency:
            wake = min(wake, self._limiter.free_at(min(waiting)))
        if deadline is not None:
            wake = min(wake, deadline)
        return max(0.0, wake - now)

    # -- outcomes ---------------------------------------------------------------

    def _handle(self, task_id: str, outcome: Outcome) -> None:
        tracked = self._tracked[task_id]
        tracked.in_flight = False
        if task_id in self._results:  # finished meanwhile (fail-fast, abort)
            return
        now = self.clock()
        if isinstance(outcome, Task):
            self._on_task(tracked, outcome, now)
            return
        action = for_wait(outcome)
        if action is Action.RETRY_WHILE_NEW and isinstance(outcome, NotFoundError):
            self._on_not_found(tracked, outcome, now)
        elif action is Action.RETRY:
            self._on_trouble(tracked, outcome, now)
        else:
            self._finish(tracked, self._result(tracked)._replace(error=outcome))
        if action is Action.STOP_ALL:
            skipped = AuthError(f"not waited for: the credentials were refused for task {tracked.task_id}")
            self._finish_all(lambda t: self._result(t, cancelled=True, reason=skipped))

    def _on_task(self, tracked: _Tracked, task: Task, now: float) -> None:
        previous = tracked.task.task_status if tracked.task is not None else None
        tracked.task = task
        tracked.last_error = None
        tracked.errors_in_row = 0
        tracked.not_found_since = None
        if task.task_status != previous:
            self.on_event(TaskSeen(task, previous, now - self._start))
        if task.state in (State.SUCCEEDED, State.FAILED):
            self._finish(tracked, self._result(tracked))
            if task.state is State.FAILED and self.options.fail_fast:
                self._finish_all(lambda t: self._result(t, cancelled=True))
            return
        self._schedule(tracked, now, self._interval(now))

    def _on_not_found(self, tracked: _Tracked, error: NotFoundError, now: float) -> None:
        if tracked.not_found_since is None:
            tracked.not_found_since = now
        remaining = tracked.not_found_since + self.options.not_found_grace_s - now
        if remaining <= 0:
            self._finish(tracked, self._result(tracked)._replace(error=error))
            return
        delay = min(max(MIN_INTERVAL_S, self._interval(now)), NOT_FOUND_RETRY_S, remaining)
        tracked.last_error = error
        self.on_event(TaskTrouble(tracked.task_id, error, delay, now - self._start))
        self._schedule(tracked, now, delay)

    def _on_trouble(self, tracked: _Tracked, error: KpsError, now: float) -> None:
        tracked.last_error = error
        tracked.errors_in_row += 1
        backoff = TROUBLE(tracked.errors_in_row - 1, self.rand)
        delay = max(self._interval(now), backoff, error.retry_after_s or 0.0)
        self.on_event(TaskTrouble(tracked.task_id, error, delay, now - self._start))
        self._schedule(tracked, now, delay)

    def _interval(self, now: float) -> float:
        if self.options.interval_s is not None:
            return max(MIN_INTERVAL_S, self.options.interval_s)
        return adaptive_interval(now - self._start, self.rand)

    def _schedule(self, tracked: _Tracked, now: float, delay: float) -> None:
        start = tracked.last_start if tracked.last_start is not None else now
        next_at = max(now + delay, start + MIN_INTERVAL_S)
        deadline = self._deadline()
        if deadline is not None and next_at > deadline:
            # One last look just before the deadline, rather than none at all.
            next_at = max(min(next_at, deadline - 0.5), start + MIN_INTERVAL_S)
        tracked.next_at = next_at

    def _result(
        self, tracked: _Tracked, *, deadline: bool = False, cancelled: bool = False, reason: KpsError | None = None
    ) -> TaskResult:
        # A task never seen reports why: the last error, else the reason the wait ended.
        error = None
        if tracked.task is None and (deadline or cancelled):
            error = tracked.last_error or reason
            if error is None and deadline:
                error = DeadlineError("no answer before the deadline")
        return TaskResult(
            tracked.task_id,
            task=tracked.task,
            error=error,
            elapsed_s=round(self.clock() - self._start, 3),
            polls=tracked.polls,
            deadline=deadline,
        )

    def _finish(self, tracked: _Tracked, result: TaskResult) -> None:
        self._results[tracked.task_id] = result
        self.on_event(TaskDone(result))

    def _finish_all(self, make: Callable[[_Tracked], TaskResult]) -> None:
        for task_id in self.task_ids:
            if task_id not in self._results:
                self._finish(self._tracked[task_id], make(self._tracked[task_id]))
