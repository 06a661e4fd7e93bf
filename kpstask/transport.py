"""HTTP: one session, timeouts, retries, and the one function that turns an HTTP
answer into data or one of the project's errors. Used by the KPS client and the
IAM login alike. It never prints; `--debug` lines go to an injected callback.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlencode, urlsplit

from kpstask import __version__
from kpstask.endpoints import is_loopback
from kpstask.errors import ApiError, AuthError, KpsError, NetworkError, NotFoundError
from kpstask.policy import Interval
from kpstask.text import one_line

if TYPE_CHECKING:  # a Protocol costs a millisecond to define at start-up; only mypy needs it
    from typing import Protocol

    import requests

    class Credential(Protocol):
        """What a request needs from a credential: its headers, made afresh for each attempt."""

        def headers(self, method: str, host: str, path: str, query: list[tuple[str, object]]) -> dict[str, str]: ...


Backoff = Interval  # the transport's retries are one more use of the one interval type
RefusalHint = Callable[[int], "str | None"]  # the credential's hint for a 401 or 403

MAX_BODY_BYTES = 1024 * 1024
BUDGET_FACTOR = 3  # a request ends within this many --request-timeouts, however the server trickles
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_AFTER_CAP_S = 30.0
# Header names whose values are secrets, in any request or response.
SECRET_HEADERS = frozenset(
    {"x-auth-token", "authorization", "x-security-token", "x-subject-token", "cookie", "set-cookie"}
)
USER_AGENT = f"kpstask/{__version__}"

Debug = Callable[[str], None]


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


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth another try."""

    def __init__(self, error: KpsError, wait_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait_s = wait_s


class Transport:
    """One base URL: a session, timeouts, retries, the 1 MiB limit, --debug lines.
    `send` returns an Answer or raises; it never prints."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        retry: Interval | None = None,
        sleep: Callable[[float], None] | None = None,
        rand: Callable[[], float] | None = None,
        clock: Callable[[], float] | None = None,
        debug: Debug | None = None,
        session: requests.Session | None = None,
        pool_size: int = 10,  # connections kept per host; one per concurrent poll
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host = parts.hostname or self.base_url
        self.host_header = parts.netloc  # what a signature must cover, exactly as sent
        self.prefix = parts.path  # a proxy's path prefix is part of the signed path
        self.timeout_s = timeout_s
        self.retry = retry or Interval.exponential()
        # Looked up now, not at import, so tests can swap the module's functions.
        self.sleep = sleep or time.sleep
        self.rand = rand or random.random
        self.clock = clock or time.monotonic
        self.debug = debug
        if session is None:
            import requests

            from kpstask.deadline import adapter

            session = requests.Session()
            for scheme in ("https://", "http://"):
                session.mount(scheme, adapter(pool_size))
        self.session = session
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        # A local simulator or tunnel is never reached through an HTTP(S)_PROXY.
        self._proxies: dict[str, str | None] = {"http": None, "https": None} if is_loopback(self.host) else {}

    def close(self) -> None:
        self.session.close()

    def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        auth: Credential | None = None,
        query: list[tuple[str, object]] | None = None,
    ) -> Answer:
        """Send with retries on connection errors, timeouts, 429, 502, 503 and 504;
        credentials are applied (signed) afresh on every attempt."""
        attempts = self.retry.retries + 1
        for attempt in range(attempts):
            try:
                sent = dict(headers)
                if auth is not None:
                    sent.update(auth.headers(method, self.host_header, self.prefix + path, list(query or [])))
                target = f"{path}?{urlencode(query, quote_via=quote, safe='~')}" if query else path
                return self._attempt(method, target, sent, body)
            except _Retryable as retryable:
                if attempt + 1 >= attempts:
                    raise retryable.error from None
                wait = retryable.wait_s
                if wait is None:
                    wait = self.retry(attempt, self.rand)
                self.say_debug(f"{retryable.error}; retrying in {wait:.1f} s (attempt {attempt + 2} of {attempts})")
                self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        import requests

        from kpstask.deadline import Watchdog

        url = self.base_url + path
        started = self.clock()
        try:
            with Watchdog(BUDGET_FACTOR * self.timeout_s) as dog:
                answer = self._exchange(method, url, headers, body, started)
            if dog.expired:
                raise TimeoutError("the budget of the request is spent")
        except TimeoutError as exc:
            self._debug_exchange(method=method, url=url, headers=headers, answer=None, started=started, exc=exc)
            raise _Retryable(self._too_slow()) from None
        except requests.exceptions.SSLError as exc:
            self._debug_exchange(method=method, url=url, headers=headers, answer=None, started=started, exc=exc)
            raise NetworkError(
                f"TLS error talking to {self.host}: {_reason(exc)}",
                hint="check the endpoint's certificate; a private CA goes in REQUESTS_CA_BUNDLE",
            ) from None
        except (requests.exceptions.RequestException, OSError) as exc:
            self._debug_exchange(method=method, url=url, headers=headers, answer=None, started=started, exc=exc)
            raise _Retryable(network_error(exc, self.host, self.timeout_s)) from None
        self._debug_exchange(method=method, url=url, headers=headers, answer=answer, started=started, exc=None)
        if answer.status in RETRY_STATUSES:
            error = error_for(answer, self.host)
            raise _Retryable(error, error.retry_after_s)
        return answer

    def _exchange(self, method: str, url: str, headers: dict[str, str], body: bytes, started: float) -> Answer:
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                data=body or None,
                timeout=(self.timeout_s, self.timeout_s),
                stream=True,
                allow_redirects=False,
                proxies=self._proxies,  # type: ignore[arg-type]
            )
            try:
                return self._read(response, started)
            finally:
                response.close()
        except Exception:
            if self.clock() - started >= BUDGET_FACTOR * self.timeout_s:  # the watchdog cut it
                raise TimeoutError("the budget of the request is spent") from None
            raise

    def _too_slow(self) -> NetworkError:
        return NetworkError(
            f"{self.host} was too slow: no complete answer within {BUDGET_FACTOR * self.timeout_s:g} s",
            hint="the server sent its answer too slowly; raise --request-timeout if the network is slow",
        )

    def _read(self, response: requests.Response, started: float) -> Answer:
        """Read at most 1 MiB, within a whole-body deadline (a server can drip bytes)."""
        body = bytearray()
        oversized = False
        for chunk in response.iter_content(chunk_size=65536):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                oversized = True
                del body[MAX_BODY_BYTES:]
                break
            if self.clock() - started > BUDGET_FACTOR * self.timeout_s:
                raise TimeoutError("the answer took too long to arrive")
        return Answer(response.status_code, response.headers, bytes(body), oversized)

    # -- debug ---------------------------------------------------------------

    def say_debug(self, line: str) -> None:
        if self.debug is not None:
            self.debug(line)

    def _debug_exchange(
        self,
        *,
        method: str,
        url: str,
        headers: Mapping[str, str],
        answer: Answer | None,
        started: float,
        exc: BaseException | None,
    ) -> None:
        if self.debug is None:
            return
        ms = (self.clock() - started) * 1000
        sent = {**self.session.headers, **headers}
        self.say_debug(f"> {method} {url}")
        self.say_debug(f"> headers: {redact_headers(sent)}")
        if answer is None:
            self.say_debug(f"< {type(exc).__name__} after {ms:.0f} ms")
            return
        self.say_debug(
            f"< HTTP {answer.status} in {ms:.0f} ms, {len(answer.body)} bytes, request id {answer.request_id or '-'}"
        )
        self.say_debug(f"< headers: {', '.join(answer.headers.keys())}")


def redact_headers(headers: Mapping[str, str | bytes]) -> str:
    """`Name: value` pairs with every secret header's value replaced by `***`."""
    shown = []
    for name, value in headers.items():
        text = "***" if name.lower() in SECRET_HEADERS else one_line(str(value), 120)
        shown.append(f"{name}: {text}")
    return ", ".join(shown)


def _reason(exc: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 exception."""
    text = str(exc)
    match = re.search(r"\(Caused by \w+\((.*)\)\)$", text)
    if match:
        text = match.group(1)
    # urllib3 wraps as "<urllib3.connection.X object at 0x..>: Failed to ...".
    text = re.sub(r"<[^>]*>:?\s*", "", text).strip(" '\"")
    return one_line(text, 200) or type(exc).__name__


def network_error(exc: BaseException, host: str, timeout_s: float) -> NetworkError:
    """Words for a connection-level failure."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return NetworkError(f"timed out connecting to {host} after {timeout_s:g} s")
    if isinstance(exc, (requests.exceptions.ReadTimeout, TimeoutError)) or "Read timed out" in text:
        return NetworkError(
            f"no answer from {host} within {timeout_s:g} s",
            hint="raise --request-timeout if the network is slow",
        )
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return NetworkError(
            f"cannot resolve host {host}",
            hint="check --region / --endpoint and your DNS",
        )
    if "Connection refused" in text:
        return NetworkError(f"connection refused by {host}")
    if "Connection reset" in text or "ConnectionResetError" in text or "Connection aborted" in text:
        return NetworkError(f"connection reset by {host}")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return NetworkError(f"connection to {host} broke while reading the answer")
    return NetworkError(f"cannot talk to {host}: {_reason(exc)}")


# -- one place where an HTTP answer becomes data or an error ------------------


def read_response(answer: Answer, host: str, refusal_hint: RefusalHint | None = None) -> Any:
    """The JSON of a 2xx answer, or raise the error the answer means."""
    if not 200 <= answer.status < 300:
        raise error_for(answer, host, refusal_hint)
    if answer.oversized:
        raise ApiError(
            "the answer is larger than 1 MiB: not the documented shape",
            http_status=answer.status,
            request_id=answer.request_id,
        )
    if not answer.body.strip():
        raise ApiError("empty answer body", http_status=answer.status, request_id=answer.request_id)
    try:
        return strict_json(answer.body)
    except NonFinite:
        raise ApiError(
            "the answer is not strict JSON: it has a number that is not finite (NaN or Infinity)",
            http_status=answer.status,
            request_id=answer.request_id,
        ) from None
    except (ValueError, RecursionError):
        what = "an HTML page" if _looks_html(answer.body) else "not valid JSON (truncated?)"
        raise ApiError(
            f"the answer is {what}",
            http_status=answer.status,
            request_id=answer.request_id,
            hint="a proxy may be in the way; check --endpoint" if _looks_html(answer.body) else None,
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
    "APIGW.0301": "the token is wrong or has expired (tokens last 24 hours); get a new one",
    "APIGW.0307": "the token has expired or was issued for another region; get a new token for this region",
    "KPS.9001": "the token was not accepted; get a new one",
    "KPS.9003": "the user has no permission for KPS in this project",
    "KPS.9004": "the account is frozen",
    "KPS.9005": "the account is restricted",
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
    said = f": {message}" if message else _no_message(answer)
    if status in (401, 403):
        default = (
            "the token may have expired, or belong to another region or project"
            if status == 401
            else "the user may lack permission for KPS in this project"
        )
        refused = (refusal_hint(status) if refusal_hint else None) or _AUTH_HINTS.get(code or "", default)
        return AuthError(f"credentials refused{said}", hint=refused, **kwargs)
    if status == 404 or (status == 400 and code in ("KPS.0001", "KPS.0005")):
        hint = "the API gateway does not know this path: check --endpoint / --region" if code == "APIGW.0101" else None
        return NotFoundError(f"not found{said}", hint=hint, **kwargs)
    if status == 429:
        return ApiError(f"throttled by the API gateway{said}", hint="too many requests; try again later", **kwargs)
    if 300 <= status < 400:
        where = one_line(answer.headers.get("Location", "?"), 120)
        return ApiError(f"unexpected redirect to {where}", hint="check --endpoint", **kwargs)
    if status >= 500:
        return ApiError(f"server error{said}", **kwargs)
    return ApiError(f"request refused{said}", **kwargs)


def _no_message(answer: Answer) -> str:
    if not answer.body.strip():
        return " (empty body)"
    if _looks_html(answer.body):
        return " (an HTML page, probably from a proxy or load balancer)"
    return " (no error message in the body)"
