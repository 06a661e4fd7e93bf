"""Credentials, as Huawei Cloud users hold them: a token, an access key pair
(AK/SK, signed per request), or a user name and password (exchanged at IAM for a
token, cached). Each kind owns its behaviour: the headers it adds, whether a
refusal can be cured by renewing, the hint a refusal gets, its `config show`
rows, and what `kpstask token` prints.

Which kind is used: the most explicit layer (flag, environment, profile) that
holds a whole one, and within a layer a token, then AK/SK, then a password (the
Terraform provider's order). Only the chosen credential's files are read. No
secret value ever appears in a message: errors name sources, never values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal, NamedTuple

from kpstask.errors import UsageError
from kpstask.settings import BY_NAME, Found, Problem, SettingsError, hint_row, one_of, row, short_where

if TYPE_CHECKING:
    from kpstask.iam import IamLogin

Kind = Literal["token", "aksk", "password"]
Finder = Callable[..., "Found | None"]  # find(name, partner=None): a setting as the resolver found it
Query = list[tuple[str, object]]
Row = tuple[str, str, str]
KIND_ORDER: dict[Kind, int] = {"token": 0, "aksk": 1, "password": 2}
SIGNATURE_HINT = (
    "check the secret key belongs to the access key and the key is enabled; "
    "a signature is only valid within 15 minutes of X-Sdk-Date, so check this machine's clock"
)


class Credential:
    """What every kind shares; the kinds below say what differs."""

    kind: Kind
    why: str  # for --debug and `config show`: which credential, from where
    parts: tuple[Found, ...]

    def headers(self, method: str, host: str, path: str, query: Query) -> dict[str, str]:
        raise NotImplementedError

    def renew(self) -> bool:
        """After a 401: get fresh credentials, if that can help (a cached or expired token)."""
        return False

    def confirm(self) -> None:
        """The API accepted the credentials just sent."""

    def refusal_hint(self, status: int) -> str | None:
        """What to check when the API refuses these credentials (None: the API's code decides)."""
        return None

    def rows(self) -> list[Row]:
        return [("credentials", self.kind, self.why), *(row(part) for part in self.parts)]

    def token(self) -> str:
        """A project-scoped token for other tools (`kpstask token`)."""
        raise NotImplementedError

    def __repr__(self) -> str:  # never the values
        return f"{type(self).__name__}({self.why!r})"


class TokenAuth(Credential):
    """An IAM token, sent as X-Auth-Token."""

    kind: Kind = "token"

    def __init__(self, token: str, found: Found) -> None:
        self._token = token
        self.parts = (found,)
        self.why = f"token from {found.source}"

    def headers(self, method: str, host: str, path: str, query: Query) -> dict[str, str]:
        return {"X-Auth-Token": self._token}

    def token(self) -> str:
        return self._token


class AkSkAuth(Credential):
    """An access key pair: every request signed with SDK-HMAC-SHA256."""

    kind: Kind = "aksk"

    def __init__(self, values: dict[str, str], parts: tuple[Found, ...], project_id: str,
                 now: Callable[[], datetime] | None = None) -> None:  # fmt: skip
        self._values = values
        self.parts = parts
        self.project_id = project_id
        self.now = now or (lambda: datetime.now(timezone.utc))
        sources = {part.setting.name: part.source for part in parts}
        temporary = f", security token from {sources['security_token']}" if "security_token" in sources else ""
        self.why = f"AK/SK: access key from {sources['access_key']}, secret key from {sources['secret_key']}{temporary}"

    def headers(self, method: str, host: str, path: str, query: Query) -> dict[str, str]:
        from kpstask import signer

        headers = {"Host": host, "X-Sdk-Date": signer.sdk_date(self.now()), "X-Project-Id": self.project_id}
        if "security_token" in self._values:
            headers["X-Security-Token"] = self._values["security_token"]
        access, secret = self._values["access_key"], self._values["secret_key"]
        return signer.sign(access, secret, method=method, path=path, query=query, headers=headers)

    def refusal_hint(self, status: int) -> str | None:
        # The token hints do not fit a signature: say what can be wrong with one.
        return SIGNATURE_HINT if status == 401 else None

    def token(self) -> str:
        raise UsageError(
            "AK/SK credentials cannot be turned into a token here: kpstask signs each request with them",
            hint="configure a user name and password (or a token) to get a token",
        )


class PasswordAuth(Credential):
    """A user name and password, exchanged at IAM for a project-scoped token (cached)."""

    kind: Kind = "password"

    def __init__(self, login: Callable[[], IamLogin], parts: tuple[Found, ...], extra_rows: list[Row]) -> None:
        self._make_login = login
        self._login: IamLogin | None = None
        self.parts = parts
        self._extra_rows = extra_rows
        user, domain, password = parts
        self.why = f"password of user {user.value} ({user.source}), domain from {domain.source}, " \
                   f"password from {password.source}"  # fmt: skip
        self._used = threading.local()  # the token this thread last sent
        self._lock = threading.Lock()

    @property
    def login(self) -> IamLogin:
        with self._lock:  # made at the first request: `config show` sends nothing
            if self._login is None:
                self._login = self._make_login()
            return self._login

    def headers(self, method: str, host: str, path: str, query: Query) -> dict[str, str]:
        self._used.token = self.login.token()
        return {"X-Auth-Token": self._used.token}

    def renew(self) -> bool:
        return self.login.renew(getattr(self._used, "token", None))

    def confirm(self) -> None:
        self.login.confirm(getattr(self._used, "token", None))

    def rows(self) -> list[Row]:
        return super().rows() + self._extra_rows

    def token(self) -> str:
        return self.login.token()


class Candidate(NamedTuple):
    """A credential found (its files not read yet); half a credential is a problem
    only when it is the one that would be used."""

    kind: Kind
    parts: tuple[Found, ...]
    what: str
    problem: UsageError | None = None

    @property
    def layer(self) -> int:
        return min(part.layer for part in self.parts)


def candidates(find: Finder) -> list[Candidate]:
    found = [_token(find), _aksk(find), _password(find)]
    return [candidate for candidate in found if candidate is not None]


def _token(find: Finder) -> Candidate | None:
    token = find("token")
    return None if token is None else Candidate("token", (token,), f"token from {token.source}")


def _aksk(find: Finder) -> Candidate | None:
    access, secret = find("access_key"), find("secret_key")
    if access is None and secret is None:
        return None
    if access is None or secret is None:
        half = access or secret
        assert half is not None
        have, missing = ("an access key", "its secret key") if access else ("a secret key", "its access key")
        other = BY_NAME["secret_key" if access else "access_key"]
        problem = UsageError(f"{have} is given ({half.source}) but not {missing}",
                             hint=f"set the {other.label} too: {short_where(other)}")  # fmt: skip
        return Candidate("aksk", (half,), f"half an AK/SK ({half.source})", problem)
    security = find("security_token", partner=access)
    parts = (access, secret) + ((security,) if security else ())
    return Candidate("aksk", parts, f"AK/SK (access key from {access.source})")


def _password(find: Finder) -> Candidate | None:
    names = ("user_name", "domain", "password")
    parts = {name: find(name) for name in names}
    present = tuple(found for found in parts.values() if found is not None)
    if not present:
        return None
    absent = [BY_NAME[name] for name, found in parts.items() if found is None]
    if absent:
        problem = UsageError(
            f"a password login needs a user name, a domain and a password; "
            f"missing: {', '.join(s.label for s in absent)}",
            hint="; ".join(f"{s.label}: {short_where(s)}" for s in absent),
        )
        return Candidate("password", present, "part of a password login", problem)
    return Candidate("password", present, f"password of user {present[0].value}")


# One line per way to give credentials: (name, the settings it needs).
WAYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("token", ("token",)),
    ("AK/SK", ("access_key", "secret_key")),
    ("password", ("user_name", "domain", "password")),
)


def no_credentials() -> SettingsError:
    """Every way to give a credential, one short line each, from the table."""
    hints = [hint_row("credentials", "one of:")]
    for way, names in WAYS:
        settings = [BY_NAME[name] for name in names]
        where = short_where(settings[0]) if len(settings) == 1 else one_of([s.env[0] for s in settings], "and")
        hints.append(hint_row(f"  {way}", where))
    hints.append(hint_row("  profile", "any of these in a config-file profile (--profile)"))
    message = "no credentials given: no token, no access key, no user name and password"
    return SettingsError([Problem("credentials", message, tuple(hints), missing=True)])


def choose(found: list[Candidate]) -> Candidate:
    if not found:
        raise no_credentials()
    chosen = min(found, key=lambda c: (c.layer, KIND_ORDER[c.kind]))
    if chosen.problem is not None:
        raise chosen.problem
    return chosen


def also_found(found: list[Candidate], chosen: Candidate) -> str:
    others = [c.what for c in found if c is not chosen]
    if not others:
        return ""
    return (
        f"; also found, not used: {'; '.join(others)} (a flag beats the environment, which beats the "
        "profile; then a token beats AK/SK, which beats a password)"
    )
