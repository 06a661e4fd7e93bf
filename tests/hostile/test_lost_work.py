"""Hostile answers that used to lose work (issue 20, items 12-14): an answer that ends with
the connection and trickles, a failure lookup that outlasts `wait --timeout`, and a lone
surrogate in a server's text. Each run is bounded by a few seconds."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import responses

from kpstask.api.transport import BUDGET_FACTOR
from kpstask.choices import WaitOptions
from kpstask.failures import explained
from kpstask.models import Task, TaskResult
from kpstask.output.machine import json_text
from kpstask.text import one_line, printable
from kpstask.wait.engine import WaitEngine
from kpstask.wait.runners import InlineRunner
from tests.conftest import ENDPOINT, PROJECT, Run, add_task, run, task_url
from tests.hostile.servers import Reply, answer, trickle
from tests.test_wait import FakeApi, FakeClock, finishes

MARGIN_S = 1.5  # start-up, the thread that cuts, a loaded test machine
TRICKLED = b"{" + b" " * 200 + b"}"  # 10 s of bytes at most: servers.trickle stops then


def ends_with_the_connection(version: str) -> Reply:
    """200 with no length: HTTP/1.0, or HTTP/1.1 with `Connection: close`; the body trickles."""
    close = "" if version == "1.0" else "Connection: close\r\n"
    head = f"HTTP/{version} 200 OK\r\nContent-Type: application/json\r\n{close}\r\n".encode()

    def reply(conn: socket.socket) -> None:
        conn.sendall(head)
        trickle(TRICKLED, 0.3)(conn)

    return reply


@contextmanager
def routed(routes: dict[str, Reply]) -> Iterator[str]:
    """A server on a free loopback port answering each request with the reply of the first
    route its path contains; yields its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                head = conn.recv(65536).decode("latin-1")
                path = head.split(" ", 2)[1] if head.count(" ") >= 2 else ""
                reply = next((reply for part, reply in routes.items() if part in path), answer(404, b"{}"))
                reply(conn)
            except OSError:
                pass  # the client hung up: that is what a deadline does

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def timed(*args: str, env: dict[str, str], with_defaults: bool = True) -> tuple[float, Run]:
    started = time.monotonic()
    result = run(*args, env=env, with_defaults=with_defaults)
    return time.monotonic() - started, result


# -- 12: every request ends by its own deadline ------------------------------------------------

REQUEST_TIMEOUT = "0.5"
LIMITS = ("--request-timeout", REQUEST_TIMEOUT, "--retries", "0")


def password_login(url: str) -> dict[str, str]:
    return {
        "KPSTASK_ENDPOINT": url,
        "KPSTASK_PROJECT_ID": PROJECT,
        "KPSTASK_IAM_ENDPOINT": url,
        "KPSTASK_USERNAME": "alice",
        "KPSTASK_DOMAIN": "acme",
        "KPSTASK_PASSWORD": "pw-123456",
    }


@pytest.mark.parametrize("version", ["1.0", "1.1"], ids=["http-1.0", "connection-close"])
@pytest.mark.parametrize(
    ("command", "login"),
    [(("get", "t1"), False), (("failed",), False), (("running",), False), (("get", "t1", "--no-cache"), True)],
    ids=["task", "failed-list", "running-list", "iam-password-login"],
)
def test_an_answer_that_ends_with_the_connection_cannot_trickle_past_the_budget(
    version: str, command: tuple[str, ...], login: bool
) -> None:
    with routed({"/": ends_with_the_connection(version)}) as url:
        env = password_login(url) if login else {"KPSTASK_ENDPOINT": url}
        took, result = timed(*command, *LIMITS, env=env, with_defaults=not login)
    assert result.exit_code == 7, result.stderr
    assert "too slow" in result.stderr
    assert took < BUDGET_FACTOR * float(REQUEST_TIMEOUT) + MARGIN_S, took


# -- 13: wait --timeout holds for the failure lookup too ---------------------------------------

