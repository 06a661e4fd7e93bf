"""Human output: tables on stdout. Outside text is cleaned (`printable`, secrets masked) before
layout and is never read as markup or emoji codes; colour only on a terminal.

Tables are laid out here, in rich's look (box.SIMPLE_HEAD without edges), fitted to a
terminal's width by `layout` (ids and statuses never cut; words dropped first) and written
in chunks of rows; on a pipe, whole lines. rich is imported only for a terminal's colours
(and widths of non-ASCII text): laying out itself costs about 0.5 ms a row in rich.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import IO, TYPE_CHECKING, Any, NamedTuple, TypeVar

from kpstask.durations import elapsed
from kpstask.i18n import N_, _
from kpstask.models import State
from kpstask.output.layout import SEPARATOR, Column, own_lines, plan, rule
from kpstask.settings import label_words
from kpstask.text import printable

if TYPE_CHECKING:
    from rich.console import Console

    from kpstask.context import Run
    from kpstask.errors import KpsError
    from kpstask.models import ListedTask, TaskResult

Clean = Callable[[str], str]
Codes = Callable[[str], tuple[str, str]]  # a style -> the escape codes before and after a cell

STATE_STYLE = {
    State.PENDING: "yellow",
    State.SUCCEEDED: "green",
    State.FAILED: "bold red",
    State.UNKNOWN: "magenta",
}
CHUNK_ROWS = 500  # lines per write
HEADER_STYLE = "bold"  # rich's "table.header"


def make_console(file: IO[str], plain: bool) -> Console:
    """Styles only on a terminal, none at all when `plain` (--no-color, NO_COLOR); a pipe is
    never wrapped at 80 columns. Markup and emoji codes are off: data is never interpreted."""
    from rich.console import Console

    options: dict[str, Any] = {
        "file": file,
        "highlight": False,
        "no_color": plain or None,
        "emoji": False,
        "markup": False,
    }
    if plain:
        options["color_system"] = None
    console = Console(**options)
    if not console.is_terminal:
        console = Console(**options, width=10_000)
    return console


def buffer_console(probe: Console, buffer: IO[str]) -> Console:
    """A console drawing into `buffer` what `probe` would draw on its file."""
    from rich.console import Console

    return Console(
        file=buffer,
        width=probe.width,
        color_system=probe.color_system,  # type: ignore[arg-type]
        force_terminal=probe.is_terminal,
        no_color=probe.no_color,
        highlight=False,
        emoji=False,
        markup=False,
    )


class Grid(NamedTuple):
    """A table as cleaned cell texts, with how each column gives way in a narrow terminal."""

    columns: tuple[Column, ...]
    rows: list[tuple[str, ...]]
    styles: list[tuple[str, ...]] | None = None  # a style per cell of each row ("" for none)

    def natural(self) -> list[int]:
        """Each column's width: its widest text, header included."""
        names = [column.title for column in self.columns]
        return [max(map(text_width, column)) for column in zip(names, *self.rows, strict=True)]


