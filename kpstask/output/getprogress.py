"""`get`'s progress on a terminal: one line of counts on stderr, `kpstask: 80/300 answered,
2 failed, 1 error`, redrawn in place at most 10 times a second, whatever the number of tasks.

It is taken away before anything else reaches the terminal (a warning, an error, a line of
results when stdout is the terminal too) and at the end, so that no line is ever written
after half of it. Nothing at all on a pipe or a log, with -q, with TERM=dumb (no erasing),
for a single task (its retries are said), or for a `get` that is done within half a second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, cast

from kpstask.i18n import _, ngettext
from kpstask.models import State
from kpstask.text import cell_width

if TYPE_CHECKING:
    from kpstask.choices import Display
    from kpstask.context import Run
    from kpstask.models import TaskResult

ERASE = "\r\x1b[K"  # to the start of the line, erased to its end
DELAY_S = 0.5  # nothing shown before: a quick `get` does not flash a line
EVERY_S = 0.1  # the most often the line is redrawn
ROOM = 3  # columns left free at the end: a `^C` echoed there must not wrap the line
NARROWEST = 20  # below this many columns, no line


class CountLine:
    """The line and its counts. Drawn from the main thread; the streams that clear it are
    written from worker threads too (retries), hence the lock."""

    def __init__(self, stream: IO[str], total: int, *, clock: Callable[[], float], width: Callable[[], int]) -> None:
        self.lock = threading.RLock()
        self._stream = stream
        self._total = total
        self._clock = clock
        self._width = width
        self._start = clock()
        self._drawn_at = float("-inf")
        self._shown = ""  # the text on screen now, "" when none
        self._at_start = True  # nothing else has left the cursor in the middle of a line
        self._closed = False
        self.heard = self.failed = self.errors = 0

    def answered(self, result: TaskResult) -> None:
        self.heard += 1
        if result.error is not None:
            self.errors += 1
        elif result.task is not None and result.task.state is State.FAILED:
            self.failed += 1
        self.tick()

    def text(self) -> str:
        """`kpstask: 80/300 answered, 2 failed, 1 error` (a count of 0 is left out)."""
        words = [_("{heard}/{total} answered").format(heard=self.heard, total=self._total)]
        if self.failed:
            words.append(_("{count} failed").format(count=self.failed))
        if self.errors:
            words.append(ngettext("{count} error", "{count} errors", self.errors).format(count=self.errors))
        return "kpstask: " + _(", ").join(words)

    def tick(self) -> None:
        """Draw the counts, if it is time and they are not on screen already."""
        now = self._clock()
        if now - self._start < DELAY_S or now - self._drawn_at < EVERY_S:
            return
        with self.lock:
            width = self._width()
            text = fitted(self.text(), width - ROOM)
            if self._closed or not self._at_start or text == self._shown or width < NARROWEST:
                return
            self._stream.write(ERASE + text)
            self._stream.flush()
            self._shown, self._drawn_at = text, now

    def clear(self, *, echoed: bool = False) -> None:
        """Take the line away. `echoed`: after Ctrl-C, whose `^C` the terminal may have
        echoed where the cursor was, erased too."""
        with self.lock:
            if self._shown or (echoed and self._at_start):
                self._stream.write(ERASE)
                self._stream.flush()
                self._shown = ""

    def wrote(self, text: str) -> None:
        """Something else was written to the terminal (the lock held, the line cleared)."""
        if text:
            self._at_start = text.endswith("\n")

    def close(self) -> None:
        with self.lock:
            self.clear()
            self._closed = True


def fitted(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells (a Chinese character takes two)."""
    while cell_width(text) > width:
        text = text[: max(0, min(len(text) - 1, width))]
    return text.rstrip()


class NoLine:
    """No progress: the same calls, nothing drawn."""

    def answered(self, result: TaskResult) -> None:
        pass

    def tick(self) -> None:
        pass

    def clear(self, *, echoed: bool = False) -> None:
        pass


class Clearing:
    """A stream that takes the count line away before anything is written through it."""

    def __init__(self, stream: IO[str], line: CountLine) -> None:
        self._stream = stream
        self._line = line

    def write(self, text: str) -> int:
        with self._line.lock:
            self._line.clear()
            written = self._stream.write(text)
            self._line.wrote(text)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def wanted(run: Run, display: Display, total: int) -> bool:
    """Only where it helps a person: a terminal, not -q, several tasks, a terminal that erases."""
    quiet = display.quiet or run.quiet
    return total > 1 and not quiet and run.stderr_isatty and run.env.get("TERM") != "dumb"


@contextmanager
def counting(
    run: Run, display: Display, total: int, clock: Callable[[], float] | None = None
) -> Iterator[CountLine | NoLine]:
    """The count line while the block runs. The run's stderr (and its stdout, when that is a
    terminal) are swapped for streams that clear the line first: every message of the run,
    from whichever thread, goes through them. Given back, and the line cleared, at the end."""
    if not wanted(run, display, total):
        yield NoLine()
        return
    line = CountLine(run.raw_stderr, total, clock=clock or run.clock, width=run.stderr_width)
    saved = run.raw_stderr, run.stderr, run.stdout
    run.raw_stderr = cast("IO[str]", Clearing(run.raw_stderr, line))
    run.stderr = cast("IO[str]", Clearing(run.stderr, line))
    if run.stdout_isatty:  # the same screen, most likely: results must not land after the counts
        run.stdout = cast("IO[str]", Clearing(run.stdout, line))
    try:
        yield line
    finally:
        run.raw_stderr, run.stderr, run.stdout = saved
        line.close()
