"""The run context: what a command knows about the process it runs in.

One `Run` is made at the entry point and passed down (httpie's `Environment`):
the streams and whether they are terminals, the environment, `--debug`, the
secrets to mask, and the one way to say something on stderr. Nothing below the
command line reads `sys.std*`, `os.environ` or `isatty()` itself; tests build
their own `Run` with fake streams.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from kpstask.text import one_line

# A secret is masked wherever it appears once it has 8 characters (secret keys have 40,
# tokens thousands, IAM passwords at least 8), or 4 if it is not made of letters only:
# masking a short word such as "wrong" would garble every message that uses the word.
MIN_SECRET_LEN, MIN_WORDLIKE_SECRET_LEN = 4, 8
CHUNK = 16 * 1024


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):  # a closed stream
        return False


def maskable(secret: str) -> bool:
    if len(secret) >= MIN_WORDLIKE_SECRET_LEN:
        return True
    return len(secret) >= MIN_SECRET_LEN and not secret.isalpha()


class Run:
    """Streams, terminal flags, environment, debug switch and secrets of one run."""

    def __init__(
        self,
        *,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        env: Mapping[str, str] | None = None,
        debug: bool = False,
        wall: Callable[[], float] | None = None,
    ) -> None:
        self.stdin: IO[str] = stdin if stdin is not None else sys.stdin
        self.raw_stdout: IO[str] = stdout if stdout is not None else sys.stdout
        # Messages are not results: if stderr's reader goes away, the run goes on without them.
        self.raw_stderr: IO[str] = _Tolerant(stderr if stderr is not None else sys.stderr)  # type: ignore[assignment]
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.debug_on = debug
        self.wall = wall or time.time  # the wall clock credentials expire by (tests bring their own)
        self.secrets: list[str] = []
        self.stdout: IO[str] = _Redacting(self.raw_stdout, self)  # type: ignore[assignment]
        self.stderr: IO[str] = _Redacting(self.raw_stderr, self)  # type: ignore[assignment]

    @property
    def stdin_isatty(self) -> bool:
        return _isatty(self.stdin)

    @property
    def stdout_isatty(self) -> bool:
        return _isatty(self.raw_stdout)

    @property
    def stderr_isatty(self) -> bool:
        return _isatty(self.raw_stderr)

    @property
    def no_color(self) -> bool:
        """NO_COLOR set (to anything) switches colour off, as no-color.org says."""
        return bool(self.env.get("NO_COLOR"))

    @property
    def github_actions(self) -> bool:
        return self.env.get("GITHUB_ACTIONS") == "true"

    def add_secret(self, *values: str) -> None:
        """Mask these wherever they would be printed (a server may echo them back)."""
        self.secrets.extend(value for value in values if maskable(value))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def say(self, level: str, text: str) -> None:
        """One line on stderr: `kpstask: error: ...`."""
        self.raw_stderr.write(f"kpstask: {level}: {self.redact(one_line(text, 2000))}\n")
        self.raw_stderr.flush()

    def warn(self, text: str) -> None:
        self.say("warning", text)

    def debug(self, text: str) -> None:
        if self.debug_on:
            self.say("debug", text)


class _Tolerant:
    """stderr that shrugs off a reader gone away (EPIPE): the result still reaches stdout and
    the exit code. Later writes go to /dev/null, so the interpreter's last flush is quiet too."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def _gone(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
        self._stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the run

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Redacting:
    """A stream that masks every known secret in what passes through it."""

    def __init__(self, stream: IO[str], run: Run) -> None:
        self._stream = stream
        self._run = run

    def write(self, text: str) -> int:
        text = self._run.redact(text)
        if len(text) <= CHUNK:
            return self._stream.write(text)
        # A large text goes out in flushed pieces: Python can lose the EPIPE of one partial
        # write, and a reader gone away must be seen (exit 141), not silently missed.
        for start in range(0, len(text), CHUNK):
            self._stream.write(text[start : start + CHUNK])
            self._stream.flush()
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
