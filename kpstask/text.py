"""Text that came from outside (a server, a file, argv) made safe to print.

`printable` is the one sanitizer: the output boundary passes every outside string
through it, for every format, on stdout and stderr alike (JSON escapes the same
characters its own way, `kpstask.output.machine.json_text`).
"""

from __future__ import annotations

import re

# C0 and C1 controls (ESC, CR, tab, newline ...), DEL, and the Unicode bidirectional
# controls that reorder what a terminal shows (U+200E/F, U+202A-U+202E, U+2066-U+2069).
_UNSAFE_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


# A lone surrogate: JSON may carry one ("\ud800" is a valid escape), UTF-8 cannot; written
# as it is, it would end the whole run with an encoding error and lose every other answer.
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")


def printable(text: str) -> str:
    """Control and bidirectional-control characters become spaces; a lone surrogate is
    shown escaped (`\\ud800`), as Python and JSON write it."""
    return _SURROGATE_RE.sub(escaped, _UNSAFE_RE.sub(" ", text))


def escaped(match: re.Match[str]) -> str:
    """A matched character as `\\uXXXX`."""
    return f"\\u{ord(match.group()):04x}"


def one_line(text: str, limit: int = 300) -> str:
    """Printable, whitespace collapsed, at most `limit` characters."""
    flat = " ".join(printable(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
