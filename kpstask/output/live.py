"""The live display for a terminal: a table redrawn in place and a summary. rich
renders it; server text goes in as `Text`, never as markup.

Its cost does not grow with the number of tasks. When every task fits on the
screen, each has a row and each state change leaves a line above the table. When
they do not, the table shows what a person needs: the counts by state, the latest
changes, the tasks pending longest, and how many more there are; a change updates
a counter and a short list, and nothing is printed per change.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from kpstask.i18n import N_, _
from kpstask.models import State, TaskResult
from kpstask.output.human import STATE_STYLE, Clean, Grid, table_rows, text_width
from kpstask.output.layout import SEPARATOR, Column, plan
from kpstask.output.progress import TroubleFilter, after, elapsed, failure_lines, summary
from kpstask.text import one_line
from kpstask.wait.events import Event, Notice, TaskDone, TaskSeen, TaskTrouble

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# As the terminal narrows: the operation goes, the server moves under its task, then the
# elapsed time goes; ids and statuses are never cut (see `output.layout`).
COLUMNS = (
    Column(N_("TASK")),
    Column(N_("SERVER"), "line", 2),
    Column(N_("OPERATION"), "drop", 1),
    Column(N_("STATUS"), "line", 4),
    Column(N_("ELAPSED"), "drop", 3),
)
ASKING = "asking"  # the count of tasks not answered yet
# The counts line of a long list, by kind of row.
COUNT_WORDS = {
    ASKING: N_("{count} asking"),
    "pending": N_("{count} pending"),
    "succeeded": N_("{count} succeeded"),
    "failed": N_("{count} failed"),
    "error": N_("{count} error"),
    "unknown": N_("{count} unknown"),
}
SHOWN_FAILURES = 10  # why tasks failed, said under the live table at the end (the results have all)


@dataclass(slots=True)
class _Row:
    task_id: str
    server: str = ""
    operation: str = ""
    status: str = ""  # "(asking)" until the first answer
    state: State | None = None
    done_at: float | None = None
    error: bool = False

    @property
    def kind(self) -> str:
        return "error" if self.error else self.state.value if self.state else ASKING


def styled(cells: Sequence[str], widths: Sequence[int], styles: Sequence[str]) -> Text:
    """A row as rich text: each cell in its style, the padding plain, no trailing spaces."""
    line = Text()
    last = len(cells) - 1
    for index, (text, width, style) in enumerate(zip(cells, widths, styles, strict=True)):
        line.append(text, style)
        if index < last:
            line.append(" " * (width - text_width(text)) + SEPARATOR)
    line.rstrip()
    return line


def lines_per_row(width: int, task_ids: Sequence[str]) -> int:
    """Screen lines a row takes at `width`: one, or more when columns move under it (the
    widths a server UUID and the longest status take are assumed before any answer)."""
    natural = [max((len(task_id) for task_id in task_ids), default=4), 36, 9, len("⠋ RUNNING_REPLACE"), 7]
    return 1 + len(plan(COLUMNS, natural, width).below)


def echo_off(stream: Any) -> Callable[[], None]:
    """Stop the terminal echoing keys (and Ctrl-C's `^C`) under the live table, and give back
    how to undo it. An echoed `^C` at the end of a full-width line wraps it, and rich then
    erases one line too few: the table's header stayed above the summary. Only for the
    foreground job: changing the terminal from the background would stop the process."""
    try:
        import termios
    except ImportError:  # not on this platform
        return lambda: None
    try:
        fd = stream.fileno()
        if os.tcgetpgrp(fd) != os.getpgrp():
            return lambda: None
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (termios.error, OSError, ValueError, AttributeError):
        return lambda: None
    return lambda: termios.tcsetattr(fd, termios.TCSANOW, saved)


# Signals whose default action ends the process, with no handler of kpstask's: under the live
# table each first gives the terminal back, then ends the process as it would have.
FATAL_SIGNALS = ("SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGXFSZ", "SIGPOLL")
SHOW_CURSOR = b"\x1b[?25h"


def give_back_on_exit(stream: Any, echo_back: Callable[[], None]) -> Callable[[], None]:
    """Make every ending restore the terminal (echo back, cursor shown): an atexit hook, and
    for the fatal default signals a handler that restores, then re-raises with the default
    action. Gives back how to undo both (the display stopped the usual way)."""
    import signal

    def restore() -> None:
        echo_back()
        # Straight to the descriptor: the handler may run in the middle of a buffered write.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.write(stream.fileno(), SHOW_CURSOR)

    def end(signum: int, frame: object) -> None:
        restore()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    saved: dict[int, Any] = {}
    for name in FATAL_SIGNALS:
        signum = getattr(signal, name, None)
        try:
            if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
                saved[signum] = signal.signal(signum, end)
        except ValueError:  # not the main thread: signals stay as they were
            break
    atexit.register(restore)

    def undo() -> None:
        atexit.unregister(restore)
        for signum, handler in saved.items():
            signal.signal(signum, handler)

    return undo


class LiveProgress:
    """For a terminal: a live table (every task, or a bounded view of many), and a summary."""

    def __init__(
        self,
        console: Console,
        task_ids: Sequence[str],
        redact: Clean = lambda text: text,
        *,
        clock: Callable[[], float] = time.monotonic,  # the run's (`Run.clock`)
    ) -> None:
        # Outside text is made safe, and secrets masked, before rich lays it out.
        self._clean: Clean = lambda text: redact(one_line(text, 2000))
        self.console = console
        self._troubles = TroubleFilter()
        self._clock = clock
        self._start = clock()
        self._rows = {task_id: _Row(task_id) for task_id in task_ids}
        self._room = max(6, console.height - 8) // lines_per_row(console.width, task_ids)  # rows that fit
        self.compact = len(self._rows) > self._room
        self._counts: Counter[str] = Counter({ASKING: len(self._rows)})
        self._recent: deque[str] = deque(maxlen=self._room // 2)
        self._waiting = dict.fromkeys(task_ids)  # not finished, in the order given
        self._live = Live(self, console=console, refresh_per_second=8, transient=True, redirect_stdout=False)
        self._echo_back = echo_off(console.file)
        self._undo = give_back_on_exit(console.file, self._echo_back)
        self._live.start()

    def __rich__(self) -> Any:
        if not self.compact:
            return self._table(self._rows.values())
        recent = list(self._recent)
        longest = [task_id for task_id in itertools.islice(self._waiting, self._room) if task_id not in recent]
        shown = recent + longest[: self._room - len(recent)]
        more = len(self._rows) - len(shown)
        parts: list[Any] = [self._counts_line(), self._table(self._rows[task_id] for task_id in shown)]
        if more > 0:
            parts.append(Text(_("… {count} more").format(count=more), style="dim"))
        return Group(*parts)

    def _counts_line(self) -> Text:
        order = (ASKING, State.PENDING.value, State.SUCCEEDED.value, State.FAILED.value, "error", State.UNKNOWN.value)
        words = [_(COUNT_WORDS[kind]).format(count=self._counts[kind]) for kind in order if self._counts[kind]]
        line = _("{count} tasks: {counts}; latest changes first, then pending longest")
        return Text(line.format(count=len(self._rows), counts=_(", ").join(words)))

    def _table(self, rows: Any) -> Text:
        """The rows fitted to the terminal's width, as rich text (never markup)."""
        now = self._clock()
        frame = SPINNER[int((now - self._start) * 12.5) % len(SPINNER)]
        cells: list[tuple[str, ...]] = []
        styles: list[tuple[str, ...]] = []
        for row in rows:
            style = STATE_STYLE[row.state] if row.state else ""
            done = row.state in (State.SUCCEEDED, State.FAILED)
            mark = ("✔ " if row.state is State.SUCCEEDED else "✘ ") if done else f"{frame} "
            seconds = (row.done_at if row.done_at is not None else now) - self._start
            status = row.status or _("(asking)")
            cells.append((row.task_id, row.server, row.operation, mark + status, elapsed(seconds)))
            styles.append(("", "", "", style, ""))
        lines = table_rows(Grid(COLUMNS, cells, styles), self.console.width, styled, Text)
        return Text("\n").join(lines)

    def __call__(self, event: Event) -> None:
        if isinstance(event, TaskSeen):
            self._seen(event)
        elif isinstance(event, TaskTrouble) and self._troubles.is_new(event) and not self.compact:
            self._warn(event.describe())
        elif isinstance(event, Notice):
            self._warn(event.text)
        elif isinstance(event, TaskDone):
            self._done(event.result)

    def _warn(self, text: str) -> None:
        """As `run.warn` words it (`kpstask: warning: ...`), above the live table."""
        self.console.print(Text.assemble("kpstask: ", (_("warning"), "yellow"), f": {self._clean(text)}"))

    def _change(self, row: _Row, **fields: Any) -> None:
        """Counts and the list of latest changes follow every change: O(1)."""
        self._counts[row.kind] -= 1
        for name, value in fields.items():
            setattr(row, name, value)
        self._counts[row.kind] += 1
        if row.task_id in self._recent:
            self._recent.remove(row.task_id)
        self._recent.appendleft(row.task_id)

    def _seen(self, event: TaskSeen) -> None:
        task = event.task
        self._troubles.clear(task.task_id)
        row = self._rows[task.task_id]
        status = self._clean(task.task_status)
        self._change(
            row,
            server=self._clean(task.server_id or "-"),
            operation=_(task.operation) if task.operation else "?",
            status=status,
            state=task.state,
        )
        if self.compact:
            return
        before = f"{self._clean(event.previous)} → " if event.previous else ""
        self.console.print(
            Text.assemble(
                (f"{elapsed(event.elapsed_s):>7}", "dim"),
                _(" {task}: ").format(task=self._clean(task.task_id)) + before,
                (row.status, STATE_STYLE[task.state]),
                _(" ({meaning})").format(meaning=task.meaning),
            )
        )

    def _done(self, result: TaskResult) -> None:
        row = self._rows[result.task_id]
        self._waiting.pop(result.task_id, None)
        if result.error is not None:
            self._change(row, status=_("error"), state=State.FAILED, error=True, done_at=self._clock())
        else:
            row.done_at = self._clock()

    def stop(self) -> None:
        self._live.stop()
        self._echo_back()
        self._undo()

    def close(self, results: Sequence[TaskResult], interrupted: bool = False) -> None:
        self.stop()
        lines = failure_lines(results)
        for line in lines[:SHOWN_FAILURES]:
            self.console.print(Text.assemble(("✘ ", "bold red"), self._clean(line)))
        if len(lines) > SHOWN_FAILURES:
            more = _("… and {count} more failed: see the results").format(count=len(lines) - SHOWN_FAILURES)
            self.console.print(Text(more, style="dim"))
        self.console.print(Text(after(summary(results, interrupted), self._clock() - self._start)))
