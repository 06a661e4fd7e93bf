"""The scenario key `keyless`: the credential services the simulator plays besides the KPS API.

ECS metadata (an agency's temporary keys), IAM's OpenID Connect token exchange, STS
assume-with-oidc and GitHub Actions' ID-token endpoint, so the client can be run with no
stored secret. Plain data; the services themselves are in `services`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kpstask.simulator import checks
from kpstask.simulator.checks import MAX_DURATION_S, check_keys, fail, typed

METADATA_KINDS = ("huawei", "azure", "aws", "none")  # which metadata service answers
MAX_CLIENT_IDS = 100
SIM_ACCOUNT = "0123456789abcdef0123456789abcdef"


@dataclass
class KeylessSpec:
    """What the credential services accept and hand out (the defaults are documented in the README)."""

    metadata: str = "huawei"
    session_tokens: bool = True  # PUT /meta-data/latest/api/token hands out session tokens
    agency: bool = True  # false: the server has no agency, the metadata service says so
    credential_ttl_s: float = 900.0  # temporary AK/SK/security token lifetime (metadata and STS)
    idp_id: str = "sim-idp"
    client_ids: list[str] = field(default_factory=lambda: ["kpstask-sim", "https://github.com/kpstask-sim"])
    issuer: str = "https://oidc.kpstask-sim.invalid"
    id_token_ttl_s: float = 300.0
    federation_token_ttl_s: float = 900.0
    provider_urn: str = f"iam::{SIM_ACCOUNT}:identityProvider:sim-idp"
    agency_urn: str = f"iam::{SIM_ACCOUNT}:agency:sim-agency"
    request_token: str = "sim-actions-request-token"  # noqa: S105 - fake, GitHub's token endpoint's bearer

    @classmethod
    def parse(cls, spec: Any, where: str = "keyless") -> KeylessSpec:
        spec = check_keys(spec, set(cls.__dataclass_fields__), where)
        default = cls()
        metadata = spec.get("metadata", default.metadata)
        if metadata not in METADATA_KINDS:
            raise fail(where, f"metadata must be one of {', '.join(METADATA_KINDS)}")
        return cls(
            metadata=metadata,
            session_tokens=typed(spec, "session_tokens", bool, where, default.session_tokens),
            agency=typed(spec, "agency", bool, where, default.agency),
            credential_ttl_s=_duration(spec, "credential_ttl_s", where, default.credential_ttl_s),
            idp_id=_header_value(spec, "idp_id", where, default.idp_id),
            client_ids=_client_ids(spec, where, default.client_ids),
            issuer=_name(spec, "issuer", where, default.issuer),
            id_token_ttl_s=_duration(spec, "id_token_ttl_s", where, default.id_token_ttl_s),
            federation_token_ttl_s=_duration(spec, "federation_token_ttl_s", where, default.federation_token_ttl_s),
            provider_urn=_name(spec, "provider_urn", where, default.provider_urn),
            agency_urn=_name(spec, "agency_urn", where, default.agency_urn),
            request_token=_header_value(spec, "request_token", where, default.request_token),
        )


def _duration(spec: Mapping[str, Any], key: str, where: str, default: float) -> float:
    return checks.number(spec, key, where, default, MAX_DURATION_S) or 0.0


def _name(spec: Mapping[str, Any], key: str, where: str, default: str) -> str:
    """A non-empty string without control characters."""
    value = str(checks.text(spec, key, where, default))
    if not value:
        raise fail(where, f"{key} cannot be empty")
    return value


def _header_value(spec: Mapping[str, Any], key: str, where: str, default: str) -> str:
    """Sent in an HTTP header by the client: one word of printable ASCII (the value is not shown)."""
    value = _name(spec, key, where, default)
    if not (value.isascii() and value.isprintable()) or value != value.strip():
        raise fail(where, f"{key} must be printable ASCII with no spaces around it")
    return value


def _client_ids(spec: Mapping[str, Any], where: str, default: list[str]) -> list[str]:
    values = typed(spec, "client_ids", list, where, default)
    if not values or len(values) > MAX_CLIENT_IDS:
        raise fail(where, f"client_ids must hold 1 to {MAX_CLIENT_IDS} audiences")
    return [_name({"client_ids": value}, "client_ids", where, "") for value in values]
