"""Human output: tables on stdout. Outside text is cleaned (`printable`, secrets masked) before
layout and is never read as markup or emoji codes; colour only on a terminal.

A small table on a terminal is laid out by rich (colours, wrapping to the terminal's width).
rich costs about 0.5 ms a row, so a pipe, or a table longer than a terminal shows usefully
(`RICH_MAX_ROWS`), gets the same look laid out here: column widths from the cleaned texts,
written in chunks of rows, never wrapped. rich is imported only when it is needed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from kpstask.models import State
from kpstask.text import printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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
RICH_MAX_ROWS = 1000  # more rows than this: the plain layout, even on a terminal
CHUNK_ROWS = 500  # lines per write of the plain layout
# rich's box.SIMPLE_HEAD with show_edge=False, pad_edge=False: a cell's right padding, the
# (blank) divider and the next cell's left padding between columns; a rule under the header.
SEPARATOR = "   "
RULE = "─"
HEADER_STYLE = "bold"  # rich's "table.header"


def make_console(file: IO[str], plain: bool) -> Console:
    """Styles only on a terminal, none at all when `plain` (--no-color, NO_COLOR); a pipe is
    never wrapped at 80 columns. Markup and emoji codes are off: data is never interpreted."""
    from rich.console import Console

    options: dict[str, Any] = {"file": file, "highlight": False, "no_color": plain or None, "emoji": False,
                               "markup": False}  # fmt: skip
    if plain:
        options["color_system"] = None
    console = Console(**options)
    if not console.is_terminal:
        console = Console(**options, width=10_000)
    return console


def buffer_console(probe: Console, buffer: IO[str]) -> Console:
    """A console drawing into `buffer` what `probe` would draw on its file."""
    from rich.console import Console

    return Console(file=buffer, width=probe.width, color_system=probe.color_system,  # type: ignore[arg-type]
                   force_terminal=probe.is_terminal, no_color=probe.no_color, highlight=False, emoji=False,
                   markup=False)  # fmt: skip


def rendered(file: IO[str], plain: bool, renderable: Any) -> str:
    """What rich would draw on `file`, as text: written by the caller, so a closed pipe is an
    error kpstask sees (exit 141), not one rich swallows."""
    buffer = io.StringIO()
    buffer_console(make_console(file, plain), buffer).print(renderable)
    return buffer.getvalue()


def cell(text: str | None, style: str = "", clean: Clean = printable) -> Text:
    """Outside text as a table cell: controls gone, secrets masked (before rich lays it out,
    so a wrapped secret is masked too), markup and emoji codes left as they are."""
    from rich.text import Text

    return Text(clean(text or ""), style=style)


def new_table(*columns: str, no_wrap: tuple[str, ...]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, no_wrap=name in no_wrap, overflow="fold")
    return table


class Grid(NamedTuple):
    """A table as cleaned cell texts, ready for either layout."""

    columns: tuple[str, ...]
    no_wrap: tuple[str, ...]  # for rich: columns never wrapped in a narrow terminal
    rows: list[tuple[str, ...]]
    styles: list[tuple[str, ...]] | None = None  # a style per cell of each row ("" for none)


def rich_table(grid: Grid) -> Table:
    """The grid as a rich `Table` (its texts are clean already)."""
    from rich.text import Text

    table = new_table(*grid.columns, no_wrap=grid.no_wrap)
    blank = ("",) * len(grid.columns)
    for index, row in enumerate(grid.rows):
        styles = grid.styles[index] if grid.styles is not None else blank
        table.add_row(*(Text(text, style=style) for text, style in zip(row, styles, strict=True)))
    return table


def text_width(text: str) -> int:
    """Terminal cells `text` takes, as rich counts them (clean ASCII: one per character)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def padded(text: str, width: int) -> str:
    return text.ljust(width) if text.isascii() else text + " " * (width - text_width(text))


def plain_line(cells: Sequence[str], widths: Sequence[int], styles: Sequence[str] = (),
               codes: Codes | None = None) -> str:  # fmt: skip
    """One line of the plain layout; no trailing spaces. Escape codes wrap the text, not the padding."""
    if codes is None or not any(styles):
        return SEPARATOR.join(map(padded, cells, widths)).rstrip(" ")
    parts = []
    for text, width, style in zip(cells, widths, styles, strict=True):
        before, after = codes(style) if style and text else ("", "")
        parts.append(before + text + after + " " * (width - text_width(text)))
    return SEPARATOR.join(parts).rstrip(" ")


def plain_lines(grid: Grid, codes: Codes | None = None) -> Iterator[str]:
    """Header, rule, rows: the look of `new_table` as rich draws it, without trailing spaces."""
    widths = [max(map(text_width, column)) for column in zip(grid.columns, *grid.rows, strict=True)]
    yield plain_line(grid.columns, widths, (HEADER_STYLE,) * len(widths), codes)
    yield RULE * (sum(widths) + len(SEPARATOR) * (len(widths) - 1))
    if codes is None or grid.styles is None:
        for row in grid.rows:
            yield SEPARATOR.join(map(padded, row, widths)).rstrip(" ")
        return
    for row, styles in zip(grid.rows, grid.styles, strict=True):
        yield plain_line(row, widths, styles, codes)


