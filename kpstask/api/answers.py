"""One place where an HTTP answer becomes data or one of the project's errors: KPS,
API-gateway and IAM error bodies, HTML from a proxy, empty, oversized, truncated or
not strictly JSON bodies. Used by the KPS client and the IAM login alike."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from kpstask.errors import ApiError, AuthError, KpsError, NotFoundError
from kpstask.i18n import N_, _
from kpstask.text import one_line

RETRY_AFTER_CAP_S = 30.0
RefusalHint = Callable[[int], "str | None"]  # the credential's hint for a 401 or 403


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):  # the RFC says an integer; some servers send fractions
        return min(float(value), RETRY_AFTER_CAP_S)
    from email.utils import parsedate_to_datetime  # rare, and 6 ms to import

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    delta = when - (time.time() if now is None else now)
    return min(max(delta, 0.0), RETRY_AFTER_CAP_S)


def malformed(exc: BaseException) -> tuple[str, str] | None:
    """(what, why) when http.client, urllib3 or requests could not read an answer because its
    status line or header is malformed, e.g. ("response header", "more than 100 header lines");
    None for any other failure (a connection reset, a timeout)."""
    import http.client

    import requests
    from urllib3.exceptions import HeaderParsingError, InvalidHeader

    for cause in _causes(exc):
        if isinstance(cause, http.client.LineTooLong):
            if "status line" in str(cause):
                return N_("status line"), N_("over 64 KiB")
            return N_("response header"), N_("a header line over 64 KiB")
        ended = isinstance(cause, ConnectionError)  # RemoteDisconnected: it ended before any answer
        if isinstance(cause, (http.client.BadStatusLine, http.client.UnknownProtocol)) and not ended:
            return N_("status line"), f"`{one_line(str(cause), 60)}`"
        if type(cause) is http.client.HTTPException and "headers" in str(cause):
            return N_("response header"), N_("more than 100 header lines")
        if isinstance(cause, HeaderParsingError):
            return N_("response header"), N_("a line is not `Name: value`")
        if isinstance(cause, (InvalidHeader, requests.exceptions.InvalidHeader)):
            return N_("response header"), one_line(str(cause), 120) or N_("invalid")
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps (requests wraps urllib3, which wraps http.client), outermost first."""
    found: list[BaseException] = []
    todo = [exc]
    while todo and len(found) < 12:
        cause = todo.pop(0)
        if any(cause is seen for seen in found):
            continue
        found.append(cause)
        todo += [arg for arg in (*cause.args, cause.__cause__) if isinstance(arg, BaseException)]
    return found


def check_headers(response: Any) -> None:
    """Refuse (requests' InvalidHeader) a `requests.Response` whose header block http.client
    could not read whole: a line that is not `Name: value` (urllib3 only logs that, and the
    lines after it are lost without a word), or a NUL in a field (RFC 9110 lets a client refuse
    it). For `transport`, before the body is read."""
    import http.client

    import requests
    from urllib3.exceptions import HeaderParsingError
    from urllib3.util.response import assert_header_parsing

    message = getattr(getattr(response.raw, "_original_response", None), "msg", None)
    try:
        if isinstance(message, http.client.HTTPMessage):  # what http.client read (not a test double's)
            assert_header_parsing(message)
    except HeaderParsingError:
        raise requests.exceptions.InvalidHeader("a header line is not `Name: value`") from None
    if any("\x00" in name or "\x00" in value for name, value in response.headers.items()):
        raise requests.exceptions.InvalidHeader("a header holds a NUL character")


