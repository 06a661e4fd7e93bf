"""What a person or a CI log sees while kpstask waits: rendered from the wait
engine's events, on stderr. The plain display never touches rich, so no
escape code can reach a log, whatever FORCE_COLOR says.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, Protocol

from kpstask.choices import ProgressMode
from kpstask.models import State, TaskResult
from kpstask.text import one_line
from kpstask.wait import Event, TaskDone, TaskSeen, TaskTrouble, Tick

if TYPE_CHECKING:
    from rich.console import Console


class Progress(Protocol):
    def __call__(self, event: Event) -> None: ...

    def stop(self) -> None:
        """Give the terminal back (idempotent); called even when something broke."""

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None: ...


def elapsed(seconds: float) -> str:
    """`4.2s`, `1m05s`, `1h02m`."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def summary(results: Sequence[TaskResult], interrupted: bool) -> str:
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
            key = "still pending at the deadline"
        else:
            key = "not finished"
        counts[key] = counts.get(key, 0) + 1
    words = ", ".join(f"{n} {key}" + ("s" if key == "error" and n > 1 else "") for key, n in counts.items())
    return f"{'interrupted' if interrupted else 'done'}: {words or 'no tasks'}"


def github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotation(result: TaskResult) -> str | None:
    """A GitHub Actions `::error::` line for a failed task or a task that ended in error."""
    if result.error is not None:
        what = f"task {result.task_id}: {result.error}"
    elif result.task is not None and result.task.state is State.FAILED:
        server = f" on server {result.task.server_id}" if result.task.server_id else ""
        what = f"task {result.task_id}{server}: {result.task.meaning} ({result.task.task_status})"
    else:
        return None
    return f"::error::kpstask: {github_escape(one_line(what, 1000))}"


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
    redact: Callable[[str], str] = lambda text: text

    def __post_init__(self) -> None:
        self._troubles = TroubleFilter()
        self._last_line: float | None = None
        self._status: dict[str, str] = {}
        self._elapsed = 0.0

    def _line(self, text: str) -> None:
        now = self.wall()
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.stream.write(f"{stamp} {self.redact(one_line(text, 2000))}\n")
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
                self._line(f"warning: {event.task_id}: {event.error}; retrying in {elapsed(event.retry_in_s)}")
        elif isinstance(event, Tick):
            self._elapsed = event.elapsed_s
            if self.heartbeat_s > 0 and self.wall() - self._last_line >= self.heartbeat_s and event.pending:
                self._heartbeat(event)

    def _seen(self, event: TaskSeen) -> None:
        task = event.task
        self._status[task.task_id] = task.task_status
        if event.previous is None:
            server = f" on server {task.server_id}" if task.server_id else ""
            self._line(f"{task.task_id}{server}: {task.task_status} ({task.meaning})")
        else:
            self._line(
                f"{task.task_id}: {event.previous} -> {task.task_status} ({task.meaning}) "
                f"after {elapsed(event.elapsed_s)}"
            )

    def _heartbeat(self, event: Tick) -> None:
        shown = [f"{task_id} {self._status.get(task_id, '(no answer yet)')}" for task_id in event.pending[:5]]
        more = f" and {len(event.pending) - 5} more" if len(event.pending) > 5 else ""
        self._line(
            f"still waiting after {elapsed(event.elapsed_s)} on {len(event.pending)} task(s): {', '.join(shown)}{more}"
        )

    def stop(self) -> None:
        pass

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None:
        self._line(f"{summary(results, interrupted)} after {elapsed(self._elapsed_of(results))}")

    def _elapsed_of(self, results: Sequence[TaskResult]) -> float:
        return max([self._elapsed, *(r.elapsed_s or 0.0 for r in results)])


@dataclass
class _Row:
    task_id: str
    server: str = ""
    operation: str = ""
    status: str = "(asking)"
    state: State | None = None
    done_at: float | None = None
    spinner: Any = None


class LiveProgress:
    """For a terminal: a live table, a line per change kept on screen, a summary."""

    def __init__(self, console: Console, task_ids: Sequence[str]) -> None:
        from rich.live import Live
        from rich.spinner import Spinner

        self.console = console
        self._troubles = TroubleFilter()
        self._start = time.monotonic()
        self._rows = {task_id: _Row(task_id, spinner=Spinner("dots")) for task_id in task_ids}
        self._live = Live(self, console=console, refresh_per_second=8, transient=True, redirect_stdout=False)
        self._live.start()

    def __rich__(self) -> Any:
        from rich import box
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for name in ("TASK", "SERVER", "OPERATION", "STATUS", "ELAPSED"):
            table.add_column(name, no_wrap=True)
        now = time.monotonic()
        for row in list(self._rows.values()):
            if row.state in (State.SUCCEEDED, State.FAILED):
                mark = Text("✔ " if row.state is State.SUCCEEDED else "✘ ", style=_STYLE[row.state])
                status: Any = mark + Text(row.status, style=_STYLE[row.state])
            else:
                row.spinner.text = Text(row.status, style=_STYLE[row.state] if row.state else "")
                status = row.spinner
            seconds = (row.done_at if row.done_at is not None else now) - self._start
            table.add_row(escape(row.task_id), escape(row.server), row.operation, status, elapsed(seconds))
        return table

    def __call__(self, event: Event) -> None:
        from rich.markup import escape

        if isinstance(event, TaskSeen):
            task = event.task
            self._troubles.clear(task.task_id)
            row = self._rows[task.task_id]
            row.server, row.operation = one_line(task.server_id or "-"), task.operation or "?"
            row.status, row.state = one_line(task.task_status), task.state
            before = f"{escape(one_line(event.previous))} → " if event.previous else ""
            self.console.print(
                f"[dim]{elapsed(event.elapsed_s):>7}[/] {escape(task.task_id)}: {before}"
                f"[{_STYLE[task.state]}]{escape(row.status)}[/] ({escape(task.meaning)})"
            )
        elif isinstance(event, TaskTrouble) and self._troubles.is_new(event):
            self.console.print(f"[yellow]warning[/]: {escape(event.task_id)}: {escape(one_line(str(event.error)))}")
        elif isinstance(event, TaskDone):
            row = self._rows[event.result.task_id]
            row.done_at = time.monotonic()
            if event.result.error is not None:
                row.status, row.state = "error", State.FAILED

    def stop(self) -> None:
        self._live.stop()

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None:
        self.stop()
        self.console.print(f"{summary(results, interrupted)} after {elapsed(time.monotonic() - self._start)}")


_STYLE = {
    State.PENDING: "yellow",
    State.SUCCEEDED: "green",
    State.FAILED: "bold red",
    State.UNKNOWN: "magenta",
}


def make_progress(
    mode: ProgressMode,
    task_ids: Sequence[str],
    *,
    stream: IO[str],
    no_color: bool,
    heartbeat_s: float,
    redact: Callable[[str], str],
) -> Progress:
    """`auto` is live on a terminal and plain anywhere else."""
    if mode is ProgressMode.NONE:
        return NoProgress()
    if mode is ProgressMode.AUTO:
        mode = ProgressMode.LIVE if stream.isatty() else ProgressMode.PLAIN
    if mode is ProgressMode.PLAIN:
        return PlainProgress(stream, heartbeat_s=heartbeat_s, redact=redact)
    from kpstask.render import make_console

    return LiveProgress(make_console(stream, no_color), task_ids)
