"""`wait -o json|tsv` writes each task's line when the task is final, in the order tasks
finish; a failed task's line waits a little for its reason (one lookup for a batch);
`get --wait` keeps the order given. Unit tests of the sink, then the command."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from kpstask.errors import ExitCode
from kpstask.models import Failure, Task, TaskResult
from kpstask.simulator import Scenario, Simulator
from kpstask.wait.events import Event, TaskDone, Tick
from kpstask.wait.resultstream import HOLD_S, ResultStream
from tests.conftest import CANARY
from tests.test_e2e import KPSTASK, child_env


class Lines:
    """A renderer that keeps what it was given."""

    def __init__(self) -> None:
        self.tasks: list[str] = []

    def task(self, result: TaskResult) -> None:
        self.tasks.append(result.task_id if result.failure is None else f"{result.task_id}: {result.failure.message}")


def done(task_id: str, status: str) -> TaskDone:
    return TaskDone(TaskResult(task_id, task=Task(task_id, status, "srv", {})))


def test_a_finished_task_is_written_at_once() -> None:
    out = Lines()
    stream = ResultStream(out, None)  # type: ignore[arg-type]
    stream(done("b", "SUCCESS_BIND"))
    assert out.tasks == ["b"]
    stream(done("a", "FAILED_BIND"))  # no reasons wanted (TSV): nothing held
    assert out.tasks == ["b", "a"]


def test_failed_tasks_wait_for_one_lookup_of_their_reasons() -> None:
    out, asked = Lines(), []

    def explain(held: list[TaskResult]) -> list[TaskResult]:
        asked.append([result.task_id for result in held])
        return [result._replace(failure=Failure("KPS.1", "broken", None)) for result in held]

    stream = ResultStream(out, explain)  # type: ignore[arg-type]
    events: list[Event] = [Tick(1.0, ()), done("f1", "FAILED_RESET"), done("ok", "SUCCESS_RESET")]
    events += [Tick(2.0, ()), done("f2", "FAILED_RESET"), Tick(1.0 + HOLD_S - 0.1, ())]
    for event in events:
        stream(event)
    assert out.tasks == ["ok"] and not asked
    stream(Tick(1.0 + HOLD_S, ()))
    assert asked == [["f1", "f2"]]
    assert out.tasks == ["ok", "f1: broken", "f2: broken"]
    results = [TaskResult(task_id) for task_id in ("f1", "ok", "f2", "late")]
    assert [result.failure is not None for result in stream.known(results)] == [True, False, True, False]
    assert [result.task_id for result in stream.unwritten(results)] == ["late"]


def test_ctrl_c_during_the_lookup_still_writes_the_held_lines() -> None:
    out = Lines()

    def explain(held: list[TaskResult]) -> list[TaskResult]:
        raise KeyboardInterrupt

    stream = ResultStream(out, explain)  # type: ignore[arg-type]
    stream(done("f1", "FAILED_RESET"))
    with pytest.raises(KeyboardInterrupt):
        stream.flush()
    assert out.tasks == ["f1"]


# -- the command, against the simulator --------------------------------------------------


@pytest.fixture
def sim() -> Iterator[Simulator]:
    scenario = Scenario.parse(
        {
            "token": CANARY,
            "tasks": [
                {"id": "slow", "operation": "reset", "outcome": "never", "ready_s": 0.1},
                {"id": "fast", "operation": "bind", "ready_s": 0.1, "running_s": 0.3},
                {"id": "broken", "operation": "unbind", "outcome": "failed", "ready_s": 0.1, "running_s": 0.3},
            ],
        }
    )
    with Simulator(scenario) as running:
        yield running


def timed_lines(sim: Simulator, *args: str) -> tuple[list[tuple[float, bool, str]], int]:
    """Each stdout line with when it came and whether the process was still running."""
    proc = subprocess.Popen(
        [str(KPSTASK), *args], env=child_env(sim), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    start, seen = time.monotonic(), []
    timer = threading.Timer(30, proc.kill)  # never a hang
    timer.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append((time.monotonic() - start, proc.poll() is None, line))
    timer.cancel()
    return seen, proc.wait()


@pytest.mark.slow  # a whole process on the simulator's real clock: 4-5 s, more on a busy machine
@pytest.mark.parametrize("form", ["json", "tsv"])
def test_wait_writes_each_line_when_its_task_is_final(sim: Simulator, form: str) -> None:
    lines, code = timed_lines(sim, "wait", "slow", "fast", "broken", "--interval", "1", "--timeout", "4s", "-o", form)
    assert code == ExitCode.FAILED
    ids = [line.split("\t")[0] if form == "tsv" else json.loads(line)["task_id"] for _, _, line in lines]
    assert ids[-1] == "slow" and set(ids[:2]) == {"fast", "broken"}  # completion order, not the order given
    fast = next(entry for entry, task_id in zip(lines, ids, strict=True) if task_id == "fast")
    assert fast[1] and fast[0] < 3.0  # written while the wait went on, long before its deadline
    if form == "json":
        broken = json.loads(next(line for _, _, line in lines if '"broken"' in line))
        assert broken["failure"]["message"]  # the reason came with it


def test_get_wait_keeps_the_order_given(sim: Simulator) -> None:
    lines, code = timed_lines(sim, "get", "--wait", "slow", "fast", "--interval", "1", "--timeout", "3s", "-o", "json")
    assert code == ExitCode.DEADLINE
    assert [json.loads(line)["task_id"] for _, _, line in lines] == ["slow", "fast"]
