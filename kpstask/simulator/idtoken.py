"""The simulator's OpenID Connect ID tokens: HS256 JWTs, made and checked with the standard library.

A real identity provider signs with RS256 and publishes its keys; the simulator plays both the
provider and IAM, so a shared HMAC secret is enough, and one made per simulator makes a token from
anywhere else "foreign" (a bad signature), as it would be for IAM.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Collection
from typing import Any

HEADER = {"alg": "HS256", "typ": "JWT"}
DEFAULT_SUBJECT = "repo:kpstask-sim/demo:ref:refs/heads/main"  # a GitHub Actions subject
MAX_TOKEN_LENGTH = 16 * 1024  # far above a real one; a bigger "token" is not decoded at all


class IdTokenError(Exception):
    """Why an ID token is refused: `kind` is malformed, signature, issuer, audience, expired or early."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, signing_input: str) -> str:
    return _b64(hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest())


def claims_for(issuer: str, audience: str, subject: str, now: float, ttl_s: float) -> dict[str, Any]:
    """The claims of a fresh token; whole seconds, as NumericDate values usually are."""
    issued = math.floor(now)
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": math.floor(now + ttl_s),
        "jti": uuid.uuid4().hex,
    }


def encode(secret: bytes, claims: dict[str, Any]) -> str:
    signing_input = _b64(json.dumps(HEADER).encode()) + "." + _b64(json.dumps(claims).encode())
    return signing_input + "." + _sign(secret, signing_input)


def decode(secret: bytes, token: str) -> dict[str, Any]:
    """The claims of a token this secret signed; IdTokenError otherwise."""
    parts = token.split(".") if len(token) <= MAX_TOKEN_LENGTH and token.isascii() else []
    if len(parts) != 3:
        raise IdTokenError("malformed", "The id_token is not a JWT.")
    try:
        header, claims = json.loads(_unb64(parts[0])), json.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error):
        raise IdTokenError("malformed", "The id_token is not a JWT.") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise IdTokenError("malformed", "The id_token is not a JWT.")
    if header.get("alg") != "HS256":  # never "none", never an algorithm the caller picks
        raise IdTokenError("signature", "The id_token signature algorithm is not supported.")
    if not hmac.compare_digest(_sign(secret, parts[0] + "." + parts[1]), parts[2]):
        raise IdTokenError("signature", "The id_token signature is invalid.")
    return claims


def verify(claims: dict[str, Any], issuer: str, audiences: Collection[str], now: float) -> None:
    """What IAM checks of a genuine token: its issuer, its audience, its validity period."""
    if claims.get("iss") != issuer:
        raise IdTokenError("issuer", "The id_token issuer is not trusted by the identity provider.")
    aud = claims.get("aud")
    given = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(each, str) and each in audiences for each in given):
        shown = ", ".join(str(each)[:200] for each in given)
        raise IdTokenError("audience", f"The audience {shown} is not allowed.")
    exp, nbf = _number(claims.get("exp")), _number(claims.get("nbf", claims.get("iat", 0)))
    if exp is None or nbf is None:
        raise IdTokenError("malformed", "The id_token has no valid exp, nbf or iat.")
    if exp <= now:
        raise IdTokenError("expired", "The id_token has expired.")
    if nbf > now:
        raise IdTokenError("early", "The id_token is not valid yet.")


def _number(value: Any) -> float | None:
    """A NumericDate claim's value, or None: not a number (true, "1", nan, 1e999)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too big for a float
        return None
    return number if math.isfinite(number) else None
