"""Human output: rich tables on stdout. Outside text goes in as `Text` (never
markup, never emoji codes), after `printable`; colour only on a terminal."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from kpstask.models import State
from kpstask.text import printable

if TYPE_CHECKING:
    from kpstask.context import Run
    from kpstask.errors import KpsError
    from kpstask.models import ListedTask, TaskResult

Clean = Callable[[str], str]

STATE_STYLE = {
    State.PENDING: "yellow",
    State.SUCCEEDED: "green",
    State.FAILED: "bold red",
    State.UNKNOWN: "magenta",
}


def make_console(file: IO[str], plain: bool) -> Console:
    """Styles only on a terminal, none at all when `plain` (--no-color, NO_COLOR); a pipe is
    never wrapped at 80 columns. Markup and emoji codes are off: data is never interpreted."""
    options: dict[str, Any] = {"file": file, "highlight": False, "no_color": plain or None, "emoji": False,
                               "markup": False}  # fmt: skip
    if plain:
        options["color_system"] = None
    console = Console(**options)
    if not console.is_terminal:
        console = Console(**options, width=10_000)
    return console


def rendered(file: IO[str], plain: bool, renderable: Any) -> str:
    """What rich would draw on `file`, as text: written by the caller, so a closed pipe is an
    error kpstask sees (exit 141), not one rich swallows."""
    probe = make_console(file, plain)
    buffer = io.StringIO()
    console = Console(file=buffer, width=probe.width, color_system=probe.color_system,  # type: ignore[arg-type]
                      force_terminal=probe.is_terminal, no_color=probe.no_color, highlight=False, emoji=False,
                      markup=False)  # fmt: skip
    console.print(renderable)
    return buffer.getvalue()


def cell(text: str | None, style: str = "", clean: Clean = printable) -> Text:
    """Outside text as a table cell: controls gone, secrets masked (before rich lays it out,
    so a wrapped secret is masked too), markup and emoji codes left as they are."""
    return Text(clean(text or ""), style=style)


def new_table(*columns: str, no_wrap: tuple[str, ...]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        table.add_column(name, no_wrap=name in no_wrap, overflow="fold")
    return table


class HumanRenderer:
    """Tables, drawn when the output closes; deletions and settings as aligned lines."""

    def __init__(self, run: Run, *, no_color: bool = False) -> None:
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
            self._out.write(rendered(self._out, self._plain, results_table(self._results, self._clean)))
        if self._listed:
            self._out.write(rendered(self._out, self._plain, listed_table(self._listed, self._failed, self._clean)))
        width = max((len(label) for label, _, _ in self._settings), default=0)
        for label, value, source in self._settings:
            self._out.write(f"{label.ljust(width)}  {value}" + (f"  ({source})" if source else "") + "\n")
        self._out.flush()


def results_table(results: list[TaskResult], clean: Clean = printable) -> Table:
    """Task, server, status and what it means in words (and how long a wait took)."""
    timed = any(result.elapsed_s is not None for result in results)
    # In a narrow terminal the server id and the words wrap; ids and statuses stay whole.
    table = new_table("TASK", "SERVER", "STATUS", "MEANING", *(["ELAPSED"] if timed else []),
                      no_wrap=("TASK", "STATUS", "ELAPSED"))  # fmt: skip
    for result in results:
        task = result.task
        if result.error is not None:
            cells = [cell(""), cell("error", "bold red"), cell(f"Query failed: {result.error.message}", clean=clean)]
        elif task is None:
            cells = [cell(""), cell(""), cell("No answer yet")]
        else:
            meaning = task.meaning + (" (deadline reached)" if result.deadline else "")
            cells = [cell(task.server_id or "-", clean=clean), cell(task.task_status, STATE_STYLE[task.state], clean),
                     cell(meaning)]  # fmt: skip
        when = [cell(f"{result.elapsed_s:.1f}s" if result.elapsed_s is not None else "")] if timed else []
        table.add_row(cell(result.task_id, clean=clean), *cells, *when)
    return table


def listed_table(tasks: list[ListedTask], failed: bool, clean: Clean = printable) -> Table:
    """Task, server name and id, key pair, operation, started; failed tasks add the error."""
    table = new_table("TASK", "SERVER", "KEY PAIR", "OPERATION", "STARTED (UTC)", *(["ERROR"] if failed else []),
                      no_wrap=("TASK", "STARTED (UTC)"))  # fmt: skip
    for task in tasks:
        server = " ".join(part for part in (task.text("server_name"), f"({task.text('server_id')})") if part != "()")
        cells = [task.task_id, server, task.text("keypair_name"), task.operation or task.text("operate_type"),
                 task.started or task.text("task_time")]  # fmt: skip
        if failed:
            cells.append(f"{task.text('task_error_code')}: {task.text('task_error_msg')}".strip(": "))
        table.add_row(*(cell(text, clean=clean) for text in cells))
    return table
