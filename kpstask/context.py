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
import re
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from kpstask.i18n import N_, _
from kpstask.text import cell_width, one_line, wrap_cells

# A secret is masked wherever it appears once it has 8 characters (secret keys have 40,
# tokens thousands, IAM passwords at least 8), or 4 if it is not made of letters only:
# masking a short word such as "wrong" would garble every message that uses the word.
MIN_SECRET_LEN, MIN_WORDLIKE_SECRET_LEN = 4, 8
CHUNK = 16 * 1024
SAY_LIMIT = 2000  # the most of one message said on stderr
# The levels a line is said at, as the run's language says them (`debug` lines stay English).
LEVELS = {
    "error": N_("error"),
    "warning": N_("warning"),
    "info": N_("info"),
    "simulator": N_("simulator"),
    "debug": "debug",
}
# Where a text was cut short: `one_line`'s `...`, rich's `…`.
_CUT_RE = re.compile(r"\.\.\.|\u2026")


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
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.stdin: IO[str] = stdin if stdin is not None else sys.stdin
        self.raw_stdout: IO[str] = stdout if stdout is not None else sys.stdout
        # Messages are not results: if stderr's reader goes away, the run goes on without them.
        self.raw_stderr: IO[str] = _Tolerant(stderr if stderr is not None else sys.stderr)  # type: ignore[assignment]
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.debug_on = debug
        self.quiet = False  # `info` and `warning` lines are not said (errors always are)
        self.wall = wall or time.time  # the wall clock credentials expire by (tests bring their own)
        # What waits measure and how they pass: the engines, displays and retries take these
        # (tests bring a clock that a sleep moves on at once, so nothing waits or spins).
        self.clock = clock or time.monotonic
        self.sleep = sleep or time.sleep
        self.secrets: list[str] = []
        self.language = ("en", "default")  # the language spoken and where it came from (cli/speaking)
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
        """Every known secret masked; so is the beginning of one (4 characters or more) that
        ends just before a cut (`...`, `…`): a text cut short before it reached here (a
        server's message cut at 300 characters) would otherwise show part of a secret."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        if self.secrets and ("..." in text or "\u2026" in text):
            text = _mask_cut_secrets(text, self.secrets)
        return text

    def say(self, level: str, text: str) -> None:
        """`kpstask: error: ...` on stderr: masked, then cut at 2000 characters. One line on a
        pipe; on a terminal, wrapped at spaces to its width, each line `kpstask: ` first."""
        if self.quiet and level in ("info", "warning"):
            return
        said = _(LEVELS.get(level, level))
        line = f"kpstask: {said}: {self.redact(one_line(self.redact(text), SAY_LIMIT))}"
        if self.stderr_isatty:
            line = "\n".join(wrapped(line, self.stderr_width(), "kpstask: " + " " * (cell_width(said) + 2)))
        self.raw_stderr.write(line + "\n")
        self.raw_stderr.flush()

    def stderr_width(self) -> int:
        """The terminal's columns: COLUMNS when set (as `shutil.get_terminal_size` has it),
        else the size of the terminal stderr is, else 80."""
        columns = self.env.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        try:
            return os.get_terminal_size(self.raw_stderr.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80

    def warn(self, text: str) -> None:
        self.say("warning", text)

    def debug(self, text: str) -> None:
        if self.debug_on:
            self.say("debug", text)


def run_of(obj: object) -> Run:
    """A command's run: click's `ctx.obj`, set by `kpstask.cli.main` (no second one is made)."""
    if not isinstance(obj, Run):
        raise TypeError(f"a command run without its Run (ctx.obj is {type(obj).__name__}): use kpstask.cli.main")
    return obj


def wrapped(line: str, width: int, indent: str) -> list[str]:
    """`line` broken at spaces into lines of at most `width` columns, the later ones starting
    with `indent`; a word longer than that (an id, a URL) is never split, it overflows."""
    if cell_width(line) <= width:
        return [line]
    if width - cell_width(indent) < 20:  # a very narrow terminal: under the prefix, not the message
        indent = indent.rstrip() + " "
    if not line.isascii():  # Chinese breaks between characters too
        return wrap_cells(line, width, "", indent)
    return textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


def _mask_cut_secrets(text: str, secrets: Sequence[str]) -> str:
    """The beginning of a secret that ends just before a cut (`tok-s3cr...`) masked."""
    pieces: list[str] = []
    start = 0
    for cut in _CUT_RE.finditer(text):
        end = cut.start()
        begins = min((_secret_begins(text, start, end, secret) for secret in secrets), default=end)
        pieces += [text[start:begins], "***" if begins < end else "", cut.group()]
        start = cut.end()
    return "".join(pieces) + text[start:]


def _secret_begins(text: str, start: int, end: int, secret: str) -> int:
    """Where the longest beginning of `secret` (at least MIN_SECRET_LEN characters) that
    ends `text[start:end]` begins; `end` when there is none."""
    last = end - MIN_SECRET_LEN + 1
    at = text.find(secret[0], max(start, end - len(secret) + 1), last)
    while at != -1:
        if secret.startswith(text[at:end]):
            return at
        at = text.find(secret[0], at + 1, last)
    return end


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
