"""IAM password login: `POST /v3/auth/tokens` for a project-scoped token, cached
in the user's cache directory until 5 minutes before it expires.

The cache file is named by a hash of (IAM endpoint, domain, user, project): never
the password, never a readable user name. It is written atomically, mode 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpstask.errors import ApiError, AuthError, KpsError, NetworkError

if TYPE_CHECKING:
    from kpstask.transport import Answer, Transport

RENEW_BEFORE_S = 5 * 60


def cache_file(directory: Path, iam: str, domain: str, user: str, project_id: str) -> Path:
    key = hashlib.sha256(json.dumps([iam, domain, user, project_id]).encode()).hexdigest()[:32]
    return directory / "tokens" / f"{key}.json"


def parse_expiry(text: str) -> float:
    """`2019-02-13T06:52:13.855000Z` -> epoch seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class IamLogin:
    """One user's token for one project: from the cache, or from IAM."""

    def __init__(
        self,
        *,
        transport: Transport,
        user: str,
        domain: str,
        password: str,
        project_id: str,
        cache: Path | None,
        on_token: Callable[[str], None],
        debug: Callable[[str], None],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.user = user
        self.domain = domain
        self.password = password
        self.project_id = project_id
        self.cache = cache
        self.on_token = on_token  # every token seen is a secret to mask
        self.debug = debug
        self.wall = wall
        self.from_cache = False
        self.accepted = False  # the API took the current token at least once
        self._token: str | None = None
        self._expires = 0.0
        self._lifetime = 0.0
        self._issued: list[str] = []
        self._lock = threading.Lock()

    def issued(self) -> list[str]:
        return list(self._issued)

    def token(self) -> str:
        """The current token; a new one when it is about to expire (a long wait outlives one)."""
        with self._lock:
            margin = min(RENEW_BEFORE_S, self._lifetime / 10)
            # Only a token that has worked is renewed ahead of time: one IAM hands out already
            # expired would otherwise be fetched again at every request.
            if self._token is not None and self.accepted and self.wall() >= self._expires - margin:
                self.debug("the IAM token is about to expire: asking IAM for a new one")
                self._token = None
            if self._token is None:
                self._token = self._cached() or self._fetch()
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
        if self.cache is not None:
            self.cache.unlink(missing_ok=True)

    def _remember(self, token: str) -> str:
        self._issued.append(token)
        self.on_token(token)
        return token

    def _cached(self) -> str | None:
        if self.cache is None:
            return None
        try:
            data = json.loads(self.cache.read_text(encoding="utf-8"))
            token, expires = data["token"], float(data["expires_at"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            self.debug(f"the token cache {self.cache.name} is unreadable; asking IAM")
            return None
        if not isinstance(token, str) or expires - RENEW_BEFORE_S <= self.wall():
            self.debug("the cached IAM token is about to expire")
            return None
        self.from_cache = True
        self.accepted = False
        self._expires, self._lifetime = expires, expires - self.wall()
        self.debug(f"IAM token from the cache ({self.cache.name}), valid for {int(expires - self.wall())} s")
        return self._remember(token)

    def _fetch(self) -> str:
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
            raise NetworkError(f"IAM unreachable: {exc.message}", hint=exc.hint) from None
        token = answer.headers.get("X-Subject-Token")
        if answer.status >= 300 or not token:
            raise _iam_error(answer)
        self._remember(token)
        self.from_cache = False
        self.accepted = False
        expires = _expiry(answer.body)
        self._expires, self._lifetime = expires, max(expires - self.wall(), 0.0)
        self.debug(f"new IAM token for user {self.user}, expires in {int(expires - self.wall())} s")
        self._store(token, expires)
        return token

    def _store(self, token: str, expires: float) -> None:
        if self.cache is None:
            return
        try:
            self.cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle, temp = tempfile.mkstemp(dir=self.cache.parent, prefix=".token-", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:  # mkstemp creates it 0600
                json.dump({"token": token, "expires_at": expires}, out)
            os.replace(temp, self.cache)
        except OSError as exc:
            self.debug(f"could not cache the IAM token: {exc.strerror or exc}")


def _expiry(body: bytes) -> float:
    try:
        data: Any = json.loads(body)
        return parse_expiry(data["token"]["expires_at"])
    except (ValueError, KeyError, TypeError):
        # No readable expiry: assume an hour, well inside IAM's 24.
        return time.time() + 3600


def _iam_error(answer: Answer) -> KpsError:
    from kpstask.transport import error_for

    error = error_for(answer, "IAM")
    if answer.status in (400, 401, 403):
        return AuthError(
            f"IAM refused the login: {error.message.split(': ', 1)[-1]}",
            code=error.code,
            http_status=error.http_status,
            request_id=error.request_id,
            hint="check the user name, domain and password, and that the user may use this project",
        )
    if answer.status < 300:
        return ApiError("IAM answered without an X-Subject-Token", http_status=answer.status)
    return ApiError(f"IAM error: {error.message}", http_status=error.http_status, request_id=error.request_id)
