"""Issue 20, items 15 and 20-23: invisible and line-breaking characters shown, two IAM
tokens refused, the simulator's control paths for its own address only, no request after
the running list refused the credentials, and a malformed response header named as such."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses

from kpstask.api import answers as answers_module
from kpstask.api.answers import Answer
from kpstask.auth.iam import TokenLogin
from kpstask.errors import ApiError, AuthError, ExitCode
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from kpstask.text import printable
from tests.conftest import ENDPOINT, PROJECT, run
from tests.hostile.servers import answer, hostile
from tests.test_wait import FakeClock
from tests.test_wait_fleet import spread, wait

# -- 15: invisible and line-breaking characters -----------------------------------------------

HIDDEN = {"\u200b": "\\u200b", "\u2060": "\\u2060", "\ufeff": "\\ufeff", "\U000e0041": "\\udb40\\udc41"}
BREAKING = ["\u061c", "\u2028", "\u2029"]  # a bidirectional control and the line/paragraph separators
RAW = re.compile("[\u061c\u200b\u2060\ufeff\u2028\u2029\U000e0000-\U000e007f]")


@pytest.mark.parametrize("char", [*HIDDEN, *BREAKING], ids=ascii)
def test_printable_shows_invisible_characters_escaped_and_breaks_as_spaces(char: str) -> None:
    assert printable(f"a{char}b") == (f"a{HIDDEN[char]}b" if char in HIDDEN else "a b")
    assert printable("a\u200db\ufe0f\ud800") == "a\u200db\ufe0f\\ud800"  # joiners stay; a surrogate is escaped


@pytest.mark.parametrize("char", [*HIDDEN, *BREAKING], ids=ascii)
def test_invisible_and_line_breaking_characters_never_reach_the_output_raw(char: str) -> None:
    body = {"task_id": "t1", "task_status": "RUNNING_RESET", "server_id": f"srv{char}1", "note": f"x{char}"}
    with responses.RequestsMock() as mock:
        mock.get(f"{ENDPOINT}/v3/{PROJECT}/tasks/t1", json=body)
        human, tsv, machine = (run("get", "t1", "-o", fmt) for fmt in ("human", "tsv", "json"))
    for result in (human, tsv, machine):
        assert result.exit_code == 3, result.stderr
    assert not RAW.search(human.stdout + tsv.stdout), ascii(human.stdout + tsv.stdout)
    assert tsv.stdout.split("\t")[1] == printable(f"srv{char}1")  # one record, its fields in place
    assert len(tsv.stdout.splitlines()) == 1
    # JSON keeps the value exactly, on one line of valid JSON: escaped or harmless.
    assert json.loads(machine.stdout.rstrip("\n").split("\n")[0])["server_id"] == f"srv{char}1"


# -- 20: two X-Subject-Token headers ------------------------------------------------------------

IAM_BODY = b'{"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}}'


def two_tokens(conn: socket.socket) -> None:
    head = "HTTP/1.1 201 Created\r\nX-Subject-Token: MIIaaa\r\nX-Subject-Token: MIIbbb\r\nConnection: close\r\n"
    conn.sendall(f"{head}Content-Length: {len(IAM_BODY)}\r\n\r\n".encode() + IAM_BODY)


PASSWORD_LOGIN = {
    "KPSTASK_PROJECT_ID": PROJECT,
    "KPSTASK_USERNAME": "alice",
    "KPSTASK_DOMAIN": "acme",
    "KPSTASK_PASSWORD": "CANARY-pw-1",
}


def test_two_tokens_from_iam_are_refused_and_never_sent_or_shown() -> None:
    with hostile(two_tokens) as url:
        env = {**PASSWORD_LOGIN, "KPSTASK_ENDPOINT": url, "HUAWEICLOUD_SDK_IAM_ENDPOINT": url}
        result = run("get", "t1", "--retries", "0", "--no-cache", env=env, with_defaults=False)
    assert result.exit_code == ExitCode.API, result.stderr
    assert "IAM sent 2 tokens" in result.stderr
    assert "MII" not in result.stderr + result.stdout
    assert "task_status" not in result.stderr  # no task request went out with them


class _Login(TokenLogin):
    """A login (password or ID token alike) whose IAM answers with `header`."""

    def __init__(self, header: str) -> None:
        self.seen: list[str] = []
        transport: Any = None  # never used: `_ask_iam` answers
        super().__init__(transport=transport, project_id=PROJECT, cache=None, on_token=self.seen.append, debug=print)
        self.header = header

    def _ask_iam(self) -> Answer:
        return Answer(201, {"X-Subject-Token": self.header}, IAM_BODY)


@pytest.mark.parametrize("header", ["MIIaaa, MIIbbb", "MIIaaa, MIIaaa", "MIIaaa,", "MIIaaa, MIIbbb, MIIccc"])
def test_every_login_refuses_a_token_header_that_came_more_than_once(header: str) -> None:
    login = _Login(header)
    with pytest.raises(ApiError, match=r"IAM sent \d tokens") as refused:
        login.token()
    assert "MII" not in str(refused.value)
    assert login.issued() == [] and login.seen == []


def test_one_token_is_still_taken() -> None:
    assert _Login("MIIaaa").token() == "MIIaaa"


# -- 21: the simulator's control paths refuse other sites ---------------------------------------


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(Scenario.parse({"token": "tok", "tasks": [{"id": "t1", "status": "RUNNING_RESET"}]})) as running:
        yield running


def control(sim: Simulator, headers: dict[str, str], method: str = "GET") -> int:
    return requests.request(method, f"{sim.url}/_sim/tasks", headers=headers, timeout=5).status_code


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example:{port}"},
        {"Host": "evil.example"},
        {"Host": "127.0.0.1:1"},
        {"Host": "localhost"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "https://127.0.0.1:{port}"},
        {"Host": "rebound.example:{port}", "Origin": "http://rebound.example:{port}"},
    ],
)
def test_the_control_surface_refuses_requests_addressed_to_another_site(
    sim: Simulator, headers: dict[str, str]
) -> None:
    port = str(sim.url.rsplit(":", 1)[1])
    sent = {name: value.replace("{port}", port) for name, value in headers.items()}
    assert control(sim, sent) == 403
    assert control(sim, sent, "DELETE") == 403
    assert requests.get(f"{sim.url}/_sim/tasks", timeout=5).json()  # nothing was changed


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_the_control_surface_answers_its_own_names(sim: Simulator, name: str) -> None:
    port = sim.url.rsplit(":", 1)[1]
    assert control(sim, {"Host": f"{name}:{port}"}) == 200
    assert control(sim, {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"}) == 200


def test_the_task_api_is_not_the_control_surface(sim: Simulator) -> None:
    headers = {"Host": "evil.example", "X-Auth-Token": "tok"}
    assert requests.get(f"{sim.url}/v3/{DEFAULT_PROJECT}/tasks/t1", headers=headers, timeout=5).status_code == 200


# -- 22: no request after the running list refused the credentials -----------------------------


def test_a_401_on_the_running_list_ends_the_wait_with_no_further_request() -> None:
    fleet = spread(20, 30)(FakeClock())
    fleet.list_error = AuthError("credentials refused: the token expired", http_status=401)
    results, _ = wait(fleet)
    assert fleet.gets == [] and len(fleet.pages) == 1
    assert {result.exit_code for result in results} == {ExitCode.AUTH}
    assert "the running-tasks list: credentials refused" in str(results[0].error)


def test_a_403_on_the_running_list_still_falls_back_to_each_task() -> None:
    fleet = spread(20, 30)(FakeClock())
    fleet.list_error = AuthError("credentials refused", http_status=403)
    results, _ = wait(fleet)
    assert {result.exit_code for result in results} == {ExitCode.OK}


def test_wait_sends_nothing_after_the_list_s_401() -> None:
    refusal = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{ENDPOINT}/v3/{PROJECT}/running-tasks", status=401, json=refusal)
        mock.get(re.compile(f"{ENDPOINT}/v3/{PROJECT}/tasks/.*"), status=401, json=refusal)
        result = run("wait", *(f"t{i}" for i in range(6)), "--progress", "none", "-o", "json")
        sent = [call.request.url or "" for call in mock.calls]
    assert result.exit_code == ExitCode.AUTH
    assert len(sent) == 1 and "/running-tasks" in sent[0]
    assert [json.loads(line)["error"]["kind"] for line in result.stdout.splitlines()] == ["auth"] * 6


# -- 23: a malformed response header ------------------------------------------------------------

MALFORMED = {
    "a header line over 64 KiB": b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
    "more than 100 header lines": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
    "Content-Length contained multiple": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
}


def raw(data: bytes) -> Any:
    return lambda conn: conn.sendall(data)


@pytest.mark.parametrize("why", list(MALFORMED))
def test_a_malformed_response_header_is_named_as_such(why: str) -> None:
    with hostile(raw(MALFORMED[why])) as url:
        result = run("get", "t1", "--request-timeout", "2", "--retries", "0", env={"KPSTASK_ENDPOINT": url})
    assert result.exit_code == ExitCode.NETWORK
    assert f"malformed response header from 127.0.0.1: {why}" in result.stderr
    assert "connection reset" not in result.stderr


@pytest.mark.parametrize("line", [b"HTTX/1.1 200 OK", b"HTTP/1.1 abc OK", b"SSH-2.0-OpenSSH_9.6"])
def test_a_malformed_status_line_is_named_as_such(line: bytes) -> None:
    with hostile(raw(line + b"\r\n\r\n")) as url:
        result = run("get", "t1", "--request-timeout", "2", "--retries", "0", env={"KPSTASK_ENDPOINT": url})
    assert result.exit_code == ExitCode.NETWORK
    assert f"malformed status line from 127.0.0.1: `{line.decode()}`" in result.stderr


def test_a_connection_closed_before_any_answer_is_still_a_reset() -> None:
    with hostile(raw(b"")) as url:
        result = run("get", "t1", "--request-timeout", "2", "--retries", "0", env={"KPSTASK_ENDPOINT": url})
    assert result.exit_code == ExitCode.NETWORK
    assert "connection reset by 127.0.0.1" in result.stderr


UNPARSED = {
    "a header line is not `Name: value`": b"HTTP/1.1 200 OK\r\nBad Header Line\r\nContent-Length: 2\r\n\r\n{}",
    "a header holds a NUL character": b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
}


@pytest.mark.parametrize("why", list(UNPARSED))
def test_check_headers_refuses_a_header_block_http_client_only_half_read(why: str) -> None:
    with hostile(raw(UNPARSED[why])) as url:
        response = requests.get(url, timeout=2, stream=True)
        with pytest.raises(requests.exceptions.InvalidHeader, match=re.escape(why)):
            answers_module.check_headers(response)
    with hostile(answer(200, b"{}", {"X-Request-Id": "r1"})) as url:
        answers_module.check_headers(requests.get(url, timeout=2, stream=True))  # a sound one passes


@pytest.mark.parametrize("why", list(UNPARSED))
def test_a_header_line_http_client_cannot_parse_is_named_as_such(why: str) -> None:
    with hostile(raw(UNPARSED[why])) as url:
        result = run("get", "t1", "--request-timeout", "2", "--retries", "0", env={"KPSTASK_ENDPOINT": url})
    assert result.exit_code == ExitCode.NETWORK
    assert f"malformed response header from 127.0.0.1: {why}" in result.stderr
