"""How fast requests may start: one limiter for the whole process, all tasks together,
that slows down when the gateway throttles and speeds up again as clean answers come.

The shape is botocore's adaptive retry mode (`botocore/retries/adaptive.py`,
`throttling.py`): on a throttle the rate is cut to BETA times the rate the process was
really sending at, that rate is remembered as W_max, and clean answers then grow the
rate along the CUBIC curve C (t - K)^3 + W_max, which climbs back to W_max in K seconds
(1.5 s from a cut at 5 a second). One change: the curve rests at W_max for REST_S seconds,
then probes above it on a gentler curve (see REST_S). Throttles within HOLD_S of a cut are
the same burst: they cut nothing more, but the climb starts again from the latest of them.
It never goes above the configured rate (`--max-rate`) nor below a floor. The clock is the
caller's: nothing here sleeps.
"""

from __future__ import annotations

import threading
from collections import deque

from kpstask.errors import KpsError

# Requests start a hair more than 1/rate apart: network jitter then never puts rate + 1 in one second.
RATE_MARGIN = 1.02
BETA = 0.7  # a throttle cuts the rate to this share of what was sent (botocore, TCP CUBIC)
SCALE = 0.4  # CUBIC's C on the way back to W_max, in (requests/s) per s^3 (botocore's)
# Above W_max no rate has been seen to work, and every probe there ends in a throttle: probes set
# how many requests are throttled. So the curve rests at W_max first, then probes on a gentler
# curve, which overshoots less while the answers that would stop it are on their way. Two processes
# sharing a quota of 10/s (a model of them, issue 19; 5 ms to 0.6 s per answer): on botocore's curve
# alone, one request in 8 to 10 throttled and 89-91 % of the quota used; with the rest and the
# gentler probe, one in 23 to 37 and 93-95 %.
REST_S = 8.0
PROBE_SCALE = 0.02  # C above W_max: 5 requests/s more takes 6.3 s
MIN_RATE = 0.5  # requests per second: never slower (botocore's token bucket's floor)
# The gateway counts requests in 1 s windows: throttles within a second of a cut answer requests
# sent at the old rate, or into a window still full of them, and say nothing of the new rate.
HOLD_S = 1.0
MEASURE_S = 1.0  # the rate the process really sends at: from its starts in the last second
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
        self._k = 0.0  # seconds from the latest throttle until the curve is back at W_max
        self._cut_at = -float("inf")
        self._calm_from = -float("inf")  # the latest throttle: the curve's clock starts there
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

    def throttled(self, now: float) -> bool:
        """The gateway throttled a request: cut the rate, once per burst. True if this cut it."""
        with self._lock:
            self._calm_from = now  # whether it cuts or not, no growth while throttles come
            if now - self._cut_at < HOLD_S:
                return False  # the same burst: requests sent before the cut, or into a window still full of them
            sent = min(self._rate, self._measured(now))
            self._w_max = sent
            self._k = (sent * (1 - BETA) / SCALE) ** (1 / 3)
            self._cut_at = now
            self._rate = max(self.floor, sent * BETA)
            self.cuts += 1
            return True

    def answered(self, now: float) -> None:
        """A clean answer came back: the rate grows along the curve since the last throttle."""
        with self._lock:
            if self._w_max is None:
                return  # never throttled: already at the configured rate
            since = max(0.0, now - self._calm_from)
            if since <= self._k:  # on the way back
                curve = self._w_max - SCALE * (self._k - since) ** 3
            else:  # at rest on W_max, then probing above it
                curve = self._w_max + PROBE_SCALE * max(0.0, since - self._k - REST_S) ** 3
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
        """Requests per second over the starts of the last MEASURE_S seconds (claims still ahead
        not counted): their spacing, or less if none started lately. Not a count per second,
        which moves by a whole request: at 5 a second that is 20 %, and the processes sharing a
        quota would settle at shares a whole request apart, below it."""
        starts = [start for start in self._starts if now - MEASURE_S < start <= now]
        if len(starts) < 2:
            return len(starts) / MEASURE_S
        return min((len(starts) - 1) / (starts[-1] - starts[0]), len(starts) / (now - starts[0]))
