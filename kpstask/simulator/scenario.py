"""Simulator scenarios: tasks that move through their states on a clock, and
faults to inject. Plain data and logic, no I/O but reading the scenario file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpstask.errors import UsageError
from kpstask.simulator import checks
from kpstask.simulator.checks import MAX_DURATION_S, MAX_FAULT_SECONDS, check_keys, fail, typed
from kpstask.simulator.keyless import KeylessSpec

OPERATIONS = ("reset", "replace", "bind", "unbind")
OUTCOMES = ("success", "failed", "never")
# When a task's clock starts: when the simulator starts (or the task is added), or at the task's
# first query: a GET of it, or a running-/failed-tasks page that lists it. The demo set uses
# first_query, so `kpstask simulate` now and `kpstask wait` a minute later still see the states go by.
CLOCKS = ("start", "first_query")
DEFAULT_ERROR_CODE = "KPS.0003"
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
        spec = check_keys(spec, keys, where)
        kind = spec.get("type")
        if kind not in FAULT_TYPES:
            raise fail(where, f"type must be one of {', '.join(FAULT_TYPES)}")
        statuses = checks.statuses(spec, where)
        if kind == "status" and not statuses:
            raise fail(where, "a status fault needs status or statuses")
        times = checks.count(spec, "times", where, None)
        if times is None and "statuses" in spec:  # a sequence is used up, then the real answer
            times = len(statuses)
        value = typed(spec, "value", str, where, None)
        try:  # the `body` fault sends it as UTF-8; a lone surrogate could not be sent
            (value or "").encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise fail(where, "value is not valid text") from None
        return cls(
            type=kind,
            times=times,
            after=checks.count(spec, "after", where, 0) or 0,
            seconds=checks.number(spec, "seconds", where, 0.0, MAX_FAULT_SECONDS) or 0.0,
            statuses=statuses,
            retry_after=checks.number(spec, "retry_after", where, None, MAX_FAULT_SECONDS),
            value=value,
            probability=checks.number(spec, "probability", where, 1.0, 1.0) or 0.0,
        )

    def applies(self, request_number: int) -> bool:
        """Does this fault hit the request with this 0-based number?"""
        if request_number < self.after:
            return False
        return self.times is None or request_number < self.after + self.times

    def status_for(self, request_number: int) -> int:
        index = min(request_number - self.after, len(self.statuses) - 1)
        return self.statuses[max(index, 0)] if self.statuses else 200


TASK_KEYS = (
    "id",
    "task_id",
    "server_id",
    "operation",
    "outcome",
    "ready_s",
    "running_s",
    "status",
    "server_name",
    "keypair_name",
    "faults",
    "operate_type",
    "error_code",
    "error_msg",
    "listed",
)


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
    created_at: float | None = None  # None: not started yet (at the simulator's start, or first query)
    operate_type: str | None = None  # the lists' operate_type; None: RUNNING_<OP> / FAILED_<OP>
    error_code: str | None = DEFAULT_ERROR_CODE  # the failed-task record's; None is JSON null, as in the API
    error_msg: str | None = None  # the failed-task record's; None: a message naming the operation
    in_list: bool = True  # key `listed`: false keeps it out of the running list (an eventual-consistency gap)
    requests: int = 0
    cleared: bool = False  # its failed-task record was deleted

    @classmethod
    def parse(cls, spec: Any, where: str, now: float | None = None) -> SimTask:
        keys = set(TASK_KEYS)
        spec = check_keys(spec, keys, where)
        task_id = checks.task_id(spec.get("id", spec.get("task_id")), where)
        where = f"{where} (task {task_id})"  # a valid id is safe to show
        operation = spec.get("operation", "reset")
        if operation not in OPERATIONS:
            raise fail(where, f"operation must be one of {', '.join(OPERATIONS)}")
        outcome = spec.get("outcome", "success")
        if outcome not in OUTCOMES:
            raise fail(where, f"outcome must be one of {', '.join(OUTCOMES)}")
        faults = typed(spec, "faults", list, where, [])
        return cls(
            task_id=task_id,
            server_id=checks.text(spec, "server_id", where, f"server-{task_id}"),
            operation=operation,
            outcome=outcome,
            ready_s=checks.number(spec, "ready_s", where, 1.0, MAX_DURATION_S) or 0.0,
            running_s=checks.number(spec, "running_s", where, 5.0, MAX_DURATION_S) or 0.0,
            status=checks.text(spec, "status", where, None),
            server_name=checks.text(spec, "server_name", where, "ecs-demo"),
            keypair_name=checks.text(spec, "keypair_name", where, "kp-demo"),
            faults=[Fault.parse(f, f"{where}.faults[{i}]") for i, f in enumerate(faults)],
            created_at=now,
            operate_type=checks.text(spec, "operate_type", where, None),
            error_code=checks.nullable_text(spec, "error_code", where, DEFAULT_ERROR_CODE),
            error_msg=checks.text(spec, "error_msg", where, None),
            in_list=typed(spec, "listed", bool, where, True),
        )

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

    def start(self, now: float) -> None:
        """Start the clock, if it has not started (a first query)."""
        if self.created_at is None:
            self.created_at = now

    @property
    def never_finishes(self) -> bool:
        """Stays in flight (or in a status nobody knows) for ever, whatever the clock says."""
        if self.status is not None:
            return not self.status.startswith(("SUCCESS_", "FAILED_"))
        return self.outcome == "never"

    def listed(self, started_wall: float, failed: bool) -> dict[str, Any]:
        """An item of running-tasks or failed-tasks; task_time is epoch milliseconds, as a string.
        operate_type has the form of the API's examples: RUNNING_RESET, FAILED_REPLACE."""
        suffix = self.status.rpartition("_")[2] if self.status else self.operation.upper()
        operation = suffix.lower()
        item: dict[str, Any] = {
            "task_id": self.task_id,
            "operate_type": self.operate_type or f"{'FAILED' if failed else 'RUNNING'}_{suffix}",
            "task_time": str(int(started_wall * 1000)),
            "server_name": self.server_name,
            "server_id": self.server_id,
            "keypair_name": self.keypair_name,
        }
        if failed:
            item["task_error_code"] = self.error_code
            item["task_error_msg"] = self.error_msg or f"Failed to {operation} the key pair: the server did not answer."
        return item

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "server_id": self.server_id,
            "operation": self.operation,
            "outcome": self.outcome,
            "task_status": self.status_at(now),
            "clock_started": self.created_at is not None,
            "requests": self.requests,
        }


