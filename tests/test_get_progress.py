"""`get` with many ids (issue 19, item 6): a line of counts on a terminal's stderr while the
answers come, and on Ctrl-C or SIGTERM every answer in (in the order given, those that came
before their turn too) and the other tasks with no answer, then exit 130 or 143."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import responses

from kpstask import tasks
from kpstask.auth.credentials import TokenAuth
from kpstask.choices import Display, OutputFormat, Pace, Timing
from kpstask.connect import Target
from kpstask.context import Run
from kpstask.errors import ApiError
from kpstask.interrupts import Terminated
from kpstask.models import Task, TaskResult
from kpstask.output import getprogress
from kpstask.output.getprogress import ERASE, CountLine, NoLine, counting
from kpstask.settings import BY_NAME, FLAG, Found
from kpstask.simulator import Scenario, Simulator
from kpstask.wait.asking import Asker
from kpstask.wait.runners import Outcome, Poll, _outcome
from tests.conftest import CANARY, ENDPOINT, PROJECT, add_task, run
from tests.terminal import Screen
from tests.test_e2e import KPSTASK, child_env
from tests.test_simulator import read_to_end

IDS = [f"t{i}" for i in range(10)]


class Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


class Tty(io.StringIO):
    """A terminal's stream: it counts the writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def answer(task_id: str, status: str = "SUCCESS_RESET") -> TaskResult:
    return TaskResult(task_id, task=Task(task_id, status, None, {}))


def screen(stream: io.StringIO) -> list[str]:
    return Screen(80).feed(stream.getvalue()).text()


def tty_run(stdout: io.StringIO | None = None, **env: str) -> tuple[Run, Tty]:
    stderr = Tty()
    return Run(stdout=stdout or Pipe(), stderr=stderr, env={"COLUMNS": "80", **env}), stderr


# -- the line: counts, the pace of redraws, cleared before anything else ---------------------


def test_the_line_counts_answers_failures_and_errors() -> None:
    clock, stream = Clock(), Tty()
    line = CountLine(stream, 300, clock=clock, width=lambda: 80)
    line.answered(answer("t1"))
    assert stream.getvalue() == ""  # nothing in the first half second
    clock.now += 0.6
    for result in [
        answer("t2", "FAILED_RESET"),
        TaskResult("t3", error=ApiError("x")),
        TaskResult("t4", error=ApiError("y")),
    ]:
        line.answered(result)
        clock.now += 0.2
    assert stream.getvalue().endswith(ERASE + "kpstask: 4/300 answered, 1 failed, 2 errors")
    assert screen(stream) == ["kpstask: 4/300 answered, 1 failed, 2 errors"]  # one line, redrawn in place


def test_redraws_at_most_ten_times_a_second_whatever_the_number_of_answers() -> None:
    clock, stream = Clock(), Tty()
    line = CountLine(stream, 5000, clock=clock, width=lambda: 80)
    clock.now += 0.5
    for i in range(5000):  # 5000 answers in 2 seconds
        line.answered(answer(f"t{i}"))
        line.tick()
        clock.now += 0.0004
    assert 15 <= stream.writes <= 21
    line.tick()  # the clock has not moved: nothing new
    assert stream.writes <= 21
    clock.now += 0.1
    line.tick()
    assert screen(stream) == ["kpstask: 5000/5000 answered"]


def test_the_line_is_cut_to_leave_room_for_an_echoed_ctrl_c_and_not_drawn_in_a_sliver() -> None:
    clock, stream = Clock(), Tty()
    width = [30]
    line = CountLine(stream, 300, clock=clock, width=lambda: width[0])
    clock.now += 1
    line.answered(answer("t1", "FAILED_RESET"))
    assert stream.getvalue() == ERASE + "kpstask: 1/300 answered, 1"  # 27 columns of 30
    width[0], clock.now = 12, clock.now + 1
    line.clear()
    line.tick()
    assert stream.getvalue().endswith(ERASE)