FAILED_TASK = json.dumps({"task_id": "t1", "task_status": "FAILED_RESET", "server_id": "s1"}).encode()


def test_the_failure_lookup_ends_by_the_wait_s_deadline() -> None:
    # The task fails at once; the failed list trickles for 10 s, past a 2 s --timeout (and the
    # request's own budget of 30 s at the default --request-timeout).
    routes = {"/failed-tasks": ends_with_the_connection("1.1"), "/tasks/t1": answer(200, FAILED_TASK)}
    with routed(routes) as url:
        took, result = timed("wait", "t1", "--timeout", "2", "-o", "json", env={"KPSTASK_ENDPOINT": url})
    assert took < 2 + MARGIN_S, took
    assert result.exit_code == 1, result.stderr
    record = json.loads(result.stdout)
    assert (record["task_id"], record["state"]) == ("t1", "failed")
    assert "failure" not in record  # the reason could not be had in time
    assert "failure reason of 1 failed task(s) not found: the --timeout deadline came first" in result.stderr


def test_no_lookup_when_the_deadline_has_passed(kps: responses.RequestsMock) -> None:
    # t1 fails at once, t2 is still running at the deadline: nothing is left for the lookup.
    add_task(kps, "t1", "FAILED_RESET")
    add_task(kps, "t2", "RUNNING_RESET")
    failed_list = kps.get(f"{ENDPOINT}/v3/{PROJECT}/failed-tasks", json={"total": 0, "tasks": []})
    result = run("wait", "t1", "t2", "--timeout", "0.2", "-o", "tsv", "--progress", "none")
    assert result.exit_code == 1, result.stderr  # the failed task's code, as without a deadline
    assert failed_list.call_count == 0
    assert "failure reason" in result.stderr and "not looked up" in result.stderr
    assert [line.split("\t")[3] for line in result.stdout.splitlines()] == ["failed", "pending"]


@pytest.mark.parametrize(
    ("timeout_s", "done_at", "left"), [(120.0, 10.0, 110.0), (120.0, 500.0, 0.0), (None, 1.0, None)]
)
def test_the_engine_says_what_is_left_of_its_deadline(
    timeout_s: float | None, done_at: float, left: float | None
) -> None:
    clock = FakeClock()
    api = FakeApi(clock, {"t1": finishes(done_at, "FAILED_RESET")})
    options = WaitOptions(timeout_s=timeout_s, interval_s=1.0)
    engine = WaitEngine(["t1"], InlineRunner(api.poll), options, clock=clock, sleep=clock.sleep, rand=lambda: 0.5)
    engine.run()
    assert engine.left_s() == (None if left is None else pytest.approx(left, abs=1.0))


def failed_result(task_id: str = "t1") -> TaskResult:
    return TaskResult(task_id, task=Task.from_body(task_id, {"task_status": "FAILED_RESET", "server_id": "s1"}))


def test_explained_with_nothing_left_asks_nothing_and_says_so() -> None:
    notes: list[str] = []

    def lister(limit: int, offset: int) -> tuple[int | None, list[dict[str, object]]]:
        raise AssertionError("asked the failed list with no time left")

    results = [failed_result()]
    assert explained(results, lister, notes.append, left_s=0.0, note=notes.append) == results
    assert notes == ["the failure reason of 1 failed task(s) not looked up: the --timeout deadline has passed"]


def test_explained_without_a_deadline_is_as_before() -> None:
    def lister(limit: int, offset: int) -> tuple[int | None, list[dict[str, object]]]:
        return 1, [{"task_id": "t1", "task_error_code": "KPS.0001", "task_error_msg": "no"}]

    [result] = explained([failed_result()], lister, lambda line: None)
    assert result.failure is not None and result.failure.code == "KPS.0001"


# -- 14: a lone surrogate never ends the run ---------------------------------------------------

LONE = "\\ud800"  # as JSON writes it, and as kpstask shows it


