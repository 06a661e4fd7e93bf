"""`kpstask wait` and `get --wait` through the command surface (tasks that are
already finished, so nothing waits in real time; the engine's timing is in test_wait.py)."""

from __future__ import annotations

import json
import re

import pytest
import responses

from tests.conftest import CANARY, FakeClock, add_task, run, task_url


@pytest.fixture
def done(kps: responses.RequestsMock) -> responses.RequestsMock:
    add_task(kps, "ok1", "SUCCESS_RESET")
    add_task(kps, "ok2", "SUCCESS_BIND")
    add_task(kps, "bad", "FAILED_REPLACE")
    return kps


@pytest.mark.parametrize("command", [["wait"], ["get", "--wait"], ["get", "-w"]])
def test_wait_and_get_wait_are_the_same(done: responses.RequestsMock, command: list[str]) -> None:
    result = run(*command, "ok1", "bad", "-o", "json", "--progress", "none")
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert (first["task_id"], first["state"], second["state"]) == ("ok1", "succeeded", "failed")
    assert first["polls"] == 1 and isinstance(first["elapsed_s"], float)
    assert result.stderr == ""


def test_all_succeeded(done: responses.RequestsMock) -> None:
    result = run("wait", "ok1", "ok2", "-o", "tsv", "--progress", "plain")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("ok1\t")
    assert "done: 2 succeeded" in result.stderr


def test_plain_progress_has_no_escape_codes_even_when_colour_is_forced(done: responses.RequestsMock) -> None:
    result = run("wait", "ok1", "bad", env={"FORCE_COLOR": "1"})  # not a terminal: auto is plain
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "ok1 on server" in result.stderr and "FAILED_REPLACE (Replacement failed)" in result.stderr


def test_quiet_is_silent(done: responses.RequestsMock) -> None:
    result = run("wait", "ok1", "bad", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "")


@pytest.mark.parametrize("quiet", [[], ["-q"], ["--progress", "none"]])
def test_github_annotation(done: responses.RequestsMock, quiet: list[str]) -> None:
    result = run("wait", "bad", "ok1", "-o", "json", *quiet, env={"GITHUB_ACTIONS": "true"})
    assert result.stderr.count("::error::") == 1
    assert "::error::kpstask: task bad on server" in result.stderr
    assert "::error" not in result.stdout


def test_quiet_wait_still_says_errors(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "KPS.0002", "error_msg": "parameter error"}, status=400)
    result = run("wait", "t1", "-q")  # -q never silences an error (see `kpstask.output.hush`)
    assert (result.exit_code, result.stdout) == (6, "")
    assert result.stderr.startswith("kpstask: error: task t1: request refused")
    named = run("wait", "t1", "--progress", "none")
    assert named.stderr.startswith("kpstask: error: task t1: request refused")


def test_retries_is_not_for_waiting(done: responses.RequestsMock) -> None:
    result = run("get", "ok1", "--wait", "--retries", "2")
    assert result.exit_code == 2
    assert "--retries: not used when waiting" in result.stderr


def test_refused_credentials_end_the_wait(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "APIGW.0301", "error_msg": "bad token"}, status=401)
    result = run("wait", "t1", "--progress", "none")
    assert result.exit_code == 4
    assert len(kps.calls) == 1
    assert "kpstask: error: task t1: credentials refused" in result.stderr


def test_other_client_error_ends_the_task(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "KPS.0002", "error_msg": "parameter error"}, status=400)
    assert run("wait", "t1", "--progress", "none").exit_code == 6


def test_human_result_has_elapsed(done: responses.RequestsMock) -> None:
    result = run("wait", "ok1", "--progress", "none")
    assert "ELAPSED" in result.stdout and "Reset succeeded" in result.stdout


# -- saying what happens ----------------------------------------------------------------


def ctrl_c_once_asked(kps: responses.RequestsMock, requests: int) -> FakeClock:
    """A clock whose sleep is a Ctrl-C at the engine's first pause after `requests` requests
    were answered."""

    def sleep(seconds: float) -> None:
        if len(kps.calls) >= requests:
            raise KeyboardInterrupt

    return FakeClock(on_sleep=sleep)


