"""The GitHub Actions job summary: with `GITHUB_STEP_SUMMARY` set, `get` and `wait` append a
Markdown table of their tasks (task, server, final status in words, elapsed, failure reason)
and a totals line to that file, the page people open first when a job fails.

Server text is data: it is made one line, masked, and escaped so that it cannot become
Markdown or HTML. Problems come first and the table is bounded (GitHub takes at most 1 MiB
of summary per step). A file that cannot be written costs one warning, never the exit code.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence

from kpstask.durations import elapsed
from kpstask.i18n import N_, _
from kpstask.models import State, TaskResult
from kpstask.output.progress import counted, summary
from kpstask.text import one_line

ENV = "GITHUB_STEP_SUMMARY"
HEADINGS = (N_("Task"), N_("Server"), N_("Status"), N_("Elapsed"), N_("Failure reason"))
MAX_ROWS = 500  # the rest are counted in a line under the table
MAX_CELL = 300  # characters of a reason in a cell
_MARKDOWN = re.compile(r"([\\`*_\[\]|~>])")  # what can start markup inside a table cell
_RANK = {State.FAILED: 0, State.UNKNOWN: 2, State.PENDING: 2, State.SUCCEEDED: 3}


def escaped(text: str, clean: Callable[[str], str]) -> str:
    """Outside text as literal Markdown: one line, masked, punctuation escaped, no HTML."""
    text = clean(one_line(text, MAX_CELL))
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return _MARKDOWN.sub(r"\\\1", text)


def rank(result: TaskResult) -> int:
    """Failed first, then errors, then unfinished, then succeeded."""
    if result.error is not None:
        return 1
    return _RANK[result.task.state] if result.task is not None else 2


def status_words(result: TaskResult) -> str:
    """`Unbinding the key pair (RUNNING_UNBIND, deadline reached)`: one pair of brackets."""
    if result.error is not None:
        return _("Query failed")
    if result.task is None:
        return _("No answer before the deadline") if result.deadline else _("No answer")
    said = [result.task.task_status, *([_("deadline reached")] if result.deadline else [])]
    return _("{meaning} ({status})").format(meaning=result.task.meaning, status=_(", ").join(said))


def row(result: TaskResult, clean: Callable[[str], str]) -> str:
    server = result.server
    status = status_words(result)
    took = (
        _("already done") if result.already_done else elapsed(result.elapsed_s) if result.elapsed_s is not None else ""
    )
    why = result.error.message if result.error is not None else str(result.failure or "")
    cells = (result.task_id, server, status, took, why)
    return "| " + " | ".join(escaped(cell, clean) for cell in cells) + " |"


def markdown(command: str, results: Sequence[TaskResult], interrupted: bool, clean: Callable[[str], str]) -> str:
    """A heading, the table (problems first, at most MAX_ROWS), and the totals."""
    totals = summary(results, interrupted)
    shown = sorted(results, key=rank)[:MAX_ROWS]
    lines = [
        f"### kpstask {command}: {totals}",
        "",
        "| " + " | ".join(map(_, HEADINGS)) + " |",
        "| --- | --- | --- | --- | --- |",
        *(row(result, clean) for result in shown),
    ]
    if len(results) > len(shown):
        more = _("… and {count} more (succeeded or still running); the log has them all.")
        lines.append("\n" + more.format(count=len(results) - len(shown)))
    totals_line = _("**Totals:** {counts} ({count} task(s))")
    lines += ["", totals_line.format(counts=counted(results) or _("no tasks"), count=len(results)), ""]
    return "\n".join(lines) + "\n"


def append(path: str, text: str) -> None:
    """Append to a regular file only: never block on a FIFO or write to a device."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file")
        data = text.encode()
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)


def write(
    env: Mapping[str, str],
    command: str,
    results: Sequence[TaskResult],
    *,
    interrupted: bool,
    clean: Callable[[str], str],
    warn: Callable[[str], None],
) -> None:
    """Append the summary when `GITHUB_STEP_SUMMARY` names a file; one warning if it cannot be."""
    path = env.get(ENV)
    if not path or not results:
        return
    try:
        append(path, markdown(command, results, interrupted, clean))
    except OSError as error:
        warn(
            _("could not write the job summary (${variable}): {error}").format(
                variable=ENV, error=error.strerror or error
            )
        )
