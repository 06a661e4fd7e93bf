"""Task data and status classification: plain data, no I/O, no rendering."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any, NamedTuple

from kpstask.errors import ExitCode, KpsError, UsageError
from kpstask.i18n import N_, _

TASK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The project-wide lists (running-tasks, failed-tasks): pages of at most PAGE_SIZE, asked with
# limit/offset. A list that goes on past MAX_LISTED is a server that does not page correctly.
PAGE_SIZE = 1000  # the API's largest page
MAX_LISTED = 100_000
Lister = Callable[[int, int], tuple[int | None, list[dict[str, Any]]]]  # (limit, offset) -> (total, items)


class State(str, Enum):
    """Where a task stands, whatever its operation."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


# Prefix of `task_status` -> state. The Terraform provider classifies the same way.
_PREFIX_STATE = {
    "READY": State.PENDING,
    "RUNNING": State.PENDING,
    "SUCCESS": State.SUCCEEDED,
    "FAILED": State.FAILED,
}
# Suffix of `task_status` -> operation. BIND is not on the API page but is real.
_SUFFIX_OPERATION = {"RESET": "reset", "REPLACE": "replace", "BIND": "bind", "UNBIND": "unbind"}

# What each status means in words, whole sentences (translated where they are shown).
_MEANINGS: dict[tuple[str, str], str] = {
    ("READY", "reset"): N_("Preparing to reset the key pair"),
    ("READY", "replace"): N_("Preparing to replace the key pair"),
    ("READY", "bind"): N_("Preparing to bind the key pair"),
    ("READY", "unbind"): N_("Preparing to unbind the key pair"),
    ("RUNNING", "reset"): N_("Resetting the key pair"),
    ("RUNNING", "replace"): N_("Replacing the key pair"),
    ("RUNNING", "bind"): N_("Binding the key pair"),
    ("RUNNING", "unbind"): N_("Unbinding the key pair"),
    ("SUCCESS", "reset"): N_("Reset succeeded"),
    ("SUCCESS", "replace"): N_("Replacement succeeded"),
    ("SUCCESS", "bind"): N_("Binding succeeded"),
    ("SUCCESS", "unbind"): N_("Unbinding succeeded"),
    ("FAILED", "reset"): N_("Reset failed"),
    ("FAILED", "replace"): N_("Replacement failed"),
    ("FAILED", "bind"): N_("Binding failed"),
    ("FAILED", "unbind"): N_("Unbinding failed"),
}
_UNKNOWN_OPERATION = {
    State.PENDING: N_("In progress (unknown operation)"),
    State.SUCCEEDED: N_("Succeeded (unknown operation)"),
    State.FAILED: N_("Failed (unknown operation)"),
}


def classify(task_status: str) -> tuple[State, str | None]:
    """State and operation of a status such as `RUNNING_RESET`.

    Never fails: a status nobody has seen is `unknown`, an unknown suffix
    gives operation `None`.
    """
    prefix, _sep, suffix = task_status.partition("_")
    return _PREFIX_STATE.get(prefix, State.UNKNOWN), _SUFFIX_OPERATION.get(suffix)


def describe(task_status: str) -> str:
    """What a status means in words, in the run's language: "Resetting the key pair"."""
    prefix = task_status.partition("_")[0]
    state, operation = classify(task_status)
    if state is State.UNKNOWN:
        return _("Unrecognised status")
    if operation is None:
        return _(_UNKNOWN_OPERATION[state])
    return _(_MEANINGS[(prefix, operation)])


def validate_task_id(value: str) -> str:
    """Return the id, or raise: it goes into a URL path, so only a safe alphabet passes."""
    if TASK_ID_RE.fullmatch(value):
        return value
    shown = ascii(value[:70]) + ("..." if len(value) > 70 else "")
    reason = _("it is empty") if not value else _("got {value}").format(value=shown)
    raise UsageError(
        _("invalid task id: {reason}").format(reason=reason),
        hint=_("a task id is 1-64 letters, digits, '-' or '_'"),
    )


class Task(NamedTuple):
    """A task as the API answered: its fields, plus what they mean."""

    task_id: str
    task_status: str
    server_id: str | None
    fields: dict[str, Any]

    @property
    def state(self) -> State:
        return classify(self.task_status)[0]

    @property
    def operation(self) -> str | None:
        return classify(self.task_status)[1]

    @property
    def meaning(self) -> str:
        return describe(self.task_status)

    @property
    def answered_id(self) -> str | None:
        """The id the answer itself names, when it differs from the one asked about."""
        said = self.fields.get("task_id")
        return said if isinstance(said, str) and said != self.task_id else None

    @classmethod
    def from_body(cls, requested_id: str, body: dict[str, Any]) -> Task:
        """Build from a 200 body already checked to be the documented shape. The task
        is the one asked about, whatever id the answer carries (it stays in `fields`)."""
        server_id = body.get("server_id")
        return cls(
            task_id=requested_id,
            task_status=body["task_status"],
            server_id=server_id if isinstance(server_id, str) else None,
            fields=dict(body),
        )


