"""Decisions shared by every command that sends requests: what each kind of
error means for `get` and for `wait` (one table) and how long to wait before the
next try (one interval type). How fast requests may start is `kpstask.api.rate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import NamedTuple

from kpstask.errors import ApiError, AuthError, KpsError, NetworkError, NotFoundError

# -- outcomes: botocore's acceptors, as a table ---------------------------------------


class Action(str, Enum):
    STOP_ALL = "stop all"  # every further request would be refused too; the gateway locks keys
    END_TASK = "end this task"
    RETRY = "ask again"
    RETRY_WHILE_NEW = "ask again within the not-found grace"  # a task just created may not be visible yet


# The answers worth asking again, one table for the transport's retries and the outcome table
# below (botocore's retryable answers): throttling (429) and the server errors that pass (500,
# 502, 503, 504). Another 5xx — 501 Not Implemented, 505 — says the request will never work.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class ErrorKind(str, Enum):
    REFUSED = "credentials refused"
    NOT_FOUND = "not found"
    TRANSIENT = "transient"  # network trouble, a TRANSIENT_STATUSES answer, a malformed answer
    OTHER = "other"  # another 4xx, a bad request


# What `get` and `wait` do with each kind of error. `get` leaves transient trouble to the
# transport's retries (the same TRANSIENT_STATUSES), so by the time it sees one they are spent.
OUTCOMES: dict[ErrorKind, tuple[Action, Action]] = {
    #                     get              wait
    ErrorKind.REFUSED: (Action.STOP_ALL, Action.STOP_ALL),
    ErrorKind.NOT_FOUND: (Action.END_TASK, Action.RETRY_WHILE_NEW),
    ErrorKind.TRANSIENT: (Action.END_TASK, Action.RETRY),
    ErrorKind.OTHER: (Action.END_TASK, Action.END_TASK),
}


def error_kind(error: KpsError) -> ErrorKind:
    if isinstance(error, AuthError):
        return ErrorKind.REFUSED
    if isinstance(error, NotFoundError):
        return ErrorKind.NOT_FOUND
    if isinstance(error, NetworkError):
        return ErrorKind.TRANSIENT
    if isinstance(error, ApiError):
        status = error.http_status
        if status is None or status in TRANSIENT_STATUSES or 200 <= status < 300:  # 2xx: malformed
            return ErrorKind.TRANSIENT
    return ErrorKind.OTHER


def for_get(error: KpsError) -> Action:
    return OUTCOMES[error_kind(error)][0]


def for_wait(error: KpsError) -> Action:
    return OUTCOMES[error_kind(error)][1]


# -- intervals: hcloud's BackoffFunction ------------------------------------------------


class Interval(NamedTuple):
    """Seconds to wait at a step — a retry number, or an age in seconds — in the shapes of
    hcloud's backoff functions: `exponential` (base * factor**step) or `proportional`
    (factor * (age - after)). Bounded to [floor, cap], then spread by a random factor in
    `jitter`, and bounded again."""

    proportional_to_age: bool
    base_s: float  # exponential: the first delay
    factor: float  # exponential: the growth per step; proportional: seconds per second of age
    floor_s: float = 0.0
    cap_s: float = math.inf
    jitter: tuple[float, float] = (1.0, 1.0)
    retries: int = 0  # how many times a request is tried again (for the transport)
    after_s: float = 0.0  # proportional: the age at which it starts to grow

    @classmethod
    def exponential(
        cls, base_s: float = 0.5, cap_s: float = 8.0, retries: int = 3, *, jitter: tuple[float, float] = (0.5, 1.0)
    ) -> Interval:
        """Doubling from `base_s` up to `cap_s`; by default the transport's retries: 0.5 s
        doubling to 8 s, the second half random."""
        return cls(False, base_s, 2.0, 0.0, cap_s, jitter, retries)

    @classmethod
    def proportional(
        cls, per_s: float, *, floor_s: float, cap_s: float, after_s: float = 0.0, jitter: tuple[float, float]
    ) -> Interval:
        """`per_s` seconds per second of age past `after_s`, within [floor_s, cap_s]."""
        return cls(True, 0.0, per_s, floor_s, cap_s, jitter, 0, after_s)

    def __call__(self, step: float, rand: Callable[[], float]) -> float:
        grown = self.factor * (step - self.after_s) if self.proportional_to_age else self.base_s * self.factor**step
        low, high = self.jitter
        spread = min(self.cap_s, max(self.floor_s, grown)) * (low + (high - low) * rand())
        return min(self.cap_s, max(self.floor_s, spread))


# One task's polls key on its age, never on a guessed duration (the status says what a
# task does, not how long it takes): every 6.5 s while it is younger than 30 s, then 0.4 s
# more per second of age, up to 15.8 s (reached at 53 s); +/- 10 % so that a fleet's polls
# do not fall into step. A task that finishes in 30 s, a bind or a reset, is seen about
# 3.3 s late for 6 requests, a 1-minute one 7 s late, a 10-minute reset 7.7 s late for 44
# (bench/poll_schedule.py).
POLL = Interval.proportional(0.4, after_s=13.75, floor_s=6.5, cap_s=15.8, jitter=(0.9, 1.1))
MIN_INTERVAL_S = 1.0  # never poll one task faster than this (--interval's floor)
TROUBLE = Interval.exponential(1.0, cap_s=30.0, retries=0, jitter=(1.0, 1.0))  # 1, 2, 4 ... 30 s
# A round of the running list serves every task at once for a request per 1000 of them,
# so rounds come every second while the wait is young, then 15 % of its age, at most 4 s apart.
LIST_ROUND = Interval.proportional(0.15, floor_s=1.0, cap_s=4.0, jitter=(0.9, 1.1))
