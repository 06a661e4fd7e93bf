"""Hostile files, options, stdin and servers through the command line: one line and
exit 2 or 6, never 70; secrets masked on every path; refusals stop the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from kpstask.cli.options import complete_profile
from tests.conftest import CANARY, ENDPOINT, PROJECT, Run, add_task, run

LIST_URL = f"{ENDPOINT}/v3/{PROJECT}/running-tasks"
FAILED_URL = f"{ENDPOINT}/v3/{PROJECT}/failed-tasks"
REFUSED = {"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}


def one_line_error(result: Run, code: int) -> None:
    assert result.exit_code == code, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kpstask: error: "), result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--request-timeout", "nan"],
        ["--request-timeout", "inf"],
        ["--wait", "--max-rate", "nan"],
        ["--wait", "--max-rate", "inf"],
    ],
)
def test_every_non_finite_number_is_a_usage_error(args: list[str]) -> None:
    result = run("get", "t1", *args)
    one_line_error(result, 2)
    assert args[-2] in result.stderr  # the option is named (typer's own words vary by release)


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, "[" * 900 + '{"task_id": "t1"}' + "]" * 900, '{"tasks": ' * 400 + "[]" + "}" * 400],
    ids=["brackets", "900-lists", "400-tasks"],
)
def test_deeply_nested_ids_on_stdin(text: str) -> None:
    one_line_error(run("get", "-", input=text), 2)


@pytest.mark.parametrize(
    "content", [b'[default]\nregion = "cn-north-4\xff"\n', b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n"]
)
def test_a_broken_config_file_is_a_usage_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    one_line_error(run("get", "t1", env={"KPSTASK_CONFIG": str(path)}), 2)
    shown = run("config", "show", env={"KPSTASK_CONFIG": str(path)})
    assert shown.exit_code == 2 and "not valid TOML" in shown.stdout


def test_tab_completion_survives_a_broken_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[pro\xff]\n")
    monkeypatch.setenv("KPSTASK_CONFIG", str(path))
    assert complete_profile("") == []
    path.write_bytes(b"x = " + b"[" * 5000 + b"]" * 5000)
    assert complete_profile("") == []


def endless_pages(request: Any) -> tuple[int, dict[str, str], str]:
    offset = int(dict(p.split("=") for p in request.url.split("?")[1].split("&"))["offset"])
    tasks = [{"task_id": f"t{offset + i}"} for i in range(1000)]
    return 200, {}, json.dumps({"total": 10**12, "tasks": tasks})


def test_paging_is_bounded(kps: responses.RequestsMock) -> None:
    kps.add_callback(responses.GET, LIST_URL, callback=endless_pages)
    result = run("running", "-o", "json")
    one_line_error(result, 6)
    assert "more than 100000 tasks" in result.stderr
    assert len(kps.calls) == 100


def test_clearing_stops_at_the_first_refusal(kps: responses.RequestsMock) -> None:
    for i in range(20):
        kps.delete(f"{FAILED_URL}/t{i}", status=401, json=REFUSED)
    result = run("failed", "--clear", *[f"t{i}" for i in range(20)], "--yes", "-o", "json")
    assert result.exit_code == 4
    assert len(kps.calls) == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["deleted"] for r in records] == [False] * 20


def test_an_endpoint_password_is_never_shown(tmp_path: Path) -> None:
    url = "https://user:PASSWORD-x1@kms.example.com"
    for args in (["get", "t1"], ["config", "show"], ["config", "show", "-o", "json"]):
        result = run(*args, env={"KPSTASK_ENDPOINT": url})
        assert "PASSWORD-x1" not in result.stdout + result.stderr, args
    shown = run("config", "show", env={"KPSTASK_ENDPOINT": "http://user:PASSWORD-x1@bad host"}).stdout
    assert "PASSWORD-x1" not in shown


def test_a_secret_echoed_into_a_wrapped_table_cell_is_masked(kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "RUNNING_RESET", server_id=f"srv-{CANARY}-{CANARY}")
    add_task(kps, "t2", "RUNNING_RESET")
    result = run("get", "t1", env={"FORCE_COLOR": "1", "COLUMNS": "40"})  # `run` asserts the canary is absent
    assert result.exit_code == 3


def test_masking_does_not_garble_words(kps: responses.RequestsMock) -> None:
    kps.get(f"{ENDPOINT}/v3/{PROJECT}/tasks/t1", status=401, json=REFUSED | {"error_code": "APIGW.0301"})
    result = run("get", "t1", env={"KPSTASK_TOKEN": "wrong"})
    assert "the token is wrong or has expired" in result.stderr


def test_the_token_flag_wins_over_an_unreadable_profile_secret(tmp_path: Path, kps: responses.RequestsMock) -> None:
    add_task(kps, "t1", "SUCCESS_RESET")
    config = tmp_path / "config.toml"
    config.write_text(
        '[default]\naccess_key = "AKEXAMPLE00000000000"\nsecret_key_file = "/nonexistent/sk"\n'
        'password_file = "/nonexistent/pw"\nuser_name = "a"\ndomain = "b"\n'
    )
    env = {"KPSTASK_CONFIG": str(config), "KPSTASK_TOKEN": None, "KPSTASK_ACCESS_KEY": ""}
    result = run("get", "t1", "--token", CANARY, env=env)  # type: ignore[arg-type]
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    "args", [["running"], ["failed"], ["failed", "--clear-all", "--yes"]], ids=["running", "failed", "clear-all"]
)
def test_the_aksk_refusal_hint_talks_about_the_secret_key(kps: responses.RequestsMock, args: list[str]) -> None:
    for url in (LIST_URL, FAILED_URL):
        kps.get(url, status=401, json=REFUSED)
    env = {"KPSTASK_TOKEN": None, "KPSTASK_ACCESS_KEY": "AKEXAMPLE00000000000", "KPSTASK_SECRET_KEY": CANARY}
    result = run(*args, env=env)  # type: ignore[arg-type]
    one_line_error(result, 4)
    assert "secret key" in result.stderr and "token" not in result.stderr.split("hint:")[1]


def test_a_config_that_is_a_fifo_or_huge_is_refused_at_once(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    result = run("get", "t1", env={"KPSTASK_CONFIG": str(fifo)})
    one_line_error(result, 2)
    assert "not a regular file" in result.stderr
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * (2 * 1024 * 1024) + b"\n")
    result = run("get", "t1", env={"KPSTASK_CONFIG": str(huge)})
    one_line_error(result, 2)
    assert "larger than 1 MiB" in result.stderr
