"""The human tables: rich's look, fitted to a terminal's width without ever cutting an id or
a status, whole lines on a pipe; wide text aligned, no control character or secret, and a
fleet-sized list."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import pytest
from rich.cells import cell_len

from kpstask.context import Run
from kpstask.errors import ApiError
from kpstask.models import Failure, ListedTask, Task, TaskResult
from kpstask.output import human
from kpstask.output.human import HumanRenderer, listed_grid, results_grid, table_chunks

SECRET = "s3cret-Token-0042"
UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
WIDE = ["界面サーバー", "kp-👍🏽", "e\u0301cole", "サ", "mixed 界 x", "[bold]x[/] :smile:"]


class Pipe(io.StringIO):
    """stdout that is not a terminal; it counts the writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        self.writes.append(len(text))
        return super().write(text)


class Tty(Pipe):
    def isatty(self) -> bool:
        return True


class ClosedPipe(Pipe):
    """A reader that goes away after the first write."""

    def write(self, text: str) -> int:
        if self.writes:
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def listed(i: int, **fields: Any) -> ListedTask:
    base = {
        "task_id": f"t{i}",
        "operate_type": "RESET",
        "task_time": str(1764300000000 + i * 1000),
        "server_name": f"ecs-{i}",
        "server_id": f"srv-{i:06d}",
        "keypair_name": f"kp-{i % 7}",
        "task_error_code": "KPS.0003",
        "task_error_msg": "the server did not answer",
    }
    return ListedTask({**base, **fields})


def result(task_id: str, status: str | None, **extra: Any) -> TaskResult:
    if status is None:
        return TaskResult(task_id, **extra)
    return TaskResult(task_id, Task(task_id, status, f"server-of-{task_id}", {}), **extra)


RESULTS = [
    result("t1", "RUNNING_RESET"),
    result("t2", "FAILED_REPLACE", elapsed_s=12.25, deadline=True),
    result("t3", None, error=ApiError("not found: taskId is illegal")),
    result("t4", None),
    result("t5", "SUCCESS_BIND", elapsed_s=3.0),
]


def plain(grid: human.Grid) -> str:
    return "".join(table_chunks(grid))


def draw(
    stream: Pipe,
    *,
    tasks: Sequence[ListedTask] = (),
    results: Sequence[TaskResult] = (),
    failed: bool = False,
    env: dict[str, str] | None = None,
    secrets: tuple[str, ...] = (),
) -> str:
    """What the human renderer writes on `stream` for these records."""
    run = Run(stdout=stream, stderr=io.StringIO(), env=env or {})
    run.add_secret(*secrets)
    renderer = HumanRenderer(run)
    for task in tasks:
        renderer.listed(task, failed)
    for answer in results:
        renderer.task(answer)
    renderer.close()
    return stream.getvalue()


# -- rich's look --------------------------------------------------------------------------


def test_the_look_of_rich_s_simple_head_without_trailing_spaces() -> None:
    grid = listed_grid([listed(1), listed(1000, keypair_name="")], False)
    lines = plain(grid).splitlines()
    assert lines[0] == "TASK    SERVER                  KEY PAIR   OPERATION   STARTED (UTC)"
    assert lines[1] == "─" * len(lines[2])
    assert lines[2] == "t1      ecs-1 (srv-000001)      kp-1       reset       2025-11-28T03:20:01Z"
    assert lines[3] == "t1000   ecs-1000 (srv-001000)              reset       2025-11-28T03:36:40Z"
    assert all(line == line.rstrip() for line in lines)


def test_results_say_why_a_task_failed_or_could_not_be_told() -> None:
    failed = result("t2", "FAILED_RESET", failure=Failure(None, "the server is stopped"))
    lines = plain(results_grid([result("t1", "SUCCESS_RESET"), failed, RESULTS[2]])).splitlines()
    assert lines[0].split() == ["TASK", "SERVER", "STATUS", "MEANING", "REASON"]
    assert lines[3].endswith("Reset failed      the server is stopped")
    assert lines[4].split()[:3] == ["t3", "error", "Query"] and lines[4].endswith("not found: taskId is illegal")


def test_a_pipe_gets_whole_lines_and_no_escape_codes() -> None:
    out = draw(Pipe(), results=RESULTS[:1])
    assert out == plain(results_grid(RESULTS[:1]))
    assert "\x1b" not in out


# -- wide and long text -------------------------------------------------------------------


def at_cells(line: str, offset: int) -> str:
    """What `line` shows from terminal cell `offset` on."""
    cells = 0
    for index, char in enumerate(line):
        if cells == offset:
            return line[index:]
        cells += cell_len(char)
    return ""


def test_wide_unicode_is_aligned_by_terminal_cells() -> None:
    tasks = [listed(i, server_name=WIDE[i % len(WIDE)], keypair_name=WIDE[-1 - i % len(WIDE)]) for i in range(12)]
    grid = listed_grid(tasks, False)
    ours = plain(grid)
    widths = grid.natural()
    starts = [sum(widths[:index]) + 3 * index for index in range(len(widths))]
    for line, row in zip(ours.splitlines()[2:], grid.rows, strict=True):
        for start, text in zip(starts, row, strict=True):
            assert at_cells(line, start).startswith(text), (line, text)
    assert any(cell_len(line) != len(line) for line in ours.splitlines())  # wide text was there


def test_long_cells_are_whole_and_aligned() -> None:
    long = "x" * 3000 + "界" * 500
    tasks = [listed(1, server_name=long), listed(2, keypair_name="k" * 4000), listed(3)]
    grid = listed_grid(tasks, True)
    ours = plain(grid)
    assert len(ours.splitlines()) == 5
    assert long in ours


