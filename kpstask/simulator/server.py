"""A local stand-in for the KPS API over real HTTP, with injectable faults.

Start it in-process (`Simulator(...).start()`) or from the command line
(`kpstask simulate`). The answer shapes live in `replies`, the credentials
checks in `auth`, the HTTP server and handler in `wire`, the keyless credential
services (metadata, OIDC, STS) in `services` and the modules it routes to; this
module holds the simulator's state, the API's answers and the control surface.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kpstask.errors import KpsError
from kpstask.simulator import checks, services
from kpstask.simulator.auth import Gate
from kpstask.simulator.issuer import Issuer, token_request
from kpstask.simulator.replies import (
    API_NOT_FOUND,
    FAILED_NOT_FOUND,
    FAILED_PATH,
    LIST_PATH,
    TASK_NOT_FOUND,
    TASK_PATH,
    Reply,
    Request,
    fault_reply,
    gateway_reply,
    json_reply,
    over_quota,
)
from kpstask.simulator.scenario import Fault, Scenario, SimTask
from kpstask.simulator.tasklist import TaskIndex
from kpstask.simulator.wire import (
    IDLE_TIMEOUT_S,
    MAX_CONNECTIONS,
    _Handler,  # noqa: F401 - its old home; tests import it from here
    make_server,
)


class Simulator:
    """The KPS task API on a local port. Thread-safe; the clock is injectable."""

    def __init__(
        self,
        scenario: Scenario,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
        wall: Callable[[], float] = time.time,
        idle_timeout: float | None = IDLE_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.wall = wall  # for X-Sdk-Date and token expiry, which are wall-clock times
        self._gate = Gate(scenario, wall)  # the gateway's credentials checks and the simulated IAM
        self._issuer = Issuer(self._gate)  # the keyless credential services: metadata, OIDC, STS
        if scenario.clock == "start":  # tasks start their clocks when the simulator does
            for task in scenario.tasks:
                task.start(clock())
        self.log = log
        # (method, path, status or fault action, arrival on the clock), the newest last
        self.requests: list[tuple[str, str, int | str, float]] = []
        self._random = random.Random(scenario.seed)  # noqa: S311 - fault dice, not secrets
        self._global_requests = 0
        self.faults_served = 0  # answers a fault replaced (latency aside)
        self.throttled = 0  # API requests the quota refused (429 APIGW.0308)
        self._window: deque[float] = deque()  # when the API requests the quota let through in the last second came
        self._index = TaskIndex()  # tasks by id, and the running list, without a scan per request
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        # A connection idle for idle_timeout seconds is closed; at most max_connections are served at once.
        self._server = make_server(host, port, self, idle_timeout, max_connections)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """A URL a local client can use (a wildcard bind is reached over loopback)."""
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - compared, not bound
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> str:
        """Serve in a background thread; returns the base URL."""
        # A short poll interval makes stop() quick; the idle cost is a wake-up every 50 ms.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="kps-simulator", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving; a hanging answer is released."""
        self.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.close_connections()  # a client keeping a connection open does not hold up the stop
        self._server.server_close()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control, from Python or over /_sim/ ------------------------------------

    def add_task(self, spec: dict[str, Any], *, first_query: bool = False) -> SimTask:
        """Add (or replace) a task; `first_query` starts its clock at its first query, whatever
        the scenario's clock says (a test whose process may start slowly still sees it run)."""
        with self._lock:
            started = self.clock() if self.scenario.clock == "start" and not first_query else None
            task = SimTask.parse(spec, "task", started)
            self.scenario.tasks = [t for t in self.scenario.tasks if t.task_id != task.task_id] + [task]
            return task

    def remove_task(self, task_id: str) -> bool:
        with self._lock:
            before = len(self.scenario.tasks)
            self.scenario.tasks = [t for t in self.scenario.tasks if t.task_id != task_id]
            return len(self.scenario.tasks) < before

    def set_faults(self, faults: list[Any], task_id: str | None = None) -> None:
        parsed = [Fault.parse(f, f"faults[{i}]") for i, f in enumerate(faults)]
        with self._lock:
            if task_id is None:
                self.scenario.faults = parsed
                self._global_requests = 0
                return
            task = self._find(task_id)
            if task is None:
                raise KeyError(task_id)
            task.faults = parsed
            task.requests = 0

    def set_token(self, token: str) -> None:
        checks.token(token, "token")
        with self._lock:
            self.scenario.token = token

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            return {
                "project_id": self.scenario.project_id,
                "tasks": [task.describe(now) for task in self.scenario.tasks],
                "requests": len(self.requests),
                "throttled": self.throttled,
            }

    def expire_tokens(self) -> int:
        """Every token and temporary key the simulator issued stops working (as after a password change)."""
        with self._lock:
            return self._gate.expire_tokens()

    def issue_id_token(
        self, audience: str | None = None, ttl_s: float | None = None, subject: str | None = None
    ) -> str:
        """An ID token of the simulated identity provider (default audience: the first of `client_ids`);
        a negative `ttl_s` makes one that has already expired."""
        audience, ttl, subject = token_request({"audience": audience, "ttl_s": ttl_s, "subject": subject})
        with self._lock:
            return self._issuer.id_token(audience, ttl, subject)

    def keyless_issued(self) -> dict[str, int]:
        """How many metadata and STS credentials, federation tokens, ID tokens and session tokens were issued."""
        with self._lock:
            return dict(self._issuer.counts)

    @property
    def _issued(self) -> dict[str, float]:
        """Tokens the simulated IAM gave out -> their expiry on the wall clock."""
        return self._gate.issued

    def _find(self, task_id: str) -> SimTask | None:
        return self._index.find(self.scenario.tasks, task_id)

    def _start_clock(self, task: SimTask, now: float) -> None:
        """A first query starts a `first_query` clock; the running list then knows when it ends."""
        if task.created_at is None:
            task.start(now)
            self._index.started(self.scenario.tasks, task)

    # -- the API -------------------------------------------------------------------

    def answer(self, request: Request) -> tuple[Reply, float]:
        """The reply to an API request, and the latency to add before it."""
        method, path = request.method, request.path
        with self._lock:
            if (method, path) == ("POST", "/v3/auth/tokens"):
                return self._gate.login(request), 0.0
            keyless = services.route(self._issuer, request)
            if keyless is not None:  # a credential service, not the KPS API: no gateway, no faults
                return keyless, 0.0
            number = self._global_requests
            self._global_requests += 1
            refused = self._gate.check(request) or self._over_quota(path)
            if refused is not None:
                return refused, 0.0
            if LIST_PATH.match(path) or FAILED_PATH.match(path):
                delay, reply = self._apply_faults(self.scenario.faults, number, None)
                return reply or self._task_lists(request), delay
            match = TASK_PATH.match(path)
            if method != "GET" or match is None:
                return gateway_reply(404, API_NOT_FOUND), 0.0
            return self._task(match.group(1), match.group(2), number)

    def _task(self, project_id: str, task_id: str, number: int) -> tuple[Reply, float]:
        """`GET /v3/{project_id}/tasks/{task_id}`: the global faults, the task's own, or its status."""
        task = self._find(task_id) if project_id == self.scenario.project_id else None
        delay, reply = self._apply_faults(self.scenario.faults, number, task)
        if task is not None:
            self._start_clock(task, self.clock())
            task_number = task.requests
            task.requests += 1
            if reply is None:
                more, reply = self._apply_faults(task.faults, task_number, task)
                delay += more
        if reply is not None:
            return reply, delay
        if task is None:
            return json_reply(400, TASK_NOT_FOUND), delay
        status = {"task_id": task.task_id, "task_status": task.status_at(self.clock()), "server_id": task.server_id}
        return json_reply(200, status), delay

    def _over_quota(self, path: str) -> Reply | None:
        """The gateway's throttling: past `quota` API requests in the last second (all clients
        together, a sliding window), the next gets 429 APIGW.0308 and never reaches the service."""
        limit = self.scenario.quota
        if limit is None or not any(route.match(path) for route in (TASK_PATH, LIST_PATH, FAILED_PATH)):
            return None
        now = self.clock()
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= limit:
            self.throttled += 1
            return gateway_reply(429, over_quota(limit))
        self._window.append(now)
        return None

    def _task_lists(self, request: Request) -> Reply:
        """running-tasks and failed-tasks, paged with limit/offset; deleting failed-task records."""
        listing, one = LIST_PATH.match(request.path), FAILED_PATH.match(request.path)
        project = (listing or one).group(1)  # type: ignore[union-attr]
        if project != self.scenario.project_id:
            return json_reply(400, {"error_code": "KPS.0002", "error_msg": "The project id is invalid."})
        now = self.clock()
        if request.method == "DELETE":
            failed = self._failed(now)
            if one is None and listing is not None and listing.group(2) == "failed":
                for each in failed:
                    each.cleared = True
                return Reply(200, b"")
            found = next((t for t in failed if one is not None and t.task_id == one.group(2)), None)
            if found is None:
                return json_reply(400, FAILED_NOT_FOUND)
            found.cleared = True
            return Reply(200, b"")
        if request.method != "GET" or listing is None:
            return gateway_reply(404, API_NOT_FOUND)
        query = dict(request.query)
        try:
            limit, offset = int(query.get("limit", "1000")), int(query.get("offset", "0"))
        except ValueError:
            return json_reply(400, {"error_code": "KPS.0002", "error_msg": "limit and offset must be integers"})
        if not 0 < limit <= 1000 or offset < 0:
            return json_reply(400, {"error_code": "KPS.0002", "error_msg": "limit or offset out of range"})
        if listing.group(2) == "running":
            total, paged = self._index.running(self.scenario.tasks, now)
            shown = paged(offset, limit)
        else:
            failed = self._failed(now)
            total, shown = len(failed), failed[offset : offset + limit]
        for task in shown:  # listed is queried: a `first_query` clock starts (or the list would never end)
            self._start_clock(task, now)
        page = [t.listed(self._started_wall(t, now), failed=listing.group(2) == "failed") for t in shown]
        return json_reply(200, {"total": total, "tasks": page})

    def _failed(self, now: float) -> list[SimTask]:
        """The failed-tasks list: failed tasks whose record was not deleted."""
        return [t for t in self.scenario.tasks if t.status_at(now).startswith("FAILED") and not t.cleared]

    def _started_wall(self, task: SimTask, now: float) -> float:
        """When the task started, on the wall clock (task_time)."""
        return self.wall() - (now - (task.created_at if task.created_at is not None else now))

    def _apply_faults(self, faults: list[Fault], number: int, task: SimTask | None) -> tuple[float, Reply | None]:
        delay = 0.0
        for fault in faults:
            if not fault.applies(number) or self._random.random() >= fault.probability:
                continue
            if fault.type == "latency":
                delay += fault.seconds
                continue
            self.faults_served += 1
            return delay, fault_reply(fault, number, task, self.clock())
        return delay, None

    def record(self, method: str, path: str, status: int | str, client: str, arrived: float) -> None:
        with self._lock:
            self.requests.append((method, path, status, arrived))
            del self.requests[:-100_000]
        if self.log is not None:
            self.log(f"{client} {method} {path} -> {status}")

    # -- the control surface, /_sim/ -------------------------------------------------

    def control(self, method: str, route: str, raw: bytes) -> Reply:
        """A control request; a bad one gets 400 and a JSON error, never a dropped connection."""
        try:
            body = _json_body(raw) if method in ("POST", "PUT") else None
            return self._control_route(method, route, body)
        except (ValueError, KeyError, TypeError, OverflowError, KpsError) as exc:
            return json_reply(400, {"error": str(exc)})

    def _control_route(self, method: str, route: str, body: Any) -> Reply:
        parts = route.split("/")
        if (method, route) == ("GET", "tasks"):
            return json_reply(200, self.snapshot())
        if (method, route) == ("POST", "tasks"):
            task = self.add_task(body)
            return json_reply(201, task.describe(self.clock()))
        if method == "DELETE" and len(parts) == 2 and parts[0] == "tasks":
            found = self.remove_task(parts[1])
            return json_reply(200 if found else 404, {"removed": found})
        if (method, route) == ("PUT", "faults"):
            self.set_faults(_faults_of(body))
            return json_reply(200, {"faults": len(self.scenario.faults)})
        if method == "PUT" and len(parts) == 3 and parts[0] == "tasks" and parts[2] == "faults":
            try:
                self.set_faults(_faults_of(body), task_id=parts[1])
            except KeyError:
                return json_reply(404, {"error": f"no task {parts[1]}"})
            return json_reply(200, {"task_id": parts[1]})
        if (method, route) == ("POST", "tokens/expire"):
            return json_reply(200, {"expired": self.expire_tokens()})
        if (method, route) == ("POST", "oidc/token"):
            return json_reply(200, {"id_token": self.issue_id_token(*token_request(body))})
        if (method, route) == ("PUT", "token"):
            if not isinstance(body, dict) or not isinstance(body.get("token"), str):
                raise ValueError('expected {"token": "..."}')
            self.set_token(body["token"])
            return json_reply(200, {"token": "changed"})
        return json_reply(404, {"error": f"no control route {method} /_sim/{route}"})


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except RecursionError:  # `[[[[...` deeper than the parser goes
        raise ValueError("the body is nested too deeply") from None


def _faults_of(body: Any) -> list[Any]:
    faults = body.get("faults") if isinstance(body, dict) else body
    if not isinstance(faults, list):
        raise ValueError('expected {"faults": [...]}')
    return faults
