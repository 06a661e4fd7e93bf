"""The KPS task APIs of one project, over a Transport, with one credential."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kpstask.api.answers import Answer, error_for, read_response
from kpstask.api.transport import Transport
from kpstask.errors import ApiError
from kpstask.i18n import _
from kpstask.models import Task

if TYPE_CHECKING:
    from kpstask.auth.credentials import Credential


class KpsClient:
    """The KPS task APIs of one project; a refusal carries the credential's own hint."""

    def __init__(self, transport: Transport, project_id: str, auth: Credential) -> None:
        self.transport = transport
        self.project_id = project_id
        self.auth = auth

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> KpsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def once(self) -> KpsClient:
        """This client for a best-effort request: tried once, no retry said (same connections)."""
        transport = copy.copy(self.transport)
        transport.retry = transport.retry._replace(retries=0)
        transport.on_retry = None
        return KpsClient(transport, self.project_id, self.auth)

    def get_task(self, task_id: str) -> Task:
        """`GET /v3/{project_id}/tasks/{task_id}` as a Task, or a KpsError."""
        path = f"/v3/{quote(self.project_id, safe='')}/tasks/{quote(task_id, safe='')}"
        answer = self._call("GET", path)
        data = read_response(answer, self.transport.host, self.auth.refusal_hint)
        return Task.from_body(task_id, task_body(data, answer))

    def list_page(self, kind: str, limit: int, offset: int) -> tuple[int | None, list[dict[str, Any]]]:
        """One page of `running-tasks` or `failed-tasks`: (total, items)."""
        path = f"/v3/{quote(self.project_id, safe='')}/{kind}-tasks"
        answer = self._call("GET", path, [("limit", limit), ("offset", offset)])
        data = read_response(answer, self.transport.host, self.auth.refusal_hint)
        tasks = data.get("tasks") if isinstance(data, dict) else None
        total = data.get("total") if isinstance(data, dict) else None
        if not isinstance(tasks, list) or not all(
            isinstance(t, dict) and isinstance(t.get("task_id"), str) for t in tasks
        ):
            raise ApiError(
                _("unexpected answer: no list of tasks with task ids"),
                http_status=answer.status,
                request_id=answer.request_id,
            )
        return (total if isinstance(total, int) and not isinstance(total, bool) else None), tasks

    def delete_failed(self, task_id: str | None) -> None:
        """Delete one failed-task record, or all of them (`task_id` None)."""
        path = f"/v3/{quote(self.project_id, safe='')}/failed-tasks"
        if task_id is not None:
            path += f"/{quote(task_id, safe='')}"
        answer = self._call("DELETE", path)
        if not 200 <= answer.status < 300:
            raise error_for(answer, self.transport.host, self.auth.refusal_hint)

    def _call(self, method: str, path: str, query: list[tuple[str, object]] | None = None) -> Answer:
        """A refused cached token is renewed once, and the request made once more."""
        answer = self.transport.send(method, path, {}, auth=self.auth, query=query)
        if answer.status in (401, 403) and self.auth.renew():
            self.transport.say_debug("credentials refused: renewed them, asking once more")
            answer = self.transport.send(method, path, {}, auth=self.auth, query=query)
        if answer.status not in (401, 403):
            self.auth.confirm()
        return answer


def task_body(data: Any, answer: Answer) -> dict[str, Any]:
    """Check a task answer has the documented shape."""
    problem = None
    if not isinstance(data, dict):
        problem = _("expected a JSON object, got {kind}").format(kind=type(data).__name__)
    elif not isinstance(data.get("task_status"), str) or not data["task_status"]:
        problem = _("task_status is missing or not a string")
    else:
        for key in ("task_id", "server_id"):
            if data.get(key) is not None and not isinstance(data[key], str):
                problem = _("{key} is not a string").format(key=key)
    if problem is not None:
        raise ApiError(
            _("unexpected answer: {problem}").format(problem=problem),
            http_status=answer.status,
            request_id=answer.request_id,
        )
    return data  # type: ignore[no-any-return]
