"""How the wait engine's requests run: at once in the caller's thread (tests with a
fake clock), or on a few worker threads sharing one HTTP session. A job is a task id
(a GET of that task) or a named call (a page of the running list)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Protocol

from kpstask.errors import KpsError
from kpstask.models import Task

Outcome = object  # a Task, a list page, or the KpsError a request ended in
Poll = Callable[[str], Task]
Call = Callable[[], object]


class Runner(Protocol):
    """Runs jobs; the engine collects their outcomes."""

    in_flight: int

    def submit(self, task_id: str, call: Call | None = None) -> None: ...

    def collect(self, timeout_s: float) -> list[tuple[str, Outcome]]: ...

    def close(self) -> None: ...


def _outcome(call: Call) -> Outcome:
    try:
        return call()
    except KpsError as error:
        return error


class InlineRunner:
    """Runs each job at once, in the caller's thread: for tests with a fake clock."""

    def __init__(self, poll: Poll) -> None:
        self._poll = poll
        self._done: list[tuple[str, Outcome]] = []
        self.in_flight = 0

    def submit(self, task_id: str, call: Call | None = None) -> None:
        self._done.append((task_id, _outcome(call or partial(self._poll, task_id))))

    def collect(self, timeout_s: float) -> list[tuple[str, Outcome]]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        pass


class ThreadRunner:
    """A few daemon threads share one HTTP session; a hung request never blocks exit."""

    def __init__(self, poll: Poll, workers: int) -> None:
        self._poll = poll
        self._todo: queue.Queue[tuple[str, Call | None] | None] = queue.Queue()
        self._done: queue.Queue[tuple[str, Outcome | BaseException]] = queue.Queue()
        self.in_flight = 0
        self._threads = [threading.Thread(target=self._work, daemon=True, name=f"kps-poll-{i}") for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (job := self._todo.get()) is not None:
            task_id, call = job
            try:
                outcome: Outcome | BaseException = _outcome(call or partial(self._poll, task_id))
            except Exception as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it
                outcome = exc
            self._done.put((task_id, outcome))

    def submit(self, task_id: str, call: Call | None = None) -> None:
        self.in_flight += 1
        self._todo.put((task_id, call))

    def collect(self, timeout_s: float) -> list[tuple[str, Outcome]]:
        items = []
        try:
            items.append(self._done.get(timeout=timeout_s) if timeout_s > 0 else self._done.get_nowait())
            while True:
                items.append(self._done.get_nowait())
        except queue.Empty:
            pass
        self.in_flight -= len(items)
        for _, outcome in items:
            if isinstance(outcome, BaseException) and not isinstance(outcome, KpsError):
                raise outcome  # a bug in a worker is a bug of the command
        return items

    def close(self) -> None:
        for _ in self._threads:
            self._todo.put(None)
