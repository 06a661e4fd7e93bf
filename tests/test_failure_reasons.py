"""Why a task failed: one pass over the failed-tasks list when a get or a wait ends with
failed tasks, the reason in every output; nothing more when the list cannot tell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from kpstask.errors import ApiError
from kpstask.failures import explained, failure_of, records
from kpstask.models import Failure, Task, TaskResult
from kpstask.simulator import Scenario, Simulator
from tests.conftest import CANARY, PROJECT, add_task, run
from tests.test_e2e import kpstask

MESSAGE = "Update public key error"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    tasks: list[dict[str, Any]] = [
        {
            "id": "reset-1",
            "server_id": "srv-1",
            "status": "FAILED_RESET",
            "error_code": "KPS.2019",
            "error_msg": "the server is stopped",
        },
        {"id": "bind-2", "server_id": "srv-2", "status": "FAILED_BIND", "error_code": None, "error_msg": MESSAGE},
        {"id": "ok-3", "server_id": "srv-3", "status": "SUCCESS_UNBIND"},
    ]
    tasks += [{"id": f"other-{i}", "status": "FAILED_REPLACE"} for i in range(30)]  # more records than one page
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as running:
        yield running


def failed_list_requests(sim: Simulator) -> int:
    return sum(1 for _, path, _, _ in sim.requests if path.endswith("/failed-tasks"))


def test_json_carries_the_failure_code_may_be_null(sim: Simulator) -> None:
    result = kpstask(sim, "get", "reset-1", "bind-2", "ok-3", "-o", "json")
    assert result.exit_code == 1
    records = {r["task_id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["reset-1"]["failure"] == {"code": "KPS.2019", "message": "the server is stopped"}
    assert records["bind-2"]["failure"] == {"code": None, "message": MESSAGE}
    assert "failure" not in records["ok-3"]
    assert failed_list_requests(sim) == 1  # one pass for both


def test_the_human_table_says_why(sim: Simulator) -> None:
    result = kpstask(sim, "get", "reset-1", "bind-2", "ok-3")
    lines = result.stdout.splitlines()
    assert lines[0].split()[-1] == "REASON"
    assert lines[2].startswith("reset-1") and lines[2].endswith("KPS.2019: the server is stopped")
    assert lines[3].endswith(MESSAGE)


def test_a_wait_says_why_in_the_log_the_annotation_and_the_table(sim: Simulator) -> None:
    result = kpstask(sim, "wait", "reset-1", "ok-3", "--progress", "plain", GITHUB_ACTIONS="true")
    assert result.exit_code == 1
    said = "task reset-1 on server ecs-demo (srv-1): Reset failed (FAILED_RESET): KPS.2019: the server is stopped"
    assert said in result.stderr
    assert f"::error::kpstask: {said}" in result.stderr.splitlines()
    assert "KPS.2019: the server is stopped" in result.stdout
    assert "already done" in result.stdout  # both were finished at the first look


def test_tsv_and_quiet_make_no_list_request(sim: Simulator) -> None:
    assert kpstask(sim, "get", "reset-1", "-o", "tsv").stdout == "reset-1\tsrv-1\tFAILED_RESET\tfailed\n"
    assert kpstask(sim, "get", "reset-1", "-q").exit_code == 1
    assert failed_list_requests(sim) == 0


def test_a_list_that_fails_adds_nothing(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "FAILED_RESET")
    kps.get(
        f"https://kms.test-1.example.com/v3/{PROJECT}/failed-tasks",
        status=403,
        json={"error_code": "KPS.0403", "error_msg": "no permission"},
    )
    result = run("get", "t1", "-o", "json")
    assert result.exit_code == 1
    assert "failure" not in json.loads(result.stdout)
    assert result.stderr == ""  # not even a warning: the reason is a bonus


def test_a_task_missing_from_the_list_has_no_reason(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "FAILED_RESET")
    kps.get(f"https://kms.test-1.example.com/v3/{PROJECT}/failed-tasks", json={"total": 0, "tasks": []})
    result = run("get", "t1")
    assert result.exit_code == 1
    assert "REASON" not in result.stdout


def test_json_keeps_a_number_for_a_task_already_done(sim: Simulator) -> None:
    record = json.loads(kpstask(sim, "wait", "ok-3", "-o", "json").stdout)
    assert record["already_done"] is True and isinstance(record["elapsed_s"], float)


# -- the lookup itself ---------------------------------------------------------------------


def page_lister(items: list[dict[str, Any]], calls: list[int]) -> Any:
    def lister(limit: int, offset: int) -> tuple[int | None, list[dict[str, Any]]]:
        calls.append(offset)
        return len(items), items[offset : offset + limit]

    return lister


def test_paging_stops_once_every_task_is_found() -> None:
    items = [{"task_id": f"t{i}", "task_error_code": f"E{i}", "task_error_msg": "m"} for i in range(50)]
    calls: list[int] = []
    found = records(page_lister(items, calls), {"t3", "t12"}, page_size=10)
    assert found == {"t3": Failure("E3", "m"), "t12": Failure("E12", "m")}
    assert calls == [0, 10]


def test_a_server_that_ignores_offset_is_not_paged_forever() -> None:
    calls: list[int] = []
    same = [{"task_id": f"t{i}", "task_error_msg": "m"} for i in range(10)]
    assert records(lambda limit, offset: (calls.append(offset), (None, same))[1], {"nope"}, page_size=10) == {}
    assert calls == [0, 10]


@pytest.mark.parametrize(
    ("fields", "failure"),
    [
        ({"task_error_code": None, "task_error_msg": "x"}, Failure(None, "x")),
        ({"task_error_code": "", "task_error_msg": ""}, None),
        ({"task_error_code": 42, "task_error_msg": ["x"]}, None),
        ({"task_error_code": " KPS.1 ", "task_error_msg": "y" * 5000}, Failure("KPS.1", "y" * 1000)),
    ],
)
def test_odd_records(fields: dict[str, Any], failure: Failure | None) -> None:
    assert failure_of(fields) == failure


def test_a_list_error_leaves_the_results_as_they_were() -> None:
    failed = [TaskResult("t1", Task("t1", "FAILED_RESET", None, {}))]

    def refuses(limit: int, offset: int) -> tuple[int | None, list[dict[str, Any]]]:
        raise ApiError("boom")

    said: list[str] = []
    assert explained(failed, refuses, said.append) == failed
    assert said == ["failed-tasks: boom; no failure reasons"]


def test_an_interrupted_wait_keeps_the_failed_tasks_reason() -> None:
    """Ctrl-C after a task failed: the table printed then still says why (issue 20, item 2)."""
    import signal
    import subprocess

    from tests.test_e2e import KPSTASK, child_env
    from tests.test_simulator import read_to_end, read_until

    tasks = [
        {"id": "broken", "outcome": "failed", "ready_s": 0, "running_s": 0, "error_msg": MESSAGE},
        {"id": "stuck", "outcome": "never", "ready_s": 0},
    ]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as sim:
        proc = subprocess.Popen(
            [str(KPSTASK), "wait", "broken", "stuck", "--progress", "plain"],
            env=child_env(sim),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None and proc.stdout is not None
        try:
            seen = read_until(proc.stderr.fileno(), b"FAILED_RESET")
            proc.send_signal(signal.SIGINT)
            read_to_end(proc.stderr.fileno(), seen)
            out = proc.stdout.read().decode()
            assert proc.wait(timeout=20) == 130
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
    assert "broken" in out and MESSAGE in out, out
