"""Durations as people write them: `90`, `90s`, `5m`, `1h`, `1h30m`."""

from __future__ import annotations

import re

from kpstask.errors import UsageError

_DURATION_RE = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(text: str, option: str) -> float:
    """Seconds, or a usage error naming the option."""
    value = text.strip().lower()
    match = _DURATION_RE.fullmatch(value)
    if not value or match is None or not any(match.groups()):
        raise UsageError(f"{option}: cannot read {text!r} as a duration", hint="use e.g. 90, 90s, 5m or 1h")
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def elapsed(seconds: float) -> str:
    """The one way a person reads a duration, in every human output (the tables, the wait's
    log, the job summary, warnings): `4.2s`, `2m10s`, `1h02m`."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