_STATE_EXIT = {
    State.SUCCEEDED: ExitCode.OK,
    State.FAILED: ExitCode.FAILED,
    State.PENDING: ExitCode.PENDING,
    State.UNKNOWN: ExitCode.PENDING,
}


class Failure(NamedTuple):
    """Why a task failed, from its record in the failed-tasks list (the code may be null)."""

    code: str | None
    message: str
    server_name: str | None = None  # the record's `server_name` (`db-1`), when it has one

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code and self.message else self.code or self.message


class TaskResult(NamedTuple):
    """The outcome of asking about one task: the task, or why we could not tell.

    A wait adds how long it took and how many requests it made; `deadline`
    says the wait ran out of time with the task still unfinished, `already_done`
    that the task was finished at the first look. `failure` is why a failed task
    failed, when its failed-task record said.
    """

    task_id: str
    task: Task | None = None
    error: KpsError | None = None
    elapsed_s: float | None = None
    polls: int | None = None
    deadline: bool = False
    already_done: bool = False
    failure: Failure | None = None

    @property
    def server(self) -> str:
        """The task's server as a person reads it: `db-1 (c9aa...)` when the failed list named
        it, else its id ("" when neither is known)."""
        server_id = self.task.server_id if self.task is not None else None
        name = self.failure.server_name if self.failure is not None else None
        if name and server_id:
            return f"{name} ({server_id})"
        return name or server_id or ""

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return self.error.exit_code
        if self.task is None:
            return ExitCode.DEADLINE if self.deadline else ExitCode.PENDING
        code = _STATE_EXIT[self.task.state]
        return ExitCode.DEADLINE if self.deadline and code is ExitCode.PENDING else code


def ids_from_text(text: str) -> list[str]:
    """Task ids piped in: plain ids (any whitespace between), or the JSON answers
    of the APIs that create tasks: `{"task_id": ...}`, `{"tasks": [{"task_id": ...}]}`,
    a list of those, or several JSON documents one per line."""
    import json

    stripped = text.lstrip("\ufeff").strip()  # a byte-order mark from an editor is not part of an id
    if not stripped.startswith(("{", "[")):
        return stripped.split()
    decoder = json.JSONDecoder()
    ids: list[str] = []
    position = 0
    while position < len(stripped):
        try:
            document, position = decoder.raw_decode(stripped, position)
        except RecursionError:
            raise UsageError(_("task ids on stdin: the JSON is nested too deeply")) from None
        except ValueError:
            raise UsageError(_("task ids on stdin: not valid JSON")) from None
        ids.extend(_ids_in(document))
        while position < len(stripped) and stripped[position].isspace():
            position += 1
    if not ids:
        raise UsageError(_("task ids on stdin: no task_id found in the JSON"))
    return ids


MAX_ID_NESTING = 16  # a create API's answer nests three levels; a list of them, four


def _ids_in(document: Any) -> list[str]:
    """The `task_id`s of create-API answers, in order; no recursion, so no depth can crash it."""
    found: list[str] = []
    todo: list[tuple[Any, int]] = [(document, 0)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_ID_NESTING:
            raise UsageError(
                _("task ids on stdin: the JSON is nested more than {levels} levels deep").format(levels=MAX_ID_NESTING)
            )
        if isinstance(item, list):
            todo.extend((child, depth + 1) for child in reversed(item))
        elif isinstance(item, dict):
            if isinstance(item.get("task_id"), str):
                found.append(item["task_id"])
            if isinstance(item.get("tasks"), list):
                todo.append((item["tasks"], depth + 1))
    return found


OPERATIONS = ("reset", "replace", "bind", "unbind")
OPERATION_WORDS = (N_("reset"), N_("replace"), N_("bind"), N_("unbind"))  # as a table shows them


class ListedTask(NamedTuple):
    """An item of `running-tasks` or `failed-tasks`, as the API gave it."""

    fields: dict[str, Any]

    @property
    def task_id(self) -> str:
        return str(self.fields["task_id"])

    def text(self, key: str) -> str:
        value = self.fields.get(key)
        return "" if value is None else str(value)

    @property
    def operation(self) -> str | None:
        """`operate_type` as one of reset, replace, bind, unbind (whatever its case), or None."""
        raw = self.text("operate_type").strip().lower()
        return raw if raw in OPERATIONS else _SUFFIX_OPERATION.get(raw.rpartition("_")[2].upper())

    @property
    def started(self) -> str | None:
        """`task_time` (epoch milliseconds, a string) as ISO 8601 UTC."""
        from datetime import datetime, timezone

        try:
            millis = int(self.text("task_time"))
            return datetime.fromtimestamp(millis / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (ValueError, OverflowError, OSError):
            return None
