"""What a person or a CI log sees while kpstask waits: rendered from the wait
engine's events, on stderr. The plain display never touches rich, so no
escape code can reach a log, whatever FORCE_COLOR says.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Protocol

from kpstask.durations import elapsed as elapsed  # noqa: PLC0414 - re-exported: live.py takes it from here
from kpstask.i18n import N_, _, ngettext
from kpstask.models import State, TaskResult
from kpstask.text import one_line
from kpstask.wait.events import Event, Notice, TaskSeen, TaskTrouble, Tick


class Progress(Protocol):
    def __call__(self, event: Event) -> None: ...

    def stop(self) -> None:
        """Give the terminal back (idempotent); called even when something broke."""

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None: ...


def summary(results: Sequence[TaskResult], interrupted: bool) -> str:
    """`done: 3 succeeded, 1 failed, 1 still pending at the deadline`."""
    done = _("interrupted: {counts}") if interrupted else _("done: {counts}")
    return done.format(counts=counted(results) or _("no tasks"))


def counted(results: Sequence[TaskResult]) -> str:
    """`3 succeeded, 1 failed, 1 still pending at the deadline`."""
    counts: dict[str, int] = {}
    for result in results:
        if result.error is not None:
            key = "error"
        elif result.task is not None and result.task.state is State.SUCCEEDED:
            key = "succeeded"
        elif result.task is not None and result.task.state is State.FAILED:
            key = "failed"
        elif result.deadline:
            key = "deadline"
        else:
            key = "not finished"
        counts[key] = counts.get(key, 0) + 1
    return _(", ").join(_counted(key, n) for key, n in counts.items())


def _counted(key: str, count: int) -> str:
    if key == "error":
        return ngettext("{count} error", "{count} errors", count).format(count=count)
    return _(SUMMARY_WORDS[key]).format(count=count)


# How each outcome is counted in a wait's last line: `3 succeeded, 1 failed`.
SUMMARY_WORDS = {
    "succeeded": N_("{count} succeeded"),
    "failed": N_("{count} failed"),
    "deadline": N_("{count} still pending at the deadline"),
    "not finished": N_("{count} not finished"),
}


def after(text: str, seconds: float) -> str:
    """`done: 3 succeeded after 2m10s`."""
    return _("{text} after {elapsed}").format(text=text, elapsed=elapsed(seconds))


def github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation(result: TaskResult) -> str | None:
    """A GitHub Actions `::error::` line for a task that failed, ended in error, or was not
    finished at the --timeout deadline (exit 124 is a failed step too)."""
    if result.error is not None:
        what = _("task {task}: {error}").format(task=result.task_id, error=result.error)
    elif result.task is not None and result.task.state is State.FAILED:
        what = failed_line(result)
    elif result.task is not None and result.deadline:
        what = deadline_line(result)
    else:
        return None
    return f"::error::kpstask: {github_escape(one_line(what, 1000))}"


def on_server(result: TaskResult) -> str:
    """` on server db-1 (c9aa...)`, or nothing when the server is not known."""
    return _(" on server {server}").format(server=result.server) if result.server else ""


def failed_line(result: TaskResult) -> str:
    """`task T on server db-1 (S): Reset failed (FAILED_RESET): KPS.2019: the server is stopped`."""
    task = result.task
    assert task is not None
    line = _("task {task}{on_server}: {meaning} ({status})").format(
        task=result.task_id, on_server=on_server(result), meaning=task.meaning, status=task.task_status
    )
    return _("{line}: {reason}").format(line=line, reason=result.failure) if result.failure is not None else line


def deadline_line(result: TaskResult) -> str:
    """`task T on server S: not finished at the --timeout deadline (2m10s): Resetting the key
    pair (RUNNING_RESET)`."""
    task = result.task
    assert task is not None
    took = _(" ({details})").format(details=elapsed(result.elapsed_s)) if result.elapsed_s is not None else ""
    return _("task {task}{on_server}: not finished at the --timeout deadline{took}: {meaning} ({status})").format(
        task=result.task_id, on_server=on_server(result), took=took, meaning=task.meaning, status=task.task_status
    )


def failure_lines(results: Sequence[TaskResult]) -> list[str]:
    """A line for each failed task whose reason is known, for the end of a wait's progress."""
    return [failed_line(result) for result in results if result.failure is not None]


class TroubleFilter:
    """Say a task's trouble once, not at every retry: again only when it changes."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[object, ...]] = {}

    def is_new(self, event: TaskTrouble) -> bool:
        error = event.error
        key = (type(error), error.code, error.http_status, error.message)
        if self._last.get(event.task_id) == key:
            return False
        self._last[event.task_id] = key
        return True

    def clear(self, task_id: str) -> None:
        self._last.pop(task_id, None)


class NoProgress:
    """`--progress none` or `-q`: silent."""

    def __call__(self, event: Event) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None:
        pass


@dataclass
class PlainProgress:
    """For logs: one timestamped line per change, a heartbeat while nothing changes."""

    stream: IO[str]
    heartbeat_s: float = 60.0
    wall: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._troubles = TroubleFilter()
        self._last_line: float | None = None
        self._status: dict[str, str] = {}
        self._elapsed = 0.0

    def _line(self, text: str) -> None:
        now = self.wall()
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.stream.write(f"{stamp} {one_line(text, 2000)}\n")
        self.stream.flush()
        self._last_line = now

    def __call__(self, event: Event) -> None:
        if self._last_line is None:
            self._last_line = self.wall()
        if isinstance(event, TaskSeen):
            self._troubles.clear(event.task.task_id)
            self._seen(event)
        elif isinstance(event, TaskTrouble):
            if self._troubles.is_new(event):
                self._line(_("warning: {text}").format(text=event.describe()))
        elif isinstance(event, Tick):
            self._elapsed = event.elapsed_s
            if self.heartbeat_s > 0 and self.wall() - self._last_line >= self.heartbeat_s and event.waiting:
                self._heartbeat(event)
        elif isinstance(event, Notice):
            self._line(_("warning: {text}").format(text=_(event.text)))

    def _seen(self, event: TaskSeen) -> None:
        task = event.task
        self._status[task.task_id] = task.task_status
        if event.previous is None:
            server = _(" on server {server}").format(server=task.server_id) if task.server_id else ""
            self._line(
                _("{task}{on_server}: {status} ({meaning})").format(
                    task=task.task_id, on_server=server, status=task.task_status, meaning=task.meaning
                )
            )
        else:
            self._line(
                _("{task}: {before} -> {status} ({meaning}) after {elapsed}").format(
                    task=task.task_id,
                    before=event.previous,
                    status=task.task_status,
                    meaning=task.meaning,
                    elapsed=elapsed(event.elapsed_s),
                )
            )

    def _heartbeat(self, event: Tick) -> None:
        shown = [f"{task_id} {self._status.get(task_id) or _('(no answer yet)')}" for task_id in event.pending[:5]]
        more = _(" and {count} more").format(count=event.waiting - len(shown)) if event.waiting > len(shown) else ""
        words = _("still waiting after {elapsed} on {count} task(s): {tasks}{more}")
        self._line(
            words.format(elapsed=elapsed(event.elapsed_s), count=event.waiting, tasks=_(", ").join(shown), more=more)
        )

    def stop(self) -> None:
        pass

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None:
        for line in failure_lines(results):
            self._line(line)
        self._line(after(summary(results, interrupted), self._elapsed_of(results)))

    def _elapsed_of(self, results: Sequence[TaskResult]) -> float:
        return max([self._elapsed, *(r.elapsed_s or 0.0 for r in results)])
