"""Text that came from outside made safe to print: no control bytes, one line."""

from __future__ import annotations

import re

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def printable(text: str) -> str:
    """Control characters (escape sequences, tabs, newlines) become spaces."""
    return _CONTROL_RE.sub(" ", text)


def one_line(text: str, limit: int = 300) -> str:
    """Printable, whitespace collapsed, at most `limit` characters."""
    flat = " ".join(printable(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
