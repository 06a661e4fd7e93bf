"""The live display for a terminal: a table redrawn in place, a line kept on
screen for each state change, and a summary. rich renders it; server text goes
in as `Text`, never as markup."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from kpstask.events import Event, Notice, TaskDone, TaskSeen, TaskTrouble
from kpstask.models import State, TaskResult
from kpstask.output.human import STATE_STYLE, Clean, cell, new_table
from kpstask.progress import TroubleFilter, elapsed, summary
from kpstask.text import one_line


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

    def __init__(self, console: Console, task_ids: Sequence[str], redact: Clean = lambda text: text) -> None:
        # Outside text is made safe, and secrets masked, before rich lays it out.
        self._clean: Clean = lambda text: redact(one_line(text, 2000))
        self.console = console
        self._troubles = TroubleFilter()
        self._start = time.monotonic()
        self._rows = {task_id: _Row(task_id, spinner=Spinner("dots")) for task_id in task_ids}
        self._live = Live(self, console=console, refresh_per_second=8, transient=True, redirect_stdout=False)
        self._live.start()

    def __rich__(self) -> Any:
        columns = ("TASK", "SERVER", "OPERATION", "STATUS", "ELAPSED")
        table = new_table(*columns, no_wrap=columns)
        now = time.monotonic()
        for row in list(self._rows.values()):
            if row.state in (State.SUCCEEDED, State.FAILED):
                mark = Text("✔ " if row.state is State.SUCCEEDED else "✘ ", style=STATE_STYLE[row.state])
                status: Any = mark + cell(row.status, STATE_STYLE[row.state], self._clean)
            else:
                row.spinner.text = cell(row.status, STATE_STYLE[row.state] if row.state else "", self._clean)
                status = row.spinner
            seconds = (row.done_at if row.done_at is not None else now) - self._start
            cells = (cell(text, clean=self._clean) for text in (row.task_id, row.server, row.operation))
            table.add_row(*cells, status, elapsed(seconds))
        return table

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskSeen):
            self._seen(event)
        elif isinstance(event, TaskTrouble) and self._troubles.is_new(event):
            self.console.print(
                Text.assemble(("warning", "yellow"), f": {self._clean(event.task_id)}: {self._clean(str(event.error))}")
            )
        elif isinstance(event, Notice):
            self.console.print(Text.assemble(("warning", "yellow"), f": {self._clean(event.text)}"))
        elif isinstance(event, TaskDone):
            row = self._rows[event.result.task_id]
            row.done_at = time.monotonic()
            if event.result.error is not None:
                row.status, row.state = "error", State.FAILED

    def _seen(self, event: TaskSeen) -> None:
        task = event.task
        self._troubles.clear(task.task_id)
        row = self._rows[task.task_id]
        row.server, row.operation = self._clean(task.server_id or "-"), task.operation or "?"
        row.status, row.state = self._clean(task.task_status), task.state
        before = f"{self._clean(event.previous)} → " if event.previous else ""
        self.console.print(
            Text.assemble(
                (f"{elapsed(event.elapsed_s):>7}", "dim"),
                f" {self._clean(task.task_id)}: {before}",
                (row.status, STATE_STYLE[task.state]),
                f" ({task.meaning})",
            )
        )

    def stop(self) -> None:
        self._live.stop()

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None:
        self.stop()
        self.console.print(Text(f"{summary(results, interrupted)} after {elapsed(time.monotonic() - self._start)}"))
