"""The simulator on its own: scenarios, the task clock, faults, the control surface."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from kpstask.errors import UsageError
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator, default_scenario, load_scenario
from kpstask.simulator.scenario import Fault, SimTask
from tests.conftest import CANARY


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("operation", "outcome", "timeline"),
    [
        ("reset", "success", ["READY_RESET", "RUNNING_RESET", "RUNNING_RESET", "SUCCESS_RESET"]),
        ("replace", "failed", ["READY_REPLACE", "RUNNING_REPLACE", "RUNNING_REPLACE", "FAILED_REPLACE"]),
        ("bind", "success", ["READY_BIND", "RUNNING_BIND", "RUNNING_BIND", "SUCCESS_BIND"]),
        ("unbind", "never", ["READY_UNBIND", "RUNNING_UNBIND", "RUNNING_UNBIND", "RUNNING_UNBIND"]),
    ],
)
def test_tasks_move_through_states_on_the_clock(operation: str, outcome: str, timeline: list[str]) -> None:
    task = SimTask.parse(
        {"id": "t", "operation": operation, "outcome": outcome, "ready_s": 1, "running_s": 2}, "t", now=100.0
    )
    assert [task.status_at(100.0 + t) for t in (0.5, 1.0, 2.9, 3.0)] == timeline


def test_fixed_status_wins() -> None:
    task = SimTask.parse({"id": "t", "status": "WEIRD_THING"}, "t", now=0)
    assert task.status_at(1e9) == "WEIRD_THING"


def test_fault_windows() -> None:
    fault = Fault.parse({"type": "status", "statuses": [429, 500, 503], "after": 2}, "f")
    assert [fault.applies(n) for n in range(6)] == [False, False, True, True, True, False]
    assert [fault.status_for(n) for n in (2, 3, 4)] == [429, 500, 503]
    forever = Fault.parse({"type": "reset"}, "f")
    assert all(forever.applies(n) for n in range(50))


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"tasks": [{"id": "a", "operation": "rotate"}]}, "operation must be one of"),
        ({"tasks": [{"id": "a", "outcome": "maybe"}]}, "outcome must be one of"),
        ({"tasks": [{"operation": "reset"}]}, "id must be a non-empty string"),
        ({"tasks": [{"id": "a"}, {"id": "a"}]}, "unique"),
        ({"tasks": [{"id": "a", "colour": "red"}]}, "unknown key(s) colour"),
        ({"faults": [{"type": "explode"}]}, "type must be one of"),
        ({"faults": [{"type": "status"}]}, "needs status or statuses"),
        ({"faults": [{"type": "status", "status": 99}]}, "100 to 599"),
        ({"faults": [{"type": "latency", "seconds": "slow"}]}, "seconds has the wrong type"),
        ({"faults": [{"type": "latency", "seconds": -1}]}, "cannot be negative"),
        ({"tasks": "a"}, "tasks has the wrong type"),
        ([], "must be an object"),
    ],
)
def test_bad_scenarios_are_usage_errors(spec: object, words: str) -> None:
    with pytest.raises(UsageError, match="scenario") as info:
        Scenario.parse(spec)
    assert words in str(info.value)


def test_load_json_and_toml(tmp_path: Path) -> None:
    spec = {"token": "tok", "tasks": [{"id": "a", "operation": "bind"}], "faults": [{"type": "latency", "seconds": 1}]}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    (tmp_path / "s.toml").write_text(
        'token = "tok"\n[[tasks]]\nid = "a"\noperation = "bind"\n[[faults]]\ntype = "latency"\nseconds = 1\n'
    )
    for name in ("s.json", "s.toml"):
        scenario = load_scenario(str(tmp_path / name))
        assert scenario.token == "tok"
        assert scenario.tasks[0].operation == "bind"
        assert scenario.faults[0].seconds == 1.0


@pytest.mark.parametrize(
    ("name", "text", "words"), [("x.json", "{", "not valid JSON"), ("x.toml", "a =", "not valid TOML")]
)
def test_load_broken_files(tmp_path: Path, name: str, text: str, words: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(UsageError, match=words):
        load_scenario(str(tmp_path / name))
    with pytest.raises(UsageError, match="cannot read scenario"):
        load_scenario(str(tmp_path / "missing.json"))


def test_default_scenario_has_every_kind() -> None:
    scenario = default_scenario()
    assert {t.operation for t in scenario.tasks} == {"reset", "replace", "bind", "unbind"}
    assert {t.outcome for t in scenario.tasks} == {"success", "failed", "never"}


# -- over HTTP -----------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Simulator:
    scenario = Scenario.parse(
        {"token": CANARY, "tasks": [{"id": "t1", "operation": "bind", "ready_s": 1, "running_s": 2}]}, now=clock()
    )
    with Simulator(scenario, clock=clock) as running:
        yield running  # type: ignore[misc]


def api(sim: Simulator, task_id: str, token: str | None = CANARY, project: str = DEFAULT_PROJECT) -> requests.Response:
    headers = {"X-Auth-Token": token} if token else {}
    return requests.get(f"{sim.url}/v3/{project}/tasks/{task_id}", headers=headers, timeout=5)


def test_task_answers_follow_the_clock(sim: Simulator, clock: FakeClock) -> None:
    assert api(sim, "t1").json() == {"task_id": "t1", "task_status": "READY_BIND", "server_id": "server-t1"}
    clock.now += 1.5
    assert api(sim, "t1").json()["task_status"] == "RUNNING_BIND"
    clock.now += 5
    answer = api(sim, "t1")
    assert answer.json()["task_status"] == "SUCCESS_BIND"
    assert answer.headers["X-Request-Id"]


def test_api_errors_have_the_real_shapes(sim: Simulator) -> None:
    missing = api(sim, "nope")
    assert (missing.status_code, missing.json()) == (400, {"error_code": "KPS.0001", "error_msg": "taskId is illegal"})
    assert api(sim, "t1", project="f" * 32).status_code == 400
    no_token = api(sim, "t1", token=None)
    assert no_token.status_code == 401 and no_token.json()["error_code"] == "APIGW.0301"
    assert "request_id" in no_token.json()
    assert api(sim, "t1", token="wrong").status_code == 401
    other = requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/keypairs", headers={"X-Auth-Token": CANARY}, timeout=5)
    assert (other.status_code, other.json()["error_code"]) == (404, "APIGW.0101")
    for answer in (missing, no_token, other):
        assert answer.headers["X-Request-Id"]


def test_control_surface(sim: Simulator) -> None:
    added = requests.post(f"{sim.url}/_sim/tasks", json={"id": "t2", "status": "FAILED_RESET"}, timeout=5)
    assert added.status_code == 201
    assert api(sim, "t2").json()["task_status"] == "FAILED_RESET"
    faults = requests.put(f"{sim.url}/_sim/tasks/t2/faults", json={"faults": [{"type": "status", "status": 503}]},
                          timeout=5)  # fmt: skip
    assert faults.status_code == 200
    assert api(sim, "t2").status_code == 503
    requests.put(f"{sim.url}/_sim/faults", json={"faults": [{"type": "status", "statuses": [429], "retry_after": 3}]},
                 timeout=5)  # fmt: skip
    throttled = api(sim, "t1")
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert api(sim, "t1").status_code == 200  # the sequence is used up
    assert requests.delete(f"{sim.url}/_sim/tasks/t2", timeout=5).json() == {"removed": True}
    assert api(sim, "t2").status_code == 400
    requests.put(f"{sim.url}/_sim/token", json={"token": "rotated"}, timeout=5)
    assert api(sim, "t1").status_code == 401
    snapshot = requests.get(f"{sim.url}/_sim/tasks", timeout=5).json()
    assert [t["task_id"] for t in snapshot["tasks"]] == ["t1"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_sim/tasks", {"id": "x", "operation": "nope"}),
        ("PUT", "/_sim/faults", {"faults": [{"type": "boom"}]}),
        ("PUT", "/_sim/tasks/unknown/faults", {"faults": []}),
        ("PUT", "/_sim/token", {"token": 5}),
        ("GET", "/_sim/elsewhere", None),
    ],
)
def test_control_surface_errors(sim: Simulator, method: str, path: str, body: object) -> None:
    answer = requests.request(method, sim.url + path, json=body, timeout=5)
    assert answer.status_code in (400, 404)
    assert "error" in answer.json()


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ({"type": "truncated"}, lambda r: r.text.startswith('{"task_id"') and not r.text.endswith("}")),
        ({"type": "invalid_json"}, lambda r: r.status_code == 200 and r.text.startswith("{task_id")),
        ({"type": "wrong_types"}, lambda r: r.json()["task_id"] == 42),
        ({"type": "oversized"}, lambda r: len(r.content) > 1024 * 1024),
        ({"type": "unknown_status", "value": "ODD"}, lambda r: r.json()["task_status"] == "ODD"),
        ({"type": "not_found"}, lambda r: r.status_code == 400),
        ({"type": "unauthorized"}, lambda r: r.status_code == 401),
        ({"type": "status", "status": 502}, lambda r: r.status_code == 502 and "<html>" in r.text),
        ({"type": "body", "status": 200, "value": "hello"}, lambda r: r.text == "hello"),
    ],
)  # fmt: skip
def test_fault_answers(sim: Simulator, fault: dict[str, object], check: object) -> None:
    sim.set_faults([fault], task_id="t1")
    assert check(api(sim, "t1"))  # type: ignore[operator]


def test_connection_faults(sim: Simulator) -> None:
    sim.set_faults([{"type": "reset"}], task_id="t1")
    with pytest.raises(requests.ConnectionError):
        api(sim, "t1")
    sim.set_faults([{"type": "cut"}], task_id="t1")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api(sim, "t1")
    sim.set_faults([{"type": "hang"}], task_id="t1")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/tasks/t1", headers={"X-Auth-Token": CANARY}, timeout=0.2)


def test_nagle_is_off() -> None:
    """Without TCP_NODELAY each keep-alive answer waits ~40 ms for a delayed ACK."""
    from kpstask.simulator.server import _Handler

    assert _Handler.disable_nagle_algorithm is True
    assert _Handler.protocol_version == "HTTP/1.1"


def test_gateway_request_id_matches_the_header(sim: Simulator) -> None:
    answer = api(sim, "t1", token="wrong")
    assert answer.json()["request_id"] == answer.headers["X-Request-Id"]


def test_unknown_task_faults_is_404(sim: Simulator) -> None:
    answer = requests.put(f"{sim.url}/_sim/tasks/nope/faults", json={"faults": []}, timeout=5)
    assert (answer.status_code, answer.json()) == (404, {"error": "no task nope"})


def test_probability_faults_are_seeded() -> None:
    def hits(seed: int) -> list[int]:
        scenario = Scenario.parse(
            {
                "token": CANARY,
                "seed": seed,
                "tasks": [{"id": "t1", "status": "RUNNING_RESET"}],
                "faults": [{"type": "status", "status": 503, "probability": 0.3}],
            }
        )
        with Simulator(scenario) as running, requests.Session() as session:
            url = f"{running.url}/v3/{DEFAULT_PROJECT}/tasks/t1"
            return [session.get(url, headers={"X-Auth-Token": CANARY}, timeout=5).status_code for _ in range(100)]

    first = hits(3)
    assert first == hits(3)
    assert 15 <= first.count(503) <= 45


def test_shell_quoted_exports(tmp_path: Path) -> None:
    import subprocess
    import sys

    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"token": "a b$c'd"}))
    kpstask = Path(sys.executable).with_name("kpstask")
    proc = subprocess.Popen([str(kpstask), "simulate", "--port", "0", "-q", "--scenario", str(scenario)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        script = "".join(lines) + 'printf %s "$KPSTASK_TOKEN"'
        assert subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout == "a b$c'd"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
