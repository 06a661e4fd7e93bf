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
from kpstask.listwatch import MAX_LISTED, PAGE_SIZE, Lister
from kpstask.models import Failure, State, TaskResult

MAX_REASON = 1000  # characters of a message kept: a reason, not a document


def unexplained(results: Sequence[TaskResult]) -> set[str]:
    """The failed tasks whose reason is not known yet."""
    return {
        result.task_id
        for result in results
        if result.task is not None and result.task.state is State.FAILED and result.failure is None
    }


def failure_of(fields: dict[str, Any]) -> Failure | None:
    """A record's code (may be null, as in the API's own example) and message."""
    code, message = fields.get("task_error_code"), fields.get("task_error_msg")
    code = code.strip() if isinstance(code, str) and code.strip() else None
    message = message.strip()[:MAX_REASON] if isinstance(message, str) else ""
    return Failure(code, message) if code or message else None


def records(lister: Lister, wanted: set[str], page_size: int = PAGE_SIZE) -> dict[str, Failure]:
    """Pages of the failed list until every wanted task is found or the list ends."""
    found: dict[str, Failure] = {}
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


def explained(results: list[TaskResult], lister: Lister, debug: Callable[[str], None]) -> list[TaskResult]:
    """The results, each failed task with its reason where the failed list has one."""
    wanted = unexplained(results)
    if not wanted:
        return results
    try:
        found = records(lister, wanted)
    except KpsError as error:
        debug(f"failed-tasks: {error}; no failure reasons")
        return results
    debug(f"failed-tasks: reasons for {len(found)} of {len(wanted)} failed task(s)")
    return [result._replace(failure=found[result.task_id]) if result.task_id in found else result
            for result in results]  # fmt: skip
