"""The simulator's project-wide quota (`quota`, requests a second: 429 APIGW.0308 above it,
all clients together) and tasks left out of the running list (`listed: false`); and `get`
against a quota, adapting its rate. The simulator's clock is faked: no test sleeps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kpstask.api.client import KpsClient
from kpstask.api.policy import Interval
from kpstask.api.rate import RateLimiter
from kpstask.api.transport import Transport
from kpstask.auth.credentials import TokenAuth
from kpstask.choices import Pace
from kpstask.errors import ExitCode, UsageError, worst
from kpstask.models import TaskResult
from kpstask.settings import BY_NAME, FLAG, Found
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator, load_scenario
from kpstask.wait.asking import Asker, PerTask
from tests.conftest import CANARY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def simulator(fake: Clock, **spec: Any) -> Simulator:
    tasks = spec.pop("tasks", [{"id": "t1"}, {"id": "t2"}])
    return Simulator(Scenario.parse({"token": CANARY, "tasks": tasks, **spec}, now=fake()), clock=fake)


@pytest.fixture
def limited(clock: Clock) -> Iterator[Simulator]:
    with simulator(clock, quota=3) as sim:
        yield sim


def get(sim: Simulator, path: str, session: Any = requests) -> requests.Response:
    return session.get(f"{sim.url}{path}", headers={"X-Auth-Token": CANARY}, timeout=5)  # type: ignore[no-any-return]


TASK = f"/v3/{DEFAULT_PROJECT}/tasks/t1"
RUNNING = f"/v3/{DEFAULT_PROJECT}/running-tasks"
FAILED = f"/v3/{DEFAULT_PROJECT}/failed-tasks"


# -- the quota ----------------------------------------------------------------------------


def test_above_the_quota_the_gateway_says_apigw_0308(limited: Simulator) -> None:
    assert [get(limited, TASK).status_code for _ in range(3)] == [200, 200, 200]
    refused = get(limited, TASK)
    assert refused.status_code == 429
    body = refused.json()
    assert body == {
        "error_code": "APIGW.0308",
        "error_msg": "The throttling threshold has been reached: policy user over ratelimit,limit:3,time:1 second",
        "request_id": refused.headers["X-Request-Id"],  # the gateway's shape: its request id in the body too
    }
    assert "Retry-After" not in refused.headers
    assert limited.snapshot()["throttled"] == 1
    assert limited.requests[-1][2] == 429


def test_the_window_slides_on_the_simulators_clock(limited: Simulator, clock: Clock) -> None:
    for offset in (0.0, 0.4, 0.8):  # three in the window
        clock.now = 1000.0 + offset
        assert get(limited, TASK).status_code == 200
    clock.now = 1000.99
    assert get(limited, TASK).status_code == 429  # refused requests do not count
    clock.now = 1001.0  # the first has left the window
    assert get(limited, TASK).status_code == 200
    assert get(limited, TASK).status_code == 429
    clock.now = 1001.4
    assert get(limited, TASK).status_code == 200
    assert limited.snapshot()["throttled"] == 2


def test_the_quota_is_shared_by_every_client(limited: Simulator) -> None:
    first, second = requests.Session(), requests.Session()  # two connections, as two processes have
    try:
        assert get(limited, TASK, first).status_code == 200
        assert get(limited, RUNNING, second).status_code == 200  # the lists count too
        assert get(limited, FAILED, first).status_code == 200
        assert get(limited, TASK, second).status_code == 429
        assert get(limited, RUNNING, first).status_code == 429
    finally:
        first.close()
        second.close()
    assert limited.snapshot()["throttled"] == 2


def test_control_routes_and_credential_services_are_outside_the_quota(limited: Simulator) -> None:
    for _ in range(3):
        get(limited, TASK)
    assert get(limited, TASK).status_code == 429
    assert requests.get(f"{limited.url}/_sim/tasks", timeout=5).status_code == 200
    token = requests.put(f"{limited.url}/meta-data/latest/api/token", timeout=5)  # the ECS metadata service
    assert token.status_code == 200
    assert limited.snapshot()["throttled"] == 1


def test_a_throttled_request_never_reaches_the_service(clock: Clock) -> None:
    with simulator(clock, quota=1, clock="first_query") as sim:
        assert get(sim, f"/v3/{DEFAULT_PROJECT}/tasks/t2").status_code == 200
        assert get(sim, TASK).status_code == 429
        tasks = {task["task_id"]: task for task in sim.snapshot()["tasks"]}
        assert (tasks["t1"]["requests"], tasks["t1"]["clock_started"]) == (0, False)
        assert (tasks["t2"]["requests"], tasks["t2"]["clock_started"]) == (1, True)


def test_without_a_quota_nothing_is_throttled(clock: Clock) -> None:
    with simulator(clock) as sim:
        assert {get(sim, TASK).status_code for _ in range(50)} == {200}
        assert sim.snapshot()["throttled"] == 0


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (-1, "quota must be a whole number of requests per second, from 1 to 1000000000"),
        (0, "from 1 to"),
        (2.5, "whole number"),
        (float("nan"), "whole number"),
        (float("inf"), "whole number"),
        (10**30, "whole number"),
        ("10", "quota has the wrong type"),
        (True, "quota has the wrong type"),
    ],
)
def test_a_bad_quota_is_a_usage_error(value: object, words: str) -> None:
    with pytest.raises(UsageError) as info:
        Scenario.parse({"quota": value})
    assert info.value.message.startswith("scenario: top level: ")
    assert words in info.value.message


def test_a_quota_from_json_and_toml(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"quota": 10.0}), encoding="utf-8")
    (tmp_path / "s.toml").write_text("quota = 7\n", encoding="utf-8")
    assert load_scenario(str(tmp_path / "s.json")).quota == 10
    assert load_scenario(str(tmp_path / "s.toml")).quota == 7
    assert Scenario.parse({}).quota is None
    assert Scenario.parse({"quota": None}).quota is None  # JSON null: no quota, as leaving it out


# -- listed: false ------------------------------------------------------------------------


def test_an_unlisted_task_is_missing_from_the_running_list_only(clock: Clock) -> None:
    tasks = [
        {"id": "seen", "running_s": 100},
        {"id": "gap", "running_s": 100, "listed": False},
        {"id": "broke", "outcome": "failed", "ready_s": 0, "running_s": 0, "listed": False},
    ]
    with simulator(clock, tasks=tasks) as sim:
        running = get(sim, RUNNING).json()
        assert (running["total"], [task["task_id"] for task in running["tasks"]]) == (1, ["seen"])
        assert get(sim, f"/v3/{DEFAULT_PROJECT}/tasks/gap").json()["task_status"] == "READY_RESET"
        assert [task["task_id"] for task in get(sim, FAILED).json()["tasks"]] == [
            "broke"
        ]  # the failed list is unaffected


def test_listed_must_be_true_or_false() -> None:
    with pytest.raises(UsageError, match=r"scenario: tasks\[0\] \(task t1\): listed has the wrong type"):
        Scenario.parse({"tasks": [{"id": "t1", "listed": "no"}]})
    assert Scenario.parse({"tasks": [{"id": "t1"}]}).tasks[0].in_list


# -- get against a quota --------------------------------------------------------------------


def ask_all(sim: Simulator, clock: Clock, ids: list[str]) -> tuple[list[TaskResult], RateLimiter]:
    """`kpstask get` as run_get builds it (PerTask, Asker, the transport's 3 retries), one request
    at a time, on the simulator's fake clock."""
    transport = Transport(sim.url, retry=Interval.exponential(), sleep=clock.sleep, rand=lambda: 0.5, clock=clock)
    client = KpsClient(transport, DEFAULT_PROJECT, TokenAuth(CANARY, Found(BY_NAME["token"], CANARY, "--token", FLAG)))
    asker = Asker(PerTask(client, None), Pace(max_rate=10.0, concurrency=1), clock=clock, sleep=clock.sleep)
    try:
        return list(asker(ids)), asker.limiter
    finally:
        client.transport.close()


def test_get_adapts_to_a_quota_below_its_cap(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [f"t{i}" for i in range(200)]
    tasks = [{"id": task_id, "ready_s": 0, "running_s": 0} for task_id in ids]
    with simulator(clock, tasks=tasks, quota=4) as sim:
        results, limiter = ask_all(sim, clock, ids)
        adaptive = sim.snapshot()["throttled"]
    assert [result.task_id for result in results] == ids
    assert all(result.task is not None for result in results)
    assert worst(result.exit_code for result in results) is ExitCode.OK
    assert limiter.cuts >= 1 and limiter.rate < 10.0
    # The same get with a rate that never adapts: every other request throttled.
    monkeypatch.setattr(RateLimiter, "throttled", lambda self, now: None)
    clock.now = 5000.0
    with simulator(clock, tasks=tasks, quota=4) as sim:
        ask_all(sim, clock, ids)
        fixed = sim.snapshot()["throttled"]
    assert adaptive * 3 < fixed
    assert adaptive <= 0.15 * len(ids)
