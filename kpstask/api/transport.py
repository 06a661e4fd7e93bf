"""HTTP: one session, timeouts, retries (the table of transient answers is
`kpstask.api.policy`'s), and the whole-request deadline. Used by the KPS client, the
IAM login and every credential service alike. What an answer means — data or one of
the project's errors — is `kpstask.api.answers`. It never prints; `--debug` lines and
the words for each retry go to injected callbacks.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

from kpstask import __version__
from kpstask.api.answers import Answer, check_headers, error_for
from kpstask.api.policy import TRANSIENT_STATUSES, Interval
from kpstask.errors import KpsError, NetworkError, unreachable
from kpstask.i18n import _
from kpstask.settings.endpoints import is_loopback
from kpstask.text import one_line

if TYPE_CHECKING:  # a Protocol costs a millisecond to define at start-up; only mypy needs it
    from typing import Protocol

    import requests

    from kpstask.api.rate import RateLimiter

    class Credential(Protocol):
        """What a request needs from a credential: its headers, made afresh for each attempt."""

        def headers(self, method: str, host: str, path: str, query: list[tuple[str, object]]) -> dict[str, str]: ...


Backoff = Interval  # the transport's retries are one more use of the one interval type

MAX_BODY_BYTES = 1024 * 1024
BUDGET_FACTOR = 3  # a request ends within this many --request-timeouts, however the server trickles
# Header names whose values are secrets, in any request or response.
SECRET_HEADERS = frozenset(
    {"x-auth-token", "authorization", "x-security-token", "x-subject-token", "x-metadata-token", "cookie", "set-cookie"}
)
USER_AGENT = f"kpstask/{__version__}"

Debug = Callable[[str], None]
Say = Callable[[str], None]  # one line for a person, e.g. `Run.warn`


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth another try."""

    def __init__(self, error: KpsError, wait_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait_s = wait_s


class Transport:
    """One base URL: a session, timeouts, retries, the 1 MiB limit, --debug lines.
    `send` returns an Answer or raises; it never prints."""

    unreached_hint: str | None = None  # the hint when the host cannot be reached (a region typo)
    # The process's rate cap (`get`'s), if its retries are to keep to it: a 429 then lowers the
    # rate for every task, and a retry waits for its turn under the cap as a first try does.
    limiter: RateLimiter | None = None

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
        on_retry: Say | None = None,
        session: requests.Session | None = None,
        pool_size: int = 10,  # connections kept per host; one per concurrent poll
        connect_timeout_s: float | None = None,  # default: timeout_s
        direct: bool = False,  # never through a proxy (the ECS metadata service)
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host = parts.hostname or self.base_url
        self.host_header = parts.netloc  # what a signature must cover, exactly as sent
        self.prefix = parts.path  # a proxy's path prefix is part of the signed path
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.retry = retry or Interval.exponential()
        # Looked up now, not at import, so tests can swap the module's functions.
        self.sleep = sleep or time.sleep
        self.rand = rand or random.random
        self.clock = clock or time.monotonic
        self.debug = debug
        self.on_retry = on_retry  # None: a retry is a --debug line only
        if session is None:
            import requests

            from kpstask.api.deadline import adapter

            session = requests.Session()
            for scheme in ("https://", "http://"):
                session.mount(scheme, adapter(pool_size))
        self.session = session
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        # A local simulator or tunnel is never reached through an HTTP(S)_PROXY or ALL_PROXY; nor is
        # the metadata service, which also takes nothing else from the environment (.netrc).
        self.session.trust_env = not direct
        no_proxy = direct or is_loopback(self.host)
        self._proxies: dict[str, str | None] = dict.fromkeys(("http", "https", "all")) if no_proxy else {}

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
        """Send with retries on connection errors, timeouts and the answers of
        policy.TRANSIENT_STATUSES (429, 500, 502, 503, 504); credentials are applied (signed)
        afresh on every attempt."""
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
                wait = self._paced(retryable.error, wait)
                self._retrying(retryable.error, wait, attempt + 2, attempts)
                self.sleep(wait)
        raise AssertionError(_("unreachable"))  # pragma: no cover

    def _paced(self, error: KpsError, wait: float) -> float:
        """The wait before a retry, under the limiter if there is one: a throttle first lowers
        the rate, then the retry claims the first start it allows after `wait`."""
        if self.limiter is None:
            return wait
        from kpstask.api.rate import is_throttle

        now = self.clock()
        if is_throttle(error) and self.limiter.throttled(now):
            self.say_debug(f"throttled: {self.limiter.rate:.2f} requests a second from now on, all tasks together")
        return self.limiter.claim(now + wait) - now

    def _attempt(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        import requests

        from kpstask.api.deadline import Watchdog

        url = self.base_url + path
        started = self.clock()
        try:
            with Watchdog(BUDGET_FACTOR * self.timeout_s) as dog:
                answer = self._exchange(method, url, headers, body, started)
            if dog.expired:
                raise TimeoutError(_("the budget of the request is spent"))
        except TimeoutError as exc:
            self._debug_exchange(method=method, url=url, headers=headers, answer=None, started=started, exc=exc)
            raise _Retryable(self._too_slow()) from None
        except requests.exceptions.SSLError as exc:
            self._debug_exchange(method=method, url=url, headers=headers, answer=None, started=started, exc=exc)
            raise unreachable(
                NetworkError(
                    _("TLS error talking to {host}: {reason}").format(host=self.host, reason=_reason(exc)),
                    hint=_("check the endpoint's certificate; a private CA goes in REQUESTS_CA_BUNDLE"),
                )
            ) from None
        except (requests.exceptions.RequestException, OSError) as exc:
            self._debug_exchange(method=method, url=url, headers=headers, answer=None, started=started, exc=exc)
            failure = network_error(exc, self.host, self.timeout_s)
            if failure.unreachable and self.unreached_hint:
                failure.hint = self.unreached_hint
            raise _Retryable(failure) from None
        self._debug_exchange(method=method, url=url, headers=headers, answer=answer, started=started, exc=None)
        if answer.status in TRANSIENT_STATUSES:
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
                timeout=(self.connect_timeout_s or self.timeout_s, self.timeout_s),
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
                raise TimeoutError(_("the budget of the request is spent")) from None
            raise

    def _too_slow(self) -> NetworkError:
        return NetworkError(
            _("{host} was too slow: no complete answer within {seconds:g} s").format(
                host=self.host, seconds=BUDGET_FACTOR * self.timeout_s
            ),
            hint=_("the server sent its answer too slowly; raise --request-timeout if the network is slow"),
        )

    def _read(self, response: requests.Response, started: float) -> Answer:
        """Read at most 1 MiB, within a whole-body deadline (a server can drip bytes)."""
        check_headers(response)  # a header line http.client only half read is an error, not dropped
        body = bytearray()
        oversized = False
        for chunk in response.iter_content(chunk_size=65536):
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                oversized = True
                del body[MAX_BODY_BYTES:]
                break
            if self.clock() - started > BUDGET_FACTOR * self.timeout_s:
                raise TimeoutError(_("the answer took too long to arrive"))
        return Answer(response.status_code, response.headers, bytes(body), oversized)

    def _retrying(self, error: KpsError, wait: float, attempt: int, attempts: int) -> None:
        """`retrying (1/3) in 1.0s: no answer from HOST within 5 s` before the first of 3
        retries (`attempt` is the try about to be made, of `attempts` = retries + 1): a retry
        can take a while (a hung request costs a timeout), so a person hears of it, not
        silence; `on_retry` names the task. The request id and the hint wait for the final
        error, if the retries are spent."""
        from kpstask.durations import elapsed

        said = [part for part in (error.code, error.http_status and f"HTTP {error.http_status}") if part]
        what = f"{error.message} ({', '.join(said)})" if said else error.message
        line = _("retrying ({attempt}/{attempts}) in {wait}: {what}").format(
            attempt=attempt - 1, attempts=attempts - 1, wait=elapsed(wait), what=what
        )
        if self.on_retry is not None:
            self.on_retry(line)
        else:
            self.say_debug(line)

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
        timed_out = _("timed out connecting to {host} after {seconds:g} s").format(host=host, seconds=timeout_s)
        return unreachable(NetworkError(timed_out))
    if isinstance(exc, (requests.exceptions.ReadTimeout, TimeoutError)) or "Read timed out" in text:
        return NetworkError(
            _("no answer from {host} within {seconds:g} s").format(host=host, seconds=timeout_s),
            hint=_("raise --request-timeout if the network is slow"),
        )
    from kpstask.api.answers import malformed

    broken = malformed(exc)  # before "Connection aborted": urllib3 wraps these in those words too
    if broken is not None:
        what, why = broken
        return NetworkError(
            _("malformed {what} from {host}: {why}").format(what=_(what), host=host, why=_(why)),
            hint=_("the server, or a proxy on the way, does not speak HTTP as it should; check --endpoint"),
        )
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return unreachable(
            NetworkError(
                _("cannot resolve host {host}").format(host=host), hint=_("check --region / --endpoint and your DNS")
            )
        )
    if "Connection refused" in text:
        refused = _("connection refused by {host}").format(host=host)
        return unreachable(NetworkError(refused, hint=_("check --endpoint and its port")))
    if "Connection reset" in text or "ConnectionResetError" in text or "Connection aborted" in text:
        return NetworkError(_("connection reset by {host}").format(host=host))
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return NetworkError(_("connection to {host} broke while reading the answer").format(host=host))
    return NetworkError(_("cannot talk to {host}: {reason}").format(host=host, reason=_reason(exc)))
