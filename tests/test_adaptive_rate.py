"""The adaptive rate limiter (issue 19, item 4): a throttle cuts the rate for every task,
once per burst; clean answers grow it back along the CUBIC curve, never above --max-rate
nor below the floor; `get` feeds it from its answers and from its transport's retries.
Everything runs on a fake clock: no test sleeps."""

from __future__ import annotations

import itertools
import random
import threading

import pytest
import responses

from kpstask.api.client import KpsClient
from kpstask.api.policy import Interval
from kpstask.api.rate import (
    BETA,
    HOLD_S,
    MIN_RATE,
    PROBE_SCALE,
    RATE_MARGIN,
    REST_S,
    SCALE,
    RateLimiter,
    is_throttle,
)
from kpstask.api.transport import Transport
from kpstask.auth.credentials import TokenAuth
from kpstask.choices import Pace
from kpstask.errors import ApiError, AuthError, KpsError, NetworkError, NotFoundError
from kpstask.models import Task
from kpstask.settings import BY_NAME, FLAG, Found
from kpstask.wait.asking import Asker, PerTask
from tests.conftest import CANARY, ENDPOINT, PROJECT, SERVER, task_url

THROTTLED = ApiError("throttled", code="APIGW.0308", http_status=429)


def send_for(limiter: RateLimiter, start: float, seconds: float) -> float:
    """Start requests as fast as the limiter allows for `seconds`; returns the last start."""
    now = start
    while now < start + seconds:
        now = limiter.claim(now)
    return now


def cut_at_ten(max_rate: float = 100.0) -> tuple[RateLimiter, float]:
    """A limiter that sent 10 a second for 5 s (whatever its cap), then was throttled."""
    limiter = RateLimiter(max_rate)
    now = 0.0
    while now < 5.0:
        now = limiter.claim(now + 0.1)
    limiter.throttled(now)
    return limiter, now


SENT = 10 / RATE_MARGIN  # what a limiter allowed 10 a second really sends


# -- the curve, on a fake clock ----------------------------------------------------------


def test_it_starts_at_the_configured_rate_with_the_margin() -> None:
    limiter = RateLimiter(10.0)
    assert limiter.rate == 10.0
    assert limiter.take(0.0)
    assert not limiter.take(0.1)  # 1.02 / 10 = 0.102 s apart
    assert limiter.free_at(0.1) == pytest.approx(RATE_MARGIN / 10)
    assert limiter.take(RATE_MARGIN / 10)
    assert limiter.free_at(5.0) == 5.0  # nothing to wait for


def test_a_throttle_cuts_to_beta_times_what_was_sent() -> None:
    limiter = RateLimiter(10.0)
    last = send_for(limiter, 0.0, 5.0)  # 1.02 / 10 apart
    limiter.throttled(last)
    assert limiter.rate == pytest.approx(BETA * SENT)
    assert limiter.cuts == 1
    # The next start waits the new spacing from the last one, at once.
    assert limiter.free_at(last) == pytest.approx(last + RATE_MARGIN / (BETA * SENT))


def test_the_cut_is_from_the_rate_really_sent_not_the_cap() -> None:
    limiter, _ = cut_at_ten(max_rate=100.0)  # allowed 100 a second, sent 10
    assert limiter.rate == pytest.approx(BETA * 10)


@pytest.mark.parametrize(
    ("starts", "at", "sent"),
    [
        ([0.0, 0.2, 0.4, 0.6, 0.8], 0.8, 5.0),  # 5 a second: 5, not a count that moves by a whole request
        ([0.0, 0.1, 0.2], 0.9, 3 / 0.9),  # a burst, then nothing: 3 in 0.9 s, not 10 a second
        ([0.5], 0.9, 1.0),  # one request: one a second
        ([], 0.9, 0.0),  # none: the floor
    ],
)
def test_what_was_sent_is_measured_over_the_last_second(starts: list[float], at: float, sent: float) -> None:
    limiter = RateLimiter(100.0)
    for start in [-5.0, *starts]:  # one long before: out of the window
        assert limiter.take(start)
    limiter.throttled(at)
    assert limiter.rate == pytest.approx(max(MIN_RATE, BETA * sent))


def test_a_burst_of_throttles_cuts_once() -> None:
    limiter = RateLimiter(10.0)
    last = send_for(limiter, 0.0, 5.0)
    for i in range(8):  # eight requests in flight answered 429 together, and the next few
        limiter.throttled(last + i * HOLD_S / 10)
    assert limiter.cuts == 1
    assert limiter.rate == pytest.approx(BETA * SENT)
    later = send_for(limiter, last, 3.0)
    limiter.throttled(later)  # a throttle after the hold: the new rate is still too high
    assert limiter.cuts == 2
    assert limiter.rate == pytest.approx(BETA * BETA * SENT / RATE_MARGIN)


