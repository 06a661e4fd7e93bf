"""Every human table in real terminals of 60, 80, 100 and 200 columns, with 36-character ids,
in English and in Chinese (whose characters take two columns): a task id, a server id and a
status are never wrapped or cut; columns give way in the documented order; a pipe gets whole
lines without trailing spaces."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from kpstask.errors import ApiError
from kpstask.i18n import _, use
from kpstask.models import Failure, ListedTask, Task, TaskResult
from kpstask.output.human import listed_grid, results_grid, table_lines
from kpstask.output.live import LiveProgress, echo_off
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from kpstask.text import cell_width
from kpstask.wait.events import TaskDone, TaskSeen
from tests.conftest import CANARY
from tests.terminal import Screen

KPSTASK = Path(sys.executable).with_name("kpstask")
WIDTHS = (60, 80, 100, 200)
LANGS = ("en", "zh")


@pytest.fixture(params=LANGS)
def lang(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test in each language: kpstask's in this process, and the words it expects."""
    before = use(request.param)
    yield request.param
    use(before)


TASKS = [
    "aee8d2fe-5484-4753-9177-5a38dc15546c",
    "5f0b7a9e-1d2c-4e3f-8a9b-0c1d2e3f4a5b",
    "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f",
]
SERVERS = [
    "c9aa197b-a6b6-4c33-b3a6-fa0b4ec50006",
    "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
    "11111111-2222-4333-8444-555555555555",
]
STATUSES = ["RUNNING_REPLACE", "FAILED_RESET", "SUCCESS_BIND"]
REASON = "The server is stopped; start it and try again, or choose another server for this key pair"


def results() -> list[TaskResult]:
    rows = zip(TASKS, STATUSES, SERVERS, strict=True)
    made = [TaskResult(t, Task(t, s, srv, {}), elapsed_s=65.0) for t, s, srv in rows]
    made[1] = made[1]._replace(failure=Failure("KPS.2019", REASON), already_done=True)
    return [*made, TaskResult("9" * 36, error=ApiError("not found: taskId is illegal"), elapsed_s=30.0)]


def listed() -> list[ListedTask]:
    return [
        ListedTask(
            {
                "task_id": t,
                "server_id": srv,
                "server_name": f"ecs-web-{i}",
                "keypair_name": "kp-2026",
                "operate_type": "FAILED_RESET",
                "task_time": "1764300000000",
                "task_error_code": "KPS.2019",
                "task_error_msg": REASON,
            }
        )
        for i, (t, srv) in enumerate(zip(TASKS, SERVERS, strict=True))
    ]


def assert_whole(lines: list[str], width: int, *words: str) -> None:
    """Nothing past the width (in terminal cells), and each word whole on one line."""
    assert all(cell_width(line) <= width for line in lines), [line for line in lines if cell_width(line) > width]
    for word in words:
        assert any(word in line for line in lines), (word, lines)


# -- the layout -----------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_results_at_every_width(width: int, lang: str) -> None:
    lines = list(table_lines(results_grid(results()), width))
    assert_whole(lines, width, *TASKS, *SERVERS, *STATUSES, "9" * 36, _("error"))
    header = lines[0].split()
    assert header[0] == _("TASK") and _("STATUS") in header


def headings(*names: str) -> list[str]:
    return [_(name) for name in names]


def test_the_order_columns_give_way_in(lang: str) -> None:
    header = {width: table_lines(results_grid(results()), width).__next__().split() for width in WIDTHS}
    # 200: all but the reason, which moved under its row; 100 and 80: the words gone and the
    # server under its task; 60: the elapsed time gone too.
    assert header[200] == headings("TASK", "SERVER", "STATUS", "MEANING", "ELAPSED")
    assert header[100] == header[80] == headings("TASK", "STATUS", "ELAPSED")
    assert header[60] == headings("TASK", "STATUS")
    lines = list(table_lines(results_grid(results()), 80))
    at = lines.index(next(line for line in lines if line.startswith(TASKS[0])))
    server, reason = _("server"), _("reason")
    assert lines[at + 1] == f"  {server} {SERVERS[0]}"  # a line of its own, whole
    assert lines[at + 3] == f"  {server} {SERVERS[1]}" and lines[at + 4].startswith(f"  {reason} KPS.2019: The server")
    assert _("already done") in lines[at + 2]


def test_at_80_columns_task_and_server_ids_are_both_whole(lang: str) -> None:
    lines = list(table_lines(results_grid(results()[:1]), 80))
    assert TASKS[0] in lines[2] and SERVERS[0] in lines[3]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("failed", [False, True], ids=["running", "failed"])
def test_lists_at_every_width(width: int, failed: bool, lang: str) -> None:
    lines = list(table_lines(listed_grid(listed(), failed), width))
    assert_whole(lines, width, *TASKS, *SERVERS)
    if failed:
        assert any("KPS.2019" in line for line in lines)


def test_a_pipe_keeps_every_column_on_one_line(lang: str) -> None:
    lines = list(table_lines(results_grid(results())))
    assert len(lines) == 2 + 4
    assert lines[0].split() == headings("TASK", "SERVER", "STATUS", "MEANING", "ELAPSED", "REASON")
    assert all(line == line.rstrip() for line in lines)
    assert REASON in lines[3]


