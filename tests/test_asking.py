"""`get` with many ids: concurrent, in the order given, under the rate cap, and quiet
after a refusal. Real threads, fake answers; no test sleeps longer than an answer takes."""

from __future__ import annotations

import random
import threading

from kpstask.choices import Pace
from kpstask.errors import AuthError
from kpstask.models import Task
from kpstask.wait.asking import Asker


class Api:
    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.lock = threading.Lock()
        self.in_flight = self.most = 0
        self.asked: list[str] = []
        self.rng = random.Random(7)

    def ask(self, task_id: str) -> Task:
        with self.lock:
            self.asked.append(task_id)
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            pause = self.rng.uniform(0, 0.01)
        threading.Event().wait(pause)  # answers come back out of order
        with self.lock:
            self.in_flight -= 1
        if task_id in self.refuse:
            raise AuthError("credentials refused", http_status=401)
        return Task(task_id, "SUCCESS_RESET", None, {})


def test_answers_come_in_the_order_given_while_several_are_in_flight() -> None:
    api = Api()
    ids = [f"t{i}" for i in range(60)]
    results = list(Asker(api.ask, Pace(max_rate=1000.0, concurrency=8))(ids))
    assert [result.task_id for result in results] == ids
    assert sorted(api.asked) == sorted(ids)
    assert 1 < api.most <= 8


def test_the_rate_cap_spaces_the_starts() -> None:
    clock = [0.0]
    starts: list[float] = []

    def ask(task_id: str) -> Task:
        starts.append(clock[0])
        return Task(task_id, "SUCCESS_RESET", None, {})

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    asker = Asker(ask, Pace(max_rate=10.0, concurrency=1), clock=lambda: clock[0], sleep=sleep)
    list(asker([f"t{i}" for i in range(11)]))
    assert starts[-1] - starts[0] >= 1.0  # 11 starts at 10 a second take a second at least


def test_after_a_refusal_no_new_request_starts() -> None:
    api = Api(refuse={"t0"})
    results = list(Asker(api.ask, Pace(max_rate=1000.0, concurrency=8))([f"t{i}" for i in range(20)]))
    assert api.asked == ["t0"]  # the first answer comes alone
    assert [result.task_id for result in results] == ["t0"]


def test_a_refusal_later_stops_the_rest() -> None:
    api = Api(refuse={"t5"})
    ids = [f"t{i}" for i in range(200)]
    results = list(Asker(api.ask, Pace(max_rate=1000.0, concurrency=4))(ids))
    assert len(api.asked) < 5 + 4 + 4  # what was in flight when the refusal came, no more
    assert [result.task_id for result in results] == ids[: len(results)]
