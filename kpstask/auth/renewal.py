"""Temporary credentials that kpstask fetches itself and renews: when, and how they are read.

One renewal rule for every kind (the ECS metadata's keys, an agency's keys from STS, an IAM
token from a password or an ID token): renew when less than `margin(lifetime)` is left — the
SDK's 40 minutes, or a tenth of the lifetime when that is shorter, so that a 15-minute
credential is renewed 90 s before it ends rather than at every request. A credential that was
refused is renewed at once, but only if it had worked before or came from a cache: a fresh
one refused ends the run (exit 4), never a loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from kpstask.errors import ApiError, AuthError, KpsError
from kpstask.i18n import _
from kpstask.text import one_line

SDK_MARGIN_S = 40 * 60
MIN_RENEWAL_GAP_S = 30.0  # a service that hands out the same near-expiry keys is not asked at every request


def margin(lifetime_s: float) -> float:
    """How long before its end a credential of this lifetime is renewed."""
    return min(SDK_MARGIN_S, max(lifetime_s, 0.0) / 10)


def parse_expiry(text: str) -> float:
    """`2019-02-13T06:52:13.855000Z` -> epoch seconds (a time without a zone is UTC)."""
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def iso(epoch: float) -> str:
    """Epoch seconds as `2026-12-04T10:00:00Z`, for `config show` and --debug."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class TemporaryKeys(NamedTuple):
    """An access key, its secret key and security token, and when they stop working."""

    access: str
    secret: str
    security_token: str
    expires_at: float
    from_cache: bool = False  # refused, they are fetched afresh at once, as a cached token is

    def __repr__(self) -> str:  # never the values
        return f"TemporaryKeys(expires_at={self.expires_at})"


# The names each field goes by: the metadata service and IAM (`access`, `secret`,
# `securitytoken`, `expires_at`), STS v5 (`access_key_id`, ..., `expiration`), and the SDK's
# camel case. The SDK's `_process_credential` accepts the same.
_NAMES = {
    "access": ("access", "access_key_id", "accessKeyId"),
    "secret": ("secret", "secret_access_key", "secretAccessKey"),
    "security_token": ("securitytoken", "security_token", "securityToken"),
    "expires_at": ("expires_at", "expiration"),
}


def read_keys(data: Any, service: str, now: float) -> TemporaryKeys:
    """Temporary keys from a service's JSON answer (`{"credential": {...}}` or `{"credentials":
    {...}}`). A field missing or of the wrong shape is an API error; keys that have already
    expired are refused credentials. Nothing of the values is ever quoted."""
    inner = data.get("credential", data.get("credentials")) if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        raise ApiError(
            _("{service} answered without a credential object: not the documented shape").format(service=service)
        )
    values = _fields(inner, service)
    try:
        expires = parse_expiry(values["expires_at"])
    except (ValueError, OverflowError):
        shown = one_line(values["expires_at"], 40)
        raise ApiError(
            _("{service}'s credential has an expires_at that is not a date: {shown}").format(
                service=service, shown=ascii(shown)
            )
        ) from None
    if expires <= now:
        raise AuthError(
            _("{service} handed out credentials that expired already (at {expires})").format(
                service=service, expires=iso(expires)
            ),
            hint=_("check this machine's clock; if it is right, the service is at fault"),
        )
    return TemporaryKeys(values["access"], values["secret"], values["security_token"], expires)


def _fields(inner: dict[str, Any], service: str) -> dict[str, str]:
    """The credential's access, secret, security token and expiry: strings, the keys printable."""
    values: dict[str, str] = {}
    for field, names in _NAMES.items():
        value = next((inner[name] for name in names if name in inner), None)
        if not isinstance(value, str) or not value.strip():
            raise ApiError(
                _("{service}'s credential has no usable {value}: not the documented shape").format(
                    service=service, value=names[0]
                )
            )
        values[field] = value.strip()
    for field in ("access", "secret", "security_token"):
        if any(not (" " < ch <= "~") for ch in values[field]):
            raise ApiError(
                _("{service}'s credential has a {value} that is not printable ASCII").format(
                    service=service, value=_NAMES[field][0]
                )
            )
    return values


class Renewing:
    """Keys from `fetch`, renewed ahead of their end and once after a refusal. Thread-safe:
    the threads of a wait share one set of keys, and one renewal."""

    def __init__(
        self,
        fetch: Callable[[bool], TemporaryKeys],  # fetch(fresh): fresh after a refusal, never from a cache
        *,
        on_keys: Callable[[TemporaryKeys], None],
        debug: Callable[[str], None],
        what: str,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self._on_keys = on_keys  # every secret seen is masked from then on
        self._debug = debug
        self.what = what  # `ECS metadata credentials`, for --debug lines
        self.wall = wall
        self.keys: TemporaryKeys | None = None
        self.accepted = False
        self._renew_at = 0.0
        self._used = threading.local()
        self._lock = threading.Lock()

    def current(self) -> TemporaryKeys:
        """The keys to sign with now; fetched first, or renewed when their end is near."""
        with self._lock:
            if self.keys is not None and self.wall() >= self._renew_at:
                left = self.keys.expires_at - self.wall()
                self._debug(f"{self.what} end in {left:.0f} s: renewing them")
                self._get(fresh=False)
            elif self.keys is None:
                self._get(fresh=False)
            assert self.keys is not None
            self._used.keys = self.keys
            return self.keys

    def renew(self) -> bool:
        """After a refusal: new keys, if that can help (see the module's docstring)."""
        with self._lock:
            used = getattr(self._used, "keys", None)
            if self.keys is not None and used is not None and self.keys != used:
                return True  # another thread renewed them already
            if not self.accepted and not (self.keys is not None and self.keys.from_cache):
                return False
            self._debug(f"{self.what} were refused: renewing them")
            self._get(fresh=True)
            return True

    def confirm(self) -> None:
        with self._lock:
            if getattr(self._used, "keys", None) == self.keys:
                self.accepted = True

    def _get(self, fresh: bool) -> None:
        """Fetch (the lock is held). A failed renewal of keys that still work is not fatal:
        they are used until their end, and the next request tries again."""
        now = self.wall()
        try:
            keys = self._fetch(fresh)
        except KpsError as error:
            if self.keys is None or self.keys.expires_at - now <= 0:
                raise
            self._debug(f"could not renew {self.what} ({error.message}); using the current ones")
            self._renew_at = now + MIN_RENEWAL_GAP_S
            return
        self._on_keys(keys)
        if keys != self.keys:
            self.accepted = False
        self.keys = keys
        lifetime = keys.expires_at - now
        self._renew_at = max(keys.expires_at - margin(lifetime), now + MIN_RENEWAL_GAP_S)
        self._debug(f"{self.what}: new keys, valid for {lifetime:.0f} s (until {iso(keys.expires_at)})")
