"""Credentials: where the token comes from, and how it goes on a request.

A token never appears in a message: errors name its source, not its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple, TextIO

from kpstask.errors import UsageError

TOKEN_ENV = ("KPSTASK_TOKEN", "HW_AUTH_TOKEN", "OS_AUTH_TOKEN")
# IAM tokens are a few KB; anything far larger is the wrong file.
MAX_TOKEN_BYTES = 64 * 1024
# Header names whose values are secrets, in any request or response.
SECRET_HEADERS = frozenset(
    {"x-auth-token", "authorization", "x-security-token", "x-subject-token", "cookie", "set-cookie"}
)


class Token(NamedTuple):
    """An API token and where it came from. Its repr hides the value."""

    value: str
    source: str

    def __repr__(self) -> str:
        return f"Token(source={self.source!r}, value='***')"

    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.value}


def clean_token(raw: str, source: str) -> Token:
    """Strip surrounding whitespace; refuse what cannot go into an HTTP header."""
    value = raw.strip()
    if not value:
        raise UsageError(f"the token from {source} is empty")
    if any(not (" " <= ch <= "~") for ch in value):
        raise UsageError(
            f"the token from {source} contains control or non-ASCII characters",
            hint="a token is one line of printable ASCII; check the file or variable holds only the token",
        )
    return Token(value, source)


def _read_token_file(path: str, stdin: TextIO) -> str:
    if path == "-":
        if stdin.isatty():
            raise UsageError(
                "--token-file -: standard input is a terminal",
                hint="pipe the token in, e.g. `cat token.txt | kpstask get --token-file - ...`",
            )
        return stdin.read(MAX_TOKEN_BYTES + 1)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read --token-file {path!r}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"--token-file {path!r} is not a text file") from None


def resolve_token(
    token_file: str | None,
    token: str | None,
    env: Mapping[str, str] = os.environ,
    stdin: TextIO | None = None,
) -> Token:
    """The first token found: --token-file, --token, then the environment."""
    if token_file is not None:
        import sys

        raw = _read_token_file(token_file, stdin or sys.stdin)
        if len(raw) > MAX_TOKEN_BYTES:
            raise UsageError(f"--token-file {token_file!r} is larger than 64 KiB: is it the right file?")
        return clean_token(raw, f"--token-file {token_file}")
    if token is not None:
        return clean_token(token, "--token")
    for name in TOKEN_ENV:
        if name in env:
            return clean_token(env[name], f"environment variable {name}")
    raise UsageError(
        "no token given",
        hint="pass --token-file PATH (or - for stdin) or --token, or set " + ", ".join(TOKEN_ENV),
    )
