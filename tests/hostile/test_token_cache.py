"""A hostile IAM and a hostile token cache: wrong types, deep nesting, tokens that are
not one line of ASCII, FIFOs, links, oversized entries, directories others can write.
Each ends in an API error (exit 6) or in the entry being ignored and IAM asked again;
never an unexpected exception, a hang, or a token in a message."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from kpstask.api.answers import Answer
from kpstask.auth.iam import IamLogin, cache_file
from kpstask.errors import ApiError

PROJECT = "0123456789abcdef0123456789abcdef"
PASSWORD = "CANARY-pw-iam-cache-31415926"
FRESH = "CANARY-fresh-tok-0a1b2c3d4e5f6a7b"  # what IAM hands out
CACHED = "CANARY-cached-tok-9f8e7d6c5b4a3f2e"  # what a (planted) cache entry holds
NOW = 1_800_000_000.0
IN_A_DAY = datetime.fromtimestamp(NOW + 86400, timezone.utc).isoformat().replace("+00:00", "Z")
GOOD_BODY = json.dumps({"token": {"expires_at": IN_A_DAY, "methods": ["password"]}}).encode()
DEEP = b"[" * 100_000
PROMPTLY_S = 5.0


class FakeIam:
    """IAM answering every login with `answer`; counts the logins."""

    def __init__(self, answer: Answer | None = None) -> None:
        self.answer = answer or Answer(201, {"X-Subject-Token": FRESH}, GOOD_BODY)
        self.calls = 0

    def send(self, method: str, path: str, headers: object, body: bytes = b"", **_: object) -> Answer:
        assert (method, path) == ("POST", "/v3/auth/tokens")
        self.calls += 1
        return self.answer


@dataclass
class Said:
    """Everything the login told: --debug lines, warnings, tokens handed over to be masked."""

    debug: list[str] = field(default_factory=list)
    warn: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.debug + self.warn)


@pytest.fixture
def said() -> Said:
    return Said()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """Where the entry goes: <tmp>/kpstask/tokens/<hash>.json (directories not made yet)."""
    return cache_file(tmp_path / "kpstask", "https://iam.example.com", "acme", "alice", PROJECT)


def login(iam: FakeIam, said: Said, cache: Path | None = None) -> IamLogin:
    return IamLogin(
        transport=iam,  # type: ignore[arg-type]
        user="alice",
        domain="acme",
        password=PASSWORD,
        project_id=PROJECT,
        cache=cache,
        on_token=said.tokens.append,
        debug=said.debug.append,
        warn=said.warn.append,
        wall=lambda: NOW,
    )


def directories(cache: Path) -> None:
    for directory in (cache.parent.parent, cache.parent):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o700)


def plant(cache: Path, content: bytes | dict[str, object], mode: int = 0o600) -> None:
    """A cache entry as an attacker (or a broken disk) left it."""
    directories(cache)
    cache.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    cache.chmod(mode)


def good_entry(token: str = CACHED) -> dict[str, object]:
    return {"token": token, "expires_at": NOW + 86400}


def within(seconds: float, action: Callable[[], str], unblock: Callable[[], None] = lambda: None) -> str:
    """`action()`, run in a thread that must end within `seconds`: a hang fails the test, not the run."""
    results: list[str] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(action())
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        unblock()
        pytest.fail(f"still blocked after {seconds} s")
    if errors:
        raise errors[0]
    return results[0]


# -- a hostile IAM -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"token": {"expires_at": 123}}, "token.expires_at is a number"),
        ({"token": {"expires_at": None}}, "token.expires_at is null"),
        ({"token": {"expires_at": ["2030-01-01T00:00:00Z"]}}, "token.expires_at is an array"),
        ({"token": {"expires_at": True}}, "token.expires_at is a boolean"),
        ({"token": {"expires_at": "tomorrow"}}, "token.expires_at 'tomorrow' is not an ISO 8601 date"),
        ({"token": "MIIyes"}, "token is a string, not an object"),
        ([1, 2], "the body is an array, not an object"),
    ],
    ids=["number", "null", "array", "boolean", "not-a-date", "token-string", "body-array"],
)
def test_iam_expiry_of_the_wrong_shape_is_an_api_error(body: object, field_name: str, said: Said, cache: Path) -> None:
    iam = FakeIam(Answer(201, {"X-Subject-Token": FRESH}, json.dumps(body).encode()))
    with pytest.raises(ApiError) as caught:
        login(iam, said, cache).token()
    assert caught.value.exit_code == 6
    assert str(caught.value).startswith("IAM's answer to the login is not the documented shape: " + field_name)
    assert FRESH not in str(caught.value) and PASSWORD not in str(caught.value)
    assert said.tokens == [FRESH]  # masked from the moment it arrived
    assert not cache.exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [(DEEP, "nested too deeply"), (b"<html>proxy</html>", "not valid JSON"), (b"", "not valid JSON")],
    ids=["nested", "html", "empty"],
)
def test_an_iam_body_that_is_not_json_is_an_api_error(body: bytes, why: str, said: Said) -> None:
    with pytest.raises(ApiError, match=f"IAM's answer to the login .*: the body is {why}") as caught:
        login(FakeIam(Answer(201, {"X-Subject-Token": FRESH}, body)), said).token()
    assert FRESH not in str(caught.value)


def test_an_iam_body_without_an_expiry_gets_an_hour(said: Said, cache: Path) -> None:
    iam = FakeIam(Answer(201, {"X-Subject-Token": FRESH}, b'{"token": {"methods": ["password"]}}'))
    assert login(iam, said, cache).token() == FRESH
    assert json.loads(cache.read_text())["expires_at"] == NOW + 3600  # by the injected clock
    assert "assuming the token lasts an hour" in said.text()


@pytest.mark.parametrize(
    "token",
    [FRESH + "\nX-Injected: 1", FRESH + "\x1b[2J", "CANARY-fresh-\u20ac-tok", "CANARY-fresh-\x00-tok", " \t "],
    ids=["newline", "escape", "non-ascii", "nul", "blank"],
)
def test_a_subject_token_that_is_not_a_clean_secret_is_an_api_error(token: str, said: Said, cache: Path) -> None:
    with pytest.raises(ApiError, match="X-Subject-Token is not a usable token") as caught:
        login(FakeIam(Answer(201, {"X-Subject-Token": token}, GOOD_BODY)), said, cache).token()
    assert caught.value.exit_code == 6
    assert "CANARY" not in str(caught.value) and "CANARY" not in said.text()
    assert said.tokens == [] and not cache.exists()


# -- a hostile cache entry -----------------------------------------------------------------------


def assert_asked_iam(iam: FakeIam, said: Said, cache: Path, bad: str = CACHED) -> None:
    """The entry was ignored (a debug line), IAM asked once, a clean entry written in its place."""
    assert iam.calls == 1
    assert any("ignoring it, asking IAM" in line for line in said.debug), said.debug
    assert bad not in said.text() and bad not in said.tokens and said.warn == []
    assert stat.S_ISREG(os.lstat(cache).st_mode)
    assert json.loads(cache.read_text())["token"] == FRESH


@pytest.mark.parametrize(
    "content",
    [
        {"token": CACHED, "expires_at": "nan"},
        {"token": CACHED, "expires_at": "inf"},
        b'{"token": "' + CACHED.encode() + b'", "expires_at": NaN}',
        b'{"token": "' + CACHED.encode() + b'", "expires_at": 1e999}',
        b'{"token": "' + CACHED.encode() + b'", "expires_at": 1' + b"0" * 400 + b"}",
        b'{"token": "' + CACHED.encode() + b'", "expires_at": ' + DEEP + b"}",
        DEEP,
    ],
    ids=["nan-string", "inf-string", "NaN", "1e999", "huge-integer", "nested-expiry", "nested"],
)
def test_a_cache_entry_without_a_finite_expiry_is_ignored(
    content: bytes | dict[str, object], said: Said, cache: Path
) -> None:
    plant(cache, content)
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert_asked_iam(iam, said, cache)


@pytest.mark.parametrize(
    "token",
    ["CANARY-cached-\u20ac\u4e2d-tok", "CANARY-cached-tok\nX-Injected: 1", "CANARY-cached-\x1b]0;pwned\x07-tok"],
    ids=["non-latin-1", "newline", "escape"],
)
def test_a_cache_entry_whose_token_is_not_a_clean_secret_is_ignored(token: str, said: Said, cache: Path) -> None:
    plant(cache, good_entry(token))
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert_asked_iam(iam, said, cache, bad=token)


def test_a_fifo_in_the_cache_does_not_block(said: Said, cache: Path) -> None:
    directories(cache)
    os.mkfifo(cache, 0o600)

    def unblock() -> None:  # let a reader stuck in open() go
        os.close(os.open(cache, os.O_WRONLY | os.O_NONBLOCK))

    iam = FakeIam()
    assert within(PROMPTLY_S, login(iam, said, cache).token, unblock) == FRESH
    assert_asked_iam(iam, said, cache)
    assert "not a regular file" in said.text()


def test_a_cache_entry_linked_to_dev_zero_is_not_followed(said: Said, cache: Path) -> None:
    directories(cache)
    cache.symlink_to("/dev/zero")
    iam = FakeIam()
    assert within(PROMPTLY_S, login(iam, said, cache).token) == FRESH
    assert_asked_iam(iam, said, cache)  # the link itself replaced, not written through
    assert "is a symbolic link" in said.text()


def test_a_cache_entry_linked_to_a_good_entry_is_not_followed(said: Said, cache: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(good_entry()))
    elsewhere.chmod(0o600)
    directories(cache)
    cache.symlink_to(elsewhere)
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert_asked_iam(iam, said, cache)
    assert json.loads(elsewhere.read_text())["token"] == CACHED  # untouched


def test_an_oversized_cache_entry_is_ignored(said: Said, cache: Path) -> None:
    plant(cache, json.dumps(good_entry()).encode() + b" " * (64 * 1024))  # valid JSON, but 64 KiB of it
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert_asked_iam(iam, said, cache)
    assert "too large" in said.text()


def test_a_cache_entry_others_can_write_is_ignored(said: Said, cache: Path) -> None:
    plant(cache, good_entry(), mode=0o666)
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert_asked_iam(iam, said, cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


# -- a hostile cache directory -------------------------------------------------------------------


def entries(cache: Path) -> list[str]:
    return sorted(path.name for path in cache.parent.iterdir())


def assert_cache_unused(iam: FakeIam, said: Said, cache: Path, problem: str, logins: int = 1) -> None:
    """IAM asked; the planted entry neither used, replaced nor removed, nothing else written; one warning."""
    assert iam.calls == logins
    assert json.loads(cache.read_text())["token"] == CACHED
    assert entries(cache) == [cache.name]
    assert len(said.warn) == 1 and problem in said.warn[0] and "not using the token cache" in said.warn[0]
    assert CACHED not in said.text() and FRESH not in said.text()


@pytest.mark.parametrize("which", ["tokens", "kpstask"])
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777], ids=oct)
def test_a_cache_directory_others_can_write_is_not_used(which: str, mode: int, said: Said, cache: Path) -> None:
    plant(cache, good_entry())
    directory = cache.parent if which == "tokens" else cache.parent.parent
    directory.chmod(mode)
    iam = FakeIam()
    first = login(iam, said, cache)
    assert first.token() == FRESH
    first.confirm(FRESH)
    assert first.renew(FRESH) is True  # a token that worked, then refused: renewed, the cache left alone
    assert_cache_unused(iam, said, cache, f"{directory} is writable by others", logins=2)


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory away needs root")
def test_a_cache_directory_of_another_user_is_not_used(said: Said, cache: Path) -> None:
    plant(cache, good_entry())
    os.chown(cache.parent, 65534, -1)
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert_cache_unused(iam, said, cache, "belongs to another user")


def test_a_linked_cache_directory_is_not_used(said: Said, cache: Path, tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    planted.mkdir(mode=0o700)
    (planted / cache.name).write_text(json.dumps(good_entry()))
    (planted / cache.name).chmod(0o600)
    cache.parent.parent.mkdir(mode=0o700)
    cache.parent.symlink_to(planted)
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert_cache_unused(iam, said, cache, "is a symbolic link")


# -- what is written -----------------------------------------------------------------------------


@pytest.fixture
def lax_umask() -> Iterator[None]:
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("lax_umask")
def test_the_cache_is_written_0600_in_0700_directories(said: Said, cache: Path) -> None:
    iam = FakeIam()
    assert login(iam, said, cache).token() == FRESH
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.parent.parent.stat().st_mode) == 0o700
    assert entries(cache) == [cache.name]  # no temporary file left
    again = Said()
    assert login(iam, again, cache).token() == FRESH and iam.calls == 1  # and read back
    assert said.warn == again.warn == []


def test_a_failed_renewal_ahead_of_time_keeps_the_current_token(said: Said) -> None:
    """IAM failing while the token still works: the wait goes on with it, IAM is asked again
    30 s later (not at every request), and only a token past its end is given up."""
    iam, now = FakeIam(), [NOW]
    login = IamLogin(
        transport=iam,
        user="alice",
        domain="acme",
        password=PASSWORD,
        project_id=PROJECT,  # type: ignore[arg-type]
        cache=None,
        on_token=said.tokens.append,
        debug=said.debug.append,
        wall=lambda: now[0],
    )
    first = login.token()
    login.confirm(first)
    iam.answer = Answer(503, {}, b"")
    now[0] = NOW + 86400 - 60  # inside the renewal margin
    assert login.token() == first and iam.calls == 2
    assert login.token() == first and iam.calls == 2
    now[0] += 31
    assert login.token() == first and iam.calls == 3
    now[0] = NOW + 86400 + 1
    with pytest.raises(ApiError):
        login.token()
    assert "could not renew the IAM token" in said.text() and PASSWORD not in said.text()