def plain_chunks(grid: Grid, codes: Codes | None = None, rows: int = CHUNK_ROWS) -> Iterator[str]:
    """The plain layout, `rows` lines at a time: no one string of the whole table."""
    lines = plain_lines(grid, codes)
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

    def task(self, result: TaskResult) -> None:
        self._results.append(result)

    def listed(self, task: ListedTask, failed: bool) -> None:
        self._listed.append(task)
        self._failed = failed

    def deletion(self, task_id: str, error: KpsError | None) -> None:
        if error is None:  # a failure was already said on stderr
            self._out.write(f"deleted failed-task record {self._clean(task_id)}\n")

    def setting(self, label: str, value: str, source: str) -> None:
        self._settings.append((label, self._clean(value), self._clean(source)))

    def close(self) -> None:
        if self._results:
            self._draw(results_grid(self._results, self._clean))
        if self._listed:
            self._draw(listed_grid(self._listed, self._failed, self._clean))
        width = max((len(label) for label, _, _ in self._settings), default=0)
        for label, value, source in self._settings:
            self._out.write(f"{label.ljust(width)}  {value}" + (f"  ({source})" if source else "") + "\n")
        self._out.flush()

    def _piped(self) -> bool:
        """Surely not a terminal for rich either (it also asks TTY_COMPATIBLE and FORCE_COLOR):
        then rich is not even imported."""
        env = self._run.env
        return not self._run.stdout_isatty and "TTY_COMPATIBLE" not in env and "FORCE_COLOR" not in env

    def _draw(self, grid: Grid) -> None:
        """rich for a small table on a terminal; the plain layout, in chunks, otherwise."""
        probe = None if self._piped() else make_console(self._out, self._plain)
        terminal = probe is not None and probe.is_terminal
        if terminal and len(grid.rows) <= RICH_MAX_ROWS:
            self._out.write(rendered(self._out, self._plain, rich_table(grid)))
            return
        codes = styler(probe) if terminal and probe is not None else None
        for chunk in plain_chunks(grid, codes):
            self._out.write(chunk)


def result_cells(result: TaskResult, timed: bool, clean: Clean) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Task, server, status, meaning (and elapsed), and the status's style."""
    task = result.task
    if result.error is not None:
        cells, style = ("", "error", clean(f"Query failed: {result.error.message}")), "bold red"
    elif task is None:
        cells, style = ("", "", "No answer yet"), ""
    else:
        meaning = task.meaning + (" (deadline reached)" if result.deadline else "")
        cells = (clean(task.server_id or "-"), clean(task.task_status), printable(meaning))
        style = STATE_STYLE[task.state]
    when = (f"{result.elapsed_s:.1f}s" if result.elapsed_s is not None else "",) if timed else ()
    return (clean(result.task_id), *cells, *when), ("", "", style, "", *("",) * len(when))


def results_grid(results: list[TaskResult], clean: Clean = printable) -> Grid:
    """Task, server, status and what it means in words (and how long a wait took)."""
    timed = any(result.elapsed_s is not None for result in results)
    columns = ("TASK", "SERVER", "STATUS", "MEANING", *(("ELAPSED",) if timed else ()))
    made = [result_cells(result, timed, clean) for result in results]
    # In a narrow terminal the server id and the words wrap; ids and statuses stay whole.
    return Grid(columns, ("TASK", "STATUS", "ELAPSED"), [row for row, _ in made], [styles for _, styles in made])


def listed_cells(task: ListedTask, failed: bool, clean: Clean) -> tuple[str, ...]:
    """Task, server name and id, key pair, operation, started (and the error)."""
    server = " ".join(part for part in (task.text("server_name"), f"({task.text('server_id')})") if part != "()")
    cells = [task.task_id, server, task.text("keypair_name"), task.operation or task.text("operate_type"),
             task.started or task.text("task_time")]  # fmt: skip
    if failed:
        cells.append(f"{task.text('task_error_code')}: {task.text('task_error_msg')}".strip(": "))
    return tuple(map(clean, cells))


def listed_grid(tasks: list[ListedTask], failed: bool, clean: Clean = printable) -> Grid:
    """Task, server name and id, key pair, operation, started; failed tasks add the error."""
    columns = ("TASK", "SERVER", "KEY PAIR", "OPERATION", "STARTED (UTC)", *(("ERROR",) if failed else ()))
    return Grid(columns, ("TASK", "STARTED (UTC)"), [listed_cells(task, failed, clean) for task in tasks])


def results_table(results: list[TaskResult], clean: Clean = printable) -> Table:
    return rich_table(results_grid(results, clean))


def listed_table(tasks: list[ListedTask], failed: bool, clean: Clean = printable) -> Table:
    return rich_table(listed_grid(tasks, failed, clean))