def test_a_task_mid_retry_at_ctrl_c_is_not_finished(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "SYS.5003", "error_msg": "busy"}, status=503)
    add_task(kps, "t2", "RUNNING_RESET")
    result = run("wait", "t1", "t2", "-o", "json", "--progress", "plain", clock=ctrl_c_once_asked(kps, 2))
    assert result.exit_code == 130
    assert re.search(r"warning: task t1: retrying in [\d.]+s: server error: busy \(SYS.5003, HTTP 503\)", result.stderr)
    assert "interrupted: 2 not finished" in result.stderr
    assert "kpstask: error: task" not in result.stderr and "error," not in result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert "error" not in first and first["state"] == "unknown" and second["state"] == "pending"
    tsv = run("wait", "t1", "t2", "-o", "tsv", "--progress", "none", clock=ctrl_c_once_asked(kps, 4))
    assert tsv.exit_code == 130
    assert tsv.stdout.splitlines()[0] == "t1\t-\t-\tunknown"


def test_not_found_yet_in_the_plain_progress(kps: responses.RequestsMock) -> None:
    kps.get(task_url("new"), json={"error_code": "KPS.0001", "error_msg": "taskId is illegal"}, status=400)
    clock = ctrl_c_once_asked(kps, 1)
    result = run("wait", "new", "--progress", "plain", "--not-found-grace", "45s", clock=clock)
    assert "Z warning: task new: not found yet; asking again for up to 45s (--not-found-grace)\n" in result.stderr
    assert result.exit_code == 130 and "interrupted: 1 not finished" in result.stderr


# -- ids from stdin ------------------------------------------------------------------


@pytest.mark.parametrize(
    "stdin",
    [
        "ok1\nok2\n",
        "ok1 ok2",
        '{"tasks": [{"task_id": "ok1"}, {"task_id": "ok2"}]}',
        '{"task_id": "ok1", "server_id": "s", "status": "x"}\n{"task_id": "ok2"}\n',
        '[{"task_id": "ok1"}, {"task_id": "ok2"}]',
    ],
)
def test_ids_from_stdin(done: responses.RequestsMock, stdin: str) -> None:
    result = run("wait", "-", "-o", "tsv", "--progress", "none", input=stdin)
    assert result.exit_code == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["ok1", "ok2"]


def test_stdin_ids_mix_with_arguments(done: responses.RequestsMock) -> None:
    result = run("get", "bad", "-", "-o", "tsv", input="ok1")
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["bad", "ok1"]


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        ("", "no task ids given"),
        ('{"task_id": ', "not valid JSON"),
        ('{"id": "x"}', "no task_id found"),
        ("ok1 ../etc", "invalid task id"),
    ],
)
def test_bad_stdin(done: responses.RequestsMock, stdin: str, words: str) -> None:
    result = run("wait", "-", input=stdin)
    assert result.exit_code == 2
    assert words in result.stderr
    assert len(done.calls) == 0


def test_stdin_cannot_hold_token_and_ids(done: responses.RequestsMock) -> None:
    result = run("wait", "-", "--token-file", "-", input=CANARY)
    assert result.exit_code == 2
    assert "standard input cannot hold both a secret" in result.stderr


# -- option checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--timeout", "soon"], "--timeout: cannot read 'soon'"),
        (["--interval", "0.5"], "--interval: at least 1s"),
        (["--heartbeat", "x"], "--heartbeat"),
        (["--not-found-grace", "-3"], "--not-found-grace"),
        (["--max-rate", "0"], "--max-rate"),
        (["--concurrency", "0"], "--concurrency"),
        (["--progress", "fancy"], "--progress"),
    ],
)
def test_bad_wait_options(args: list[str], words: str) -> None:
    result = run("wait", "t1", *args)
    assert result.exit_code == 2
    assert words in result.stderr
    assert result.stderr.count("\n") == 1


def test_wait_options_need_wait() -> None:
    result = run("get", "t1", "--timeout", "5m", "--fail-fast")
    assert result.exit_code == 2
    assert "--timeout, --fail-fast: only used when waiting" in result.stderr
