"""Exit codes and the one exception tree every expected failure belongs to.

The CLI maps these to exit codes in exactly one place (`kpstask.cli.root.run_mapped`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from kpstask.i18n import _, compose, english, joined
from kpstask.interrupts import Terminated


class ExitCode(IntEnum):
    """The exit-code contract; stable, documented in the README and `--help`."""

    OK = 0
    FAILED = 1
    USAGE = 2
    PENDING = 3
    AUTH = 4
    NOT_FOUND = 5
    API = 6
    NETWORK = 7
    BUG = 70
    IO = 74  # the output could not be written (sysexits' EX_IOERR)
    DEADLINE = 124
    HUNG_UP = 129
    INTERRUPTED = 130
    BROKEN_PIPE = 141
    TERMINATED = 143


# With several tasks the worst outcome wins; earlier in this tuple is worse. The codes not
# here (70, 74, 129, 130, 141, 143) are the run's, not a task's: they end it whatever the tasks said.
SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.USAGE,
    ExitCode.AUTH,
    ExitCode.NETWORK,
    ExitCode.API,
    ExitCode.NOT_FOUND,
    ExitCode.FAILED,
    ExitCode.DEADLINE,
    ExitCode.PENDING,
    ExitCode.OK,
)


def worst(codes: Iterable[ExitCode]) -> ExitCode:
    """The exit code that wins when several tasks end differently (OK for none)."""
    rank = {code: i for i, code in enumerate(SEVERITY)}
    return min(codes, key=lambda code: rank.get(code, -1), default=ExitCode.OK)


class KpsError(Exception):
    """Base of every expected failure: an exit code and a one-line message.

    `kind` names the failure in JSON output; `code`, `http_status` and
    `request_id` come from the API's answer when there is one.
    """

    exit_code: ExitCode = ExitCode.API
    kind: str = "api"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s  # what a Retry-After header asked for
        self.hint = hint
        self.code = code
        self.http_status = http_status
        self.request_id = request_id

    def details(self) -> str:
        """`(KPS.0001, HTTP 400, request id abc)`: whatever the API told us."""
        parts = []
        if self.code:
            parts.append(self.code)
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.request_id:
            parts.append(_("request id {id}").format(id=self.request_id))
        return _(" ({details})").format(details=joined(", ", parts)) if parts else ""

    def __str__(self) -> str:
        text = f"{self.message}{self.details()}"
        return then(text, _("hint: {hint}").format(hint=self.hint)) if self.hint else text

    def hint_lines(self) -> list[str]:
        """Lines that follow the error line on stderr: a list too long for one line."""
        return []

    def as_dict(self) -> dict[str, object]:
        """The `error` object of JSON output."""
        return {
            "kind": self.kind,
            "code": self.code,
            "message": english(self.message),  # the same in every language
            "http_status": self.http_status,
            "request_id": self.request_id,
        }


class UsageError(KpsError):
    """Bad option, bad id, missing region, project or credentials."""

    exit_code = ExitCode.USAGE
    kind = "usage"


class AuthError(KpsError):
    """The API refused the credentials (401 or 403)."""

    exit_code = ExitCode.AUTH
    kind = "auth"


class NotFoundError(KpsError):
    """The task does not exist (404, or KPS.0001 "taskId is illegal")."""

    exit_code = ExitCode.NOT_FOUND
    kind = "not_found"


class ApiError(KpsError):
    """Any other error status, or an answer that is not the documented shape."""

    exit_code = ExitCode.API
    kind = "api"


class DeadlineError(KpsError):
    """A wait ran out of time before the task ever answered."""

    exit_code = ExitCode.DEADLINE
    kind = "deadline"


class NetworkError(KpsError):
    """DNS, connection, TLS or timeout, after retries."""

    exit_code = ExitCode.NETWORK
    kind = "network"
    unreachable = False  # the host could not be reached at all: DNS, connection refused, TLS


def unreachable(error: NetworkError) -> NetworkError:
    """Mark an error that says the endpoint was never reached."""
    error.unreachable = True
    return error


def then(text: str, more: str) -> str:
    """`text; more`, but after a question `text? More`: never `?;` after a did-you-mean."""
    if text.endswith(("?", "!", "\uff1f", "\uff01")):  # a Chinese question or exclamation mark too
        return compose(_after_question, text, more)
    return _("{text}; {more}").format(text=text, more=more)


def _after_question(text: str, more: str) -> str:
    """`Did you mean X? More`; after a Chinese question mark, no space (and no capitals)."""
    if text.endswith(("?", "!")):
        return f"{text} {more[:1].upper()}{more[1:]}"
    return text + more


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` is most likely a typo of, for a did-you-mean; None if none is close."""
    import difflib  # only on a failure path

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return close[0] if close else None


def interrupt_code(exc: BaseException | None = None) -> ExitCode:
    """143 after SIGTERM, 129 after SIGHUP, 130 after Ctrl-C."""
    signum = exc.signum if isinstance(exc, Terminated) else Terminated.seen
    return {1: ExitCode.HUNG_UP, 15: ExitCode.TERMINATED}.get(signum, ExitCode.INTERRUPTED)


def interrupt_words(code: int) -> str:
    """What the error line says for an interrupt's exit code."""
    return {129: _("hung up (SIGHUP)"), 143: _("terminated (SIGTERM)")}.get(code) or _("interrupted")