def test_cleared_before_a_warning_and_at_the_end() -> None:
    clock = Clock()
    run, stderr = tty_run()
    with counting(run, Display(), 10, clock) as line:
        clock.now += 1
        line.answered(answer("t1"))
        assert stderr.getvalue() == ERASE + "kpstask: 1/10 answered"
        run.warn("task t2: retrying (1/3) in 0.5s: throttled")
        assert stderr.getvalue().endswith(
            "answered" + ERASE + "kpstask: warning: task t2: retrying (1/3) in 0.5s: throttled\n"
        )
        line.tick()  # redrawn under the warning, once its time has come
        assert stderr.getvalue().endswith("throttled\n")
        clock.now += 0.15
        line.tick()
        assert stderr.getvalue().endswith("throttled\n" + ERASE + "kpstask: 1/10 answered")
        run.say("error", "task t3: boom")
    assert stderr.getvalue().endswith(ERASE + "kpstask: error: task t3: boom\n")  # nothing left to clear
    assert screen(stderr) == [
        "kpstask: warning: task t2: retrying (1/3) in 0.5s: throttled",
        "kpstask: error: task t3: boom",
    ]
    assert run.stderr.write("after\n") and stderr.getvalue().endswith("boom\nafter\n")  # the streams given back


def test_cleared_at_the_end_and_never_drawn_after_a_half_written_line() -> None:
    clock = Clock()
    run, stderr = tty_run()
    with counting(run, Display(), 10, clock) as line:
        clock.now += 1
        line.answered(answer("t1"))
        run.stderr.write("a question? ")
        clock.now += 1
        line.answered(answer("t2"))
        assert stderr.getvalue().endswith(ERASE + "a question? ")
    assert stderr.getvalue().endswith(ERASE + "a question? ")
    with counting(run, Display(), 10, clock) as line:
        clock.now += 1
        line.answered(answer("t1"))
    assert stderr.getvalue().endswith(ERASE + "kpstask: 1/10 answered" + ERASE)


def test_results_on_the_same_terminal_are_not_written_after_the_counts() -> None:
    clock, stdout = Clock(), Tty()
    run, _ = tty_run(stdout)
    with counting(run, Display(), 10, clock) as line:
        clock.now += 1
        line.answered(answer("t1"))
        run.stdout.write('{"task_id":"t1"}\n')
    # stdout and stderr are one screen here: the erase went to stderr before the line
    assert stdout.getvalue() == '{"task_id":"t1"}\n'
    assert run.stderr_isatty and run.stdout_isatty


@pytest.mark.parametrize(
    ("stderr", "display", "total", "env"),
    [
        (Pipe, Display(), 10, {}),  # a pipe, a CI log
        (Tty, Display(quiet=True), 10, {}),  # -q
        (Tty, Display(), 1, {}),  # one task: its retries are said, a count says nothing more
        (Tty, Display(), 10, {"TERM": "dumb"}),  # a terminal that cannot erase a line
    ],
    ids=["pipe", "quiet", "one-task", "dumb"],
)
def test_no_line_where_it_does_not_help(
    stderr: type[io.StringIO], display: Display, total: int, env: dict[str, str]
) -> None:
    clock, stream = Clock(), stderr()
    run = Run(stdout=Pipe(), stderr=stream, env=env)
    with counting(run, display, total, clock) as line:
        assert isinstance(line, NoLine)
        clock.now += 5
        line.answered(answer("t1"))
        line.tick()
        line.clear(echoed=True)
        run.warn("said")
    assert stream.getvalue() in ("", "kpstask: warning: said\n")
    assert "\x1b" not in stream.getvalue()


def ask(task_id: str) -> Task:
    return Task(task_id, "SUCCESS_RESET", None, {})


def test_the_asker_tells_the_line_of_every_answer_and_ticks() -> None:
    heard: list[str] = []
    ticks = [0]

    class Watch:
        def answered(self, result: TaskResult) -> None:
            heard.append(result.task_id)

        def tick(self) -> None:
            ticks[0] += 1

    runner = Scripted(ask, slow=set(), stop_after=len(IDS), stop=KeyboardInterrupt())
    asker = Asker(ask, Pace(max_rate=1e6, concurrency=4), runner=runner, watch=Watch())
    assert [result.task_id for result in asker(IDS)] == IDS
    assert heard == IDS and ticks[0] >= len(IDS)
    assert set(asker.answers) == set(IDS) and asker.sent == len(IDS)


