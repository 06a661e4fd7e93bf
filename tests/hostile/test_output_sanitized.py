"""Whatever a server sends, in every field and every format: no control character,
escape or bidirectional control reaches the output unescaped, and no markup or emoji
code is interpreted."""

from __future__ import annotations

import json
import re

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ENDPOINT, PROJECT, run

UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
NASTY = [
    "\x1b]52;c;cHduZWQ=\x07",
    "\x1b]0;title\x07",
    "\r\x1b[2K",
    "\u202e",
    "\u2066",
    "\x9b31m",
    ":white_check_mark:",
    "[bold red]x[/]",
    "[link=http://x]y[/link]",
    "\n",
    "\t",
    "\x00",
]
text = st.lists(st.one_of(st.sampled_from(NASTY), st.text(max_size=5)), max_size=6).map("".join)
FORMATS = ("human", "json", "tsv")


def clean(output: str, fmt: str) -> None:
    assert not UNSAFE.search(output.replace("\t", " ") if fmt == "tsv" else output), ascii(output)
    assert "✅" not in output  # an emoji code stays text
    if fmt == "json":
        for line in output.splitlines():
            json.loads(line)


@pytest.mark.slow  # hundreds of runs: up to 7 s on a busy worker
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=text, server=text, extra=text)
def test_a_task_answer(status: str, server: str, extra: str) -> None:
    body = {"task_id": "t1", "task_status": "RUNNING_" + status, "server_id": server, "note": extra}
    with responses.RequestsMock() as mock:
        mock.get(f"{ENDPOINT}/v3/{PROJECT}/tasks/t1", json=body, headers={"X-Request-Id": extra or "r"})
        for fmt in FORMATS:
            result = run("get", "t1", "-o", fmt)
            clean(result.stdout, fmt)
            clean(result.stderr, "human")


COMMANDS = [["running"], ["failed"], ["failed", "--clear-all", "--yes"], ["wait", "--all-running"]]


@pytest.mark.slow  # hundreds of runs: up to 7 s on a busy worker
@pytest.mark.parametrize("args", COMMANDS)  # a test each: the same examples, spread over the workers
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_id=text, fields=st.lists(text, min_size=6, max_size=6))
def test_listed_and_deleted_tasks(args: list[str], task_id: str, fields: list[str]) -> None:
    keys = ("operate_type", "task_time", "server_name", "server_id", "keypair_name", "task_error_msg")
    item = {"task_id": "x" + task_id, **dict(zip(keys, fields, strict=True)), "task_error_code": fields[0]}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for kind in ("running", "failed"):
            mock.get(f"{ENDPOINT}/v3/{PROJECT}/{kind}-tasks", json={"total": 1, "tasks": [item]})
        mock.delete(re.compile(f"{ENDPOINT}/v3/{PROJECT}/failed-tasks.*"), body="")
        answer = {"task_status": "SUCCESS_" + fields[0], "server_id": fields[1], "task_id": fields[2]}
        mock.get(re.compile(f"{ENDPOINT}/v3/{PROJECT}/tasks/.*"), json=answer)
        for fmt in FORMATS:
            result = run(*args, "-o", fmt, "--progress", "plain") if args[0] == "wait" else run(*args, "-o", fmt)
            clean(result.stdout, fmt)
            clean(result.stderr, "human")