class Answer(NamedTuple):
    """An HTTP answer, its body read (at most 1 MiB)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    oversized: bool = False

    @property
    def request_id(self) -> str | None:
        rid = self.headers.get("X-Request-Id")
        return one_line(rid, 100) if rid else None


def read_response(answer: Answer, host: str, refusal_hint: RefusalHint | None = None) -> Any:
    """The JSON of a 2xx answer, or raise the error the answer means."""
    if not 200 <= answer.status < 300:
        raise error_for(answer, host, refusal_hint)
    if answer.oversized:
        raise ApiError(
            _("the answer is larger than 1 MiB: not the documented shape"),
            http_status=answer.status,
            request_id=answer.request_id,
        )
    if not answer.body.strip():
        raise ApiError(_("empty answer body"), http_status=answer.status, request_id=answer.request_id)
    try:
        return strict_json(answer.body)
    except NonFinite:
        raise ApiError(
            _("the answer is not strict JSON: it has a number that is not finite (NaN or Infinity)"),
            http_status=answer.status,
            request_id=answer.request_id,
        ) from None
    except (ValueError, RecursionError):
        what = (
            _("the answer is an HTML page")
            if _looks_html(answer.body)
            else _("the answer is not valid JSON (truncated?)")
        )
        raise ApiError(
            what,
            http_status=answer.status,
            request_id=answer.request_id,
            hint=_("a proxy may be in the way; check --endpoint") if _looks_html(answer.body) else None,
        ) from None


class NonFinite(ValueError):
    """NaN, Infinity or a number too large for a float: not JSON, though Python reads it."""


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NonFinite(text)
    return value


def _no_constant(text: str) -> Any:
    raise NonFinite(text)


def strict_json(data: bytes | str) -> Any:
    """JSON as RFC 8259 has it: NaN, Infinity and 1e999 are refused (ValueError), and a
    document nested too deeply raises RecursionError."""
    return json.loads(data, parse_float=_finite, parse_constant=_no_constant)


def _looks_html(body: bytes) -> bool:
    return body.lstrip().startswith(b"<")


def _error_fields(answer: Answer) -> tuple[str | None, str | None, str | None]:
    """(code, message, request id) from a KPS, API gateway or IAM error body."""
    try:
        data = json.loads(answer.body) if answer.body.strip() and not answer.oversized else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return None, None, None
    inner = data.get("error")
    if isinstance(inner, dict):  # IAM: {"error": {"code", "message", "title"}}
        data = inner
    code = data.get("error_code", data.get("code"))
    if code is not None and str(code) == str(answer.status):  # IAM repeats the status as its "code"
        code = None
    message = data.get("error_msg", data.get("message", data.get("title")))
    rid = data.get("request_id")
    return (
        one_line(str(code), 60) if code is not None else None,
        one_line(str(message)) if message is not None else None,
        one_line(str(rid), 100) if rid is not None else None,
    )


_AUTH_HINTS = {
    "APIGW.0301": N_("the token is wrong or has expired (tokens last 24 hours); get a new one"),
    "APIGW.0307": N_("the token has expired or was issued for another region; get a new token for this region"),
    "KPS.9001": N_("the token was not accepted; get a new one"),
    "KPS.9003": N_("the user has no permission for KPS in this project"),
    "KPS.9004": N_("the account is frozen"),
    "KPS.9005": N_("the account is restricted"),
}


def error_for(answer: Answer, host: str, refusal_hint: RefusalHint | None = None) -> KpsError:
    """The project error an error status means; a refusal gets the credential's own hint."""
    code, message, body_rid = _error_fields(answer)
    status = answer.status
    kwargs: dict[str, Any] = {
        "code": code,
        "http_status": status,
        "request_id": answer.request_id or body_rid,
        "retry_after_s": retry_after(answer.headers.get("Retry-After")),
    }
    said = _(": {message}").format(message=message) if message else _no_message(answer)
    if status in (401, 403):
        default = (
            N_("the token may have expired, or belong to another region or project")
            if status == 401
            else N_("the user may lack permission for KPS in this project")
        )
        refused = (refusal_hint(status) if refusal_hint else None) or _(_AUTH_HINTS.get(code or "", default))
        return AuthError(_("credentials refused{said}").format(said=said), hint=refused, **kwargs)
    if code == "APIGW.0101":  # the gateway has no such API: a wrong endpoint, not a missing task
        return ApiError(
            _("the endpoint does not serve this API{said}").format(said=said),
            hint=_("check --endpoint (its path) or --region"),
            **kwargs,
        )
    if status == 404 or (status == 400 and code in ("KPS.0001", "KPS.0005")):
        return NotFoundError(_("not found{said}").format(said=said), **kwargs)
    if status == 429:
        throttled = _("throttled by the API gateway{said}").format(said=said)
        return ApiError(throttled, hint=_("too many requests; try again later"), **kwargs)
    if 300 <= status < 400:
        where = one_line(answer.headers.get("Location", "?"), 120)
        return ApiError(_("unexpected redirect to {where}").format(where=where), hint=_("check --endpoint"), **kwargs)
    if status >= 500:
        return ApiError(_("server error{said}").format(said=said), **kwargs)
    return ApiError(_("request refused{said}").format(said=said), **kwargs)


def _no_message(answer: Answer) -> str:
    if not answer.body.strip():
        return _(" (empty body)")
    if _looks_html(answer.body):
        return _(" (an HTML page, probably from a proxy or load balancer)")
    return _(" (no error message in the body)")
