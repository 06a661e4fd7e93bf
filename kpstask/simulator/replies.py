"""The simulator's answer shapes: API paths, error bodies, and how replies are built.

Pure data and answer building; nothing here holds simulator state.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from kpstask.simulator.scenario import Fault, SimTask

TASK_PATH = re.compile(r"^/v3/([^/]+)/tasks/([^/]+)$")
LIST_PATH = re.compile(r"^/v3/([^/]+)/(running|failed)-tasks$")
FAILED_PATH = re.compile(r"^/v3/([^/]+)/failed-tasks/([^/]+)$")
CONTROL_PREFIX = "/_sim/"  # a path the real API does not use
MAX_CONTROL_BODY = 1024 * 1024

API_NOT_FOUND = {
    "error_code": "APIGW.0101",
    "error_msg": "The API does not exist or has not been published in the environment",
}
TASK_NOT_FOUND = {"error_code": "KPS.0001", "error_msg": "taskId is illegal"}
FAILED_NOT_FOUND = {"error_code": "KPS.0005", "error_msg": "The failed task is not found."}
BAD_TOKEN = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: token is invalid"}
TOKEN_EXPIRED = {"error_code": "APIGW.0307", "error_msg": "The token must be updated."}
BAD_SIGNATURE = {
    "error_code": "APIGW.0301",
    "error_msg": "Incorrect IAM authentication information: verify aksk signature fail",
}
SIGNATURE_EXPIRED = {
    "error_code": "APIGW.0301",
    "error_msg": "Incorrect IAM authentication information: x-sdk-date expired",
}
NO_TOKEN = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: x-auth-token not found"}
THROTTLED = {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"}
SERVER_ERROR = {"error_code": "KPS.0003", "error_msg": "The dependent service is unavailable."}
HTML_ERROR = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n"
    "<center><h1>{0}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def over_quota(limit: int) -> dict[str, str]:
    """The gateway's words when a throttling policy's limit is reached (a project-wide `quota`)."""
    return {
        "error_code": THROTTLED["error_code"],
        "error_msg": f"{THROTTLED['error_msg']}: policy user over ratelimit,limit:{limit},time:1 second",
    }


class Request(NamedTuple):
    """What the gateway sees of a request."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Any
    body: bytes


def iam_error(code: int, message: str, title: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "title": title}}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


@dataclass(frozen=True)
class Reply:
    """What to send back: a status, a body, and how to send it."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    action: str = "send"  # send | reset | cut | hang
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def json_reply(status: int, data: Any, *headers: tuple[str, str]) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=headers)


def gateway_reply(status: int, data: dict[str, str], *headers: tuple[str, str]) -> Reply:
    """The API gateway puts its request id in the body too, the same as the header's."""
    request_id = uuid.uuid4().hex
    body = json.dumps({**data, "request_id": request_id}).encode()
    return Reply(status, body, headers=headers, request_id=request_id)


def fault_reply(fault: Fault, number: int, task: SimTask | None, now: float) -> Reply:
    """The misbehaviour a fault stands for."""
    task_id = task.task_id if task is not None else "unknown"
    real = {
        "task_id": task_id,
        "task_status": task.status_at(now) if task is not None else "RUNNING_RESET",
        "server_id": task.server_id if task is not None else "unknown",
    }
    kind = fault.type
    if kind == "status":
        return status_reply(fault.status_for(number), fault.retry_after)
    if kind in ("reset", "cut", "hang"):
        return Reply(200, json.dumps(real).encode(), action=kind)
    if kind == "truncated":
        return Reply(200, json.dumps(real).encode()[:-12])
    if kind == "invalid_json":
        return Reply(200, b"{task_id: " + task_id.encode() + b", task_status: RUNNING_RESET,}")
    if kind == "wrong_types":
        return json_reply(200, {"task_id": 42, "task_status": ["RUNNING_RESET"], "server_id": False})
    if kind == "oversized":
        return json_reply(200, {**real, "padding": "x" * (1024 * 1024 + 1024)})
    if kind == "unknown_status":
        return json_reply(200, {**real, "task_status": fault.value or "PAUSED_RESET"})
    if kind == "not_found":
        return json_reply(400, TASK_NOT_FOUND)
    if kind == "unauthorized":
        return gateway_reply(401, BAD_TOKEN)
    # "body": raw text, any status
    status = fault.statuses[0] if fault.statuses else 200
    return Reply(status, (fault.value or "").encode("utf-8", "surrogateescape"), content_type="text/plain")


def status_reply(status: int, retry_after: float | None) -> Reply:
    """An error answer with the body a real gateway or service gives for it."""
    if status == 429:
        wait = retry_after if retry_after is not None else 1
        return gateway_reply(429, THROTTLED, ("Retry-After", f"{wait:g}"))
    extra = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
    if status in (502, 504):
        title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
        return Reply(status, HTML_ERROR.format(title).encode(), content_type="text/html", headers=extra)
    if status == 503:
        return Reply(status, b"", headers=extra)
    if status >= 500:
        return json_reply(status, SERVER_ERROR, *extra)
    return json_reply(status, {"error_code": "KPS.0002", "error_msg": f"simulated HTTP {status}"}, *extra)
