"""Machine output: JSON Lines and TSV, one line per record as it comes, standard
library only. JSON stays strict and never carries a raw control character."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from kpstask.i18n import english
from kpstask.models import State
from kpstask.text import BIDI_CONTROLS, INVISIBLE, LINE_BREAKS, SURROGATES, escaped, printable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kpstask.context import Run
    from kpstask.errors import KpsError
    from kpstask.models import ListedTask, TaskResult

# json.dumps escapes C0 controls itself; C1 and bidirectional controls it passes through, and
# lone surrogates too, which UTF-8 cannot encode: all are written as JSON escapes.
_UNSAFE_JSON_RE = re.compile(f"[\\x7f-\\x9f{LINE_BREAKS}{BIDI_CONTROLS}{INVISIBLE}{SURROGATES}]")


# `config show` rows a person reads and a script has no use for: the language of the messages
# (machine output is the same in every language, byte for byte, so it does not say one).
HUMAN_ONLY = frozenset({"language"})
# kpstask's own keys: a server field of the same name is left out, never mixed in.
OWN_KEYS = frozenset({"task_id", "operation", "state", "error", "elapsed_s", "polls", "already_done", "failure"})


def task_record(result: TaskResult) -> dict[str, Any]:
    """The API's fields plus `operation` and `state`, or the `error` object."""
    record: dict[str, Any] = {"task_id": result.task_id}  # the id asked about, whatever the answer says
    if result.error is not None:
        record["error"] = result.error.as_dict()
    elif result.task is not None:
        record.update((key, value) for key, value in result.task.fields.items() if key not in OWN_KEYS)
        record["task_status"] = result.task.task_status
        record["operation"] = result.task.operation
        record["state"] = result.task.state.value
    else:  # a wait that ended before any answer
        record.update(task_status=None, server_id=None, operation=None, state=State.UNKNOWN.value)
    if result.failure is not None:
        record["failure"] = {"code": result.failure.code, "message": result.failure.message}
        if result.failure.server_name is not None:  # the failed list's `server_name`, as the API gave it
            record.setdefault("server_name", result.failure.server_name)
    if result.elapsed_s is not None:
        record["elapsed_s"] = result.elapsed_s
        record["polls"] = result.polls
    if result.already_done:
        record["already_done"] = True
    return record


def listed_record(task: ListedTask) -> dict[str, Any]:
    """The API's fields, plus `operation` and `task_time_iso` (the raw `task_time` stays)."""
    return {**task.fields, "operation": task.operation, "task_time_iso": task.started}


def json_text(record: dict[str, Any]) -> str:
    """One compact line: `jq -r .task_status` works line by line."""
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return _UNSAFE_JSON_RE.sub(escaped, text)


class _Lines:
    def __init__(self, run: Run, *, no_color: bool = False) -> None:
        self._out = run.stdout

    def _write(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()

    def close(self) -> None:
        self._out.flush()


class JsonRenderer(_Lines):
    """`-o json`: one JSON object per record."""

    def task(self, result: TaskResult) -> None:
        self._write(json_text(task_record(result)))

    def listed(self, task: ListedTask, failed: bool) -> None:
        self._write(json_text(listed_record(task)))

    def deletion(self, task_id: str, error: KpsError | None) -> None:
        record: dict[str, Any] = {"task_id": task_id, "deleted": error is None}
        if error is not None:
            record["error"] = error.as_dict()
        self._write(json_text(record))

    def setting(self, label: str, value: str, source: str) -> None:
        if label not in HUMAN_ONLY:
            self._write(json_text({"setting": label, "value": english(value), "source": english(source)}))

    def problem(self, label: str, message: str, hints: Sequence[str]) -> None:
        record = {"problem": english(label), "message": english(message), "hints": [english(h) for h in hints]}
        self._write(json_text(record))


class TsvRenderer(_Lines):
    """`-o tsv`: tab-separated cells, no header; tabs and newlines in values become spaces,
    an empty field is `-`."""

    def _cells(self, *cells: str) -> None:
        # An empty field is `-`: bash's `read` with IFS=$'\t' merges consecutive tabs.
        self._write("\t".join(printable(cell).strip() or "-" for cell in cells))

    def task(self, result: TaskResult) -> None:
        if result.task is None:
            self._cells(result.task_id, "", "", "error" if result.error is not None else State.UNKNOWN.value)
        else:
            task = result.task
            self._cells(result.task_id, task.server_id or "", task.task_status, task.state.value)

    def listed(self, task: ListedTask, failed: bool) -> None:
        cells = [
            task.task_id,
            task.text("server_name"),
            task.text("server_id"),
            task.text("keypair_name"),
            task.operation or "",
            task.started or "",
        ]
        if failed:
            cells += [task.text("task_error_code"), task.text("task_error_msg")]
        self._cells(*cells)

    def deletion(self, task_id: str, error: KpsError | None) -> None:
        self._cells(task_id, "deleted" if error is None else "error")

    def setting(self, label: str, value: str, source: str) -> None:
        if label not in HUMAN_ONLY:
            self._cells(label, english(value), english(source))

    def problem(self, label: str, message: str, hints: Sequence[str]) -> None:
        self._cells("problem", english(label), english(message))  # the hints are for people: human and JSON
