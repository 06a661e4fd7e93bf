"""`get` with many ids: each task asked once, several at a time under the one rate cap,
the answers handed on in the order the ids were given. The first request goes alone;
after a refusal of the credentials no new request starts (the gateway locks a key
after repeated failures). Every answer is kept as it comes (`Asker.answers`), so that an
interrupted `get` can still print those that came before their turn."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from kpstask.api.policy import Action, for_get
from kpstask.api.rate import RateLimiter
from kpstask.choices import Pace
from kpstask.errors import KpsError
from kpstask.i18n import _
from kpstask.models import Task, TaskResult
from kpstask.wait.runners import Runner, ThreadRunner

if TYPE_CHECKING:
    from kpstask.api.client import KpsClient

Ask = Callable[[str], Task]
Say = Callable[[str], None]


class Watch(Protocol):
    """What a display hears from the Asker: each answer as it comes, and time passing."""

    def answered(self, result: TaskResult) -> None: ...

    def tick(self) -> None: ...


class PerTask:
    """`client.get_task`, each task through its own copy of the transport (the same
    connections), so that its retries are said with its id:
    `task t3: retrying (1/3) in 0.5s: server error (empty body) (HTTP 503)`, and keep to
    the rate cap of the Asker that runs it (`limiter`)."""

    def __init__(self, client: KpsClient, warn: Say | None) -> None:
        self.client = client
        self.warn = warn
        self.limiter: RateLimiter | None = None  # set by the Asker

    def __call__(self, task_id: str) -> Task:
        from kpstask.api.client import KpsClient

        transport = copy.copy(self.client.transport)
        transport.limiter = self.limiter
        if self.warn is not None:
            transport.on_retry = lambda line: self._said(task_id, line)
        return KpsClient(transport, self.client.project_id, self.client.auth).get_task(task_id)

    def _said(self, task_id: str, line: str) -> None:
        warn = self.warn  # read at each retry: None once the Asker is done (a request abandoned)
        if warn is not None:
            warn(_("task {task}: {error}").format(task=task_id, error=line))


def per_task(client: KpsClient, warn: Say | None) -> PerTask:
    """Each task asked on its own, its retries said with its id unless `warn` is None."""
    return PerTask(client, warn)


def ask_once(ask: Ask, task_id: str) -> TaskResult:
    try:
        return TaskResult(task_id, task=ask(task_id))
    except KpsError as error:
        return TaskResult(task_id, error=error)


def refused(result: TaskResult) -> bool:
    return result.error is not None and for_get(result.error) is Action.STOP_ALL


class Asker:
    """Yields a result per id, in order, until the ids run out or the credentials are refused.
    The rate adapts: a throttle lowers it for every task, answers raise it again (`rate`)."""

    def __init__(
        self,
        ask: Ask,
        pace: Pace,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        runner: Runner | None = None,
        watch: Watch | None = None,
    ) -> None:
        self._ask = ask
        self._pace = pace
        self._clock = clock
        self._sleep = sleep or time.sleep  # looked up now: tests swap the module's function
        self._runner = runner
        self.limiter = RateLimiter(pace.max_rate)
        if isinstance(ask, PerTask):  # its transport's retries keep to the cap, and cut the rate on a 429
            ask.limiter = self.limiter
        self._watch = watch
        self._stopped = False  # the credentials were refused
        self.answers: dict[str, TaskResult] = {}  # every answer in, by id, in or out of turn
        self.sent = 0  # requests started (those not in `answers` are in flight or abandoned)

    def __call__(self, ids: list[str]) -> Iterator[TaskResult]:
        self.answers, self.sent = {}, 0
        if len(ids) <= 1 or self._pace.concurrency == 1:
            yield from self._one_by_one(ids)
            return
        runner = self._runner or ThreadRunner(self._ask, min(self._pace.concurrency, len(ids)))
        try:
            yield from self._together(runner, ids)
        finally:
            runner.close()
            if isinstance(self._ask, PerTask):  # requests still in flight were abandoned: their retries unsaid
                self._ask.warn = None

    def _slot(self) -> None:
        now = self._clock()
        start = self.limiter.claim(now)  # a worker's retry may claim a start meanwhile
        if start > now:
            self._sleep(start - now)

    def _heard(self, result: TaskResult) -> TaskResult:
        self.limiter.feedback(result.error or result.task, self._clock())
        self.answers[result.task_id] = result
        if self._watch is not None:
            self._watch.answered(result)
        return result

    def _one_by_one(self, ids: list[str]) -> Iterator[TaskResult]:
        for task_id in ids:
            self._slot()
            self.sent += 1
            result = self._heard(ask_once(self._ask, task_id))
            yield result
            if refused(result):
                return

    def _together(self, runner: Runner, ids: list[str]) -> Iterator[TaskResult]:
        done: dict[str, TaskResult] = {}  # answers that came before their turn
        shown = 0
        while shown < len(ids):
            if self._watch is not None:
                self._watch.tick()
            # The first answer comes alone: credentials refused then cost one request, not eight.
            width = self._pace.concurrency if shown or done else 1
            if not self._stopped and self.sent < len(ids) and runner.in_flight < width:
                self._slot()
                self._collect(runner, done, 0)  # answers that came while waiting for the slot
                if not self._stopped:
                    runner.submit(ids[self.sent])
                    self.sent += 1
            elif runner.in_flight:
                self._collect(runner, done, 0.05)
            elif ids[shown] not in done:
                return  # refused: the rest are not asked
            while shown < len(ids) and ids[shown] in done:
                yield done.pop(ids[shown])
                shown += 1

    def _collect(self, runner: Runner, done: dict[str, TaskResult], timeout_s: float) -> None:
        for task_id, outcome in runner.collect(timeout_s):
            if isinstance(outcome, Task):
                done[task_id] = self._heard(TaskResult(task_id, task=outcome))
            else:
                assert isinstance(outcome, KpsError)
                done[task_id] = self._heard(TaskResult(task_id, error=outcome))
                self._stopped = self._stopped or refused(done[task_id])
