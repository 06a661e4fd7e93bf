"""The wait engine with a fake clock: schedule, deadline, transient trouble,
not-found grace, refused credentials, fail-fast, rate cap. No test sleeps."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from kpstask.api.policy import POLL
from kpstask.choices import WaitOptions
from kpstask.durations import parse_duration
from kpstask.errors import ApiError, AuthError, ExitCode, KpsError, NetworkError, NotFoundError, UsageError, worst
from kpstask.models import Task, TaskResult
from kpstask.output.progress import PlainProgress, annotation, summary
from kpstask.wait.engine import WaitEngine
from kpstask.wait.events import Event, TaskDone, TaskSeen, TaskTrouble, Tick, WaitInterrupted
from kpstask.wait.runners import InlineRunner

MAX_INTERVAL_S = POLL.cap_s


def adaptive_interval(age: float, rand: object) -> float:
    return POLL(age, rand)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeApi:
    """Each task is a function of fake time -> status, or an error to raise."""

    clock: FakeClock
    plans: dict[str, Callable[[float], str | KpsError]]
    calls: list[tuple[float, str]] = field(default_factory=list)

    def poll(self, task_id: str) -> Task:
        self.calls.append((self.clock.now, task_id))
        outcome = self.plans[task_id](self.clock.now)
        if isinstance(outcome, KpsError):
            raise outcome
        return Task(task_id, outcome, "server-1", {"task_id": task_id, "task_status": outcome})


def finishes(at: float, status: str = "SUCCESS_RESET") -> Callable[[float], str]:
    prefix = "RUNNING_" + status.split("_", 1)[1]
    return lambda now: status if now >= at else prefix


def run(
    plans: dict[str, Callable[[float], str | KpsError]], **options: object
) -> tuple[list[TaskResult], FakeApi, list[Event], FakeClock]:
    clock = FakeClock()
    api = FakeApi(clock, plans)
    events: list[Event] = []
    engine = WaitEngine(
        list(plans),
        InlineRunner(api.poll),
        WaitOptions(**options),  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 0.5,
        on_event=events.append,
    )
    return engine.run(), api, events, clock


def test_success_and_failure() -> None:
    results, _, events, _ = run({"a": finishes(10), "b": finishes(5, "FAILED_BIND")})
    assert [r.task.task_status for r in results if r.task] == ["SUCCESS_RESET", "FAILED_BIND"]
    assert [r.exit_code for r in results] == [ExitCode.OK, ExitCode.FAILED]
    assert worst(r.exit_code for r in results) == ExitCode.FAILED
    seen = [(e.task.task_id, e.previous, e.task.task_status) for e in events if isinstance(e, TaskSeen)]
    assert ("a", None, "RUNNING_RESET") in seen and ("a", "RUNNING_RESET", "SUCCESS_RESET") in seen
    assert all(r.polls and r.elapsed_s is not None for r in results)


def test_a_30_second_bind_is_noticed_within_a_couple_of_seconds() -> None:
    results, _, _, _ = run({"bind": finishes(30, "SUCCESS_BIND")})
    assert 30 <= results[0].elapsed_s <= 30 + 0.15 * 30 * 1.1  # type: ignore[operator]


def test_a_ten_minute_reset_costs_few_requests() -> None:
    results, api, _, _ = run({"reset": finishes(600)})
    assert results[0].exit_code == ExitCode.OK
    assert len(api.calls) <= 600 / 15 + 25
    assert results[0].elapsed_s <= 600 + MAX_INTERVAL_S  # type: ignore[operator]


def test_never_faster_than_one_second_per_task() -> None:
    _, api, _, _ = run({"a": finishes(20), "b": finishes(20)}, interval_s=1.0)
    for task_id in ("a", "b"):
        times = [t for t, tid in api.calls if tid == task_id]
        assert all(later - earlier >= 1.0 - 1e-9 for earlier, later in itertools.pairwise(times))


def test_fixed_interval() -> None:
    _, api, _, _ = run({"a": finishes(60)}, interval_s=20.0)
    assert [t for t, _ in api.calls] == [0.0, 20.0, 40.0, 60.0]


def test_deadline_gives_124_with_the_last_status() -> None:
    results, api, _events, clock = run({"slow": finishes(10_000)}, timeout_s=120.0)
    assert results[0].exit_code == ExitCode.DEADLINE
    assert results[0].task is not None and results[0].task.task_status == "RUNNING_RESET"
    assert clock.now == pytest.approx(120.0)
    assert api.calls[-1][0] >= 120.0 - 1.0  # a last look just before the deadline


def test_a_task_finishing_just_before_the_deadline_is_seen() -> None:
    results, _, _, _ = run({"a": finishes(118)}, timeout_s=120.0)
    assert results[0].exit_code == ExitCode.OK


def test_no_deadline() -> None:
    results, _, _, _ = run({"a": finishes(7200)}, timeout_s=None)
    assert results[0].exit_code == ExitCode.OK


def test_transient_trouble_is_retried_and_reported() -> None:
    def flaky(now: float) -> str | KpsError:
        if now < 10:
            return ApiError("server error", http_status=503)
        if now < 20:
            return NetworkError("connection reset")
        return "SUCCESS_UNBIND" if now > 40 else "RUNNING_UNBIND"

    results, _, events, _ = run({"a": flaky})
    assert results[0].exit_code == ExitCode.OK
    troubles = [e for e in events if isinstance(e, TaskTrouble)]
    assert troubles and {type(e.error) for e in troubles} == {ApiError, NetworkError}
    assert all(e.retry_in_s >= 1.0 for e in troubles)


def test_errors_back_off() -> None:
    results, api, events, _ = run({"a": lambda now: NetworkError("down")}, timeout_s=300.0)
    waits = [e.retry_in_s for e in events if isinstance(e, TaskTrouble)]
    assert waits[:6] == sorted(waits[:6])
    assert max(waits) <= 30.0
    # never answered at all: the exit code says why, not just "deadline"
    assert results[0].exit_code == ExitCode.NETWORK
    assert len(api.calls) < 40


def test_retry_after_is_honoured() -> None:
    def throttled(now: float) -> str | KpsError:
        return ApiError("throttled", http_status=429, retry_after_s=25) if now < 1 else "SUCCESS_RESET"

    _, api, _, _ = run({"a": throttled})
    assert [t for t, _ in api.calls] == [0.0, 25.0]


def test_malformed_answers_are_transient() -> None:
    def odd(now: float) -> str | KpsError:
        return ApiError("the answer is not valid JSON", http_status=200) if now < 5 else "SUCCESS_RESET"

    results, _, _, _ = run({"a": odd})
    assert results[0].exit_code == ExitCode.OK


def test_other_client_errors_end_the_task() -> None:
    results, api, _, _ = run({"a": lambda now: ApiError("request refused", http_status=400)})
    assert results[0].exit_code == ExitCode.API
    assert len(api.calls) == 1


def test_not_found_is_retried_for_the_grace_period() -> None:
    def appears(now: float) -> str | KpsError:
        return NotFoundError("not found", http_status=404) if now < 8 else "SUCCESS_BIND"

    results, _, _, _ = run({"a": appears}, not_found_grace_s=30.0)
    assert results[0].exit_code == ExitCode.OK


def test_not_found_after_the_grace_period_is_exit_5() -> None:
    results, api, _, clock = run({"a": lambda now: NotFoundError("not found")}, not_found_grace_s=30.0)
    assert results[0].exit_code == ExitCode.NOT_FOUND
    assert 30.0 <= clock.now <= 31.0
    assert len(api.calls) < 20


def test_a_task_that_vanishes() -> None:
    def vanishes(now: float) -> str | KpsError:
        return "RUNNING_RESET" if now < 20 else NotFoundError("not found")

    results, _, _, _ = run({"a": vanishes}, not_found_grace_s=10.0)
    assert results[0].exit_code == ExitCode.NOT_FOUND


def test_refused_credentials_end_everything_at_once() -> None:
    def refused(now: float) -> str | KpsError:
        return "RUNNING_RESET" if now < 10 else AuthError("credentials refused", http_status=401)

    results, api, _, clock = run({"a": refused, "b": finishes(500)})
    assert worst(r.exit_code for r in results) == ExitCode.AUTH
    assert results[0].exit_code == ExitCode.AUTH
    assert results[1].exit_code == ExitCode.PENDING
    assert clock.now < 20
    assert sum(1 for _, task_id in api.calls if task_id == "a" and _ >= 10) == 1


def test_fail_fast() -> None:
    results, _, _, clock = run({"a": finishes(10, "FAILED_RESET"), "b": finishes(900)}, fail_fast=True)
    assert [r.exit_code for r in results] == [ExitCode.FAILED, ExitCode.PENDING]
    assert clock.now < 15


def test_without_fail_fast_everything_is_waited_for() -> None:
    results, _, _, _ = run({"a": finishes(10, "FAILED_RESET"), "b": finishes(90)})
    assert [r.exit_code for r in results] == [ExitCode.FAILED, ExitCode.OK]


def test_rate_cap_and_concurrency_with_many_tasks() -> None:
    plans: dict[str, Callable[[float], str | KpsError]] = {f"t{i}": finishes(60 + i) for i in range(100)}
    results, api, _, _ = run(plans, max_rate=10.0)
    assert all(r.exit_code == ExitCode.OK for r in results)
    starts = sorted(t for t, _ in api.calls)
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 1.0]
        assert len(in_window) <= 10


def test_unknown_status_keeps_waiting() -> None:
    results, _, _, _ = run({"a": lambda now: "PAUSED_RESET" if now < 30 else "SUCCESS_RESET"})
    assert results[0].exit_code == ExitCode.OK


def test_ticks_reach_the_display() -> None:
    _, _, events, _ = run({"a": finishes(30)})
    ticks = [e for e in events if isinstance(e, Tick)]
    assert len(ticks) >= 25
    assert ticks[0].pending == ("a",)


def test_ctrl_c_returns_what_is_known() -> None:
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now > 5:
            raise KeyboardInterrupt

    api = FakeApi(clock, {"a": finishes(100)})
    engine = WaitEngine(["a"], InlineRunner(api.poll), clock=clock, sleep=sleep, rand=lambda: 0.5)
    with pytest.raises(WaitInterrupted) as info:
        engine.run()
    [result] = info.value.results
    assert result.task is not None and result.task.task_status == "RUNNING_RESET"


def interrupted_after(seconds: float, plans: dict[str, Callable[[float], str | KpsError]]) -> list[TaskResult]:
    """The results of a wait that Ctrl-C stops once `seconds` of fake time have passed."""
    clock = FakeClock()

    def sleep(delay: float) -> None:
        clock.sleep(delay)
        if clock.now > seconds:
            raise KeyboardInterrupt

    api = FakeApi(clock, plans)
    engine = WaitEngine(list(plans), InlineRunner(api.poll), clock=clock, sleep=sleep, rand=lambda: 0.5)
    with pytest.raises(WaitInterrupted) as info:
        engine.run()
    assert info.value.code == ExitCode.INTERRUPTED
    return info.value.results


def test_a_task_mid_retry_at_ctrl_c_is_not_finished_not_an_error() -> None:
    never_seen = interrupted_after(
        5,
        {
            "a": lambda now: ApiError("server error", http_status=503),
            "b": lambda now: NetworkError("connection reset"),
            "c": lambda now: NotFoundError("not found"),
            "d": finishes(100),
        },
    )
    assert [(r.task_id, r.error, r.task is None) for r in never_seen] == [
        ("a", None, True),
        ("b", None, True),
        ("c", None, True),
        ("d", None, False),
    ]
    assert summary(never_seen, True) == "interrupted: 4 not finished"
    assert {r.exit_code for r in never_seen} == {ExitCode.PENDING}

    def seen_then_trouble(now: float) -> str | KpsError:
        return "RUNNING_RESET" if now < 1 else NetworkError("connection reset")

    [result] = interrupted_after(20, {"a": seen_then_trouble})
    assert result.error is None and result.task is not None and result.task.task_status == "RUNNING_RESET"


def test_a_task_mid_retry_at_fail_fast_is_not_finished() -> None:
    results, _, _, _ = run({"a": finishes(10, "FAILED_RESET"), "b": lambda now: NetworkError("down")}, fail_fast=True)
    assert [r.exit_code for r in results] == [ExitCode.FAILED, ExitCode.PENDING]
    assert results[1].error is None
    assert summary(results, False) == "done: 1 failed, 1 not finished"


def test_at_the_deadline_a_task_never_seen_still_says_why() -> None:
    results, _, _, _ = run({"a": lambda now: NetworkError("connection reset")}, timeout_s=60.0)
    assert results[0].exit_code == ExitCode.NETWORK and "connection reset" in str(results[0].error)


def test_results_keep_the_order_given() -> None:
    results, _, _, _ = run({"z": finishes(50), "a": finishes(5), "m": finishes(20)})
    assert [r.task_id for r in results] == ["z", "a", "m"]


# -- schedule and durations ------------------------------------------------------


@pytest.mark.parametrize("age", [0, 1, 5, 30, 100, 600, 10_000])
def test_adaptive_interval_bounds(age: float) -> None:
    for rand in (0.0, 0.5, 1.0):
        interval = adaptive_interval(age, lambda r=rand: r)  # type: ignore[misc]
        assert 1.0 <= interval <= MAX_INTERVAL_S


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("0", 0), ("2.5s", 2.5), (" 1M ", 60)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "--timeout") == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-1", "1d", "m", "1h1h"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--timeout"):
        parse_duration(text, "--timeout")


# -- the plain display -------------------------------------------------------------


def test_plain_progress_lines_heartbeat_and_no_escape_codes() -> None:
    stream = io.StringIO()
    wall = [1_800_000_000.0]
    display = PlainProgress(stream, heartbeat_s=60, wall=lambda: wall[0])
    task = Task("t1", "RUNNING_RESET\x1b[31m", "s1", {})
    display(TaskSeen(task, None, 0.0))
    display(TaskTrouble("t1", ApiError("server error", http_status=503), 2.0, 1.0))
    display(TaskTrouble("t1", ApiError("server error", http_status=503), 4.0, 3.0))  # same trouble: quiet
    wall[0] += 61
    display(Tick(61.0, ("t1",)))
    wall[0] += 10
    display(TaskSeen(Task("t1", "SUCCESS_RESET", "s1", {}), "RUNNING_RESET", 71.0))
    display.close([TaskResult("t1", task=Task("t1", "SUCCESS_RESET", "s1", {}), elapsed_s=71.0, polls=9)])
    lines = stream.getvalue().splitlines()
    assert lines[0] == "2027-01-15T08:00:00Z t1 on server s1: RUNNING_RESET [31m (In progress (unknown operation))"
    assert "warning: task t1: retrying in 2.0s: server error (HTTP 503)" in lines[1]
    assert "still waiting after 1m01s on 1 task(s): t1" in lines[2]
    assert lines[3].endswith("t1: RUNNING_RESET -> SUCCESS_RESET (Reset succeeded) after 1m11s")
    assert lines[4].endswith("done: 1 succeeded after 1m11s")
    assert len(lines) == 5
    assert "\x1b" not in stream.getvalue() and "\r" not in stream.getvalue()


def test_not_found_yet_says_how_long_kpstask_keeps_asking() -> None:
    def appears(now: float) -> str | KpsError:
        return NotFoundError("not found", http_status=404) if now < 12 else "SUCCESS_BIND"

    _, _, events, _ = run({"a": appears}, not_found_grace_s=30.0)
    troubles = [e for e in events if isinstance(e, TaskTrouble)]
    assert len(troubles) >= 2
    assert troubles[0].describe() == "task a: not found yet; asking again for up to 30s (--not-found-grace)"
    assert troubles[-1].describe() == "task a: not found yet; asking again for up to 20s (--not-found-grace)"
    stream = io.StringIO()
    display = PlainProgress(stream, wall=lambda: 1_800_000_000.0)
    for event in events:
        display(event)
    lines = stream.getvalue().splitlines()
    warnings = [line for line in lines if "warning:" in line]
    # once, not at every retry; and none of the old words
    said = "2027-01-15T08:00:00Z warning: task a: not found yet; asking again for up to 30s (--not-found-grace)"
    assert warnings == [said]
    assert "retrying in" not in stream.getvalue()


def test_trouble_describes_itself_for_every_display() -> None:
    trouble = TaskTrouble("t1", ApiError("server error", http_status=503), 2.0, 1.0)
    assert trouble.describe() == "task t1: retrying in 2.0s: server error (HTTP 503)"
    assert TaskTrouble("t1", ApiError("throttled"), 120.0, 1.0).describe() == "task t1: retrying in 2m00s: throttled"
    almost = TaskTrouble("t1", NotFoundError("not found"), 0.2, 29.8, grace_left_s=0.2)
    assert almost.describe() == "task t1: not found yet; asking again for up to 1s (--not-found-grace)"


def test_github_annotation_for_failed_tasks() -> None:
    failed = TaskResult("t1", task=Task("t1", "FAILED_RESET", "srv", {}))
    assert annotation(failed) == "::error::kpstask: task t1 on server srv: Reset failed (FAILED_RESET)"
    assert annotation(TaskResult("t2", task=Task("t2", "SUCCESS_RESET", "srv", {}))) is None
    gone = annotation(TaskResult("t3", error=NotFoundError("not found 100%")))
    assert gone is not None and "100%25" in gone


def test_summary_words() -> None:
    results = [
        TaskResult("a", task=Task("a", "SUCCESS_RESET", None, {})),
        TaskResult("b", task=Task("b", "RUNNING_RESET", None, {}), deadline=True),
        TaskResult("c", error=NetworkError("down")),
    ]
    assert summary(results, False) == "done: 1 succeeded, 1 still pending at the deadline, 1 error"
    assert summary(results, True).startswith("interrupted: ")


def test_wait_events_are_only_data() -> None:
    assert TaskDone(TaskResult("a")).result.task_id == "a"


def test_rate_limiter_spaces_starts() -> None:
    from kpstask.api.rate import RATE_MARGIN, RateLimiter

    limiter = RateLimiter(10.0)
    assert limiter.take(0.0)
    assert not limiter.take(0.05)
    assert limiter.free_at(0.05) == pytest.approx(RATE_MARGIN / 10)
    assert limiter.take(limiter.free_at(0.05))
