"""How fast requests may start: one limiter for the whole process, all tasks together,
that slows down when the gateway throttles and speeds up again as clean answers come.

The shape is botocore's adaptive retry mode (`botocore/retries/adaptive.py`,
`throttling.py`): on a throttle the rate is cut to BETA times the rate the process was
really sending at, that rate is remembered as W_max, and clean answers then grow the
rate along the CUBIC curve C (t - K)^3 + W_max, which climbs back to W_max in K seconds,
stays near it a while, then probes above it (C far smaller than botocore's: see SCALE). It
never goes above the configured rate (`--max-rate`) nor below a floor. The clock is the
caller's: nothing here sleeps.
"""

from __future__ import annotations

import threading
from collections import deque

from kpstask.errors import KpsError

# Requests start a hair more than 1/rate apart: network jitter then never puts rate + 1 in one second.
RATE_MARGIN = 1.02
BETA = 0.7  # a throttle cuts the rate to this share of what was sent (botocore, TCP CUBIC)
# CUBIC's C, in (requests/s) per s^3. botocore's 0.4 brings a share of 5 requests/s back in 1.5 s
# and probes above it at once: two processes sharing a quota of 10/s then have one request in 8
# throttled. At 0.005 the way back takes 6.7 s (8.4 s from a cut at 10/s) and about one in 37 is
# throttled, for the same throughput (a model of the two processes, issue 19).
SCALE = 0.005
MIN_RATE = 0.5  # requests per second: never slower (botocore's token bucket's floor)
# The gateway counts requests in 1 s windows: throttles within a second of a cut answer requests
# sent at the old rate, or into a window still full of them, and say nothing of the new rate.
HOLD_S = 1.0
MEASURE_S = 1.0  # the rate the process really sends at: its starts in the last second
THROTTLE_CODES = frozenset({"APIGW.0308"})  # the API gateway's "throttling threshold reached"


def is_throttle(error: KpsError) -> bool:
    """Did the gateway say "too many requests"? HTTP 429, or APIGW.0308 whatever the status."""
    return error.http_status == 429 or error.code in THROTTLE_CODES


class RateLimiter:
    """Request starts at least RATE_MARGIN / rate apart, all tasks together; the rate adapts
    to throttling (`throttled`) and clean answers (`answered`). Safe to share between threads."""

    def __init__(self, rate: float) -> None:
        self.max_rate = rate
        self.floor = min(MIN_RATE, rate)
        self.cuts = 0  # how many throttles lowered the rate (a burst counts once)
        self._rate = rate
        self._last = -float("inf")  # the latest start claimed
        self._starts: deque[float] = deque()  # starts within MEASURE_S of the latest
        self._w_max: float | None = None  # the rate at the last cut; None: never throttled
        self._k = 0.0  # seconds from the last cut until the curve is back at W_max
        self._cut_at = -float("inf")
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        """The rate allowed now, in requests per second."""
        return self._rate

    def free_at(self, now: float) -> float:
        """When the next request may start."""
        with self._lock:
            return max(now, self._next())

    def take(self, now: float) -> bool:
        """Claim a start at `now`, if the rate allows one."""
        with self._lock:
            if now < self._next():
                return False
            self._start(now)
            return True

    def claim(self, at: float) -> float:
        """Claim the first free start at or after `at` (a retry's turn); returns it."""
        with self._lock:
            start = max(at, self._next())
            self._start(start)
            return start

    def throttled(self, now: float) -> None:
        """The gateway throttled a request: cut the rate, once per burst."""
        with self._lock:
            if now - self._cut_at < HOLD_S:
                return  # the same burst: requests sent before the cut, or into the same full window
            sent = min(self._rate, self._measured(now))
            self._w_max = sent
            self._k = (sent * (1 - BETA) / SCALE) ** (1 / 3)
            self._cut_at = now
            self._rate = max(self.floor, sent * BETA)
            self.cuts += 1

    def answered(self, now: float) -> None:
        """A clean answer came back: the rate grows along the curve since the last cut."""
        with self._lock:
            if self._w_max is None:
                return  # never throttled: already at the configured rate
            since = max(0.0, now - self._cut_at)
            curve = SCALE * (since - self._k) ** 3 + self._w_max
            self._rate = min(self.max_rate, max(self._rate, self.floor, curve))

    def feedback(self, outcome: object, now: float) -> None:
        """What a request ended in: a throttle cuts the rate; anything else the API answered (a
        task, a list page, a 404) grows it; trouble on the way (no answer, a 5xx) says nothing
        of the rate."""
        if not isinstance(outcome, KpsError):
            self.answered(now)
        elif is_throttle(outcome):
            self.throttled(now)
        elif outcome.http_status is not None and outcome.http_status < 500:
            self.answered(now)

    # -- under the lock ---------------------------------------------------------

    def _next(self) -> float:
        return self._last + RATE_MARGIN / self._rate

    def _start(self, at: float) -> None:
        self._last = at
        self._starts.append(at)
        while self._starts[0] <= at - MEASURE_S:
            self._starts.popleft()

    def _measured(self, now: float) -> float:
        """Starts in the last MEASURE_S seconds, per second (claims still ahead not counted)."""
        return sum(1 for start in self._starts if now - MEASURE_S < start <= now) / MEASURE_S
