"""The ECS metadata service (169.254.169.254) as the scenario's `keyless.metadata` plays it.

"huawei": session tokens and an agency's temporary keys, as the SDK's MetadataAccessor reads them;
"azure" and "aws": what those clouds' metadata services say to the same requests, so a client can
tell "not on Huawei Cloud" from "no agency"; "none": nothing there, as on a laptop behind a proxy.
"""

from __future__ import annotations

from kpstask.simulator.issuer import Issuer
from kpstask.simulator.replies import API_NOT_FOUND, Reply, Request, _iso, gateway_reply, json_reply

TOKEN_PATH = "/meta-data/latest/api/token"  # noqa: S105 - a path, not a secret
SECURITY_KEY_PATH = "/openstack/latest/securitykey"
PATHS = (TOKEN_PATH, SECURITY_KEY_PATH)
NO_AGENCY = "Please configure Cloud Service Agency first"
DEFAULT_SESSION_TTL_S = 21600
MAX_SESSION_TTL_S = 21600
AZURE_NO_HEADER = {"error": "Bad request. Required metadata header not specified"}
AWS_NOT_FOUND = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '         "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    " <head>\n  <title>404 - Not Found</title>\n </head>\n"
    " <body>\n  <h1>404 - Not Found</h1>\n </body>\n</html>\n"
)


def answer(issuer: Issuer, request: Request) -> Reply:
    """A request to one of the metadata PATHS."""
    kind = issuer.spec.metadata
    if kind == "none":
        return gateway_reply(404, API_NOT_FOUND)
    if kind == "azure":
        if str(request.headers.get("Metadata", "")).lower() != "true":
            return json_reply(400, AZURE_NO_HEADER)
        return json_reply(404, {"error": "Not found"})
    if kind == "aws":
        return Reply(404, AWS_NOT_FOUND.encode(), content_type="text/html")
    if request.path == TOKEN_PATH:
        return _session_token(issuer, request)
    return _security_key(issuer, request)


def _text(status: int, text: str) -> Reply:
    return Reply(status, text.encode(), content_type="text/plain")


def _session_token(issuer: Issuer, request: Request) -> Reply:
    if request.method != "PUT":
        return _text(405, "405 Method Not Allowed")
    if not issuer.spec.session_tokens:
        return _text(404, "404 Not Found")
    ttl = _ttl(request.headers.get("X-Metadata-Token-Ttl-Seconds"))
    if ttl is None:
        return _text(400, f"400 Bad Request: X-Metadata-Token-Ttl-Seconds must be 1 to {MAX_SESSION_TTL_S}")
    return _text(200, issuer.session(ttl))


def _ttl(header: str | None) -> int | None:
    """The session's lifetime: the header's whole seconds, 1 to 21600; absent: 21600."""
    if header is None:
        return DEFAULT_SESSION_TTL_S
    text = header.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or not 1 <= int(text) <= MAX_SESSION_TTL_S:
        return None
    return int(text)


def _security_key(issuer: Issuer, request: Request) -> Reply:
    """The agency's temporary keys: new ones at each request, so a test sees when a client renews."""
    if request.method != "GET":
        return _text(405, "405 Method Not Allowed")
    if issuer.spec.session_tokens and not issuer.session_valid(request.headers.get("X-Metadata-Token")):
        return _text(401, "401 Unauthorized: the X-Metadata-Token session token is missing, unknown or expired")
    if not issuer.spec.agency:
        return _text(401, NO_AGENCY)
    key = issuer.credential(issuer.spec.credential_ttl_s, "metadata")
    credential = {
        "access": key.access_key,
        "secret": key.secret_key,
        "securitytoken": key.security_token,
        "expires_at": _iso(key.expires),
    }
    return json_reply(200, {"credential": credential})