def test_an_interrupted_asker_keeps_the_answers_that_came_before_their_turn() -> None:
    runner = Scripted(ask, slow={"t1"}, stop_after=4, stop=KeyboardInterrupt())
    asker = Asker(ask, Pace(max_rate=1e6, concurrency=4), runner=runner)
    given: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        for result in asker(IDS):
            given.append(result.task_id)
    assert given == ["t0"]  # t1 never answered: t2-t4 wait for their turn
    assert list(asker.answers) == ["t0", "t2", "t3", "t4"]
    assert asker.sent == 6  # t1 and t5 in flight, t6-t9 not asked


# -- Ctrl-C and SIGTERM in the middle of the answers ------------------------------------------


class Scripted:
    """In place of the worker threads: each request answered at once, in the caller's thread,
    in the order sent, except those in `slow` (in flight until the end). Once `stop_after`
    answers are in, the interrupt lands while the Asker waits for the next."""

    def __init__(self, poll: Poll, *, slow: set[str], stop_after: int, stop: BaseException) -> None:
        self._poll = poll
        self._slow = slow
        self._ready: list[str] = []
        self._left = stop_after
        self._stop = stop
        self.in_flight = 0

    def submit(self, task_id: str, call: object = None) -> None:
        self.in_flight += 1
        if task_id not in self._slow:
            self._ready.append(task_id)

    def collect(self, timeout_s: float) -> list[tuple[str, Outcome]]:
        if self._left <= 0:
            raise self._stop
        items = []
        while self._ready and self._left > 0:
            task_id = self._ready.pop(0)
            items.append((task_id, _outcome(partial(self._poll, task_id))))
            self._left -= 1
        self.in_flight -= len(items)
        return items

    def close(self) -> None:
        pass


@pytest.fixture
def interrupt(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Script the requests of the next `get`; SIGTERM's mark is taken back after the test."""
    monkeypatch.setattr(Terminated, "seen", 0)

    def script(*, slow: set[str], stop_after: int, stop: BaseException | None = None) -> None:
        def runner(poll: Poll, workers: int) -> Scripted:
            return Scripted(poll, slow=slow, stop_after=stop_after, stop=stop or KeyboardInterrupt())

        monkeypatch.setattr("kpstask.wait.asking.ThreadRunner", runner)

    return script


@pytest.fixture
def ten(kps: responses.RequestsMock) -> responses.RequestsMock:
    for task_id in IDS:
        add_task(kps, task_id, "FAILED_RESET" if task_id == "t3" else "SUCCESS_RESET")
    return kps


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


ANSWERED = ["t0", "t2", "t3", "t4"]  # t1 is in flight: t2-t4 came before their turn, held


def test_ctrl_c_prints_every_answer_in_the_order_given_then_exits_130(
    ten: responses.RequestsMock, interrupt: Callable[..., None]
) -> None:
    interrupt(slow={"t1"}, stop_after=4)
    result = run("get", *IDS, "-o", "json", "--concurrency", "4", "--max-rate", "1000")
    assert result.exit_code == 130
    records = json_lines(result.stdout)
    assert [record["task_id"] for record in records] == IDS
    assert [record["task_id"] for record in records if record["state"] != "unknown"] == ANSWERED
    assert records[3]["task_status"] == "FAILED_RESET" and "failure" not in records[3]
    assert records[1] == {
        "task_id": "t1",
        "task_status": None,
        "server_id": None,
        "operation": None,
        "state": "unknown",
    }
    assert result.stderr.splitlines() == [
        "kpstask: info: interrupted: 4 of 10 tasks answered; 4 not asked, 2 with no answer yet",
        "kpstask: info: interrupted: the failed tasks' reasons were not looked up",
        "kpstask: error: interrupted",
    ]
    assert len(ten.calls) == 4  # nothing asked after the interrupt, not even the failed list


def test_sigterm_prints_the_same_and_exits_143(ten: responses.RequestsMock, interrupt: Callable[..., None]) -> None:
    interrupt(slow={"t1"}, stop_after=4, stop=Terminated(15))
    result = run("get", *IDS, "-o", "tsv", "--concurrency", "4", "--max-rate", "1000")
    assert result.exit_code == 143
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[0] for row in rows] == IDS
    assert [row[0] for row in rows if row[3] != "unknown"] == ANSWERED
    assert result.stderr.splitlines()[-1] == "kpstask: error: terminated (SIGTERM)"
    assert "reasons" not in result.stderr  # TSV shows none: none were missed


