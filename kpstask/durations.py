"""Durations as people write them: `90`, `90s`, `5m`, `1h`, `1h30m`."""

from __future__ import annotations

import re

from kpstask.errors import UsageError
from kpstask.i18n import _

_DURATION_RE = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(text: str, option: str) -> float:
    """Seconds, or a usage error naming the option."""
    value = text.strip().lower()
    match = _DURATION_RE.fullmatch(value)
    if not value or match is None or not any(match.groups()):
        raise UsageError(
            _("{option}: cannot read {text} as a duration").format(option=option, text=repr(text)),
            hint=_("use e.g. 90, 90s, 5m or 1h"),
        )
    hours, minutes, seconds = (float(part) if part else 0.0 for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def elapsed(seconds: float) -> str:
    """The one way a person reads a duration, in every human output (the tables, the wait's
    log, the job summary, warnings): `4.2s`, `2m10s`, `1h02m`."""
    if seconds < 60:
        return _("{seconds:.1f}s").format(seconds=seconds)
    whole = int(seconds)
    if whole < 3600:
        return _("{minutes}m{seconds:02d}s").format(minutes=whole // 60, seconds=whole % 60)
    return _("{hours}h{minutes:02d}m").format(hours=whole // 3600, minutes=whole % 3600 // 60)
