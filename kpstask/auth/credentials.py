"""Credentials, as Huawei Cloud users hold them: a token, an access key pair
(AK/SK, signed per request), a user name and password (exchanged at IAM for a
token, cached), an OpenID Connect ID token (exchanged at IAM for a token, or at
STS for an agency's temporary keys), or, with none of these, the temporary keys
of the ECS server's agency from its metadata service. Each kind owns its
behaviour: the headers it adds, whether a refusal can be cured by renewing, the
hint a refusal gets, its `config show` rows, and what `kpstask token` prints.

Which kind is used: the most explicit layer (flag, environment, profile) that
holds a whole one, and within a layer a token, then AK/SK, then a password, then
an OIDC login (the Terraform provider's order, federation after it); the ECS
metadata service last, when nothing else is configured (as the SDK and the
Terraform provider do). Only the chosen credential's files are read. No secret
value ever appears in a message: errors name sources, never values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from kpstask.errors import UsageError
from kpstask.i18n import N_, _
from kpstask.settings import Found, row

if TYPE_CHECKING:
    from kpstask.auth.iam import TokenLogin
    from kpstask.auth.renewal import Renewing

Kind = Literal["token", "aksk", "password", "oidc", "agency", "metadata"]
Finder = Callable[..., "Found | None"]  # find(name, partner=None): a setting as the resolver found it
Query = list[tuple[str, object]]
Row = tuple[str, str, str]
# How `config show` names each kind to a person (JSON and TSV keep the kind itself).
KIND_WORDS: dict[Kind, str] = {
    "token": N_("token"),
    "aksk": N_("aksk"),
    "password": N_("password"),
    "oidc": N_("oidc"),
    "agency": N_("agency"),
    "metadata": N_("metadata"),
}
KIND_ORDER: dict[Kind, int] = {"token": 0, "aksk": 1, "password": 2, "oidc": 3, "agency": 3, "metadata": 4}
SIGNATURE_HINT = N_(
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
        return [("credentials", _(KIND_WORDS[self.kind]), self.why), *(row(part) for part in self.parts)]

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
        self.why = _("token from {source}").format(source=found.source)

    def headers(self, method: str, host: str, path: str, query: Query) -> dict[str, str]:
        return {"X-Auth-Token": self._token}

    def token(self) -> str:
        return self._token


class AkSkAuth(Credential):
    """An access key pair: every request signed with SDK-HMAC-SHA256."""

    kind: Kind = "aksk"

    def __init__(
        self,
        values: dict[str, str],
        parts: tuple[Found, ...],
        project_id: str,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        from kpstask.auth import signer  # noqa: F401 - here, on the main thread: never first in a poll worker

        self._values = values
        self.parts = parts
        self.project_id = project_id
        self.now = now or (lambda: datetime.now(timezone.utc))
        sources = {part.setting.name: part.source for part in parts}
        temporary = (
            _(", security token from {source}").format(source=sources["security_token"])
            if "security_token" in sources
            else ""
        )
        self.why = _("AK/SK: access key from {access}, secret key from {secret}{temporary}").format(
            access=sources["access_key"], secret=sources["secret_key"], temporary=temporary
        )

    def headers(self, method: str, host: str, path: str, query: Query) -> dict[str, str]:
        access, secret = self._values["access_key"], self._values["secret_key"]
        keys = (access, secret, self._values.get("security_token"))
        return signed(keys, self.project_id, self.now(), (method, host, path, query))

    def refusal_hint(self, status: int) -> str | None:
        # The token hints do not fit a signature: say what can be wrong with one.
        return _(SIGNATURE_HINT) if status == 401 else None

    def token(self) -> str:
        raise UsageError(
            _("AK/SK credentials cannot be turned into a token here: kpstask signs each request with them"),
            hint=_("configure a user name and password (or a token) to get a token"),
        )


def signed(
    keys: tuple[str, str, str | None], project_id: str, when: datetime, request: tuple[str, str, str, Query]
) -> dict[str, str]:
    """The headers of a request (method, host, path, query) signed with an access key pair
    (access key, secret key, security token or None)."""
    from kpstask.auth import signer

    access, secret, security_token = keys
    method, host, path, query = request
    headers = {"Host": host, "X-Sdk-Date": signer.sdk_date(when), "X-Project-Id": project_id}
    if security_token is not None:
        headers["X-Security-Token"] = security_token
    return signer.sign(access, secret, method=method, path=path, query=query, headers=headers)


class KeysAuth(Credential):
    """Temporary keys kpstask gets itself and renews (`renewal.Renewing`): the ECS server's
    agency (metadata) or an agency assumed with an ID token (STS). Signed like AK/SK."""

    def __init__(
        self,
        kind: Kind,
        renewing: Renewing,
        *,
        parts: tuple[Found, ...],
        why: str,
        project_id: str,
        extra_rows: list[Row],
        now: Callable[[], datetime] | None = None,
    ) -> None:
        from kpstask.auth import signer  # noqa: F401 - here, on the main thread: never first in a poll worker

        self.kind = kind
        self.renewing = renewing
        self.parts = parts
        self.why = why
        self.project_id = project_id
        self._extra_rows = extra_rows
        self.now = now or (lambda: datetime.now(timezone.utc))

    def headers(self, method: str, host: str, path: str, query: Query) -> dict[str, str]:
        keys = self.renewing.current()
        request = (method, host, path, query)
        return signed((keys.access, keys.secret, keys.security_token), self.project_id, self.now(), request)

    def renew(self) -> bool:
        return self.renewing.renew()

    def confirm(self) -> None:
        self.renewing.confirm()

    def refusal_hint(self, status: int) -> str | None:
        if status == 403:
            return _("the agency may lack permission for KPS in this project: check its policies")
        return _("the temporary credentials were refused: check this machine's clock (15 minutes at most off)")

    def rows(self) -> list[Row]:
        rows = super().rows() + self._extra_rows
        keys = self.renewing.keys
        if keys is not None:
            from kpstask.auth.renewal import iso

            rows.append(("expires", iso(keys.expires_at), _("renewed before then")))
        return rows

    def token(self) -> str:
        raise UsageError(
            _(
                "{kind} credentials are temporary access keys: kpstask signs each request with "
                "them, and cannot turn them into a token"
            ).format(kind="OIDC agency" if self.kind == "agency" else "ECS metadata"),
            hint=_("an OIDC login without an agency (--idp-id), a password or a token gives a token"),
        )


class LoginAuth(Credential):
    """A token that IAM issues for something else (a password, an ID token): cached and renewed."""

    def __init__(
        self,
        kind: Kind,
        login: Callable[[], TokenLogin],
        parts: tuple[Found, ...],
        why: str,
        extra_rows: list[Row],
        *,
        peek: bool = True,
    ) -> None:
        self.kind = kind
        self.peek = peek  # `config show` may make the login to read the cache
        self._make_login = login
        self._login: TokenLogin | None = None
        self.parts = parts
        self.why = why
        self._extra_rows = extra_rows
        self._used = threading.local()  # the token this thread last sent
        self._lock = threading.Lock()

    @property
    def login(self) -> TokenLogin:
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
        rows = super().rows() + self._extra_rows
        # The login is made (nothing is sent) unless making it would ask for an ID token.
        login = self.login if self.peek else self._login
        expires = login.cached_until() if login is not None else None
        if expires is not None:
            from kpstask.auth.renewal import iso

            rows.append(("expires", iso(expires), _("the token in the cache; renewed before then")))
        return rows

    def token(self) -> str:
        return self.login.token()


class PasswordAuth(LoginAuth):
    """A user name and password, exchanged at IAM for a project-scoped token (cached)."""

    def __init__(self, login: Callable[[], TokenLogin], parts: tuple[Found, ...], extra_rows: list[Row]) -> None:
        user, domain, password = parts
        why = _("password of user {user} ({source}), domain from {domain}, password from {password}").format(
            user=user.value, source=user.source, domain=domain.source, password=password.source
        )
        super().__init__("password", login, parts, why, extra_rows)