def test_clean_answers_climb_back_along_the_curve_rest_then_probe_above() -> None:
    limiter, cut = cut_at_ten(max_rate=100.0)
    k = (10 * (1 - BETA) / SCALE) ** (1 / 3)  # seconds back to W_max = 10: 1.96
    limiter.answered(cut + k / 2)
    assert limiter.rate == pytest.approx(10 - SCALE * (k / 2) ** 3)  # concave: most of the way already
    assert BETA * 10 < limiter.rate < 10
    limiter.answered(cut + k)
    assert limiter.rate == pytest.approx(10)
    limiter.answered(cut + k + REST_S)
    assert limiter.rate == pytest.approx(10)  # at rest on the rate that was throttled
    limiter.answered(cut + k + REST_S + 5)
    assert limiter.rate == pytest.approx(10 + PROBE_SCALE * 5**3)  # then it probes above it, gently


def test_it_never_goes_above_the_configured_rate() -> None:
    limiter, cut = cut_at_ten(max_rate=12.0)
    seen = []
    for step in range(200):
        limiter.answered(cut + step)
        seen.append(limiter.rate)
    assert max(seen) == 12.0
    assert seen == sorted(seen)  # clean answers never lower it


def test_the_rate_grows_only_as_clean_answers_come() -> None:
    limiter, cut = cut_at_ten(max_rate=12.0)
    assert limiter.free_at(cut + 60) == cut + 60
    assert limiter.rate == pytest.approx(BETA * 10)  # a minute of nothing: no answer, no growth
    limiter.answered(cut + 60)
    assert limiter.rate == 12.0


def test_a_throttle_in_the_hold_cuts_nothing_but_restarts_the_climb() -> None:
    k = (10 * (1 - BETA) / SCALE) ** (1 / 3)
    calm, _ = cut_at_ten()
    busy, cut = cut_at_ten()
    busy.throttled(cut + 0.5)  # the same burst: no second cut, but the rate is not yet known to be low enough
    assert busy.cuts == 1
    assert busy.rate == pytest.approx(BETA * 10)
    for limiter in (calm, busy):
        limiter.answered(cut + 1.0)
    assert calm.rate == pytest.approx(10 - SCALE * (k - 1.0) ** 3)
    assert busy.rate == pytest.approx(10 - SCALE * (k - 0.5) ** 3)  # half a second on the curve, not one


def test_answers_before_any_throttle_change_nothing() -> None:
    limiter = RateLimiter(10.0)
    limiter.answered(100.0)
    assert limiter.rate == 10.0
    assert limiter.cuts == 0


def test_repeated_throttles_stop_at_the_floor() -> None:
    limiter = RateLimiter(10.0)
    send_for(limiter, 0.0, 2.0)
    for i in range(30):  # throttled again and again, each after the hold
        limiter.throttled(2.0 + i * (HOLD_S + 0.5))
    assert limiter.rate == MIN_RATE
    limiter.throttled(1000.0)  # nothing sent for long: measured 0, still the floor
    assert limiter.rate == MIN_RATE
    assert limiter.free_at(limiter.claim(1000.0)) == pytest.approx(1000.0 + RATE_MARGIN / MIN_RATE)


def test_a_cap_below_the_floor_is_its_own_floor() -> None:
    limiter = RateLimiter(0.2)
    limiter.throttled(10.0)
    assert limiter.rate == 0.2


def test_claims_are_spaced_and_reserved() -> None:
    limiter = RateLimiter(10.0)
    first, second = limiter.claim(0.0), limiter.claim(0.0)
    assert first == 0.0
    assert second == pytest.approx(RATE_MARGIN / 10)
    assert not limiter.take(second)  # the slot is taken
    assert limiter.claim(50.0) == 50.0  # a claim in the future waits for it


def test_threads_sharing_one_limiter() -> None:
    """Workers claim, throttle and answer at once: no start is lost or doubled, and no two
    starts are closer than the cap allows."""
    limiter = RateLimiter(50.0)
    starts: list[float] = []
    lock = threading.Lock()

    def work(seed: int) -> None:
        rng = random.Random(seed)
        for i in range(500):
            start = limiter.claim(rng.uniform(0, 10))
            with lock:
                starts.append(start)
            if i % 37 == 0:
                limiter.throttled(start)
            else:
                limiter.answered(start)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(starts) == len(set(starts)) == 4000
    ordered = sorted(starts)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    assert min(gaps) >= RATE_MARGIN / 50 - 1e-9
    assert MIN_RATE <= limiter.rate <= 50.0
    assert limiter.cuts >= 1


# -- what counts as a throttle, what as a clean answer ------------------------------------


@pytest.mark.parametrize(
    ("error", "throttle"),
    [
        (ApiError("throttled", code="APIGW.0308", http_status=429), True),
        (ApiError("too many", http_status=429), True),  # a 429 from a proxy, no code
        (ApiError("throttled", code="APIGW.0308", http_status=403), True),  # the code whatever the status
        (ApiError("server error", code="KPS.0003", http_status=500), False),
        (ApiError("bad gateway", http_status=502), False),
        (NetworkError("connection reset"), False),
        (AuthError("refused", code="APIGW.0301", http_status=401), False),
        (NotFoundError("taskId is illegal", code="KPS.0001", http_status=400), False),
    ],
)
def test_is_throttle(error: KpsError, throttle: bool) -> None:
    assert is_throttle(error) is throttle


