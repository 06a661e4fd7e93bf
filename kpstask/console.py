"""The process's voice: stdout for results, one-line messages on stderr, and
the secrets that must never pass through either."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from kpstask.text import one_line


class RunState:
    """What the error mapping needs to know about the command being run."""

    def __init__(self) -> None:
        self.debug = False
        self.secrets: list[str] = []

    def reset(self) -> None:
        self.debug = False
        self.secrets.clear()

    def redact(self, text: str) -> str:
        # One- to three-character values are skipped: masking them would mangle every word.
        for secret in self.secrets:
            if len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


RUN = RunState()


class RedactingWriter:
    """A stream that masks any known secret, e.g. one a server echoed back."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(RUN.redact(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def stdout() -> TextIO:
    return RedactingWriter(sys.stdout)  # type: ignore[return-value]


def stderr() -> TextIO:
    return RedactingWriter(sys.stderr)  # type: ignore[return-value]


def say(level: str, text: str) -> None:
    """One line on stderr: `kpstask: error: ...`."""
    sys.stderr.write(f"kpstask: {level}: {RUN.redact(one_line(text, 2000))}\n")
    sys.stderr.flush()


def warn(text: str) -> None:
    say("warning", text)


def debug(text: str) -> None:
    if RUN.debug:
        say("debug", text)
