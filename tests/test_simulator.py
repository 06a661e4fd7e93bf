"""The simulator on its own: scenarios, the task clock, faults, the control surface."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kpstask.errors import UsageError
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator, default_scenario, load_scenario
from kpstask.simulator.scenario import Fault, SimTask
from tests.conftest import CANARY, fake_run, invoke


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
    faults = requests.put(
        f"{sim.url}/_sim/tasks/t2/faults", json={"faults": [{"type": "status", "status": 503}]}, timeout=5
    )
    assert faults.status_code == 200
    assert api(sim, "t2").status_code == 503
    requests.put(
        f"{sim.url}/_sim/faults", json={"faults": [{"type": "status", "statuses": [429], "retry_after": 3}]}, timeout=5
    )
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
)
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
    proc = subprocess.Popen(
        [str(kpstask), "simulate", "--port", "0", "-q", "--scenario", str(scenario)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
        script = "".join(lines) + 'printf %s "$KPSTASK_TOKEN"'
        assert subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout == "a b$c'd"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the lists: operate_type in the API's forms, failure reasons -----------------------------


def items(sim: Simulator, kind: str) -> dict[str, dict[str, object]]:
    answer = requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/{kind}-tasks", headers={"X-Auth-Token": CANARY}, timeout=5)
    return {str(item["task_id"]): item for item in answer.json()["tasks"]}


def test_operate_type_has_the_apis_forms(clock: FakeClock) -> None:
    tasks = [
        {"id": "run", "operation": "unbind", "outcome": "never", "ready_s": 0},
        {"id": "ready", "operation": "bind", "ready_s": 100},  # READY is in the running list too
        {"id": "bad", "operation": "replace", "outcome": "failed", "ready_s": 0, "running_s": 1},
        {"id": "fixed", "status": "FAILED_BIND"},
        {"id": "plain", "operation": "reset", "outcome": "never", "operate_type": "RESET"},
    ]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks}, now=clock()), clock=clock) as sim:
        clock.now += 2
        running = {task_id: item["operate_type"] for task_id, item in items(sim, "running").items()}
        failed = {task_id: item["operate_type"] for task_id, item in items(sim, "failed").items()}
    assert running == {"run": "RUNNING_UNBIND", "ready": "RUNNING_BIND", "plain": "RESET"}
    assert failed == {"bad": "FAILED_REPLACE", "fixed": "FAILED_BIND"}


@pytest.mark.parametrize(
    ("form", "operation"),
    [
        ("RESET", "reset"),
        ("REPLACE", "replace"),
        ("UNBIND", "unbind"),
        ("BIND", "bind"),
        ("reset", "reset"),
        ("RUNNING_RESET", "reset"),
        ("READY_BIND", "bind"),
        ("FAILED_UNBIND", "unbind"),
        ("FAILED_REPLACE", "replace"),
        ("SUCCESS_BIND", "bind"),
        ("ROTATE", None),
        ("", None),
    ],
)
def test_kpstask_reads_every_operate_type_form(form: str, operation: str | None) -> None:
    from kpstask.models import ListedTask

    assert ListedTask({"task_id": "t", "operate_type": form}).operation == operation


def test_a_task_failing_on_its_clock_is_listed_with_its_reason(clock: FakeClock) -> None:
    """What `get`/`wait` look up to say why a task failed: code and message, per task, with defaults."""
    tasks = [
        {"id": "plain", "operation": "unbind", "outcome": "failed", "ready_s": 1, "running_s": 2},
        {"id": "told", "outcome": "failed", "error_code": "KPS.2010", "error_msg": "The ECS is not running."},
        {"id": "no-code", "outcome": "failed", "error_code": None, "error_msg": "Update public key error"},
        {"id": "later", "outcome": "failed", "ready_s": 100},
    ]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks}, now=clock()), clock=clock) as sim:
        assert items(sim, "failed") == {}
        clock.now += 10
        assert api(sim, "plain").json()["task_status"] == "FAILED_UNBIND"
        failed = items(sim, "failed")
    reasons = {task_id: (item["task_error_code"], item["task_error_msg"]) for task_id, item in failed.items()}
    assert reasons == {
        "plain": ("KPS.0003", "Failed to unbind the key pair: the server did not answer."),
        "told": ("KPS.2010", "The ECS is not running."),
        "no-code": (None, "Update public key error"),
    }


def test_failure_reasons_in_toml_and_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[[tasks]]\nid = "a"\nerror_code = ""\nerror_msg = "why"\n')  # TOML has no null
    task = load_scenario(str(path)).tasks[0]
    assert (task.error_code, task.error_msg) == (None, "why")
    for bad in ({"error_code": 5}, {"error_msg": 5}, {"error_msg": "a\nb"}, {"operate_type": ["RESET"]}):
        with pytest.raises(UsageError, match="scenario"):
            Scenario.parse({"tasks": [{"id": "a", **bad}]})


def test_the_demo_set_has_a_failed_task_with_no_code(clock: FakeClock) -> None:
    with Simulator(default_scenario(), clock=clock) as sim:
        headers = {"X-Auth-Token": sim.scenario.token}
        for task_id in ("demo-reset-failed", "demo-unbind-failed"):
            requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/tasks/{task_id}", headers=headers, timeout=5)
        clock.now += 10
        answer = requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/failed-tasks", headers=headers, timeout=5).json()
    codes = {item["task_id"]: item["task_error_code"] for item in answer["tasks"]}
    assert codes == {"demo-reset-failed": None, "demo-unbind-failed": "KPS.0003"}


@pytest.fixture
def no_code(clock: FakeClock) -> Iterator[Simulator]:
    tasks = [
        {
            "id": "no-code",
            "operation": "reset",
            "status": "FAILED_RESET",
            "error_code": None,
            "error_msg": "Update public key error",
            "server_id": "srv-1",
            "server_name": "ecs-1",
        },
        {"id": "coded", "status": "FAILED_BIND", "error_code": "KPS.0003", "error_msg": "no answer"},
    ]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks}), clock=clock) as sim:
        yield sim


def failed_list(sim: Simulator, output: str) -> str:
    env = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}
    result = invoke(["failed", "-o", output], env={**env, "COLUMNS": "200"}, obj=fake_run())
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stderr and "None" not in result.stdout
    return result.stdout


def test_a_null_error_code_in_json(no_code: Simulator) -> None:
    records = [json.loads(line) for line in failed_list(no_code, "json").splitlines()]
    assert records[0]["task_error_code"] is None  # as the API gave it
    assert records[0]["task_error_msg"] == "Update public key error"
    assert records[1]["task_error_code"] == "KPS.0003"


def test_a_null_error_code_in_tsv(no_code: Simulator) -> None:
    first, second = (line.split("\t") for line in failed_list(no_code, "tsv").splitlines())
    assert first[0] == "no-code" and first[6:] == ["-", "Update public key error"]  # an empty field is `-`
    assert second[6:] == ["KPS.0003", "no answer"]


def test_a_null_error_code_in_the_human_table(no_code: Simulator) -> None:
    lines = failed_list(no_code, "human").splitlines()
    row = next(line for line in lines if line.startswith("no-code"))
    assert row.rstrip().endswith("Update public key error")
    assert ": Update" not in row  # no empty code before the message
    assert next(line for line in lines if line.startswith("coded")).rstrip().endswith("KPS.0003: no answer")


# -- `kpstask simulate`'s task line, `kpstask demo` interrupted ---------------------------------


def test_the_tasks_line_marks_the_task_that_never_finishes() -> None:
    from kpstask.cli.sim import tasks_line

    assert tasks_line(default_scenario()) == (
        "demo-bind-ok demo-replace-ok demo-reset-ok demo-unbind-failed demo-reset-failed"
        " demo-bind-stuck (never finishes) demo-flaky"
    )
    fixed = [
        {"id": "odd", "status": "PAUSED_RESET"},
        {"id": "done", "status": "FAILED_RESET"},
        {"id": "stuck", "status": "RUNNING_BIND"},
        {"id": "slow", "running_s": 1e6},
    ]
    assert tasks_line(Scenario.parse({"tasks": fixed})) == "odd (never finishes) done stuck (never finishes) slow"
    assert tasks_line(Scenario.parse({})) == "(none)"


def test_simulate_prints_the_marked_tasks_line() -> None:
    kpstask = Path(sys.executable).with_name("kpstask")
    proc = subprocess.Popen(
        [str(kpstask), "simulate", "--port", "0", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        lines = [proc.stdout.readline() for _ in range(6)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines[-1] == "# ready\n"
    assert lines[-2].startswith("# tasks: demo-bind-ok ")
    assert " demo-bind-stuck (never finishes) " in lines[-2]


KPSTASK = Path(sys.executable).with_name("kpstask")


def read_until(fd: int, marker: bytes, seen: bytes = b"", limit_s: float = 30) -> bytes:
    """Read `fd` until `marker` has come (the output so far); EOF or the time limit fails the test."""
    deadline = time.monotonic() + limit_s
    while marker not in seen:
        assert time.monotonic() < deadline, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pty whose child has gone
                chunk = b""
            assert chunk, seen.decode(errors="replace")
            seen += chunk
    return seen


def read_to_end(fd: int, seen: bytes) -> bytes:
    while True:
        try:
            chunk = os.read(fd, 65536) if select.select([fd], [], [], 20)[0] else b""
        except OSError:
            chunk = b""
        if not chunk:
            return seen
        seen += chunk


@pytest.mark.parametrize(
    ("sent", "code", "words"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")]
)
def test_demo_reports_an_interrupt_once(sent: signal.Signals, code: int, words: str) -> None:
    proc = subprocess.Popen([str(KPSTASK), "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None and proc.stdout is not None
    try:
        seen = read_until(proc.stderr.fileno(), b"_BIND")  # the wait has started: a first status shown
        proc.send_signal(sent)
        stderr = read_to_end(proc.stderr.fileno(), seen).decode()
        assert proc.wait(timeout=20) == code
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    said = [f"kpstask: error: {words}"] if sent != signal.SIGINT else []  # Ctrl-C: the summary says it
    assert [line for line in stderr.splitlines() if line.startswith("kpstask: error:")] == said
    assert "interrupted: 5 not finished" in stderr  # the wait's own summary stays
    assert "Traceback" not in stderr


def test_demo_on_a_terminal_reports_ctrl_c_once() -> None:
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo on a terminal, with the live display
        os.execv(str(KPSTASK), ["kpstask", "demo", "--no-color"])
    try:
        _, _, rest = read_until(fd, b"$ kpstask wait").partition(b"$ kpstask wait")
        _, _, table = read_until(fd, b"ELAPSED", rest).partition(b"ELAPSED")  # the live table's header
        seen = read_until(fd, b"demo-flaky", table)  # the live table is drawn: the wait is under way
        os.kill(pid, signal.SIGINT)
        output = read_to_end(fd, seen).decode(errors="replace")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 130
    assert output.count("interrupted") == 1 and "kpstask: error: interrupted" not in output, output
    assert "Traceback" not in output
