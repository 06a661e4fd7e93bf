"""Simulator scenarios: tasks that move through their states on a clock, and
faults to inject. Plain data and logic, no I/O but reading the scenario file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpstask.errors import UsageError

OPERATIONS = ("reset", "replace", "bind", "unbind")
OUTCOMES = ("success", "failed", "never")
FAULT_TYPES = (
    "latency",  # add `seconds` of delay, then carry on
    "status",  # answer `status` (or each of `statuses` in turn) instead of the real answer
    "reset",  # close the connection with a TCP reset
    "cut",  # promise a body, send half of it, close
    "hang",  # read the request, never answer (a read timeout)
    "truncated",  # a complete HTTP answer whose JSON is cut short
    "invalid_json",  # a complete HTTP answer that is not JSON
    "wrong_types",  # the documented fields with the wrong JSON types
    "oversized",  # a valid JSON body over 1 MiB
    "unknown_status",  # a task_status nobody has seen (`value`, default PAUSED_RESET)
    "not_found",  # the task is not there (KPS.0001)
    "unauthorized",  # the gateway refuses the token (APIGW.0301)
    "body",  # answer `status` (default 200) with the raw text `value`
)
DEFAULT_PROJECT = "0123456789abcdef0123456789abcdef"
DEFAULT_TOKEN = "kpstask-simulator-token"  # noqa: S105 - a fake token for a fake API
DEMO_ACCESS_KEY = "SIMULATORACCESSKEY01"
DEMO_SECRET_KEY = "simulator-secret-key"  # noqa: S105 - fake, for the simulator
DEMO_USER, DEMO_DOMAIN, DEMO_PASSWORD = "sim-user", "sim-domain", "sim-password"


def _fail(where: str, problem: str) -> UsageError:
    return UsageError(f"scenario: {where}: {problem}")


def _get(spec: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str, default: Any) -> Any:
    value = spec.get(key, default)
    if value is default:
        return value
    # bool is an int in Python; a scenario saying `"seconds": true` is a mistake.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise _fail(where, f"{key} has the wrong type")
    if not isinstance(value, kind):
        raise _fail(where, f"{key} has the wrong type")
    return value


def _check_keys(spec: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(spec, Mapping):
        raise _fail(where, "must be an object")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    return spec


@dataclass
class Fault:
    """One misbehaviour. It applies to requests number `after` .. `after + times - 1`."""

    type: str
    times: int | None = None
    after: int = 0
    seconds: float = 0.0
    statuses: list[int] = field(default_factory=list)
    retry_after: float | None = None
    value: str | None = None
    probability: float = 1.0  # the share of matching requests it hits, at random

    @classmethod
    def parse(cls, spec: Any, where: str) -> Fault:
        keys = {"type", "times", "after", "seconds", "status", "statuses", "retry_after", "value", "probability"}
        spec = _check_keys(spec, keys, where)
        kind = spec.get("type")
        if kind not in FAULT_TYPES:
            raise _fail(where, f"type must be one of {', '.join(FAULT_TYPES)}")
        statuses = list(_get(spec, "statuses", list, where, []))
        if "status" in spec:
            statuses = [_get(spec, "status", int, where, None)]
        if any(isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599 for s in statuses):
            raise _fail(where, "status codes must be integers from 100 to 599")
        if kind == "status" and not statuses:
            raise _fail(where, "a status fault needs status or statuses")
        times = _get(spec, "times", int, where, None)
        if times is None and "statuses" in spec:  # a sequence is used up, then the real answer
            times = len(statuses)
        fault = cls(
            type=kind,
            times=times,
            after=_get(spec, "after", int, where, 0),
            seconds=float(_get(spec, "seconds", (int, float), where, 0.0)),
            statuses=statuses,
            retry_after=_get(spec, "retry_after", (int, float), where, None),
            value=_get(spec, "value", str, where, None),
            probability=float(_get(spec, "probability", (int, float), where, 1.0)),
        )
        if not 0.0 <= fault.probability <= 1.0:
            raise _fail(where, "probability must be between 0 and 1")
        if fault.after < 0 or (fault.times is not None and fault.times < 0) or fault.seconds < 0:
            raise _fail(where, "after, times and seconds cannot be negative")
        return fault

    def applies(self, request_number: int) -> bool:
        """Does this fault hit the request with this 0-based number?"""
        if request_number < self.after:
            return False
        return self.times is None or request_number < self.after + self.times

    def status_for(self, request_number: int) -> int:
        index = min(request_number - self.after, len(self.statuses) - 1)
        return self.statuses[max(index, 0)] if self.statuses else 200


@dataclass
class SimTask:
    """A task that is READY for `ready_s`, RUNNING for `running_s`, then done."""

    task_id: str
    server_id: str
    operation: str = "reset"
    outcome: str = "success"
    ready_s: float = 1.0
    running_s: float = 5.0
    status: str | None = None  # a fixed task_status, whatever the clock says
    server_name: str = "ecs-demo"
    keypair_name: str = "kp-demo"
    faults: list[Fault] = field(default_factory=list)
    created_at: float | None = None  # None: when the simulator starts
    requests: int = 0
    cleared: bool = False  # its failed-task record was deleted

    @classmethod
    def parse(cls, spec: Any, where: str, now: float | None = None) -> SimTask:
        keys = {"id", "task_id", "server_id", "operation", "outcome", "ready_s", "running_s", "status",
                "server_name", "keypair_name", "faults"}  # fmt: skip
        spec = _check_keys(spec, keys, where)
        task_id = spec.get("id", spec.get("task_id"))
        if not isinstance(task_id, str) or not task_id:
            raise _fail(where, "id must be a non-empty string")
        operation = spec.get("operation", "reset")
        if operation not in OPERATIONS:
            raise _fail(where, f"operation must be one of {', '.join(OPERATIONS)}")
        outcome = spec.get("outcome", "success")
        if outcome not in OUTCOMES:
            raise _fail(where, f"outcome must be one of {', '.join(OUTCOMES)}")
        faults = _get(spec, "faults", list, where, [])
        task = cls(
            task_id=task_id,
            server_id=_get(spec, "server_id", str, where, f"server-{task_id}"),
            operation=operation,
            outcome=outcome,
            ready_s=float(_get(spec, "ready_s", (int, float), where, 1.0)),
            running_s=float(_get(spec, "running_s", (int, float), where, 5.0)),
            status=_get(spec, "status", str, where, None),
            server_name=_get(spec, "server_name", str, where, "ecs-demo"),
            keypair_name=_get(spec, "keypair_name", str, where, "kp-demo"),
            faults=[Fault.parse(f, f"{where}.faults[{i}]") for i, f in enumerate(faults)],
            created_at=now,
        )
        if task.ready_s < 0 or task.running_s < 0:
            raise _fail(where, "ready_s and running_s cannot be negative")
        return task

    def status_at(self, now: float) -> str:
        """READY_X, then RUNNING_X, then SUCCESS_X or FAILED_X (never, for `never`)."""
        if self.status is not None:
            return self.status
        suffix = self.operation.upper()
        age = now - (self.created_at if self.created_at is not None else now)
        if age < self.ready_s:
            return f"READY_{suffix}"
        if age < self.ready_s + self.running_s or self.outcome == "never":
            return f"RUNNING_{suffix}"
        return f"{'SUCCESS' if self.outcome == 'success' else 'FAILED'}_{suffix}"

    def listed(self, started_wall: float, failed: bool) -> dict[str, Any]:
        """An item of running-tasks or failed-tasks; task_time is epoch milliseconds, as a string."""
        operation = self.status.rpartition("_")[2].lower() if self.status else self.operation
        item = {
            "task_id": self.task_id,
            "operate_type": operation,
            "task_time": str(int(started_wall * 1000)),
            "server_name": self.server_name,
            "server_id": self.server_id,
            "keypair_name": self.keypair_name,
        }
        if failed:
            item["task_error_code"] = "KPS.0003"
            item["task_error_msg"] = f"Failed to {operation} the key pair: the server did not answer."
        return item

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "server_id": self.server_id,
            "operation": self.operation,
            "outcome": self.outcome,
            "task_status": self.status_at(now),
            "requests": self.requests,
        }


@dataclass
class Scenario:
    """Everything the simulator serves."""

    project_id: str = DEFAULT_PROJECT
    token: str = DEFAULT_TOKEN
    tasks: list[SimTask] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    seed: int | None = None  # for faults with a probability; None: different every run
    auth: str = "token"  # "token": credentials are checked; "any": no check (benchmarks against other clients)
    access_keys: list[dict[str, str]] = field(default_factory=list)  # access_key, secret_key[, security_token]
    users: list[dict[str, str]] = field(default_factory=list)  # name, domain, password: IAM logins
    token_ttl_s: float = 86400.0  # lifetime of the tokens the simulated IAM issues

    @classmethod
    def parse(cls, spec: Any, now: float | None = None) -> Scenario:
        keys = {"project_id", "token", "tasks", "faults", "seed", "auth", "access_keys", "users", "token_ttl_s"}
        spec = _check_keys(spec, keys, "top level")
        if spec.get("auth", "token") not in ("token", "any"):
            raise _fail("top level", "auth must be token or any")
        tasks = _get(spec, "tasks", list, "top level", [])
        faults = _get(spec, "faults", list, "top level", [])
        scenario = cls(
            project_id=_get(spec, "project_id", str, "top level", DEFAULT_PROJECT),
            token=_get(spec, "token", str, "top level", DEFAULT_TOKEN),
            tasks=[SimTask.parse(t, f"tasks[{i}]", now) for i, t in enumerate(tasks)],
            faults=[Fault.parse(f, f"faults[{i}]") for i, f in enumerate(faults)],
            seed=_get(spec, "seed", int, "top level", None),
            auth=spec.get("auth", "token"),
            access_keys=[_strings(k, f"access_keys[{i}]", {"access_key", "secret_key"}, {"security_token"})
                         for i, k in enumerate(_get(spec, "access_keys", list, "top level", []))],
            users=[_strings(u, f"users[{i}]", {"name", "domain", "password"}, set())
                   for i, u in enumerate(_get(spec, "users", list, "top level", []))],
            token_ttl_s=float(_get(spec, "token_ttl_s", (int, float), "top level", 86400.0)),
        )  # fmt: skip
        if scenario.token_ttl_s < 0:
            raise _fail("top level", "token_ttl_s cannot be negative")
        ids = [task.task_id for task in scenario.tasks]
        if len(set(ids)) != len(ids):
            raise _fail("tasks", "task ids must be unique")
        return scenario


def _strings(spec: Any, where: str, required: set[str], optional: set[str]) -> dict[str, str]:
    spec = _check_keys(spec, required | optional, where)
    missing = sorted(required - set(spec))
    if missing or not all(isinstance(value, str) and value for value in spec.values()):
        raise _fail(where, f"needs non-empty strings {', '.join(sorted(required))}")
    return dict(spec)


def load_scenario(path: str, now: float | None = None) -> Scenario:
    """Read a JSON or TOML scenario file; a clear usage error if it is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read scenario {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.endswith(".toml"):
        from kpstask.config import toml

        tomllib = toml()
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"scenario {path!r} is not valid TOML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"scenario {path!r} is not valid JSON: {exc}") from None
    return Scenario.parse(data, now)


def default_scenario(now: float | None = None) -> Scenario:
    """A handful of tasks of every kind with short durations, and one flaky task."""
    spec = {
        "tasks": [
            {"id": "demo-bind-ok", "operation": "bind", "ready_s": 0.5, "running_s": 2},
            {"id": "demo-replace-ok", "operation": "replace", "ready_s": 1, "running_s": 4},
            {"id": "demo-reset-ok", "operation": "reset", "ready_s": 1, "running_s": 6},
            {"id": "demo-unbind-failed", "operation": "unbind", "outcome": "failed", "ready_s": 1, "running_s": 3},
            {"id": "demo-reset-failed", "operation": "reset", "outcome": "failed", "ready_s": 1, "running_s": 5},
            {"id": "demo-bind-stuck", "operation": "bind", "outcome": "never", "ready_s": 1},
            {
                "id": "demo-flaky",
                "operation": "replace",
                "ready_s": 1,
                "running_s": 3,
                "faults": [{"type": "status", "statuses": [503, 429], "retry_after": 0}],
            },
        ]
    }
    for i, task in enumerate(spec["tasks"]):
        task["server_id"] = f"c9aa197b-a6b6-4c33-b3a6-fa0b4ec5{i:04d}"
        task["server_name"] = f"ecs-demo-{i}"
    # Every kind of credential works against the demo set (documented in the README).
    spec["access_keys"] = [{"access_key": DEMO_ACCESS_KEY, "secret_key": DEMO_SECRET_KEY}]
    spec["users"] = [{"name": DEMO_USER, "domain": DEMO_DOMAIN, "password": DEMO_PASSWORD}]
    return Scenario.parse(spec, now)
