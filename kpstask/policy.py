"""Decisions shared by every command that sends requests: what each kind of
error means for `get` and for `wait` (one table) and how long to wait before the
next try (one interval type). How fast requests may start is `kpstask.rate`.
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


class ErrorKind(str, Enum):
    REFUSED = "credentials refused"
    NOT_FOUND = "not found"
    TRANSIENT = "transient"  # network trouble, throttling, 5xx, a malformed answer
    OTHER = "other"  # another 4xx, a bad request


# What `get` and `wait` do with each kind of error. `get` leaves transient trouble
# to the transport's retries, so by the time it sees one the retries are spent.
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
        if status is None or status == 429 or status >= 500 or 200 <= status < 300:
            return ErrorKind.TRANSIENT
    return ErrorKind.OTHER


def for_get(error: KpsError) -> Action:
    return OUTCOMES[error_kind(error)][0]


def for_wait(error: KpsError) -> Action:
    return OUTCOMES[error_kind(error)][1]


# -- intervals: hcloud's BackoffFunction ------------------------------------------------


class Interval(NamedTuple):
    """Seconds to wait, from a step: a retry number (exponential) or an age in seconds
    (proportional to the age past `after_s`). Bounded to [floor, cap], then spread by a
    random factor in `jitter`."""

    base_s: float = 1.0  # exponential: the first delay; proportional: seconds per second of age
    growth: float = 2.0  # exponential: the factor per step; 0: proportional to the step
    floor_s: float = 0.0
    cap_s: float = math.inf
    jitter: tuple[float, float] = (1.0, 1.0)
    retries: int = 0  # how many times a request is tried again (for the transport)
    after_s: float = 0.0  # proportional: the age at which growth starts

    @classmethod
    def exponential(cls, base_s: float = 0.5, cap_s: float = 8.0, retries: int = 3) -> Interval:
        """The transport's retries: 0.5 s doubling to 8 s, the second half random."""
        return cls(base_s, 2.0, 0.0, cap_s, (0.5, 1.0), retries)

    def __call__(self, step: float, rand: Callable[[], float]) -> float:
        raw = self.base_s * (step - self.after_s) if self.growth == 0 else self.base_s * self.growth**step
        low, high = self.jitter
        spread = min(self.cap_s, max(self.floor_s, raw)) * (low + (high - low) * rand())
        return min(self.cap_s, max(self.floor_s, spread))


# One task's polls key on its age, never on a guessed duration (the status says what a
# task does, not how long it takes): every 6.5 s while it is younger than 30 s, then 0.4 s
# more per second of age, up to 15.8 s (reached at 53 s); +/- 10 % so that a fleet's polls
# do not fall into step. A task that finishes in 30 s, a bind or a reset, is seen about
# 3.3 s late for 6 requests, a 1-minute one 7 s late, a 10-minute reset 7.7 s late for 44
# (bench/poll_schedule.py).
POLL = Interval(base_s=0.4, growth=0.0, floor_s=6.5, cap_s=15.8, jitter=(0.9, 1.1), after_s=13.75)
MIN_INTERVAL_S = 1.0  # never poll one task faster than this (--interval's floor)
TROUBLE = Interval(base_s=1.0, growth=2.0, floor_s=0.0, cap_s=30.0)
# A round of the running list serves every task at once for a request per 1000 of them,
# so rounds come every second while the wait is young, then 15 % of its age, at most 4 s apart.
LIST_ROUND = Interval(base_s=0.15, growth=0.0, floor_s=1.0, cap_s=4.0, jitter=(0.9, 1.1))
