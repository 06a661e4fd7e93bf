"""`kpstask get` through the command surface: exit codes, formats, errors."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from kpstask.errors import ExitCode
from tests.conftest import CANARY, PROJECT, SERVER, FakeClock, add_task, run, task_url

# -- every exit code of the contract ------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("SUCCESS_RESET", 0),
        ("SUCCESS_REPLACE", 0),
        ("SUCCESS_BIND", 0),
        ("SUCCESS_UNBIND", 0),
        ("FAILED_RESET", 1),
        ("FAILED_REPLACE", 1),
        ("FAILED_UNBIND", 1),
        ("READY_RESET", 3),
        ("RUNNING_BIND", 3),
        ("SOMETHING_NEW", 3),
        ("SUCCESS", 0),
    ],
)
def test_task_status_sets_exit_code(kps: responses.RequestsMock, status: str, code: int) -> None:
    add_task(kps, "t1", status)
    result = run("get", "t1", "-o", "json")
    assert result.exit_code == code
    assert json.loads(result.stdout)["task_status"] == status
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("http_status", "body", "code", "words"),
    [
        (
            401,
            {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"},
            4,
            "credentials refused",
        ),
        (401, {"error_code": "APIGW.0307", "error_msg": "The token must be updated."}, 4, "another region"),
        (403, {"error_code": "KPS.9003", "error_msg": "no permission"}, 4, "no permission"),
        (404, {"error_code": "KPS.0404", "error_msg": "not found"}, 5, "not found"),
        (400, {"error_code": "KPS.0001", "error_msg": "taskId is illegal"}, 5, "taskId is illegal"),
        (400, {"error_code": "KPS.0002", "error_msg": "parameter error"}, 6, "parameter error"),
        (501, {"error_code": "KPS.0003", "error_msg": "dependency unavailable"}, 6, "server error"),
        (418, {}, 6, "request refused"),
    ],
)
def test_error_status_sets_exit_code(
    kps: responses.RequestsMock, http_status: int, body: dict[str, str], code: int, words: str
) -> None:
    kps.get(task_url("t1"), json=body, status=http_status, headers={"X-Request-Id": "rid-77"})
    result = run("get", "t1")
    assert result.exit_code == code
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("kpstask: error: task t1: ")
    assert words in lines[0]
    assert f"HTTP {http_status}" in lines[0]
    assert "rid-77" in lines[0]
    if body:
        assert body["error_code"] in lines[0]
    assert "Traceback" not in result.stderr


def test_usage_error_exit_2() -> None:
    result = run("get", "a/b")
    assert result.exit_code == 2
    assert result.stderr.startswith("kpstask: error: invalid task id")
    assert result.stdout == ""


def test_network_error_exit_7(kps: responses.RequestsMock, clock: FakeClock) -> None:
    kps.get(task_url("t1"), body=requests.ConnectionError("Connection refused"))
    result = run("get", "t1", "--retries", "2", clock=clock)
    assert result.exit_code == 7
    retried, again, error = result.stderr.splitlines()  # each retry is said (tests/test_saying.py), then the error
    assert retried.startswith("kpstask: warning: task t1: retrying (1/2) in ") and again.startswith(
        "kpstask: warning: task t1: retrying (2/2)"
    )
    assert error.startswith("kpstask: error: task t1: connection refused")
    assert len(clock.sleeps) == 2
    assert len(kps.calls) == 3


def test_timeout_is_network_error(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), body=requests.exceptions.ReadTimeout("Read timed out."))
    result = run("get", "t1", "--retries", "0", "--request-timeout", "2")
    assert result.exit_code == 7
    assert "no answer from kms.test-1.example.com within 2 s" in result.stderr


def test_tls_error_is_not_retried(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), body=requests.exceptions.SSLError("certificate verify failed"))
    result = run("get", "t1")
    assert result.exit_code == 7
    assert "TLS error" in result.stderr
    assert len(kps.calls) == 1


def test_bug_exit_70_without_traceback(kps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    add_task(kps, "t1", "SUCCESS_RESET")

    def broken(result: object) -> str:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr("kpstask.output.machine.task_record", broken)
    result = run("get", "t1", "-o", "json")
    assert result.exit_code == 70
    assert result.stderr.count("\n") == 1
    assert "--debug" in result.stderr
    assert "Traceback" not in result.stderr


def test_bug_with_debug_shows_traceback_without_secret(
    kps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_task(kps, "t1", "SUCCESS_RESET")

    def broken(result: object) -> str:
        raise ValueError(f"leaky {CANARY}")

    monkeypatch.setattr("kpstask.output.machine.task_record", broken)
    result = run("get", "t1", "-o", "json", "--debug")
    assert result.exit_code == 70
    assert "Traceback" in result.stderr
    assert "leaky ***" in result.stderr


def test_interrupt_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: object, task_id: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("kpstask.api.client.KpsClient.get_task", interrupted)
    result = run("get", "t1")
    assert result.exit_code == 130
    assert result.stderr == "kpstask: error: interrupted\n"


def test_exit_codes_are_in_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for code in ExitCode:
        assert f"\n    {int(code):<4} " in result.stdout or f"  {int(code)}  " in result.stdout, code
    assert "2, 4, 7, 6, 5, 1, 124, 3, 0" in result.stdout


def test_version() -> None:
    from kpstask import __version__

    result = run("--version")
    assert (result.exit_code, result.stdout) == (0, f"kpstask {__version__}\n")


# -- several tasks: order, worst wins -------------------------------------------


def test_results_in_the_order_given(kps: responses.RequestsMock) -> None:
    for task_id, status in [("b", "RUNNING_RESET"), ("a", "SUCCESS_RESET"), ("c", "FAILED_UNBIND")]:
        add_task(kps, task_id, status)
    result = run("get", "b", "a", "c", "-o", "tsv")
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["b", "a", "c"]
    # Asked several at a time: the requests may go in any order, the results never do.
    assert sorted(call.request.url.rsplit("/", 1)[1] for call in kps.calls) == ["a", "b", "c"]
    assert result.exit_code == 1


def test_duplicate_ids_are_queried_once(kps: responses.RequestsMock) -> None:
    add_task(kps, "a", "SUCCESS_RESET")
    result = run("get", "a", "a", "-o", "tsv")
    assert result.stdout.count("\n") == 1
    assert len(kps.calls) == 1


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["SUCCESS_RESET", "RUNNING_RESET"], 3),
        (["RUNNING_RESET", "FAILED_RESET"], 1),
        (["FAILED_RESET", 404], 5),
        ([404, 500], 6),
        ([500, "conn"], 7),
        (["conn", 401], 4),
        (["SUCCESS_BIND", "SUCCESS_UNBIND"], 0),
    ],
)
def test_worst_outcome_wins(kps: responses.RequestsMock, outcomes: list[object], expected: int) -> None:
    ids = [f"t{i}" for i in range(len(outcomes))]
    for task_id, outcome in zip(ids, outcomes, strict=True):
        if isinstance(outcome, str) and outcome != "conn":
            add_task(kps, task_id, outcome)
        elif outcome == "conn":
            kps.get(task_url(task_id), body=requests.ConnectionError("Connection refused"))
        else:
            kps.get(task_url(task_id), json={"error_code": "X", "error_msg": "x"}, status=outcome)
    assert run("get", *ids, "-o", "json").exit_code == expected


def test_refused_credentials_stop_the_rest(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "APIGW.0301", "error_msg": "bad"}, status=401)
    add_task(kps, "t2", "SUCCESS_RESET")
    result = run("get", "t1", "t2", "-o", "json")
    assert result.exit_code == 4
    assert len(kps.calls) == 1
    assert "1 remaining task(s) not queried" in result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["error"]["kind"] == second["error"]["kind"] == "auth"
    assert second["task_id"] == "t2"
    assert second["error"]["message"] == "not queried: the credentials were refused for task t1"
    assert result.stderr.count("kpstask: error:") == 1


def test_401_is_never_retried(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "APIGW.0301", "error_msg": "bad"}, status=401)
    assert run("get", "t1", "--retries", "5").exit_code == 4
    assert len(kps.calls) == 1


# -- output formats ----------------------------------------------------------------


def test_json_lines_carry_api_fields_operation_and_state(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "RUNNING_REPLACE", extra_field=7)
    add_task(kps, "t2", "SUCCESS_BIND")
    result = run("get", "t1", "t2", "-o", "json")
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {
        "task_id": "t1",
        "task_status": "RUNNING_REPLACE",
        "server_id": SERVER,
        "extra_field": 7,
        "operation": "replace",
        "state": "pending",
    }
    assert (second["operation"], second["state"]) == ("bind", "succeeded")
    assert all(" " not in line.split('"server_id"')[0] for line in result.stdout.splitlines())


def test_json_unknown_status_has_null_operation(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "PAUSED")
    record = json.loads(run("get", "t1", "-o", "json").stdout)
    assert (record["operation"], record["state"]) == (None, "unknown")


def test_json_error_record(kps: responses.RequestsMock) -> None:
    kps.get(
        task_url("t1"),
        json={"error_code": "KPS.0001", "error_msg": "taskId is illegal"},
        status=400,
        headers={"X-Request-Id": "r-1"},
    )
    record = json.loads(run("get", "t1", "-o", "json").stdout)
    assert record == {
        "task_id": "t1",
        "error": {
            "kind": "not_found",
            "code": "KPS.0001",
            "message": "not found: taskId is illegal",
            "http_status": 400,
            "request_id": "r-1",
        },
    }


def test_tsv(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "FAILED_RESET")
    kps.get(task_url("t2"), status=404, body="")
    result = run("get", "t1", "t2", "-o", "tsv")
    assert result.stdout == f"t1\t{SERVER}\tFAILED_RESET\tfailed\nt2\t-\t-\terror\n"


def test_tsv_rows_split_with_bash_read(kps: responses.RequestsMock) -> None:
    import subprocess

    add_task(kps, "t1", "FAILED_RESET")
    kps.get(task_url("t2"), status=404, body="")
    tsv = run("get", "t1", "t2", "-o", "tsv").stdout
    script = "while IFS=$'\\t' read -r task server status state; do echo \"$task|$server|$status|$state\"; done"
    out = subprocess.run(["bash", "-c", script], input=tsv, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [f"t1|{SERVER}|FAILED_RESET|failed", "t2|-|-|error"]


def test_tsv_never_breaks_lines(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"task_id": "t1", "task_status": "RUNNING\tRESET\n", "server_id": "s\n1"})
    result = run("get", "t1", "-o", "tsv")
    assert result.stdout.count("\n") == 1
    assert result.stdout.count("\t") == 3


def test_human_table(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "RUNNING_RESET")
    add_task(kps, "t2", "FAILED_REPLACE")
    result = run("get", "t1", "t2")
    assert result.exit_code == 1
    for words in ("t1", SERVER, "RUNNING_RESET", "Resetting the key pair", "FAILED_REPLACE", "Replacement failed"):
        assert words in result.stdout
    assert "\x1b" not in result.stdout  # not a terminal: no colour


def test_human_table_colour_only_when_forced_and_not_disabled(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "FAILED_RESET")
    assert "\x1b[" in run("get", "t1", env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run("get", "t1", "--no-color", env={"FORCE_COLOR": "1"}).stdout
    assert "\x1b[" not in run("get", "t1", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout


def test_human_table_escapes_server_text(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"task_id": "t1", "task_status": "RUNNING_RESET\x1b[31m", "server_id": "[bold]x"})
    result = run("get", "t1")
    assert "\x1b" not in result.stdout
    assert "[bold]x" in result.stdout


@pytest.mark.parametrize("fmt", ["human", "json", "tsv"])
def test_quiet_prints_nothing(kps: responses.RequestsMock, fmt: str) -> None:
    add_task(kps, "t1", "FAILED_RESET")
    result = run("get", "t1", "-q", "-o", fmt)
    assert (result.exit_code, result.stdout) == (1, "")


def test_output_format_is_checked() -> None:
    result = run("get", "t1", "-o", "yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("kpstask: error: ")
    assert result.stderr.count("\n") == 1


# -- bodies that are not the documented shape ---------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("", "empty answer body"),
        ('{"task_id": "t1", "task_sta', "not valid JSON"),
        ("<html><body>502</body></html>", "HTML"),
        ("[1, 2]", "expected a JSON object"),
        ('{"task_id": "t1"}', "task_status is missing"),
        ('{"task_id": "t1", "task_status": 5}', "task_status is missing or not a string"),
        ('{"task_id": "t1", "task_status": "SUCCESS_RESET", "server_id": []}', "server_id is not a string"),
        ("[" * 100_000, "not valid JSON"),
        ("\xff\xfe garbage", "not valid JSON"),
    ],
)
def test_malformed_200_is_api_error(kps: responses.RequestsMock, body: str, words: str) -> None:
    kps.get(task_url("t1"), body=body, status=200)
    result = run("get", "t1")
    assert result.exit_code == 6
    assert words in result.stderr
    assert result.stderr.count("\n") == 1


def test_oversized_body_is_api_error(kps: responses.RequestsMock) -> None:
    big = '{"task_id": "t1", "task_status": "SUCCESS_RESET", "pad": "' + "x" * (1024 * 1024) + '"}'
    kps.get(task_url("t1"), body=big)
    result = run("get", "t1")
    assert result.exit_code == 6
    assert "larger than 1 MiB" in result.stderr


def test_redirect_is_not_followed(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), status=302, headers={"Location": "https://evil.example.com/steal"})
    result = run("get", "t1")
    assert result.exit_code == 6
    assert "redirect to https://evil.example.com/steal" in result.stderr
    assert len(kps.calls) == 1


def test_error_message_from_server_is_one_safe_line(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "KPS.0002", "error_msg": "bad\n\x1b[31mred\r\nmore"}, status=400)
    result = run("get", "t1")
    assert result.stderr.count("\n") == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr


# -- debug ----------------------------------------------------------------------------


def test_debug_summarises_exchange_and_masks_token(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "SUCCESS_RESET")
    result = run("get", "t1", "--debug", "-o", "json")
    assert result.exit_code == 0
    assert f"> GET https://kms.test-1.example.com/v3/{PROJECT}/tasks/t1" in result.stderr
    assert "X-Auth-Token: ***" in result.stderr
    assert "< HTTP 200" in result.stderr and "request id req-t1" in result.stderr
    assert "token from environment variable KPSTASK_TOKEN" in result.stderr
    assert json.loads(result.stdout)["state"] == "succeeded"


def test_debug_on_error_paths_never_leaks(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "APIGW.0301", "error_msg": f"echo {CANARY}"}, status=401)
    kps.get(task_url("t2"), body=requests.ConnectionError(f"boom {CANARY}"))
    # `run` asserts the canary is absent from stdout and stderr.
    assert run("get", "t1", "--debug").exit_code == 4
    assert run("get", "t2", "--debug", "--retries", "1").exit_code == 7


def test_user_agent_and_token_header(kps: responses.RequestsMock) -> None:
    from kpstask import __version__

    add_task(kps, "t1", "SUCCESS_RESET")
    run("get", "t1")
    sent = kps.calls[0].request.headers
    assert sent["User-Agent"] == f"kpstask/{__version__}"
    assert sent["X-Auth-Token"] == CANARY


def test_a_short_token_echoed_by_the_server_is_masked(kps: responses.RequestsMock) -> None:
    short = "CANARY1"
    kps.get(task_url("t1"), json={"task_id": "t1", "task_status": "RUNNING_RESET", "server_id": f"s-{short}"})
    kps.get(task_url("t2"), json={"error_code": "APIGW.0301", "error_msg": f"bad {short}"}, status=401)
    for fmt in ("json", "human", "tsv"):
        result = run("get", "t1", "t2", "-o", fmt, "--debug", env={"KPSTASK_TOKEN": short})
        assert short not in result.stdout + result.stderr


def test_wrong_shape_keeps_status_and_request_id(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json=[1], headers={"X-Request-Id": "r-9"})
    record = json.loads(run("get", "t1", "-o", "json").stdout)
    assert (record["error"]["http_status"], record["error"]["request_id"]) == (200, "r-9")


def test_iam_code_that_repeats_the_status_is_dropped(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error": {"code": "401", "message": "requires authentication"}}, status=401)
    result = run("get", "t1")
    assert "(HTTP 401)" in result.stderr and "401, HTTP" not in result.stderr