def test_the_table_after_ctrl_c_has_every_task(ten: responses.RequestsMock, interrupt: Callable[..., None]) -> None:
    interrupt(slow={"t1"}, stop_after=4)
    result = run("get", *IDS, "--concurrency", "4", "--max-rate", "1000")
    assert result.exit_code == 130
    rows = result.stdout.splitlines()[2:]
    assert [row.split()[0] for row in rows] == IDS
    assert [row.split()[0] for row in rows if "No answer yet" in row] == ["t1", "t5", "t6", "t7", "t8", "t9"]


def test_ctrl_c_before_any_answer_prints_nothing(ten: responses.RequestsMock, interrupt: Callable[..., None]) -> None:
    interrupt(slow=set(), stop_after=0)
    result = run("get", *IDS, "-o", "json")
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "kpstask: error: interrupted\n")


def test_the_lines_already_written_are_not_written_again(
    ten: responses.RequestsMock, interrupt: Callable[..., None]
) -> None:
    interrupt(slow={"t6"}, stop_after=7)
    result = run("get", *IDS, "-o", "tsv", "--concurrency", "2", "--max-rate", "1000")
    assert result.exit_code == 130
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == IDS
    assert [line.split("\t")[3] for line in result.stdout.splitlines()].count("unknown") == 3  # t6 and two not asked


def test_ctrl_c_while_the_reasons_are_looked_up(ten: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Terminated, "seen", 0)

    def interrupted(request: Any) -> tuple[int, dict[str, str], str]:
        raise KeyboardInterrupt

    ten.add_callback(responses.GET, f"{ENDPOINT}/v3/{PROJECT}/failed-tasks", callback=interrupted)
    result = run("get", *IDS, "-o", "json")
    assert result.exit_code == 130
    records = json_lines(result.stdout)
    assert [record["task_id"] for record in records] == IDS and all(record["state"] != "unknown" for record in records)
    assert "failure" not in records[3]
    assert "kpstask: info: interrupted: the failed tasks' reasons were not looked up" in result.stderr.splitlines()


