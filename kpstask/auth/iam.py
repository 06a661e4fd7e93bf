"""IAM logins: a token scoped to the project, for a password (`POST /v3/auth/tokens`)
or, in `federation`, an ID token; cached in the user's cache directory, and renewed
before it ends (`renewal`).

The cache file is named by a hash of the identity (for a password: IAM endpoint,
domain, user, project): never the password, never a readable user name. Its files are
`tokencache`'s: written atomically, mode 0600, in directories made 0700, and trusted in
nothing (an entry that cannot be used is ignored with a --debug line and IAM asked
again); cache directories that others could write to, or that belong to someone else,
are not used at all (a warning).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpstask.auth import renewal
from kpstask.auth.tokencache import (
    MAX_CACHE_BYTES,
    Unusable,
    Voice,
    clean_token,
    read_entry,
    safe_directories,
    write_atomically,
)
from kpstask.errors import ApiError, AuthError, KpsError, NetworkError
from kpstask.i18n import N_, _

if TYPE_CHECKING:
    from kpstask.api.answers import Answer
    from kpstask.api.transport import Transport

RENEW_BEFORE_S = 5 * 60
ASSUMED_LIFETIME_S = 3600  # when IAM gives no expiry: an hour, well inside IAM's 24


def cache_file(directory: Path, iam: str, domain: str, user: str, project_id: str) -> Path:
    key = hashlib.sha256(json.dumps([iam, domain, user, project_id]).encode()).hexdigest()[:32]
    return directory / "tokens" / f"{key}.json"


class TokenLogin:
    """One identity's token for one project: from the cache, or from IAM. What is sent to
    IAM is the subclass's (`_ask_iam`): a password here, an ID token in `federation`."""

    who = "the user"  # for --debug lines: whose token

    def __init__(
        self,
        *,
        transport: Transport,
        project_id: str,
        cache: Path | None,
        on_token: Callable[[str], None],
        debug: Callable[[str], None],
        warn: Callable[[str], None] = lambda text: None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.project_id = project_id
        self.cache = cache
        self.on_token = on_token  # every token seen is a secret to mask
        self.debug = debug
        self.warn = warn
        self.wall = wall
        self.from_cache = False
        self.accepted = False  # the API took the current token at least once
        self._token: str | None = None
        self._expires = 0.0
        self._lifetime = 0.0
        self._issued: list[str] = []
        self._voice = Voice(warn, debug)  # an unsafe cache directory is told once
        self._not_before = 0.0  # a renewal ahead of time that failed is not tried again before this
        self._lock = threading.Lock()

    def issued(self) -> list[str]:
        return list(self._issued)

    @property
    def expires_at(self) -> float | None:
        """When the current token ends (None before there is one): for `config show`."""
        return self._expires if self._token is not None else None

    def token(self) -> str:
        """The current token; a new one when it is about to expire (a long wait outlives one)."""
        with self._lock:
            margin = renewal.margin(self._lifetime)
            # Only a token that has worked is renewed ahead of time: one IAM hands out already
            # expired would otherwise be fetched again at every request.
            due = max(self._expires - margin, self._not_before)
            if self._token is not None and self.accepted and self.wall() >= due:
                self.debug("the IAM token is about to expire: asking IAM for a new one")
                return self._renew_ahead()
            if self._token is None:
                self._token = self._cached() or self._fetch()
            return self._token

    def _renew_ahead(self) -> str:
        """A new token before the current one ends (the lock is held). If that fails while the
        current one still has time, it is used until its end and the next request tries again."""
        current, expires = self._token, self._expires
        try:
            self._token = self._fetch()
        except KpsError as error:
            if current is None or expires <= self.wall():
                raise
            self.debug(f"could not renew the IAM token ({error.message}); using the current one")
            self._expires, self._token = expires, current
            self._not_before = self.wall() + renewal.MIN_RENEWAL_GAP_S
        return self._token

    def renew(self, refused: str | None) -> bool:
        """The API refused `refused`: get a new token, if that can help. Only a token that
        came from the cache or that worked before is renewed, so a fresh token refused at
        once ends it: never a loop. Another thread may have renewed it already."""
        with self._lock:
            if self._token is not None and self._token != refused:
                return True
            if not (self.from_cache or self.accepted):
                return False
            self._forget()
            self._token = self._fetch()
            return True

    def confirm(self, used: str | None) -> None:
        """The API took `used`."""
        with self._lock:
            if used is not None and used == self._token:
                self.accepted = True

    def _forget(self) -> None:
        """Drop the token, here and in the cache (the lock is held)."""
        self._token = None
        self.from_cache = False
        self.accepted = False
        if self.cache is not None and self._cache_safe():
            try:
                self.cache.unlink(missing_ok=True)
            except OSError as exc:
                self.debug(f"could not remove the token cache {self.cache.name}: {exc.strerror or exc}")

    def _remember(self, token: str) -> str:
        self._issued.append(token)
        self.on_token(token)
        return token

    # -- the cache -----------------------------------------------------------

    def _cache_safe(self, create: bool = False) -> bool:
        """Whether the cache directories are the user's alone (made first when `create`)."""
        assert self.cache is not None
        return safe_directories(self.cache, create, self._voice)

    def _cached(self) -> str | None:
        if self.cache is None or not self._cache_safe():
            return None
        try:
            entry = read_entry(self.cache)
        except Unusable as unusable:
            self.debug(f"the token cache {self.cache.name} {unusable}: ignoring it, asking IAM")
            return None
        if entry is None:
            return None
        token, expires = entry
        if expires - RENEW_BEFORE_S <= self.wall():
            self.debug("the cached IAM token is about to expire")
            return None
        self.from_cache = True
        self.accepted = False
        self._expires, self._lifetime = expires, expires - self.wall()
        self.debug(f"IAM token from the cache ({self.cache.name}), valid for {int(expires - self.wall())} s")
        return self._remember(token)

    def cached_until(self) -> float | None:
        """When the token in use, or a usable cached one, ends (for `config show`: nothing is
        sent, and the cache is only read)."""
        with self._lock:
            if self._token is not None:
                return self._expires
            if self.cache is None or not self._cache_safe():
                return None
            try:
                entry = read_entry(self.cache)
            except Unusable:
                return None
            if entry is None or entry[1] - RENEW_BEFORE_S <= self.wall():
                return None
            return entry[1]

    def _store(self, token: str, expires: float) -> None:
        if self.cache is None:
            return
        text = json.dumps({"token": token, "expires_at": expires})
        if len(text) > MAX_CACHE_BYTES:
            self.debug("the IAM token is too large to cache")
            return
        if not self._cache_safe(create=True):
            return
        try:
            write_atomically(self.cache, text)
        except OSError as exc:
            self.debug(f"could not cache the IAM token: {exc.strerror or exc}")

    # -- IAM -----------------------------------------------------------------

    def _fetch(self) -> str:
        answer = self._ask_iam()
        said = answer.headers.get("X-Subject-Token")
        if said is not None and "," in said:  # not one token: HTTP joins a repeated header with ", "
            raise ApiError(
                _(
                    "IAM sent {count} tokens (X-Subject-Token more than once, or a list) for one login: "
                    "using none of them"
                ).format(count=said.count(",") + 1),
                http_status=answer.status,
                request_id=answer.request_id,
            )
        token = clean_token(said)
        if token is None:  # not echoed: it may be a good token with a stray byte
            raise ApiError(
                _("IAM's X-Subject-Token is not a usable token: it must be one line of printable ASCII"),
                http_status=answer.status,
                request_id=answer.request_id,
            )
        self._remember(token)
        self.from_cache = False
        self.accepted = False
        expires = _expiry(answer)
        if expires is None:
            self.debug("IAM's answer has no token.expires_at: assuming the token lasts an hour")
            expires = self.wall() + ASSUMED_LIFETIME_S
        self._expires, self._lifetime = expires, max(expires - self.wall(), 0.0)
        self.debug(f"new IAM token for {self.who}, expires in {int(expires - self.wall())} s")
        self._store(token, expires)
        return token

    def _ask_iam(self) -> Answer:
        """IAM's answer to the login: a 2xx with an X-Subject-Token, or an error raised."""
        raise NotImplementedError


class IamLogin(TokenLogin):
    """A password login: `POST /v3/auth/tokens` for a token scoped to the project."""

    def __init__(self, *, user: str, domain: str, password: str, **rest: Any) -> None:
        super().__init__(**rest)
        self.user = user
        self.domain = domain
        self.password = password
        self.who = f"user {user}"

    def _ask_iam(self) -> Answer:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": self.user, "password": self.password, "domain": {"name": self.domain}}
                    },
                },
                "scope": {"project": {"id": self.project_id}},
            }
        }
        headers = {"Content-Type": "application/json;charset=utf8"}
        try:
            answer = self.transport.send("POST", "/v3/auth/tokens", headers, json.dumps(body).encode())
        except NetworkError as exc:
            raise NetworkError(_("IAM unreachable: {message}").format(message=exc.message), hint=exc.hint) from None
        if answer.status >= 300 or not answer.headers.get("X-Subject-Token"):
            raise iam_error(answer)
        return answer


