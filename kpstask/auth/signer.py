"""AK/SK request signing, SDK-HMAC-SHA256, byte for byte as the official SDK's
`huaweicloudsdkcore.signer.Signer` does it (tests compare the two).

Pure functions of the request: no I/O, the date is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
CONTENT_HASH_HEADER = "X-Sdk-Content-Sha256"


def sdk_date(when: datetime) -> str:
    """`X-Sdk-Date`: basic ISO 8601 in UTC, e.g. 20261128T101500Z."""
    return when.astimezone(timezone.utc).strftime(DATE_FORMAT)


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each path segment percent-encoded (after decoding once), and always a trailing `/`."""
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: Sequence[tuple[str, object]]) -> str:
    """Sorted `k=v` pairs; a list value gives one pair per item, sorted; booleans are lower case."""
    pairs: list[str] = []
    for key, value in sorted(query):  # as the SDK does: by key, then value
        name = _encode(key)
        if isinstance(value, list):
            pairs.extend(f"{name}={_encode(str(item))}" for item in sorted(value))
        elif isinstance(value, bool):
            pairs.append(f"{name}={_encode(str(value).lower())}")
        else:
            pairs.append(f"{name}={_encode(str(value))}")
    return "&".join(pairs)


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Every header whose name has no `_`, lower case, sorted."""
    return sorted(name.lower() for name in headers if "_" not in name)


def payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    if not body:
        return EMPTY_HASH
    for name, value in headers.items():
        if name.lower() == CONTENT_HASH_HEADER.lower() and value:
            return value
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str, path: str, query: Sequence[tuple[str, object]], headers: Mapping[str, str], body: bytes
) -> tuple[str, list[str]]:
    """The canonical request and the signed header names."""
    names = signed_header_names(headers)
    values = {name.lower(): str(value).strip() for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{values[name]}\n" for name in names)
    text = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers,
            ";".join(names),
            payload_hash(headers, body),
        ]
    )
    return text, names


def signature(secret_key: str, date: str, canonical: str) -> str:
    string_to_sign = f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def sign(
    access_key: str,
    secret_key: str,
    *,
    method: str,
    path: str,
    query: Sequence[tuple[str, object]],
    headers: Mapping[str, str],
    body: bytes = b"",
) -> dict[str, str]:
    """The headers to send: `headers` (which carry `X-Sdk-Date` and `Host`), plus
    `X-Sdk-Content-Sha256` where the SDK adds it, plus `Authorization`."""
    out = dict(headers)
    content_type = next((v for k, v in out.items() if k.lower() == "content-type"), "")
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        out[CONTENT_HASH_HEADER] = "UNSIGNED-PAYLOAD"
    date = next(value for name, value in out.items() if name.lower() == "x-sdk-date")
    canonical, names = canonical_request(method, path, query, out, body)
    out["Authorization"] = (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature(secret_key, str(date).strip(), canonical)}"
    )
    return out


def parse_authorization(value: str) -> dict[str, str] | None:
    """`{"Access", "SignedHeaders", "Signature"}` from an Authorization header, or None."""
    prefix = ALGORITHM + " "
    if not value.startswith(prefix):
        return None
    parts = {}
    for item in value[len(prefix) :].split(","):
        key, _, val = item.strip().partition("=")
        parts[key] = val
    return parts if {"Access", "SignedHeaders", "Signature"} <= parts.keys() else None
