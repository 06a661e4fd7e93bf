"""Hostile servers: every request ends within its budget, answers are strict JSON,
and the answer is about the task that was asked."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import CANARY, PROJECT, run
from tests.hostile.servers import answer, hostile, trickle

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"


def get(url: str, *args: str) -> tuple[float, object]:
    started = time.monotonic()
    result = run("get", "t1", "--request-timeout", "0.5", "--retries", "0", *args, env={"KPSTASK_ENDPOINT": url})
    return time.monotonic() - started, result


@pytest.mark.parametrize(
    "reply",
    [trickle(HEADERS, 0.2), lambda conn: (conn.sendall(HEADERS), trickle(b"{" + b" " * 198 + b"}", 0.2)(conn))],
    ids=["headers", "body"],
)
def test_a_trickling_server_cannot_hold_a_request_past_its_budget(reply: object) -> None:
    with hostile(reply) as url:  # type: ignore[arg-type]
        took, result = get(url)
    assert result.exit_code == 7, result.stderr  # type: ignore[attr-defined]
    assert "too slow" in result.stderr  # type: ignore[attr-defined]
    assert took < 3 * 0.5 + 1.5


def task_body(**fields: object) -> bytes:
    return json.dumps({"task_id": "t1", "task_status": "SUCCESS_RESET", "server_id": "s1", **fields}).encode()


@pytest.mark.parametrize("number", [b"1e999", b"NaN", b"-Infinity"])
def test_non_finite_numbers_are_an_invalid_answer(number: bytes) -> None:
    body = b'{"task_id": "t1", "task_status": "SUCCESS_RESET", "server_id": "s1", "x": ' + number + b"}"
    with hostile(answer(200, body)) as url:
        _, result = get(url, "-o", "json")
    assert result.exit_code == 6, result.stderr  # type: ignore[attr-defined]
    assert "not strict JSON" in result.stderr  # type: ignore[attr-defined]
    json.loads(result.stdout, parse_constant=strict)  # type: ignore[attr-defined]


def strict(constant: str) -> None:
    raise AssertionError(f"{constant} in JSON output")


def test_kpstask_keys_win_over_the_server_s() -> None:
    body = task_body(error={"kind": "fake"}, state="succeeded!", operation="pwn", elapsed_s=-1, polls="x")
    with hostile(answer(200, body)) as url:
        _, result = get(url, "-o", "json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    record = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert "error" not in record and "elapsed_s" not in record and "polls" not in record
    assert (record["state"], record["operation"]) == ("succeeded", "reset")


@pytest.mark.parametrize("other", ["T1", "t2"])
@pytest.mark.parametrize("output", ["json", "tsv", "human"])
def test_an_answer_about_another_task_is_keyed_by_the_asked_id(other: str, output: str) -> None:
    with hostile(answer(200, task_body(task_id=other))) as url:
        _, result = get(url, "-o", output)
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert f"answer is about task {other}" in result.stderr  # type: ignore[attr-defined]
    assert "t1" in result.stdout and other not in result.stdout  # type: ignore[attr-defined]


def test_a_wait_on_an_answer_about_another_task_does_not_crash() -> None:
    with hostile(answer(200, task_body(task_id="T1"))) as url:
        result = run("wait", "t1", "--progress", "live", "-o", "json", env={"KPSTASK_ENDPOINT": url})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["task_id"] == "t1"
    assert "answer is about task T1" in result.stderr


def test_the_canary_is_not_in_the_project() -> None:  # the fixtures' values are what the tests assume
    assert CANARY not in PROJECT