# -- the live display -----------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_the_live_display_at_every_width(width: int, lang: str) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=width, height=30, color_system=None)
    display = LiveProgress(console, TASKS)
    for task_id, status, server in zip(TASKS, STATUSES, SERVERS, strict=True):
        display(TaskSeen(Task(task_id, status, server, {}), None, 1.0))
    display(TaskDone(TaskResult(TASKS[2], Task(TASKS[2], STATUSES[2], SERVERS[2], {}))))
    display.stop()
    probe = Console(file=io.StringIO(), force_terminal=True, width=width, height=30, color_system=None)
    probe.print(display.__rich__())
    screen = Screen(width).feed(probe.file.getvalue())  # type: ignore[attr-defined]
    assert not screen.wrapped
    assert_whole(screen.text(), width, *TASKS, *SERVERS, *STATUSES)
    assert "…" not in probe.file.getvalue()  # type: ignore[attr-defined]


# -- real terminals ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    tasks = [
        {"id": t, "server_id": srv, "status": s, "server_name": "ecs-web", "keypair_name": "kp-2026"}
        for t, srv, s in zip(TASKS, SERVERS, STATUSES, strict=True)
    ]
    tasks[1].update(error_code="KPS.2019", error_msg=REASON)
    tasks.append({"id": "b" * 36, "server_id": "f" * 36, "operation": "reset", "outcome": "never", "ready_s": 0})
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as running:
        yield running


def in_terminal(
    sim: Simulator, width: int, *args: str, ctrl_c_at: bytes | None = None, lang: str = "en"
) -> tuple[int, Screen]:
    """Run kpstask with a pseudo-terminal of `width` columns as its terminal (all three streams)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")}
    env.update(KPSTASK_ENDPOINT=sim.url, KPSTASK_PROJECT_ID=DEFAULT_PROJECT, KPSTASK_TOKEN=CANARY, TERM="xterm")
    env.update(KPSTASK_LANG=lang)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, width, 0, 0))
        os.execve(str(KPSTASK), [str(KPSTASK), *args], env)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
        if ctrl_c_at is not None and ctrl_c_at in data:  # the live table is up: a person types Ctrl-C
            threading.Event().wait(0.5)
            os.write(fd, b"\x03")
            ctrl_c_at = None
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), Screen(width).feed(data.decode("utf-8", "replace"))


@pytest.mark.parametrize("width", WIDTHS)
def test_get_in_a_terminal(sim: Simulator, width: int, lang: str) -> None:
    code, screen = in_terminal(sim, width, "get", *TASKS, lang=lang)
    assert code == 1  # one failed
    assert not screen.wrapped, screen.text()
    assert_whole(screen.text(), width, *TASKS, *SERVERS, *STATUSES, "KPS.2019")


@pytest.mark.parametrize("width", WIDTHS)
def test_wait_in_a_terminal_live_then_the_table(sim: Simulator, width: int, lang: str) -> None:
    code, screen = in_terminal(sim, width, "wait", *TASKS[1:], "--timeout", "60", lang=lang)
    assert code == 1
    assert not screen.wrapped, screen.text()
    lines = screen.text()
    assert_whole(lines, width, *TASKS[1:], *SERVERS[1:], *STATUSES[1:], "KPS.2019")
    assert any(_("already done") in line for line in lines) is (width >= 80)  # at 60 the elapsed time goes
    assert any(_("{count} failed").format(count=1) in line for line in lines)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["running", "failed"])
def test_lists_in_a_terminal(sim: Simulator, width: int, kind: str, lang: str) -> None:
    code, screen = in_terminal(sim, width, kind, lang=lang)
    assert code == 0
    assert not screen.wrapped, screen.text()
    expected = ["b" * 36, "f" * 36] if kind == "running" else [TASKS[1], SERVERS[1]]
    assert_whole(screen.text(), width, *expected)


def test_ctrl_c_leaves_the_summary_and_the_terminal_as_they_were(sim: Simulator, lang: str) -> None:
    code, screen = in_terminal(sim, 60, "wait", "b" * 36, "--timeout", "60", ctrl_c_at=b"RUNNING_RESET", lang=lang)
    assert code == 130
    lines = screen.text()
    said = _("interrupted: {counts}").format(counts=_("{count} not finished").format(count=1))
    summary = next(i for i, line in enumerate(lines) if line.startswith(said))
    assert not any(line.startswith(_("TASK")) for line in lines[:summary]), lines  # no stray header
    assert "^C" not in "\n".join(lines)


def test_echo_is_off_under_the_live_table_and_back_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "tcgetpgrp", lambda fd: os.getpgrp())  # as if the foreground job
    leader, follower = pty.openpty()
    try:
        stream = os.fdopen(os.dup(follower), "w")
        before = termios.tcgetattr(follower)[3]
        restore = echo_off(stream)
        during = termios.tcgetattr(follower)[3]
        restore()
        assert before & termios.ECHO and not during & (termios.ECHO | termios.ECHOCTL)
        assert termios.tcgetattr(follower)[3] == before
        monkeypatch.setattr(os, "tcgetpgrp", lambda fd: os.getpgrp() + 1)  # a background job
        assert echo_off(stream) is not None and termios.tcgetattr(follower)[3] == before
        stream.close()
    finally:
        os.close(follower)
        os.close(leader)
