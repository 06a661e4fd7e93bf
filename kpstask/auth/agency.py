"""An agency assumed with an OIDC ID token: STS `POST /v5/agencies/assume-with-oidc` answers
the agency's temporary keys, which sign every request. They are cached like an IAM token
(`tokencache`: 0600, keyed by STS, provider, agency, session and the token's identity, never
by the token itself) and reused until they are due for renewal (`renewal`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kpstask.auth.federation import IdTokenSource, claims, exchange
from kpstask.auth.renewal import TemporaryKeys, margin, read_keys
from kpstask.i18n import N_, _

if TYPE_CHECKING:
    from kpstask.api.transport import Transport

ASSUME_PATH = "/v5/agencies/assume-with-oidc"
DEFAULT_SESSION_NAME = "kpstask"
DEFAULT_DURATION_S = 3600


class AgencyKeys:
    """An agency's temporary keys for an ID token: STS `assume-with-oidc`. `fetch` is called by
    `renewal.Renewing`, and reads the ID token afresh each time. The keys are cached like an
    IAM token (`tokencache`), keyed by STS, provider, agency, session and the token's identity."""

    def __init__(
        self,
        transport: Transport,
        source: IdTokenSource,
        *,
        provider_urn: str,
        agency_urn: str,
        session_name: str,
        duration_s: int,
        cache: Path | None = None,  # the cache directory
        say: Callable[[str], None] = lambda text: None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.source = source
        self.payload = {
            "provider_urn": provider_urn,
            "agency_urn": agency_urn,
            "agency_session_name": session_name,
            "duration_seconds": duration_s,
        }
        self.cache = cache
        self.say = say  # why the cache is not used
        self.wall = wall

    def fetch(self, fresh: bool = False) -> TemporaryKeys:
        token = self.source.read()
        entry = self._entry(token)
        if entry is not None and fresh:
            with contextlib.suppress(OSError):
                entry.unlink(missing_ok=True)
        keys = None if entry is None or fresh else cached_keys(entry, self.wall(), self.say)
        if keys is None:
            keys = self._assume(token)
            if entry is not None:
                store_keys(entry, keys, self.wall(), self.say)
        return keys

    def _entry(self, token: str) -> Path | None:
        if self.cache is None:
            return None
        identity = claims(token, self.source.where)
        key = [
            self.transport.base_url,
            self.payload["provider_urn"],
            self.payload["agency_urn"],
            self.payload["agency_session_name"],
            identity.issuer,
            identity.subject,
            identity.audience,
        ]
        return self.cache / "tokens" / f"{hashlib.sha256(json.dumps(['agency', *key]).encode()).hexdigest()[:32]}.json"

    def _assume(self, token: str) -> TemporaryKeys:
        from kpstask.api.answers import read_response

        body = {**self.payload, "id_token": token}
        headers = {"Content-Type": "application/json;charset=UTF-8"}
        answer = exchange(self.transport, ASSUME_PATH, headers, body, ("STS", _("assume-with-oidc"), AGENCY_HINT))
        return read_keys(read_response(answer, self.transport.host), "STS", self.wall())


AGENCY_HINT = N_(
    "check the provider and agency URNs, that the agency trusts this identity provider, and that "
    "the token's audience is the provider's client id"
)


def cached_keys(entry: Path, now: float, say: Callable[[str], None]) -> TemporaryKeys | None:
    """Keys from the cache while they are not due for renewal; None otherwise (said why)."""
    from kpstask.auth.tokencache import Unusable, clean_token, expiry, read_object, safe_directories

    if not safe_directories(entry, False, say):
        return None
    try:
        found = read_object(entry)
        if found is None:
            return None
        values = [clean_token(found.get(name)) for name in ("access", "secret", "security_token")]
        expires, issued = expiry(found), expiry({"expires_at": found.get("issued_at")})
    except Unusable as unusable:
        say(_("the token cache {name} {unusable}: ignoring it, asking STS").format(name=entry.name, unusable=unusable))
        return None
    if None in values:
        say(_("the token cache {name} holds no usable keys: ignoring it, asking STS").format(name=entry.name))
        return None
    if now >= expires - margin(expires - issued):
        return None
    access, secret, security = (value for value in values if value is not None)
    return TemporaryKeys(access, secret, security, expires, from_cache=True)


def store_keys(entry: Path, keys: TemporaryKeys, now: float, say: Callable[[str], None]) -> None:
    from kpstask.auth.tokencache import safe_directories, write_atomically

    if not safe_directories(entry, True, say):
        return
    data = {
        "access": keys.access,
        "secret": keys.secret,
        "security_token": keys.security_token,
        "expires_at": keys.expires_at,
        "issued_at": now,
    }
    try:
        write_atomically(entry, json.dumps(data))
    except OSError as exc:
        say(_("could not cache the agency's keys: {value}").format(value=exc.strerror or exc))