def test_a_second_ctrl_c_while_printing_ends_without_a_traceback(
    ten: responses.RequestsMock, interrupt: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kpstask.output.machine import JsonRenderer

    interrupt(slow={"t1"}, stop_after=4)
    write = JsonRenderer.task

    def task(self: JsonRenderer, result: TaskResult) -> None:
        if result.task_id == "t3":
            raise KeyboardInterrupt
        write(self, result)

    monkeypatch.setattr(JsonRenderer, "task", task)
    result = run("get", *IDS, "-o", "json", "--concurrency", "4", "--max-rate", "1000")
    assert result.exit_code == 130
    assert [record["task_id"] for record in json_lines(result.stdout)] == ["t0", "t1", "t2"]
    assert "Traceback" not in result.stderr
    assert result.stderr.count("kpstask: error: interrupted") == 1


# -- the whole `get` on a terminal -------------------------------------------------------------


def target() -> Target:
    token = TokenAuth(CANARY, Found(BY_NAME["token"], CANARY, "--token", FLAG))
    return Target(ENDPOINT, "test", None, PROJECT, "test", token, Timing())


@pytest.fixture
def at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer redrawn, at once: the real clock, no waiting for it."""
    monkeypatch.setattr(getprogress, "DELAY_S", 0.0)
    monkeypatch.setattr(getprogress, "EVERY_S", 0.0)


def test_a_get_on_a_terminal_leaves_only_its_results_and_messages(ten: responses.RequestsMock, at_once: None) -> None:
    stdout = Tty()
    run_, stderr = tty_run(stdout)
    code = tasks.run_get(run_, target(), IDS, Display(output=OutputFormat.JSON), Pace(max_rate=1e6))
    assert code == 1
    assert "kpstask: 10/10 answered, 1 failed" in stderr.getvalue()
    assert stderr.getvalue().endswith(ERASE)
    assert screen(stderr) == []
    assert [record["task_id"] for record in json_lines(stdout.getvalue())] == IDS


def test_ctrl_c_on_a_terminal_erases_the_echoed_ctrl_c(
    ten: responses.RequestsMock, at_once: None, interrupt: Callable[..., None]
) -> None:
    interrupt(slow={"t1"}, stop_after=4)
    run_, stderr = tty_run()
    code = tasks.run_get(run_, target(), IDS, Display(output=OutputFormat.JSON), Pace(max_rate=1e6, concurrency=4))
    assert code == 130
    drawn = stderr.getvalue().split("kpstask: info: interrupted")[0]
    assert drawn.endswith("kpstask: 4/10 answered, 1 failed" + ERASE)
    assert screen(stderr)[0].startswith("kpstask: info: interrupted: 4 of 10 tasks answered")


# -- end to end: SIGINT and SIGTERM to `kpstask get` with many ids ----------------------------------

MANY = [f"task-{i:03d}" for i in range(60)]
SLOW = "task-003"  # answers after 5 s: the answers after it are held for their turn
PROGRESS = re.compile(rb"kpstask: (\d+)/60 answered")


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    with Simulator(
        Scenario.parse({"token": CANARY, "tasks": [{"id": i, "status": "SUCCESS_RESET"} for i in MANY]})
    ) as sim:
        sim.set_faults([{"type": "latency", "seconds": 0.05}])
        sim.set_faults([{"type": "latency", "seconds": 5}], task_id=SLOW)
        yield sim


def started_in_a_terminal(sim: Simulator, args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """`kpstask` with stderr on an 80-column pseudo-terminal, stdout on a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        [str(KPSTASK), *args],
        env=child_env(sim, TERM="xterm"),
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    return proc, master


def answered_so_far(seen: bytes) -> int:
    counts = PROGRESS.findall(seen)
    return int(counts[-1]) if counts else 0


def read_until_answered(fd: int, at_least: int, limit_s: float = 15) -> bytes:
    """What the terminal got until the count line says `at_least` answers are in."""
    deadline = time.monotonic() + limit_s
    seen = b""
    while answered_so_far(seen) < at_least:
        assert time.monotonic() < deadline, seen.decode(errors="replace")
        if select.select([fd], [], [], 0.1)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, seen.decode(errors="replace")
            seen += chunk
    return seen


@pytest.mark.parametrize(
    ("sent", "code", "words"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")]
)
def test_a_signal_mid_way_prints_the_answers_in_and_the_rest_unknown(
    slow_sim: Simulator, sent: signal.Signals, code: int, words: str
) -> None:
    proc, master = started_in_a_terminal(slow_sim, ["get", *MANY, "-o", "json"])
    assert proc.stdout is not None
    try:
        seen = read_until_answered(master, 10)
        proc.send_signal(sent)
        seen = read_to_end(master, seen)
        out = proc.stdout.read().decode()
        assert proc.wait(timeout=10) == code
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        os.close(master)
    records = json_lines(out)
    assert [record["task_id"] for record in records] == MANY
    answered = [record["task_id"] for record in records if record["state"] == "succeeded"]
    assert all(record["state"] in ("succeeded", "unknown") for record in records)
    assert SLOW not in answered and MANY[:3] == answered[:3]  # the first three, then those held behind the slow one
    assert len(answered) >= 10 and MANY[4] in answered
    lines = Screen(80).feed(seen.decode()).text()
    assert not any(PROGRESS.search(line.encode()) for line in lines), lines  # the count line is gone
    assert lines[-1] == f"kpstask: error: {words}"
    assert lines[0].startswith(f"kpstask: info: interrupted: {len(answered)} of 60 tasks answered; "), lines