def _expiry(answer: Answer) -> float | None:
    """`token.expires_at` of IAM's answer; None when the body lacks it. A body that is not
    a JSON object, or a field of another shape, is an API error: IAM is not talking IAM."""
    try:
        data: Any = json.loads(answer.body)
    except (ValueError, RecursionError) as exc:
        why = _("nested too deeply") if isinstance(exc, RecursionError) else _("not valid JSON")
        raise _bad_answer(answer, _("the body is {why}").format(why=why)) from None
    if not isinstance(data, dict):
        raise _bad_answer(answer, _("the body is {json_type}, not an object").format(json_type=_json_type(data)))
    if "token" not in data:
        return None
    if not isinstance(data["token"], dict):
        raise _bad_answer(answer, _("token is {json_type}, not an object").format(json_type=_json_type(data["token"])))
    if "expires_at" not in data["token"]:
        return None
    value = data["token"]["expires_at"]
    if not isinstance(value, str):
        raise _bad_answer(answer, _("token.expires_at is {json_type}, not a date").format(json_type=_json_type(value)))
    try:
        return renewal.parse_expiry(value)
    except (ValueError, OverflowError):
        raise _bad_answer(
            answer, _("token.expires_at {value} is not an ISO 8601 date").format(value=ascii(value[:40]))
        ) from None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return _("a boolean")
    names = {
        type(None): N_("null"),
        int: N_("a number"),
        float: N_("a number"),
        str: N_("a string"),
        list: N_("an array"),
    }
    return _(names.get(type(value), N_("an object")))


def _bad_answer(answer: Answer, why: str) -> ApiError:
    return ApiError(
        _("IAM's answer to the login is not the documented shape: {why}").format(why=why),
        http_status=answer.status,
        request_id=answer.request_id,
    )


def iam_error(answer: Answer) -> KpsError:
    from kpstask.api.answers import error_for

    error = error_for(answer, "IAM")
    if answer.status in (400, 401, 403):
        return AuthError(
            _("IAM refused the login: {message}").format(
                message=error.message.split(_(": {message}").format(message=""), 1)[-1]  # the server's words
            ),
            code=error.code,
            http_status=error.http_status,
            request_id=error.request_id,
            hint=_("check the user name, domain and password, and that the user may use this project"),
        )
    if answer.status < 300:
        return ApiError(_("IAM answered without an X-Subject-Token"), http_status=answer.status)
    return ApiError(
        _("IAM error: {message}").format(message=error.message),
        http_status=error.http_status,
        request_id=error.request_id,
    )
