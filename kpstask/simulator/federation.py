"""OpenID Connect federation as the simulator plays it: IAM's id-token exchange, STS
assume-with-oidc, and GitHub Actions' ID-token endpoint that feeds them.

Each refusal has the service's own error shape: IAM's `{"error": {...}}`, STS's
`{"error_code", "error_msg"}`, GitHub's `{"message"}`. No answer repeats a token.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from kpstask.simulator.checks import has_control
from kpstask.simulator.idtoken import IdTokenError
from kpstask.simulator.issuer import Issuer
from kpstask.simulator.replies import Reply, Request, _iso, iam_error, json_reply

EXCHANGE_PATH = "/v3.0/OS-AUTH/id-token/tokens"
STS_PATH = "/v5/agencies/assume-with-oidc"
GITHUB_PATH = "/_github/idtoken"
GITHUB_DEFAULT_AUDIENCE = "https://github.com/kpstask-sim"  # GitHub's default: the repository owner's URL
STS_DURATION_S = (900, 43200, 3600)  # duration_seconds: lowest, highest, default
MAX_AUDIENCE = 1000


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def exchange(issuer: Issuer, request: Request) -> Reply:
    """`POST /v3.0/OS-AUTH/id-token/tokens`: an ID token for an IAM token (project-scoped with a scope)."""
    try:
        auth = _json(request.body)["auth"]
        token, scope = auth["id_token"]["id"], auth.get("scope")
        project = None if scope is None else scope["project"]["id"]
        if not isinstance(token, str) or not isinstance(project, (str, type(None))):
            raise TypeError
    except (KeyError, TypeError, AttributeError):
        return json_reply(400, iam_error(400, "The request body is invalid.", "Bad Request"))
    if request.headers.get("X-Idp-Id") != issuer.spec.idp_id:
        return json_reply(404, iam_error(404, "The identity provider is not found.", "Not Found"))
    try:
        claims = issuer.verify(token)
    except IdTokenError as refused:
        return json_reply(401, iam_error(401, refused.message, "Unauthorized"))
    if project is not None and project != issuer.scenario.project_id:
        return json_reply(400, iam_error(400, "The project is not found or not accessible.", "Bad Request"))
    return _federated(issuer, project, str(claims.get("sub", "")))


def _federated(issuer: Issuer, project: str | None, subject: str) -> Reply:
    token, issued, expires = issuer.federation_token(project)
    user = {"name": subject, "OS-FEDERATION": {"identity_provider": {"id": issuer.spec.idp_id}}}
    body: dict[str, Any] = {"expires_at": _iso(expires), "issued_at": _iso(issued), "methods": ["mapped"]}
    if project is not None:
        body["project"] = {"id": project}
    body["user"] = user
    return Reply(201, json.dumps({"token": body}).encode(), headers=(("X-Subject-Token", token),))


def _sts_error(status: int, code: str, message: str) -> Reply:
    return json_reply(status, {"error_code": code, "error_msg": message})


def assume(issuer: Issuer, request: Request) -> Reply:
    """`POST /v5/agencies/assume-with-oidc`: an ID token for an agency's temporary access key."""
    body = _json(request.body)
    malformed = _sts_malformed(body)
    if malformed:
        return _sts_error(400, "STS.0001", malformed)
    if body["provider_urn"] != issuer.spec.provider_urn:
        return _sts_error(403, "STS.0004", "The identity provider does not exist.")
    if body["agency_urn"] != issuer.spec.agency_urn:
        return _sts_error(403, "STS.0004", "The agency does not exist or does not trust the identity provider.")
    try:
        issuer.verify(body["id_token"])
    except IdTokenError as refused:
        return _sts_error(401, "STS.0401", refused.message)
    duration = body.get("duration_seconds", STS_DURATION_S[2])
    key = issuer.credential(min(duration, issuer.spec.credential_ttl_s), "sts")
    credentials = {
        "access_key_id": key.access_key,
        "secret_access_key": key.secret_key,
        "security_token": key.security_token,
        "expiration": _iso(key.expires),
    }
    return json_reply(200, {"credentials": credentials})


def _sts_malformed(body: Any) -> str:
    """What is wrong with an assume-with-oidc body ("" when nothing is)."""
    if not isinstance(body, dict):
        return "The request body is not a JSON object."
    for name in ("provider_urn", "agency_urn", "agency_session_name", "id_token"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"The parameter {name} is missing or not a string."
    duration = body.get("duration_seconds", STS_DURATION_S[2])
    low, high, _ = STS_DURATION_S
    if isinstance(duration, bool) or not isinstance(duration, int) or not low <= duration <= high:
        return f"The parameter duration_seconds must be a whole number from {low} to {high}."
    return ""


def github(issuer: Issuer, request: Request) -> Reply:
    """GitHub Actions' `ACTIONS_ID_TOKEN_REQUEST_URL`: an ID token for the bearer of the request token."""
    if request.method != "GET":
        return json_reply(405, {"message": "Method Not Allowed"})
    given = str(request.headers.get("Authorization", "")).encode("utf-8", "replace")
    if not hmac.compare_digest(given, f"Bearer {issuer.spec.request_token}".encode()):
        return json_reply(401, {"message": "Bad credentials: ACTIONS_ID_TOKEN_REQUEST_TOKEN is missing or wrong."})
    query = dict(request.query)
    if query.get("api-version") != "2.0":
        return json_reply(400, {"message": "The api-version query parameter must be 2.0."})
    audience = query.get("audience") or GITHUB_DEFAULT_AUDIENCE
    if len(audience) > MAX_AUDIENCE or has_control(audience):
        return json_reply(400, {"message": "The audience is too long or holds control characters."})
    return json_reply(200, {"value": issuer.id_token(audience=audience), "count": 1})
