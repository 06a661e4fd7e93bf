"""`kpstask running`, `kpstask failed` (and clearing), `kpstask wait --all-running`,
against the simulator over real sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.conftest import CANARY, Run, fake_run, invoke

KPSTASK = Path(sys.executable).with_name("kpstask")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    tasks = [
        {
            "id": f"run-{i}",
            "operation": op,
            "outcome": "never",
            "ready_s": 0,
            "server_id": f"srv-{i % 2}",
            "server_name": f"ecs-{i}",
            "keypair_name": "kp-1",
        }
        for i, op in enumerate(["bind", "reset", "replace", "unbind", "bind"])
    ]
    tasks += [
        {"id": f"bad-{i}", "status": f"FAILED_{op}", "server_id": "srv-9"}
        for i, op in enumerate(["RESET", "BIND", "UNBIND"])
    ]
    tasks += [{"id": "done", "status": "SUCCESS_RESET"}]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as running:
        yield running


def cli(sim: Simulator, *args: str, input: str | None = None, **env: str) -> Run:
    base = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}
    result = invoke(list(args), env={**base, **env}, input=input, obj=fake_run())
    assert CANARY not in result.stdout + result.stderr
    return Run(result.exit_code, result.stdout, result.stderr)


def list_requests(sim: Simulator, kind: str) -> list[str]:
    return [path for method, path, _, _ in sim.requests if path.endswith(f"/{kind}-tasks")]


def test_running_every_page(sim: Simulator) -> None:
    result = cli(sim, "running", "-o", "json", "--page-size", "2")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["task_id"] for r in records] == [f"run-{i}" for i in range(5)]
    assert len(list_requests(sim, "running")) == 3  # 2 + 2 + 1
    first = records[0]
    assert first["operation"] == "bind" and first["operate_type"] == "RUNNING_BIND"  # the API's form
    assert first["task_time"].isdigit()  # the raw epoch milliseconds stay
    assert first["task_time_iso"].endswith("Z") and first["task_time_iso"][:2] == "20"
    assert {"server_name", "server_id", "keypair_name"} <= first.keys()


def test_a_page_that_fails_transiently(sim: Simulator) -> None:
    sim.set_faults([{"type": "status", "status": 503, "after": 1, "times": 1, "retry_after": 0}])
    result = cli(sim, "running", "-o", "tsv", "--page-size", "2")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5


def test_a_page_that_keeps_failing(sim: Simulator) -> None:
    sim.set_faults([{"type": "status", "status": 500, "after": 1}])
    result = cli(sim, "running", "--page-size", "2")
    assert result.exit_code == 6
    assert "server error" in result.stderr


def test_limit_and_server_filter(sim: Simulator) -> None:
    limited = cli(sim, "running", "-o", "tsv", "--limit", "3", "--page-size", "2")
    assert [line.split("\t")[0] for line in limited.stdout.splitlines()] == ["run-0", "run-1", "run-2"]
    on_server = cli(sim, "running", "-o", "tsv", "--server", "srv-1")
    assert [line.split("\t")[0] for line in on_server.stdout.splitlines()] == ["run-1", "run-3"]


def test_tsv_columns(sim: Simulator) -> None:
    line = cli(sim, "running", "-o", "tsv", "--limit", "1").stdout.splitlines()[0]
    task, name, server, keypair, operation, started = line.split("\t")
    assert (task, name, server, keypair, operation) == ("run-0", "ecs-0", "srv-0", "kp-1", "bind")
    assert started.endswith("Z")


def test_failed_lists_errors(sim: Simulator) -> None:
    human = cli(sim, "failed")
    assert human.exit_code == 0
    for words in ("bad-0", "bad-2", "KEY PAIR", "STARTED", "ERROR", "KPS.0003"):
        assert words in human.stdout
    records = [json.loads(line) for line in cli(sim, "failed", "-o", "json").stdout.splitlines()]
    assert [r["operation"] for r in records] == ["reset", "bind", "unbind"]
    assert all(r["task_error_code"] and r["task_error_msg"] for r in records)
    tsv = cli(sim, "failed", "-o", "tsv").stdout.splitlines()[0].split("\t")
    assert len(tsv) == 8 and tsv[6] == "KPS.0003"


def test_an_empty_list_is_not_an_error(sim: Simulator) -> None:
    result = cli(sim, "failed", "--server", "nowhere")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "no failed tasks on server nowhere" in result.stderr
    assert cli(sim, "running", "-o", "json", "--server", "nowhere").stdout == ""


def test_list_errors_follow_the_contract(sim: Simulator) -> None:
    assert cli(sim, "running", KPSTASK_TOKEN="wrong-token-value").exit_code == 4
    assert cli(sim, "running", KPSTASK_PROJECT_ID="f" * 32).exit_code == 6


def test_clear_some(sim: Simulator) -> None:
    result = cli(sim, "failed", "--clear", "bad-0", "bad-1", "--yes")
    assert result.exit_code == 0
    assert result.stdout == "deleted failed-task record bad-0\ndeleted failed-task record bad-1\n"
    left = cli(sim, "failed", "-o", "tsv").stdout.splitlines()
    assert [line.split("\t")[0] for line in left] == ["bad-2"]


def test_clear_one_that_is_not_there(sim: Simulator) -> None:
    result = cli(sim, "failed", "--clear", "bad-0", "nope", "-y", "-o", "json")
    assert result.exit_code == 5
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {"task_id": "bad-0", "deleted": True}
    assert second["deleted"] is False and second["error"]["code"] == "KPS.0005"


def test_clear_all(sim: Simulator) -> None:
    result = cli(sim, "failed", "--clear-all", "--yes", "-o", "json")
    assert result.exit_code == 0
    assert [json.loads(line)["task_id"] for line in result.stdout.splitlines()] == ["bad-0", "bad-1", "bad-2"]
    assert cli(sim, "failed", "-o", "json").stdout == ""


def test_clearing_needs_yes_when_not_on_a_terminal(sim: Simulator) -> None:
    result = cli(sim, "failed", "--clear-all")
    assert result.exit_code == 2
    assert "needs --yes" in result.stderr
    assert len(cli(sim, "failed", "-o", "json").stdout.splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--clear"], "--clear needs the TASK_IDs"),
        (["bad-0"], "only taken with --clear"),
        (["--clear", "--clear-all", "bad-0"], "choose one"),
        (["--clear", "a/b"], "invalid task id"),
    ],
)
def test_clear_usage_errors(sim: Simulator, args: list[str], words: str) -> None:
    result = cli(sim, "failed", *args)
    assert result.exit_code == 2
    assert words in result.stderr


@pytest.mark.parametrize(("answer", "deleted"), [("y\n", True), ("n\n", False)])
def test_clearing_asks_on_a_terminal(sim: Simulator, answer: str, deleted: bool) -> None:
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}
    proc = subprocess.Popen(
        [str(KPSTASK), "failed", "--clear", "bad-1"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    os.write(leader, answer.encode())
    stdout, stderr = proc.communicate(timeout=30)
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 0
    assert "Delete 1 failed-task record(s): bad-1? [y/N]" in stderr
    assert ("deleted failed-task record bad-1" in stdout) is deleted
    left = [line.split("\t")[0] for line in cli(sim, "failed", "-o", "tsv").stdout.splitlines()]
    assert ("bad-1" not in left) is deleted


def test_wait_all_running(sim: Simulator) -> None:
    quick_1 = {"id": "quick-1", "operation": "bind", "ready_s": 0, "running_s": 1.5}
    sim.add_task(quick_1, first_query=True)
    quick_2 = {"id": "quick-2", "operation": "reset", "outcome": "failed", "ready_s": 0, "running_s": 1.0}
    sim.add_task(quick_2, first_query=True)
    for i in range(5):
        sim.remove_task(f"run-{i}")
    env = {**os.environ, "KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}
    proc = subprocess.run(
        [str(KPSTASK), "wait", "--all-running", "--interval", "1", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    got = {r["task_id"]: r["task_status"] for r in map(json.loads, proc.stdout.splitlines())}
    assert got == {"quick-1": "SUCCESS_BIND", "quick-2": "FAILED_RESET"}
    assert "2 task(s) running: quick-1 quick-2" in proc.stderr


def test_wait_all_running_when_nothing_runs(sim: Simulator) -> None:
    for i in range(5):
        sim.remove_task(f"run-{i}")
    result = cli(sim, "wait", "--all-running", "-o", "json")
    assert (result.exit_code, result.stdout) == (0, "")
    assert "0 task(s) running" in result.stderr


def test_wait_without_ids(sim: Simulator) -> None:
    result = cli(sim, "wait")
    assert result.exit_code == 2
    assert "--all-running" in result.stderr


def test_aksk_signs_list_queries(sim: Simulator) -> None:
    """limit and offset are in the signed canonical query."""
    sim.scenario.access_keys.append({"access_key": "HPUALISTACCESSKEY001", "secret_key": "CANARY-list-sk-0001"})
    env = {
        "KPSTASK_ENDPOINT": sim.url,
        "KPSTASK_PROJECT_ID": DEFAULT_PROJECT,
        "HUAWEICLOUD_SDK_AK": "HPUALISTACCESSKEY001",
        "HUAWEICLOUD_SDK_SK": "CANARY-list-sk-0001",
    }
    result = invoke(["running", "-o", "tsv", "--page-size", "2"], env=env, obj=fake_run())
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 5
    assert "CANARY-list-sk-0001" not in result.stdout + result.stderr


def test_clear_all_honours_server(sim: Simulator) -> None:
    sim.add_task({"id": "bad-x", "status": "FAILED_RESET", "server_id": "srv-x"})
    result = cli(sim, "failed", "--clear-all", "--server", "srv-x", "--yes")
    assert (result.exit_code, result.stdout) == (0, "deleted failed-task record bad-x\n")
    left = [line.split("\t")[0] for line in cli(sim, "failed", "-o", "tsv").stdout.splitlines()]
    assert left == ["bad-0", "bad-1", "bad-2"]
    assert not any(path.endswith("/failed-tasks") and method == "DELETE" for method, path, _, _ in sim.requests)


def test_server_filter_comes_before_the_limit(sim: Simulator) -> None:
    result = cli(sim, "running", "-o", "tsv", "--server", "srv-0", "--limit", "2", "--page-size", "1")
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["run-0", "run-2"]


def test_a_server_that_ignores_offset_is_not_paged_forever(kps: object) -> None:
    import responses as responses_lib

    from tests.conftest import ENDPOINT, PROJECT

    mock: responses_lib.RequestsMock = kps  # type: ignore[assignment]
    page = {"tasks": [{"task_id": "a"}, {"task_id": "b"}]}  # full pages, no total, offset ignored
    mock.get(f"{ENDPOINT}/v3/{PROJECT}/running-tasks", json=page)
    env = {"KPSTASK_ENDPOINT": ENDPOINT, "KPSTASK_PROJECT_ID": PROJECT, "KPSTASK_TOKEN": CANARY}
    result = invoke(["running", "-o", "tsv", "--page-size", "2"], env=env, obj=fake_run())
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["a", "b"]
    assert "repeats earlier tasks" in result.stderr
    assert len(mock.calls) == 2
