"""What the keyless credential services hand out, and remember: ID tokens, metadata session
tokens, temporary AK/SK/security tokens and federation tokens (the last two registered with
the gateway, so the KPS API accepts them until they expire on the wall clock).

The simulator owns one `Issuer` and calls it under its own lock.
"""

from __future__ import annotations

import math
import secrets
import string
from collections.abc import Mapping
from typing import Any, NamedTuple

from kpstask.simulator import checks
from kpstask.simulator.auth import Gate
from kpstask.simulator.checks import MAX_DURATION_S, check_keys, fail, typed
from kpstask.simulator.idtoken import DEFAULT_SUBJECT, claims_for, decode, encode, verify

MAX_SESSIONS = 10_000  # metadata session tokens remembered; a client asking in a loop cannot grow it further
KINDS = ("metadata", "sts", "federation", "id_tokens", "session_tokens")


class Credential(NamedTuple):
    """A temporary access key, as the metadata service and STS hand it out."""

    access_key: str
    secret_key: str
    security_token: str
    expires: float


class Issuer:
    """The credential services' state: a signing secret of its own, session tokens, and counts."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.scenario = gate.scenario
        self.spec = gate.scenario.keyless
        self.wall = gate.wall  # every lifetime here is on the wall clock, like the gateway's checks
        self._secret = secrets.token_bytes(32)  # another simulator's tokens are foreign to this one
        self._sessions: dict[str, float] = {}  # metadata session token -> expiry
        self.counts = dict.fromkeys(KINDS, 0)

    def id_token(self, audience: str | None = None, ttl_s: float | None = None, subject: str | None = None) -> str:
        """A signed ID token, as the simulated identity provider (GitHub, GitLab, Kubernetes) issues it."""
        ttl = self.spec.id_token_ttl_s if ttl_s is None else ttl_s
        claims = claims_for(
            self.spec.issuer, audience or self.spec.client_ids[0], subject or DEFAULT_SUBJECT, self.wall(), ttl
        )
        self.counts["id_tokens"] += 1
        return encode(self._secret, claims)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of an ID token IAM accepts; IdTokenError says why not."""
        claims = decode(self._secret, token)
        verify(claims, self.spec.issuer, self.spec.client_ids, self.wall())
        return claims

    def credential(self, ttl_s: float, kind: str) -> Credential:
        """A fresh temporary access key, valid at the gateway for `ttl_s` seconds."""
        upper = string.ascii_uppercase + string.digits
        access_key = "SIMTMP" + "".join(secrets.choice(upper) for _ in range(14))
        secret_key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
        security_token = "gQpzdGstc2lt" + secrets.token_hex(100)  # real ones are long: clients must not cut them
        expires = self.wall() + ttl_s
        self.gate.add_temporary(access_key, secret_key, security_token, expires)
        self.counts[kind] += 1
        return Credential(access_key, secret_key, security_token, expires)

    def federation_token(self, project: str | None) -> tuple[str, float, float]:
        """An IAM token (issued at, expires at); only a project-scoped one is good for the KPS API."""
        token = "MIIfed" + secrets.token_hex(100)
        now = self.wall()
        expires = now + self.spec.federation_token_ttl_s
        if project is not None:
            self.gate.issued[token] = expires
        self.counts["federation"] += 1
        return token, now, expires

    def session(self, ttl_s: int) -> str:
        """A metadata session token, good for `ttl_s` seconds."""
        now = self.wall()
        self._sessions = {token: until for token, until in self._sessions.items() if until > now}
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]  # the oldest
        token = secrets.token_urlsafe(32)
        self._sessions[token] = now + ttl_s
        self.counts["session_tokens"] += 1
        return token

    def session_valid(self, token: str | None) -> bool:
        return token is not None and self._sessions.get(token, -math.inf) > self.wall()


def token_request(body: Any) -> tuple[str | None, float | None, str | None]:
    """`POST /_sim/oidc/token`'s audience, ttl_s and subject (each may be left out)."""
    where = "oidc token"
    spec = check_keys({} if body is None else body, {"audience", "ttl_s", "subject"}, where)
    return _optional_name(spec, "audience", where), lifetime(spec.get("ttl_s")), _optional_name(spec, "subject", where)


def lifetime(ttl_s: Any) -> float | None:
    """An ID token's lifetime: negative makes one that has already expired."""
    if ttl_s is None:
        return None
    value = typed({"ttl_s": ttl_s}, "ttl_s", (int, float), "oidc token", None)
    if not -MAX_DURATION_S <= value <= MAX_DURATION_S:  # false for nan too
        raise fail("oidc token", f"ttl_s must be between -{MAX_DURATION_S:g} and {MAX_DURATION_S:g}")
    return float(value)


def _optional_name(spec: Mapping[str, Any], key: str, where: str) -> str | None:
    value = checks.text(spec, key, where, None)
    if value == "":
        raise fail(where, f"{key} cannot be empty")
    return None if value is None else str(value)