SCENARIO_KEYS = (
    "project_id",
    "token",
    "tasks",
    "faults",
    "seed",
    "auth",
    "access_keys",
    "users",
    "token_ttl_s",
    "clock",
    "keyless",
    "quota",
)


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
    clock: str = "start"  # when task clocks start: one of CLOCKS
    keyless: KeylessSpec = field(default_factory=KeylessSpec)  # the credential services besides the API
    quota: int | None = None  # API requests a second, project-wide; more in 1 s get 429 APIGW.0308

    @classmethod
    def parse(cls, spec: Any, now: float | None = None) -> Scenario:
        top = "top level"
        spec = check_keys(spec, set(SCENARIO_KEYS), top)
        if spec.get("auth", "token") not in ("token", "any"):
            raise fail(top, "auth must be token or any")
        clock = spec.get("clock", "start")
        if clock not in CLOCKS:
            raise fail(top, f"clock must be one of {', '.join(CLOCKS)}")
        if clock == "first_query":
            now = None  # each task's clock waits for its first query
        tasks = typed(spec, "tasks", list, top, [])
        faults = typed(spec, "faults", list, top, [])
        scenario = cls(
            project_id=checks.project_id(typed(spec, "project_id", str, top, DEFAULT_PROJECT), top),
            token=checks.token(typed(spec, "token", str, top, DEFAULT_TOKEN), top),
            tasks=[SimTask.parse(t, f"tasks[{i}]", now) for i, t in enumerate(tasks)],
            faults=[Fault.parse(f, f"faults[{i}]") for i, f in enumerate(faults)],
            seed=typed(spec, "seed", int, top, None),
            auth=spec.get("auth", "token"),
            access_keys=[
                checks.strings(k, f"access_keys[{i}]", {"access_key", "secret_key"}, {"security_token"})
                for i, k in enumerate(typed(spec, "access_keys", list, top, []))
            ],
            users=[
                checks.strings(u, f"users[{i}]", {"name", "domain", "password"}, set())
                for i, u in enumerate(typed(spec, "users", list, top, []))
            ],
            token_ttl_s=checks.number(spec, "token_ttl_s", top, 86400.0, MAX_DURATION_S) or 0.0,
            clock=clock,
            keyless=KeylessSpec.parse(spec.get("keyless", {})),
            quota=checks.quota(spec, top),
        )
        ids = [task.task_id for task in scenario.tasks]
        if len(set(ids)) != len(ids):
            raise fail("tasks", "task ids must be unique")
        return scenario


def load_scenario(path: str, now: float | None = None) -> Scenario:
    """Read a JSON or TOML scenario file; a clear usage error if it is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read scenario {path!r}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.endswith(".toml"):
        from kpstask.settings.config import toml

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
    spec: dict[str, Any] = {
        "clock": "first_query",  # `kpstask simulate` now, `kpstask wait` later: the states still go by
        "tasks": [
            {"id": "demo-bind-ok", "operation": "bind", "ready_s": 0.5, "running_s": 2},
            {"id": "demo-replace-ok", "operation": "replace", "ready_s": 1, "running_s": 4},
            {"id": "demo-reset-ok", "operation": "reset", "ready_s": 1, "running_s": 6},
            {"id": "demo-unbind-failed", "operation": "unbind", "outcome": "failed", "ready_s": 1, "running_s": 3},
            # As in the API's own example of a failed-task record: no code, only a message.
            {
                "id": "demo-reset-failed",
                "operation": "reset",
                "outcome": "failed",
                "ready_s": 1,
                "running_s": 5,
                "error_code": None,
                "error_msg": "Update public key error",
            },
            {"id": "demo-bind-stuck", "operation": "bind", "outcome": "never", "ready_s": 1},
            {
                "id": "demo-flaky",
                "operation": "replace",
                "ready_s": 1,
                "running_s": 3,
                "faults": [{"type": "status", "statuses": [503, 429], "retry_after": 0}],
            },
        ],
    }
    for i, task in enumerate(spec["tasks"]):
        task["server_id"] = f"c9aa197b-a6b6-4c33-b3a6-fa0b4ec5{i:04d}"
        task["server_name"] = f"ecs-demo-{i}"
    # Every kind of credential works against the demo set (documented in the README).
    spec["access_keys"] = [{"access_key": DEMO_ACCESS_KEY, "secret_key": DEMO_SECRET_KEY}]
    spec["users"] = [{"name": DEMO_USER, "domain": DEMO_DOMAIN, "password": DEMO_PASSWORD}]
    return Scenario.parse(spec, now)
