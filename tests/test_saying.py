"""Saying what is happening: `get` tells of each retry of a request on stderr (not with
`-q`, not for `wait`, whose engine says its own), one clean line each."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
import responses

from kpstask.api.policy import Interval
from kpstask.api.transport import Transport
from kpstask.errors import ApiError
from kpstask.simulator.scenario import Scenario
from kpstask.simulator.server import Simulator
from tests.conftest import CANARY, ENDPOINT, FakeClock, add_task, run, task_url

BUSY = {"error_code": "SYS.5003", "error_msg": "busy"}
PATH = task_url("t1")[len(ENDPOINT) :]
RETRY_LINE = re.compile(r"kpstask: warning: task \w+: retrying \((\d)/(\d)\) in (\d+\.\d)s: (.*)")


def retry_lines(stderr: str) -> list[tuple[str, ...]]:
    return [match.groups() for line in stderr.splitlines() if (match := RETRY_LINE.fullmatch(line))]


def busy_then_done(kps: responses.RequestsMock, busy: int) -> None:
    for _ in range(busy):
        kps.get(task_url("t1"), json=BUSY, status=503)
    add_task(kps, "t1", "SUCCESS_RESET")


# -- the transport: a line per retry, to whoever listens ------------------------------


def test_each_retry_is_said_with_its_number_and_delay(kps: responses.RequestsMock) -> None:
    said: list[str] = []
    debug: list[str] = []
    transport = Transport(
        ENDPOINT,
        retry=Interval.exponential(retries=3),
        sleep=lambda s: None,
        rand=lambda: 1.0,
        on_retry=said.append,
        debug=debug.append,
    )
    busy_then_done(kps, 2)
    assert transport.send("GET", PATH, {}).status == 200
    assert said == [
        "retrying (1/3) in 0.5s: server error: busy (SYS.5003, HTTP 503)",
        "retrying (2/3) in 1.0s: server error: busy (SYS.5003, HTTP 503)",
    ]
    assert not [line for line in debug if "retrying" in line]  # said once, not twice under --debug


def test_without_a_listener_a_retry_is_a_debug_line(kps: responses.RequestsMock) -> None:
    debug: list[str] = []
    transport = Transport(
        ENDPOINT, retry=Interval.exponential(retries=1), sleep=lambda s: None, rand=lambda: 1.0, debug=debug.append
    )
    busy_then_done(kps, 1)
    transport.send("GET", PATH, {})
    assert "retrying (1/1) in 0.5s: server error: busy (SYS.5003, HTTP 503)" in debug


def test_retry_after_is_the_delay_said(kps: responses.RequestsMock) -> None:
    said: list[str] = []
    transport = Transport(ENDPOINT, sleep=lambda s: None, on_retry=said.append)
    kps.get(task_url("t1"), json=BUSY, status=429, headers={"Retry-After": "7"})
    add_task(kps, "t1", "SUCCESS_RESET")
    transport.send("GET", PATH, {})
    assert said == ["retrying (1/3) in 7.0s: throttled by the API gateway: busy (SYS.5003, HTTP 429)"]


# -- `kpstask get`: on stderr, on a terminal or in a log; silent with -q ------------------


def test_get_says_each_retry(kps: responses.RequestsMock, clock: FakeClock) -> None:
    busy_then_done(kps, 2)
    result = run("get", "t1", "-o", "json", clock=clock)
    assert result.exit_code == 0, result.stderr
    assert '"state":"succeeded"' in result.stdout
    lines = retry_lines(result.stderr)
    assert [(n, of, what) for n, of, _, what in lines] == [
        ("1", "3", "server error: busy (SYS.5003, HTTP 503)"),
        ("2", "3", "server error: busy (SYS.5003, HTTP 503)"),
    ]
    assert [delay for _, _, delay, _ in lines] == [f"{wait:.1f}" for wait in clock.sleeps]  # the delay said is slept
    assert result.stderr.count("\n") == 2


def test_get_says_each_retry_then_the_error(kps: responses.RequestsMock, clock: FakeClock) -> None:
    kps.get(task_url("t1"), body=requests.exceptions.ReadTimeout("Read timed out."))
    result = run("get", "t1", "--retries", "2", "--request-timeout", "5", clock=clock)
    assert result.exit_code == 7
    lines = result.stderr.splitlines()
    assert [(n, of) for n, of, _, _ in retry_lines(result.stderr)] == [("1", "2"), ("2", "2")]
    assert lines[0].endswith(": no answer from kms.test-1.example.com within 5 s")
    assert "hint" not in lines[0]  # the hint comes once, with the error
    assert lines[-1].startswith("kpstask: error: task t1: no answer from") and "hint: raise" in lines[-1]
    assert len(lines) == 3 and len(clock.sleeps) == 2


@pytest.mark.parametrize("quiet", ["-q", "--quiet"])
def test_get_quiet_says_nothing(kps: responses.RequestsMock, quiet: str) -> None:
    busy_then_done(kps, 2)
    result = run("get", "t1", quiet)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_get_without_retries_says_no_retry(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json=BUSY, status=503)
    result = run("get", "t1", "--retries", "0")
    assert result.exit_code == 6
    assert "retrying" not in result.stderr


def test_wait_leaves_retries_to_its_engine(kps: responses.RequestsMock) -> None:
    busy_then_done(kps, 1)
    result = run("wait", "t1", "--progress", "plain", "--interval", "1")
    assert result.exit_code == 0, result.stderr
    assert "retrying (" not in result.stderr  # the transport does not retry inside a poll
    assert re.search(r"warning: task t1: retrying in [\d.]+s: server error: busy \(SYS.5003, HTTP 503\)", result.stderr)


def test_the_line_is_masked_and_one_clean_line(kps: responses.RequestsMock) -> None:
    kps.get(task_url("t1"), json={"error_code": "SYS.5003", "error_msg": f"echo {CANARY}\n\x1b[31mred"}, status=503)
    add_task(kps, "t1", "SUCCESS_RESET")
    result = run("get", "t1")  # `run` asserts the canary is nowhere in the output
    [line] = [line for line in result.stderr.splitlines() if "retrying" in line]
    assert "echo ***" in line and "\x1b" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_error_without_code_or_status() -> None:
    said: list[str] = []
    transport = Transport(ENDPOINT, on_retry=said.append)
    transport._retrying(ApiError("odd"), 1.25, 2, 4)
    assert said == ["retrying (1/3) in 1.2s: odd"]


# -- against the simulator: a request that hangs once --------------------------------


@pytest.fixture
def sim() -> Iterator[Simulator]:
    scenario = Scenario.parse({"token": CANARY, "tasks": [{"id": "ok", "status": "SUCCESS_RESET"}]})
    with Simulator(scenario) as running:
        yield running


def test_a_hung_request_is_said_then_answered(sim: Simulator) -> None:
    sim.set_faults([{"type": "hang", "times": 1}], task_id="ok")
    result = run("get", "ok", "-o", "tsv", "--request-timeout", "0.3", env={"KPSTASK_ENDPOINT": sim.url})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok\t")
    [(n, of, _, what)] = retry_lines(result.stderr)
    assert (n, of) == ("1", "3")
    assert what.startswith(("no answer from 127.0.0.1 within 0.3 s", "127.0.0.1 was too slow"))