def text_width(text: str) -> int:
    """Terminal cells `text` takes, as rich counts them (clean ASCII: one per character)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def padded(text: str, width: int) -> str:
    return text.ljust(width) if text.isascii() else text + " " * (width - text_width(text))


def plain_line(
    cells: Sequence[str], widths: Sequence[int], styles: Sequence[str] = (), codes: Codes | None = None
) -> str:
    """One line of a table; no trailing spaces. Escape codes wrap the text, not the padding."""
    if codes is None or not any(styles):
        return SEPARATOR.join(map(padded, cells, widths)).rstrip(" ")
    parts = []
    for text, width, style in zip(cells, widths, styles, strict=True):
        before, after = codes(style) if style and text else ("", "")
        parts.append(before + text + after + " " * (width - text_width(text)))
    return SEPARATOR.join(parts).rstrip(" ")


Line = TypeVar("Line")


def table_rows(
    grid: Grid,
    width: int | None,
    line: Callable[[Sequence[str], Sequence[int], Sequence[str]], Line],
    text: Callable[[str], Line],
) -> Iterator[Line]:
    """Header, rule, rows (and the lines of columns moved under their row) fitted to `width`;
    `line` draws a row of cells (texts, widths, styles), `text` a line of its own."""
    fit = plan(grid.columns, grid.natural(), width)
    inline, below = fit.inline, [(grid.columns[i], i) for i in fit.below]
    yield line([grid.columns[i].title for i in inline], fit.widths, (HEADER_STYLE,) * len(inline))
    yield text(rule(fit))
    whole = len(inline) == len(grid.columns)
    blank = ("",) * len(grid.columns)
    for index, row in enumerate(grid.rows):
        styles = grid.styles[index] if grid.styles is not None else blank
        if whole:
            yield line(row, fit.widths, styles)
        else:
            yield line([row[i] for i in inline], fit.widths, [styles[i] for i in inline])
        for column, i in below:
            yield from map(text, own_lines(column, row[i], width))


def table_lines(grid: Grid, width: int | None = None, codes: Codes | None = None) -> Iterator[str]:
    """The table as text lines; with `codes`, styled with escape codes."""
    return table_rows(grid, width, lambda cells, widths, styles: plain_line(cells, widths, styles, codes), str)


def table_chunks(
    grid: Grid, width: int | None = None, codes: Codes | None = None, rows: int = CHUNK_ROWS
) -> Iterator[str]:
    """The table, `rows` lines at a time: no one string of the whole table."""
    lines = table_lines(grid, width, codes)
    while chunk := list(islice(lines, rows)):
        yield "\n".join(chunk) + "\n"


def styler(probe: Console) -> Codes:
    """The escape codes rich puts around a text of each style on `probe`'s terminal."""
    from rich.text import Text

    buffer = io.StringIO()
    console = buffer_console(probe, buffer)
    known: dict[str, tuple[str, str]] = {}

    def codes(style: str) -> tuple[str, str]:
        if style not in known:
            buffer.seek(0)
            buffer.truncate()
            console.print(Text("x", style=style), end="")
            before, _, after = buffer.getvalue().partition("x")
            known[style] = (before, after)
        return known[style]

    return codes


class HumanRenderer:
    """Tables, drawn when the output closes; deletions and settings as aligned lines."""

    def __init__(self, run: Run, *, no_color: bool = False) -> None:
        self._run = run
        self._out = run.stdout
        self._plain = no_color or run.no_color
        self._clean: Clean = lambda text: run.redact(printable(text))
        self._results: list[TaskResult] = []
        self._listed: list[ListedTask] = []
        self._failed = False
        self._settings: list[tuple[str, str, str]] = []
        self._problems: list[str] = []

    def task(self, result: TaskResult) -> None:
        self._results.append(result)

    def listed(self, task: ListedTask, failed: bool) -> None:
        self._listed.append(task)
        self._failed = failed

    def deletion(self, task_id: str, error: KpsError | None) -> None:
        if error is None:  # a failure was already said on stderr
            self._out.write(_("deleted failed-task record {task}").format(task=self._clean(task_id)) + "\n")

    def setting(self, label: str, value: str, source: str) -> None:
        if not value:  # `endpoint  (none: set --region or --endpoint)`
            value, source = _("({source})").format(source=source), ""
        self._settings.append((label_words(label), self._clean(value), self._clean(source)))

    def problem(self, label: str, message: str, hints: Sequence[str]) -> None:
        """`config show`'s checklist, under the settings: a mark, the problem, what to do."""
        self._problems.append(f"  \u2718 {self._clean(message)}")
        self._problems += [f"      {self._clean(line)}" for line in hints]

    def _write_problems(self) -> None:
        if self._problems:
            self._out.write("\n" + _("problems:") + "\n" + "".join(line.rstrip() + "\n" for line in self._problems))

    def close(self) -> None:
        if self._results:
            self._draw(results_grid(self._results, self._clean))
        if self._listed:
            self._draw(listed_grid(self._listed, self._failed, self._clean))
        width = max((text_width(label) for label, _value, _source in self._settings), default=0)
        for label, value, source in self._settings:
            shown = _("  ({source})").format(source=source) if source else ""
            self._out.write(f"{padded(label, width)}  {value}{shown}\n")
        self._write_problems()
        self._out.flush()

    def _piped(self) -> bool:
        """Surely not a terminal for rich either (it also asks TTY_COMPATIBLE and FORCE_COLOR):
        then rich is not even imported."""
        env = self._run.env
        return not self._run.stdout_isatty and "TTY_COMPATIBLE" not in env and "FORCE_COLOR" not in env

    def _draw(self, grid: Grid) -> None:
        """Fitted to a terminal's width, with rich's colours; whole lines on a pipe."""
        probe = None if self._piped() else make_console(self._out, self._plain)
        terminal = probe is not None and probe.is_terminal
        width = probe.width if terminal and probe is not None else None
        codes = styler(probe) if terminal and probe is not None else None
        for chunk in table_chunks(grid, width, codes):
            self._out.write(chunk)


