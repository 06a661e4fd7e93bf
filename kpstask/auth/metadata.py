"""Credentials from the ECS metadata service, for a server with an agency attached: what the
SDK's `MetadataAccessor`, the Terraform provider and KooCLI's `ecsAgency` mode use.

1. `PUT /meta-data/latest/api/token` (`X-Metadata-Token-Ttl-Seconds`): a session token, when the
   host hands them out (404, 405 or 503: it does not; go on without one).
2. `GET /openstack/latest/securitykey` (`X-Metadata-Token`): `{"credential": {"access",
   "secret", "securitytoken", "expires_at"}}`.

The first request is the probe: off ECS nothing answers at 169.254.169.254, and it is given
`KPSTASK_METADATA_TIMEOUT` (1 s) and no retry. Another cloud's metadata service at the same
address (Azure, AWS, GCP) answers in its own way: that is "not on Huawei ECS" (`NotOnEcs`),
never its keys. Never through a proxy; nothing secret is sent to it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

from kpstask.auth.renewal import TemporaryKeys, read_keys
from kpstask.errors import ApiError, AuthError, KpsError, NetworkError, UsageError
from kpstask.i18n import _

if TYPE_CHECKING:
    from kpstask.api.answers import Answer
    from kpstask.api.transport import Transport

DEFAULT_ENDPOINT = "http://169.254.169.254"
SESSION_PATH = "/meta-data/latest/api/token"
KEYS_PATH = "/openstack/latest/securitykey"
SESSION_TTL_S = 6 * 60 * 60  # what the SDK asks for
NO_AGENCY = "Please configure Cloud Service Agency first"
NO_SESSION_TOKENS = frozenset({404, 405, 503})
MAX_SESSION_TOKEN = 4096


class NotOnEcs(UsageError):
    """No Huawei ECS metadata service here: said as part of the "no credentials" error."""


class MetadataService:
    """Temporary keys from one metadata service; `fetch` is called by `renewal.Renewing`."""

    def __init__(
        self,
        transport: Transport,
        *,
        probe_timeout_s: float,
        on_secret: Callable[[str], None],
        debug: Callable[[str], None],
        wall: Callable[[], float],
    ) -> None:
        self.transport = transport
        self.url = transport.base_url
        self.probe_timeout_s = probe_timeout_s
        self.on_secret = on_secret
        self.debug = debug
        self.wall = wall
        self.answered = False  # a Huawei metadata service has answered once: later failures are errors
        self._session: str | None = None
        self._session_until = 0.0
        self._asked_session = False

    def fetch(self, fresh: bool = False) -> TemporaryKeys:
        """The server's keys (the service is always asked: there is no cache to bypass)."""
        if not self._asked_session or (self._session is not None and self.wall() >= self._session_until):
            self._new_session()
        answer = self._get_keys()
        if answer.status == 401 and NO_AGENCY not in _text(answer) and self._session is not None:
            self.debug("the metadata service refused its session token: asking for a new one")
            self._new_session()
            answer = self._get_keys()
        return self._keys(answer)

    # -- the session token: the probe -----------------------------------------

    def _new_session(self) -> None:
        first = not self._asked_session
        self._asked_session = True
        headers = {"X-Metadata-Token-Ttl-Seconds": str(SESSION_TTL_S)}
        try:
            answer = self._send("PUT", SESSION_PATH, headers, probe=first)
        except NetworkError as exc:
            if first:
                raise NotOnEcs(
                    _("no metadata service answered at {url} within {seconds:g} s ({message})").format(
                        url=self.url, seconds=self.probe_timeout_s, message=exc.message
                    )
                ) from None
            raise
        token = answer.body.decode("ascii", "replace").strip()
        if answer.status == 200 and token and len(token) <= MAX_SESSION_TOKEN and token.isprintable():
            self.on_secret(token)
            self._session, self._session_until = token, self.wall() + SESSION_TTL_S * 0.9
            return
        # Not a session token: this host hands none out (the SDK goes on without one for 404,
        # 405 and 503), or it is not Huawei's service: the key request tells which.
        self.debug(f"no metadata session token (HTTP {answer.status}): asking without one")
        self._session = None

    # -- the keys ---------------------------------------------------------------

    def _get_keys(self) -> Answer:
        """The keys; until a Huawei service has answered once, still the probe: another cloud's
        service may take the connection and never answer."""
        headers = {"X-Metadata-Token": self._session} if self._session else {}
        probe = not self.answered
        try:
            return self._send("GET", KEYS_PATH, headers, probe=probe)
        except NetworkError as exc:
            if probe:
                raise NotOnEcs(
                    _("the metadata service at {url} did not answer for keys within {seconds:g} s ({message})").format(
                        url=self.url, seconds=self.probe_timeout_s, message=exc.message
                    )
                ) from None
            raise

    def _send(self, method: str, path: str, headers: dict[str, str], probe: bool) -> Answer:
        transport = self.transport
        if probe:  # quick, and once: off ECS nothing answers, and nobody should wait for that
            transport = copy.copy(self.transport)
            transport.timeout_s = transport.connect_timeout_s = self.probe_timeout_s
            transport.retry = transport.retry._replace(retries=0)
        try:
            return transport.send(method, path, headers)
        except NetworkError as exc:
            exc.message = _("ECS metadata service: {message}").format(message=exc.message)
            raise

    def _keys(self, answer: Answer) -> TemporaryKeys:
        from kpstask.api.answers import strict_json

        if answer.status == 401 and NO_AGENCY in _text(answer):
            raise AuthError(
                _("this ECS server has no agency: its metadata service has no credentials to give"),
                hint=_("attach an agency that allows KPS to the server (ECS console: the server > Agency)"),
                http_status=401,
            )
        data: object = None
        if answer.status == 200 and not answer.oversized:
            try:
                data = strict_json(answer.body)
            except (ValueError, RecursionError):
                data = None
        huawei = isinstance(data, dict) and ("credential" in data or "credentials" in data)
        if not huawei:
            return self._not_huawei(answer)
        self.answered = True
        return read_keys(data, _("the ECS metadata service"), self.wall())

    def _not_huawei(self, answer: Answer) -> TemporaryKeys:
        """An answer that is not Huawei's: another cloud's metadata service, or (once it had
        answered as Huawei's) a broken one."""
        what = _("HTTP {status}").format(status=answer.status) + (", " + _shape(answer) if answer.status == 200 else "")
        if not self.answered:
            raise NotOnEcs(
                _(
                    "a metadata service answered at {url}, but not as Huawei ECS's does ({what}): not on Huawei ECS"
                ).format(url=self.url, what=what)
            )
        if answer.status >= 300:
            from kpstask.api.answers import error_for

            error: KpsError = error_for(answer, _("the ECS metadata service"))
            raise ApiError(
                _("ECS metadata service: {message}").format(message=error.message), http_status=answer.status
            )
        raise ApiError(
            _("the ECS metadata service's answer is not the documented shape ({what})").format(what=what),
            http_status=answer.status,
        )


def _text(answer: Answer) -> str:
    return answer.body[:4096].decode("utf-8", "replace")


def _shape(answer: Answer) -> str:
    if answer.oversized:
        return "over 1 MiB"
    if not answer.body.strip():
        return _("an empty body")
    return _("an HTML page") if answer.body.lstrip().startswith(b"<") else _("no credential in the body")