@pytest.mark.parametrize(
    ("outcome", "effect"),
    [
        (Task("t1", "SUCCESS_RESET", None, {}), "grown"),
        ((3, [{"task_id": "t1"}]), "grown"),  # a page of the running list
        (NotFoundError("taskId is illegal", code="KPS.0001", http_status=400), "grown"),  # an answer all the same
        (THROTTLED, "cut"),
        (ApiError("server error", http_status=503), "unchanged"),  # trouble says nothing of the rate
        (NetworkError("no answer within 5 s"), "unchanged"),
        (ApiError("malformed answer"), "unchanged"),
    ],
)
def test_feedback_from_an_outcome(outcome: object, effect: str) -> None:
    limiter, cut = cut_at_ten()
    limiter.feedback(outcome, cut + 2 * HOLD_S)  # the curve is back at 10 a second by then (7 after the cut)
    rate = limiter.rate
    assert ("cut" if rate < BETA * 10 - 1e-9 else "grown" if rate > BETA * 10 + 1e-9 else "unchanged") == effect


# -- the transport's retries keep to the limiter --------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(clock: Clock, limiter: RateLimiter | None, debug: list[str] | None = None) -> KpsClient:
    transport = Transport(
        ENDPOINT,
        retry=Interval.exponential(),
        sleep=clock.sleep,
        rand=lambda: 0.5,
        clock=clock,
        debug=None if debug is None else debug.append,
    )
    transport.limiter = limiter
    return KpsClient(transport, PROJECT, TokenAuth(CANARY, Found(BY_NAME["token"], CANARY, "--token", FLAG)))


OK = {"task_id": "t1", "task_status": "RUNNING_RESET", "server_id": SERVER}
GATEWAY_429 = {"error_code": "APIGW.0308", "error_msg": "The throttling threshold has been reached"}


def test_a_429_in_a_transport_retry_cuts_the_rate_and_the_retry_waits_its_turn(kps: responses.RequestsMock) -> None:
    clock = Clock()
    limiter = RateLimiter(2.0)
    clock.now = send_for(limiter, 90.0, 10.0)  # the request is the latest of 2 a second
    kps.get(task_url("t1"), status=429, json=GATEWAY_429)
    kps.get(task_url("t1"), json=OK)
    lines: list[str] = []
    task = client(clock, limiter, lines).get_task("t1")
    assert task.task_status == "RUNNING_RESET"
    assert limiter.cuts == 1
    assert "throttled: 1.37 requests a second from now on, all tasks together" in lines
    assert limiter.rate == pytest.approx(BETA * 2 / RATE_MARGIN)
    # The next free start under the cut rate, not the backoff's 0.375 s.
    assert clock.sleeps == [pytest.approx(RATE_MARGIN / limiter.rate)]


def test_a_retry_waits_for_a_start_the_others_left_free(kps: responses.RequestsMock) -> None:
    clock = Clock()
    limiter = RateLimiter(1.0)  # one a second: a start 0.375 s away is not free
    assert limiter.take(100.0)
    kps.get(task_url("t1"), status=503, body="")
    kps.get(task_url("t1"), json=OK)
    client(clock, limiter).get_task("t1")
    assert clock.sleeps == [pytest.approx(RATE_MARGIN)]  # not the 0.375 s backoff: the start at 101.02
    assert limiter.cuts == 0  # a 503 is not a throttle
    assert limiter.free_at(clock.now) == pytest.approx(100.0 + 2 * RATE_MARGIN)  # the retry took its slot


def test_without_a_limiter_the_transport_is_as_before(kps: responses.RequestsMock) -> None:
    clock = Clock()
    kps.get(task_url("t1"), status=429, json=GATEWAY_429)
    kps.get(task_url("t1"), json=OK)
    client(clock, None).get_task("t1")
    assert clock.sleeps == [0.375]


# -- get: the Asker feeds its limiter, and hands it to its transports ------------------------


def test_the_asker_cuts_on_a_throttled_answer_and_grows_on_clean_ones() -> None:
    clock = Clock()
    throttled = {"t20"}

    def ask(task_id: str) -> Task:
        if task_id in throttled:
            raise THROTTLED
        return Task(task_id, "SUCCESS_RESET", None, {})

    asker = Asker(ask, Pace(max_rate=10.0, concurrency=1), clock=clock, sleep=clock.sleep)
    results = list(asker([f"t{i}" for i in range(20)]))
    assert asker.limiter.cuts == 0 and asker.limiter.rate == 10.0
    results = list(asker([f"t{i}" for i in range(20, 200)]))
    assert results[0].error is THROTTLED
    assert asker.limiter.cuts == 1
    assert asker.limiter.rate == 10.0  # 179 clean answers later, back at the cap


def test_the_asker_hands_its_limiter_to_each_tasks_transport() -> None:
    clock = Clock()
    ask = PerTask(client(clock, None), warn=None)
    asker = Asker(ask, Pace(max_rate=10.0, concurrency=4), clock=clock, sleep=clock.sleep)
    assert ask.limiter is asker.limiter
