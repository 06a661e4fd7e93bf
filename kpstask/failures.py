"""Why failed tasks failed. The task API says only `FAILED_RESET`; a task's record in the
failed-tasks list (`GET /v3/{project_id}/failed-tasks`) has `task_error_code` and
`task_error_msg`. One paged pass serves every failed task of a `get` or a `wait`, and stops
once each is found. A list that cannot be read adds nothing: a result is never turned into
an error for this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kpstask.errors import KpsError
from kpstask.i18n import _
from kpstask.models import MAX_LISTED, PAGE_SIZE, Failure, Lister, State, TaskResult

MAX_REASON = 1000  # characters of a message kept: a reason, not a document
Say = Callable[[str], None]


def unexplained(results: Sequence[TaskResult]) -> set[str]:
    """The failed tasks whose reason is not known yet."""
    return {
        result.task_id
        for result in results
        if result.task is not None and result.task.state is State.FAILED and result.failure is None
    }


def failure_of(fields: dict[str, Any]) -> Failure | None:
    """A record's code (may be null, as in the API's own example), message and server name."""
    code, message = fields.get("task_error_code"), fields.get("task_error_msg")
    code = code.strip() if isinstance(code, str) and code.strip() else None
    message = message.strip()[:MAX_REASON] if isinstance(message, str) else ""
    name = fields.get("server_name")
    name = name.strip()[:MAX_REASON] if isinstance(name, str) and name.strip() else None
    return Failure(code, message, name) if code or message else None


def records(
    lister: Lister, wanted: set[str], page_size: int = PAGE_SIZE, found: dict[str, Failure] | None = None
) -> dict[str, Failure]:
    """Pages of the failed list until every wanted task is found or the list ends; into
    `found` if given, so what was found before a page failed is kept."""
    found = {} if found is None else found
    seen: set[str] = set()
    offset = 0
    while len(found) < len(wanted) and offset < MAX_LISTED:
        total, page = lister(page_size, offset)
        ids = [str(fields["task_id"]) for fields in page]
        if not page or seen.issuperset(ids):  # a server that ignores offset is not paged forever
            break
        seen.update(ids)
        for task_id, fields in zip(ids, page, strict=True):
            failure = failure_of(fields) if task_id in wanted else None
            if failure is not None:
                found.setdefault(task_id, failure)
        offset += len(page)
        if len(page) < page_size or (total is not None and offset >= total):
            break
    return found


def explained(
    results: list[TaskResult],
    lister: Lister,
    debug: Say,
    *,
    left_s: float | None = None,
    note: Say | None = None,
) -> list[TaskResult]:
    """The results, each failed task with its reason where the failed list has one. With
    `left_s` (what is left of a wait's --timeout), the lookup ends by then: a deadline holds
    for every request a command makes. Why a reason is missing then goes to `note`."""
    wanted = unexplained(results)
    if not wanted:
        return results
    found = _looked_up(lister, wanted, left_s, debug, note or debug)
    return [result._replace(failure=found[result.task_id]) if result.task_id in found else result for result in results]


def _looked_up(lister: Lister, wanted: set[str], left_s: float | None, debug: Say, note: Say) -> dict[str, Failure]:
    """The reasons found within `left_s`; with nothing left, none are asked for."""
    from kpstask.api.deadline import within  # it imports requests: not at start-up

    found: dict[str, Failure] = {}
    if left_s is not None and left_s <= 0:
        said = _("the failure reason of {count} failed task(s) not looked up: the --timeout deadline has passed")
        note(said.format(count=len(wanted)))
        return found
    with within(left_s) as spent:
        try:
            records(lister, wanted, found=found)
        except KpsError as error:
            if spent():  # cut at the deadline: a person hears why a reason is missing
                said = _("the failure reason of {count} failed task(s) not found: the --timeout deadline came first")
                note(said.format(count=len(wanted) - len(found)))
            else:  # a list that cannot be read adds nothing, as ever
                debug(f"failed-tasks: {error}; no failure reasons")
            return found
    debug(f"failed-tasks: reasons for {len(found)} of {len(wanted)} failed task(s)")
    return found
