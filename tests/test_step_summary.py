"""The GitHub Actions job summary: with GITHUB_STEP_SUMMARY set, `wait` and `get` append a
Markdown table and totals; unset, nothing; unwritable, one warning and the same exit code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpstask.errors import ApiError
from kpstask.models import Failure, Task, TaskResult
from kpstask.output.stepsummary import MAX_ROWS, markdown
from kpstask.simulator import Scenario, Simulator
from tests.conftest import CANARY
from tests.test_e2e import kpstask


@pytest.fixture
def sim() -> Iterator[Simulator]:
    tasks = [
        {
            "id": "reset-1",
            "server_id": "srv-1",
            "status": "FAILED_RESET",
            "error_code": "KPS.2019",
            "error_msg": "the server | is stopped",
        },
        {"id": "ok-2", "server_id": "srv-2", "status": "SUCCESS_BIND"},
    ]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as running:
        yield running


def test_wait_appends_a_table_and_totals(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("earlier step\n")
    result = kpstask(sim, "wait", "ok-2", "reset-1", GITHUB_STEP_SUMMARY=str(path))
    assert result.exit_code == 1
    text = path.read_text()
    assert text.startswith("earlier step\n### kpstask wait: done: 1 succeeded, 1 failed\n")  # appended
    lines = text.splitlines()
    assert "| Task | Server | Status | Elapsed | Failure reason |" in lines
    failed = next(line for line in lines if line.startswith("| reset-1"))
    reason = "KPS.2019: the server \\| is stopped"  # a | in server text cannot end the cell
    assert failed == f"| reset-1 | ecs-demo (srv-1) | Reset failed (FAILED\\_RESET) | already done | {reason} |"
    succeeded = next(line for line in lines if line.startswith("| ok-2"))
    assert lines.index(failed) < lines.index(succeeded)  # failures first
    assert "**Totals:** 1 succeeded, 1 failed (2 task(s))" in lines


def test_get_appends_too(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    result = kpstask(sim, "get", "ok-2", "-o", "json", GITHUB_STEP_SUMMARY=str(path))
    assert result.exit_code == 0
    assert path.read_text().startswith("### kpstask get: done: 1 succeeded")


def test_unset_writes_nothing(sim: Simulator, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert kpstask(sim, "wait", "ok-2").exit_code == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["directory", "missing-dir", "fifo"])
def test_unwritable_is_one_warning_and_the_same_exit_code(sim: Simulator, tmp_path: Path, kind: str) -> None:
    path = {"directory": tmp_path, "missing-dir": tmp_path / "no" / "summary.md", "fifo": tmp_path / "fifo"}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # no reader: must not block
    result = kpstask(sim, "wait", "reset-1", "-o", "json", GITHUB_STEP_SUMMARY=str(path))
    assert result.exit_code == 1
    warnings = [line for line in result.stderr.splitlines() if "job summary" in line]
    assert len(warnings) == 1 and warnings[0].startswith("kpstask: warning: could not write the job summary")


def test_outside_text_cannot_become_markdown_or_html_and_secrets_are_masked() -> None:
    nasty = TaskResult(
        "t1",
        Task("t1", "FAILED_RESET", "<img src=x>", {}),
        failure=Failure("[x](http://evil)", f"line\nbreak *bold* {CANARY}"),
    )
    text = markdown("wait", [nasty], False, lambda s: s.replace(CANARY, "***"))
    row = next(line for line in text.splitlines() if line.startswith("| t1"))
    assert "<img" not in row and "&lt;img src=x&gt;" not in row and "&lt;img src=x\\>" in row
    assert "\\[x\\](http://evil)" in row and "\\*bold\\*" in row and "\n" not in row
    assert CANARY not in text and "***" not in row.replace("\\*\\*\\*", "")


def test_a_fleet_is_bounded_failures_first() -> None:
    ok = [TaskResult(f"ok{i}", Task(f"ok{i}", "SUCCESS_RESET", None, {})) for i in range(10_000)]
    bad = [TaskResult("gone", error=ApiError("not found"))]
    text = markdown("wait", ok + bad, False, str)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith(("| Task", "| ---"))]
    assert len(rows) == MAX_ROWS and rows[0].startswith("| gone |  | Query failed")
    assert f"and {10_001 - MAX_ROWS} more" in text and "(10001 task(s))" in text
    assert len(text.encode()) < 1024 * 1024