def lone_surrogates(kps: responses.RequestsMock) -> None:
    """t1's status and server id are lone surrogates; t2 is a plain success; so are the lists."""
    body = b'{"task_id": "t1", "task_status": "RUNNING_\\ud800", "server_id": "s-\\udfff"}'
    kps.get(task_url("t1"), body=body, content_type="application/json")
    add_task(kps, "t2", "SUCCESS_RESET")
    item = b'{"task_id": "t3", "server_id": "\\ud800", "server_name": "db-\\udc00", "task_time": 1'
    for kind, extra in (("running", b""), ("failed", b', "task_error_msg": "bad \\udbff"')):
        listing = b'{"total": 1, "tasks": [' + item + extra + b"}]}"
        kps.get(f"{ENDPOINT}/v3/{PROJECT}/{kind}-tasks", body=listing, content_type="application/json")


def kept(result: Run) -> None:
    """No crash: the run's words and output are all encodable; no 'this is a bug'."""
    assert "this is a bug" not in result.stderr, result.stderr
    (result.stdout + result.stderr).encode("utf-8")


@pytest.mark.parametrize("output", ["json", "tsv", "human"])
def test_get_keeps_every_answer_and_escapes_the_surrogates(kps: responses.RequestsMock, output: str) -> None:
    lone_surrogates(kps)
    result = run("get", "t1", "t2", "-o", output)
    kept(result)
    assert result.exit_code == 3, result.stderr  # t1 is still running: its code, as for any other answer
    if output == "json":
        first, second = map(json.loads, result.stdout.splitlines())
        assert (first["task_status"], first["server_id"]) == ("RUNNING_\ud800", "s-\udfff")  # escaped, not lost
        assert second["state"] == "succeeded"
    elif output == "tsv":
        first, second = (line.split("\t") for line in result.stdout.splitlines())
        assert first[1:3] == ["s-\\udfff", f"RUNNING_{LONE}"]
        assert second[0] == "t2" and second[3] == "succeeded"
    else:
        assert f"RUNNING_{LONE}" in result.stdout and "s-\\udfff" in result.stdout and "SUCCESS_RESET" in result.stdout


def test_wait_keeps_every_answer(kps: responses.RequestsMock) -> None:
    lone_surrogates(kps)
    kps.replace(
        responses.GET,
        task_url("t1"),
        body=b'{"task_status": "FAILED_\\ud800", "server_id": "s-\\udfff"}',
        content_type="application/json",
    )
    result = run("wait", "t1", "t2", "--timeout", "5", "-o", "tsv", "--progress", "plain")
    kept(result)
    assert result.exit_code == 1, result.stderr  # t1 failed: its code, as for any other answer
    assert [line.split("\t")[2] for line in result.stdout.splitlines()] == [f"FAILED_{LONE}", "SUCCESS_RESET"]
    assert "s-\\udfff" in result.stderr  # the progress lines


@pytest.mark.parametrize("command", ["running", "failed"])
@pytest.mark.parametrize("output", ["json", "tsv", "human"])
def test_the_lists_escape_the_surrogates(kps: responses.RequestsMock, command: str, output: str) -> None:
    lone_surrogates(kps)
    result = run(command, "-o", output)
    kept(result)
    assert result.exit_code == 0, result.stderr
    if output == "json":
        assert json.loads(result.stdout)["server_name"] == "db-\udc00"
    else:
        assert "db-\\udc00" in result.stdout and LONE in result.stdout


def test_the_one_sanitizer_escapes_every_surrogate() -> None:
    assert printable("a\ud800b\udfff") == "a\\ud800b\\udfff"
    assert one_line("x\udc00 y") == "x\\udc00 y"
    assert printable("\U0001f600") == "\U0001f600"  # a whole code point outside the BMP stays
    line = json_text({"v": "\ud800"})
    assert line == '{"v":"\\ud800"}' and json.loads(line) == {"v": "\ud800"}
    line.encode("utf-8")
