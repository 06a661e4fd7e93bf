"""Presentation: task results as a rich table, JSON Lines or TSV.

JSON and TSV need nothing but the standard library; rich is imported only
when a table is drawn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from kpstask.choices import OutputFormat
from kpstask.models import ListedTask, State, TaskResult
from kpstask.text import printable

if TYPE_CHECKING:
    from rich.console import Console


_STATE_STYLE = {
    State.PENDING: "yellow",
    State.SUCCEEDED: "green",
    State.FAILED: "bold red",
    State.UNKNOWN: "magenta",
}


def json_record(result: TaskResult) -> dict[str, Any]:
    """The API's fields plus `operation` and `state`, or the `error` object."""
    record: dict[str, Any] = {"task_id": result.task_id}
    if result.error is not None:
        record["error"] = result.error.as_dict()
    elif result.task is not None:
        record.update(result.task.fields)
        record["operation"] = result.task.operation
        record["state"] = result.task.state.value
    else:  # a wait that ended before any answer
        record.update(task_status=None, server_id=None, operation=None, state=State.UNKNOWN.value)
    if result.elapsed_s is not None:
        record["elapsed_s"] = result.elapsed_s
        record["polls"] = result.polls
    return record


def json_line(result: TaskResult) -> str:
    """One compact JSON object: `jq -r .task_status` works line by line."""
    return json.dumps(json_record(result), separators=(",", ":"), ensure_ascii=False)


def tsv_line(result: TaskResult) -> str:
    """`task_id  server_id  task_status  state`; a failed query has state `error`."""
    if result.task is None:
        cells = [result.task_id, "", "", "error" if result.error is not None else State.UNKNOWN.value]
    else:
        task = result.task
        cells = [task.task_id, task.server_id or "", task.task_status, task.state.value]
    return "\t".join(printable(cell) for cell in cells)


def make_console(file: IO[str], no_color: bool) -> Console:
    """Styles only on a terminal, none at all with --no-color or NO_COLOR;
    a pipe is never wrapped at 80 columns."""
    import os

    from rich.console import Console

    plain = no_color or bool(os.environ.get("NO_COLOR"))
    options: dict[str, Any] = {"file": file, "highlight": False, "no_color": plain or None}
    if plain:
        options["color_system"] = None
    console = Console(**options)
    if not console.is_terminal:
        console = Console(**options, width=10_000)
    return console


def human_table(results: Iterable[TaskResult], console: Console) -> None:
    """Task, server, status and what it means in words."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    results = list(results)
    timed = any(result.elapsed_s is not None for result in results)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    # In a narrow terminal the server id and the words wrap; ids and statuses stay whole.
    for name in ("TASK", "SERVER", "STATUS", "MEANING", *(["ELAPSED"] if timed else [])):
        table.add_column(name, no_wrap=name in ("TASK", "STATUS", "ELAPSED"), overflow="fold")
    for result in results:
        task = result.task
        if result.error is not None:
            cells = ["", "[bold red]error[/]", escape(f"Query failed: {result.error.message}")]
        elif task is None:
            cells = ["", "", "No answer yet"]
        else:
            style = _STATE_STYLE[task.state]
            meaning = task.meaning + (" (deadline reached)" if result.deadline else "")
            cells = [
                escape(printable(task.server_id or "-")),
                f"[{style}]{escape(printable(task.task_status))}[/]",
                escape(meaning),
            ]
        when = [f"{result.elapsed_s:.1f}s" if result.elapsed_s is not None else ""] if timed else []
        table.add_row(escape(printable(result.task_id)), *cells, *when)
    console.print(table)


def listed_record(task: ListedTask) -> dict[str, Any]:
    """The API's fields, plus `operation` and `task_time_iso` (the raw `task_time` stays)."""
    return {**task.fields, "operation": task.operation, "task_time_iso": task.started}


def listed_line(task: ListedTask, output: OutputFormat, failed: bool) -> str:
    if output is OutputFormat.JSON:
        return json.dumps(listed_record(task), separators=(",", ":"), ensure_ascii=False)
    cells = [task.task_id, task.text("server_name"), task.text("server_id"), task.text("keypair_name"),
             task.operation or "", task.started or ""]  # fmt: skip
    if failed:
        cells += [task.text("task_error_code"), task.text("task_error_msg")]
    return "\t".join(printable(cell) for cell in cells)


def listed_table(tasks: Iterable[ListedTask], console: Console, failed: bool) -> None:
    """Task, server name and id, key pair, operation, started; failed tasks add the error."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("TASK", "SERVER", "KEY PAIR", "OPERATION", "STARTED (UTC)", *(["ERROR"] if failed else [])):
        table.add_column(name, no_wrap=name in ("TASK", "STARTED (UTC)"), overflow="fold")
    for task in tasks:
        server = " ".join(part for part in (task.text("server_name"), f"({task.text('server_id')})") if part != "()")
        cells = [task.task_id, server, task.text("keypair_name"), task.operation or task.text("operate_type"),
                 task.started or task.text("task_time")]  # fmt: skip
        if failed:
            cells.append(f"{task.text('task_error_code')}: {task.text('task_error_msg')}".strip(": "))
        table.add_row(*(escape(printable(cell)) for cell in cells))
    console.print(table)