def test_a_pipe_is_never_wrapped() -> None:
    huge = "y" * 25_000  # rich would fold this at the 10,000 columns it gives a pipe
    out = draw(Pipe(), tasks=[listed(1, server_id=huge), listed(2)])
    assert len(out.splitlines()) == 4
    assert huge in out


# -- what comes from outside --------------------------------------------------------------


def test_no_control_characters_reach_the_output() -> None:
    nasty = ["\x1b]52;c;cHduZWQ=\x07", "\r\x1b[2K", "\u202egnp.exe", "a\nb", "\t", "\x9b31m", "\x00", "\u2066x"]
    tasks = [listed(i, server_name=text, keypair_name=text, task_error_msg=text) for i, text in enumerate(nasty)]
    out = draw(Pipe(), tasks=tasks, failed=True)
    assert not UNSAFE.search(out), ascii(out)
    assert len(out.splitlines()) == len(nasty) + 2
    assert out == plain(listed_grid(tasks, True))


def test_markup_and_emoji_codes_stay_text() -> None:
    out = draw(Pipe(), tasks=[listed(1, server_name="[bold red]x[/]", keypair_name=":white_check_mark:")])
    assert "[bold red]x[/]" in out and ":white_check_mark:" in out and "✅" not in out


def test_secrets_are_masked_before_layout() -> None:
    tasks = [listed(1, server_name=f"echo {SECRET}", keypair_name=SECRET), listed(2)]
    out = draw(Pipe(), tasks=tasks, secrets=(SECRET,))
    assert SECRET not in out and "echo *** (srv-000001)" in out
    masked = [listed(1, server_name="echo ***", keypair_name="***"), listed(2)]
    assert out == plain(listed_grid(masked, False))  # the widths are the masked texts'


# -- terminals ----------------------------------------------------------------------------


def test_a_terminal_gets_rich_s_colours_around_the_text_not_the_padding() -> None:
    answers = [result(f"t{i}", ("RUNNING_RESET", "FAILED_BIND", "SUCCESS_BIND")[i % 3]) for i in range(1001)]
    out = draw(Tty(), results=answers)
    lines = out.splitlines()
    assert len(lines) == 1001 + 2
    assert lines[0].startswith("\x1b[1mTASK\x1b[0m")
    assert "\x1b[33mRUNNING_RESET\x1b[0m" in lines[2] and "\x1b[1;31mFAILED_BIND\x1b[0m" in lines[3]
    assert ESCAPE.sub("", out) == plain(results_grid(answers))


@pytest.mark.parametrize("env", [{"NO_COLOR": "1"}, {"TTY_COMPATIBLE": "0"}])
def test_a_long_table_without_colour(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():  # kpstask reads the run's environment, rich the process's
        monkeypatch.setenv(name, value)
    answers = [result(f"t{i}", "FAILED_BIND") for i in range(1001)]
    out = draw(Tty(), results=answers, env=env)
    assert out == plain(results_grid(answers))


def test_force_color_on_a_pipe_is_rich_s_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich reads the process environment
    answers = [result(f"t{i}", "FAILED_BIND") for i in range(1001)]
    out = draw(Pipe(), results=answers, env={"FORCE_COLOR": "1"})
    assert "\x1b[1;31mFAILED_BIND\x1b[0m" in out
    assert ESCAPE.sub("", out) == plain(results_grid(answers))


# -- a fleet ------------------------------------------------------------------------------


def test_ten_thousand_rows_on_a_pipe() -> None:
    stream = Pipe()
    out = draw(stream, tasks=[listed(i) for i in range(10_000)])
    lines = out.splitlines()
    assert len(lines) == 10_002
    assert lines[0] == "TASK    SERVER                  KEY PAIR   OPERATION   STARTED (UTC)"
    assert lines[2] == "t0      ecs-0 (srv-000000)      kp-0       reset       2025-11-28T03:20:00Z"
    assert lines[-1] == "t9999   ecs-9999 (srv-009999)   kp-3       reset       2025-11-28T06:06:39Z"
    assert len({len(line) for line in lines[2:]}) == 1  # aligned: same width, no trailing spaces
    assert len(stream.writes) > 10 and max(stream.writes) < len(out) / 10  # written in chunks, not one string


def test_ten_thousand_results_on_a_pipe() -> None:
    answers = [result(f"t{i}", "RUNNING_RESET", elapsed_s=i / 10) for i in range(10_000)]
    lines = draw(Pipe(), results=answers).splitlines()
    assert len(lines) == 10_002
    assert lines[0].split() == ["TASK", "SERVER", "STATUS", "MEANING", "ELAPSED"]
    assert lines[-1].split()[:3] == ["t9999", "server-of-t9999", "RUNNING_RESET"]
    assert lines[-1].endswith("16m39s")  # 999.9 s, as every duration is written


def test_a_reader_that_goes_away_is_seen() -> None:
    with pytest.raises(BrokenPipeError):
        draw(ClosedPipe(), tasks=[listed(i) for i in range(5000)])


def test_a_piped_table_does_not_load_rich_s_layout() -> None:
    code = """
import io, sys
from kpstask.context import Run
from kpstask.models import ListedTask
from kpstask.output.human import HumanRenderer
out = io.StringIO()
renderer = HumanRenderer(Run(stdout=out, stderr=io.StringIO(), env={}))
renderer.listed(ListedTask({"task_id": "t1", "server_name": "界面"}), False)
renderer.close()
assert out.getvalue().startswith("TASK"), out.getvalue()
print(sorted(name for name in sys.modules if name.startswith(("rich.console", "rich.table", "rich.text"))))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.strip() == "[]"
