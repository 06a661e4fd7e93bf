"""Issue 20, items 1, 3, 4, 9 and 10: what `-q` silences (and never does), a deadline in CI
as an annotation, retry warnings that name their task and count from 1, one way to write a
duration, and server names where they help. No test sleeps: a wait runs on a fake clock."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import pytest
import responses

from kpstask.api.transport import Transport
from kpstask.errors import ApiError
from kpstask.failures import failure_of
from kpstask.models import Failure, ListedTask, Task, TaskResult
from kpstask.output.human import listed_cells, results_grid
from kpstask.output.progress import annotation
from kpstask.output.stepsummary import markdown
from kpstask.wait.engine import WaitEngine
from kpstask.wait.events import TaskTrouble
from kpstask.wait.runners import InlineRunner
from tests.conftest import ENDPOINT, PROJECT, SERVER, add_task, run, task_url
from tests.test_wait import FakeClock

RUNNING_URL = f"{ENDPOINT}/v3/{PROJECT}/running-tasks"
FAILED_URL = f"{ENDPOINT}/v3/{PROJECT}/failed-tasks"


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """`wait` through the CLI on a fake clock: requests run inline, the engine's pauses
    move the clock on instead of sleeping."""
    clock = FakeClock()
    monkeypatch.setattr("kpstask.wait.runners.ThreadRunner", lambda poll, concurrency: InlineRunner(poll))
    monkeypatch.setattr("kpstask.wait.engine.WaitEngine", partial(WaitEngine, clock=clock, sleep=clock.sleep))
    return clock


def task(task_id: str, status: str, server_id: str | None = SERVER) -> Task:
    return Task(task_id, status, server_id, {"task_id": task_id, "task_status": status})


# -- 1. `-q` means quiet: nothing but errors ---------------------------------------------


def test_quiet_wait_all_running_prints_nothing(kps: responses.RequestsMock, fake_time: FakeClock) -> None:
    kps.get(RUNNING_URL, json={"total": 1, "tasks": [{"task_id": "stuck", "server_id": SERVER}]})
    add_task(kps, "stuck", "RUNNING_RESET")
    result = run("wait", "--all-running", "--timeout", "3s", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (124, "", "")


def test_quiet_silences_a_warning_of_running(kps: responses.RequestsMock) -> None:
    page = {"tasks": [{"task_id": "t1", "server_id": SERVER}]}  # a server that ignores offset
    kps.get(RUNNING_URL, json=page)
    said = run("running", "--page-size", "1")
    assert "repeats earlier tasks" in said.stderr
    result = run("running", "--page-size", "1", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_quiet_silences_the_info_of_failed(kps: responses.RequestsMock) -> None:
    kps.get(FAILED_URL, json={"total": 0, "tasks": []})
    assert "no failed-task records to delete" in run("failed", "--clear-all", "--yes").stderr
    result = run("failed", "--clear-all", "--yes", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_quiet_never_silences_an_error(kps: responses.RequestsMock, fake_time: FakeClock) -> None:
    kps.get(task_url("t1"), json={"error_code": "KPS.0002", "error_msg": "parameter error"}, status=400)
    for command in (["get"], ["wait"]):
        result = run(*command, "t1", "-q")
        assert (result.exit_code, result.stdout) == (6, "")
        assert result.stderr.startswith("kpstask: error: task t1: request refused: parameter error")


# -- 3. a deadline in CI is an annotation ---------------------------------------------


def test_a_deadline_in_ci_is_an_annotation(kps: responses.RequestsMock, fake_time: FakeClock) -> None:
    add_task(kps, "t1", "RUNNING_UNBIND")
    add_task(kps, "t2", "SUCCESS_RESET")
    result = run("wait", "t1", "t2", "--timeout", "130s", "--progress", "none", env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 124
    assert result.stderr.splitlines() == [
        f"::error::kpstask: task t1 on server {SERVER}: not finished at the --timeout deadline (2m10s): "
        "Unbinding the key pair (RUNNING_UNBIND)"
    ]


def test_annotation_of_a_task_unfinished_at_the_deadline() -> None:
    result = TaskResult("t1", task=task("t1", "RUNNING_RESET"), elapsed_s=5.0, deadline=True)
    assert annotation(result) == (
        f"::error::kpstask: task t1 on server {SERVER}: not finished at the --timeout deadline (5.0s): "
        "Resetting the key pair (RUNNING_RESET)"
    )
    assert annotation(result._replace(deadline=False)) is None  # interrupted: not finished, not a failure


# -- 4. retry warnings name their task and count from 1 -------------------------------


def test_get_retry_warnings_name_the_task_and_count_from_1(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "SUCCESS_RESET")
    add_task(kps, "t2", "SUCCESS_RESET")
    kps.get(task_url("t3"), body="", status=503)
    add_task(kps, "t3", "SUCCESS_RESET")
    result = run("get", "t1", "t2", "t3", "-o", "tsv", "--retries", "3")
    assert result.exit_code == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert re.fullmatch(
        r"kpstask: warning: task t3: retrying \(1/3\) in \d+\.\ds: server error \(empty body\) \(HTTP 503\)", line
    ), line


def test_the_transport_counts_retries_from_1() -> None:
    said: list[str] = []
    Transport(ENDPOINT, on_retry=said.append)._retrying(ApiError("odd", http_status=503), 130.0, 2, 4)
    assert said == ["retrying (1/3) in 2m10s: odd (HTTP 503)"]


def test_the_wait_engine_says_retrying_as_get_does() -> None:
    trouble = TaskTrouble("t1", ApiError("no such task; did you mean t2?"), 2.0, 1.0)
    assert trouble.describe() == "task t1: retrying in 2.0s: no such task; did you mean t2?"


# -- 9. one way to write a duration; one pair of brackets; one "retrying" -------------


def test_the_table_writes_durations_as_the_log_does() -> None:
    grid = results_grid([TaskResult("t1", task=task("t1", "RUNNING_RESET"), elapsed_s=130.0, polls=3)])
    assert grid.rows[0][-1] == "2m10s"


def test_job_summary_status_has_one_pair_of_brackets() -> None:
    result = TaskResult("t1", task=task("t1", "RUNNING_UNBIND"), elapsed_s=130.0, deadline=True)
    text = markdown("wait", [result], False, str)
    assert f"| t1 | {SERVER} | Unbinding the key pair (RUNNING\\_UNBIND, deadline reached) | 2m10s |  |" in text
    assert ") (" not in text


def test_retrying_is_never_capitalised() -> None:
    for error in (ApiError("did you mean t2?"), ApiError("stop!"), ApiError("plain")):
        assert "Retrying" not in TaskTrouble("t1", error, 2.0, 1.0).describe()


# -- 10. server names where they help ------------------------------------------------


def test_the_failed_record_carries_the_server_name() -> None:
    fields = {"task_id": "t1", "task_error_code": "KPS.2019", "task_error_msg": "stopped", "server_name": " db-1 "}
    assert failure_of(fields) == Failure("KPS.2019", "stopped", "db-1")
    assert failure_of({**fields, "server_name": None}) == Failure("KPS.2019", "stopped")


def test_a_wait_names_the_server_in_the_log_the_annotation_the_summary_and_json(
    kps: responses.RequestsMock, fake_time: FakeClock, tmp_path: Path
) -> None:
    add_task(kps, "bad", "FAILED_RESET")
    why = {"task_error_code": "KPS.2019", "task_error_msg": "the server is stopped"}
    record = {"task_id": "bad", "server_id": SERVER, "server_name": "db-1", **why}
    kps.get(FAILED_URL, json={"total": 1, "tasks": [record]})
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = run("wait", "bad", "-o", "json", "--progress", "plain", env=env)
    assert result.exit_code == 1
    said = f"task bad on server db-1 ({SERVER}): Reset failed (FAILED_RESET): KPS.2019: the server is stopped"
    assert f"Z {said}" in result.stderr  # the wait's log
    assert f"::error::kpstask: {said}" in result.stderr.splitlines()
    assert f"| bad | db-1 ({SERVER}) | Reset failed" in summary.read_text()
    record_out = json.loads(result.stdout)
    assert (record_out["server_id"], record_out["server_name"]) == (SERVER, "db-1")


def test_a_listed_task_without_a_server_name_has_no_leading_space() -> None:
    cells = listed_cells(ListedTask({"task_id": "t1", "server_id": SERVER}), False, str)
    assert cells[1] == f"({SERVER})"
    named = listed_cells(ListedTask({"task_id": "t1", "server_id": SERVER, "server_name": "db-1"}), False, str)
    assert named[1] == f"db-1 ({SERVER})"
    assert listed_cells(ListedTask({"task_id": "t1"}), False, str)[1] == ""
