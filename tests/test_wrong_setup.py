"""A wrong setup fails fast: an endpoint that never answers ends a wait in seconds with
exit 7, and a gateway that does not serve the API is exit 6 at once, on every command."""

from __future__ import annotations

import socket
import time

import pytest
import responses

from tests.conftest import ENDPOINT, PROJECT, run
from tests.hostile.servers import answer, hostile

NO_SUCH_API = {"error_code": "APIGW.0101", "error_msg": "The API does not exist or has not been published"}


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("endpoint", [closed_port(), "https://kms.cn-nort-4.example.invalid"], ids=["closed", "dns"])
@pytest.mark.parametrize("ids", [["t1"], [f"t{i}" for i in range(8)]], ids=["one", "fleet"])
def test_an_endpoint_that_never_answers_ends_the_wait(endpoint: str, ids: list[str]) -> None:
    started = time.monotonic()
    result = run("wait", *ids, "--timeout", "30m", "-o", "json", env={"KPSTASK_ENDPOINT": endpoint})
    assert result.exit_code == 7, result.stderr
    assert "never an answer" in result.stderr
    assert time.monotonic() - started < 30


def test_an_endpoint_that_answered_once_is_waited_on(kps: responses.RequestsMock) -> None:
    import requests

    url = f"{ENDPOINT}/v3/{PROJECT}/tasks/t1"
    kps.get(url, json={"task_id": "t1", "task_status": "RUNNING_RESET"})
    for _ in range(3):  # as many as would end a wait that never had an answer
        kps.get(url, body=requests.ConnectionError("Connection refused"))
    kps.get(url, json={"task_id": "t1", "task_status": "SUCCESS_RESET"})
    assert run("wait", "t1", "-o", "json", "--interval", "1").exit_code == 0


@pytest.mark.parametrize("args", [["get", "t1"], ["wait", "t1"], ["running"], ["failed"]])
def test_a_gateway_without_the_api_is_exit_6_at_once(args: list[str]) -> None:
    with hostile(answer(404, b'{"error_code": "APIGW.0101", "error_msg": "no such API"}')) as url:
        result = run(*args, env={"KPSTASK_ENDPOINT": url + "/wrong-prefix"})
    assert result.exit_code == 6, result.stderr
    assert "does not serve this API" in result.stderr and "--endpoint" in result.stderr


@pytest.mark.parametrize(
    ("args", "region", "words"),
    [
        (["wait", "t1", "--timeout", "30m"], "cn-nort-4", "did you mean cn-north-4?"),
        (["get", "t1", "--retries", "0"], "xx-nowhere-9", "is it spelled right?"),
    ],
)
def test_a_region_that_never_answers_gets_a_did_you_mean(
    monkeypatch: pytest.MonkeyPatch, args: list[str], region: str, words: str
) -> None:
    # The real host of a typo does not resolve; here one that cannot, whatever the network.
    monkeypatch.setattr("kpstask.connect.region_url", lambda name: f"https://kms.{name}.example.invalid")
    result = run(*args, "-r", region, env={"KPSTASK_ENDPOINT": None})  # type: ignore[dict-item]
    assert result.exit_code == 7, result.stderr
    last = result.stderr.splitlines()[-1]
    assert "cannot resolve host" in last and f"region {region} is not in kpstask's table: {words}" in last
    assert "?;" not in result.stderr


def test_a_known_region_that_never_answers_gets_no_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kpstask.connect.region_url", lambda name: f"https://kms.{name}.example.invalid")
    result = run("get", "t1", "-r", "cn-north-4", "--retries", "0", env={"KPSTASK_ENDPOINT": None})  # type: ignore[dict-item]
    assert result.exit_code == 7
    assert "kpstask's table" not in result.stderr and "check --region / --endpoint" in result.stderr