# How each table gives way in a narrow terminal (see `layout`), in `order`: a failure reason
# moves under its row, the words go, the server id moves under its row, then the elapsed
# time goes; ids and statuses are never cut.
TASK = Column(N_("TASK"))
RESULT_COLUMNS = (
    TASK,
    Column(N_("SERVER"), "line", 3),
    Column(N_("STATUS"), "line", 5),
    Column(N_("MEANING"), "drop", 1),
)
ELAPSED = Column(N_("ELAPSED"), "drop", 4)
REASON = Column(N_("REASON"), "line", 0, wraps=True)
LISTED_COLUMNS = (
    TASK,
    Column(N_("SERVER"), "line", 4),
    Column(N_("KEY PAIR"), "drop", 1),
    Column(N_("OPERATION"), "drop", 3),
    Column(N_("STARTED (UTC)"), "drop", 5),
)
LISTED_ERROR = Column(N_("ERROR"), "line", 2, wraps=True)


def took(result: TaskResult) -> str:
    """A wait's ELAPSED cell: "already done" for a task finished before the wait began."""
    if result.already_done:
        return _("already done")
    return elapsed(result.elapsed_s) if result.elapsed_s is not None else ""


def reason(result: TaskResult) -> str:
    """Why a task failed (its failed-task record), or why kpstask could not tell."""
    if result.error is not None:
        return result.error.message
    return str(result.failure) if result.failure is not None else ""


Cells = tuple[str, ...]


def result_cells(result: TaskResult, extra: tuple[Column, ...], clean: Clean) -> tuple[Cells, Cells]:
    """Task, server, status, meaning (elapsed, reason), and the status's style."""
    task = result.task
    if result.error is not None:
        cells, style = ("", _("error"), _("Query failed")), "bold red"
    elif task is None:
        cells, style = ("", "", _("No answer yet")), ""
    else:
        meaning = task.meaning + (_(" (deadline reached)") if result.deadline else "")
        cells = (clean(result.server or "-"), clean(task.task_status), printable(meaning))
        style = STATE_STYLE[task.state]
    more = tuple(took(result) if column is ELAPSED else clean(reason(result)) for column in extra)
    return (clean(result.task_id), *cells, *more), ("", "", style, "", *("",) * len(more))


def results_grid(results: list[TaskResult], clean: Clean = printable) -> Grid:
    """Task, server, status and what it means in words (how long a wait took, why it failed)."""
    timed = any(result.elapsed_s is not None for result in results)
    why = any(result.error is not None or result.failure is not None for result in results)
    extra = (*((ELAPSED,) if timed else ()), *((REASON,) if why else ()))
    made = [result_cells(result, extra, clean) for result in results]
    return Grid((*RESULT_COLUMNS, *extra), [row for row, _ in made], [styles for _, styles in made])


def listed_cells(task: ListedTask, failed: bool, clean: Clean) -> tuple[str, ...]:
    """Task, server name and id, key pair, operation, started (and the error)."""
    name, server_id = task.text("server_name"), task.text("server_id")
    server = " ".join(part for part in (name, f"({server_id})" if server_id else "") if part)
    cells = [
        task.task_id,
        server,
        task.text("keypair_name"),
        _(task.operation) if task.operation else task.text("operate_type"),
        task.started or task.text("task_time"),
    ]
    if failed:
        cells.append(f"{task.text('task_error_code')}: {task.text('task_error_msg')}".strip(": "))
    return tuple(map(clean, cells))


def listed_grid(tasks: list[ListedTask], failed: bool, clean: Clean = printable) -> Grid:
    """Task, server name and id, key pair, operation, started; failed tasks add the error."""
    columns = (*LISTED_COLUMNS, *((LISTED_ERROR,) if failed else ()))
    return Grid(columns, [listed_cells(task, failed, clean) for task in tasks])
