"""OpenID Connect federation: an ID token from a CI system, exchanged for Huawei Cloud credentials.

Where the ID token comes from (`IdTokenSource`): a file (GitLab's `id_tokens:`, a Kubernetes
projected token), re-read at every renewal because such files are rotated; a variable; or GitHub
Actions itself, asked at every renewal (its tokens live about five minutes).

What it is exchanged for:
- an IAM token scoped to the project: `POST {iam}/v3.0/OS-AUTH/id-token/tokens` with `X-Idp-Id`
  (`OidcLogin`, cached like the password login's token);
- or an agency's temporary keys: `POST {sts}/v5/agencies/assume-with-oidc` (`agency`).

The ID token is read, never verified: IAM verifies it. kpstask only looks at its claims to refuse
an expired or malformed one early and clearly, and to key the token cache by identity (issuer,
subject, audience), never by the token itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlsplit

from kpstask.auth.iam import TokenLogin, iam_error
from kpstask.auth.renewal import iso
from kpstask.errors import ApiError, AuthError, KpsError, NetworkError, UsageError
from kpstask.i18n import N_, _
from kpstask.settings.endpoints import is_loopback
from kpstask.text import one_line

if TYPE_CHECKING:
    from kpstask.api.answers import Answer
    from kpstask.api.transport import Transport

MAX_ID_TOKEN_BYTES = 64 * 1024
GITHUB_URL, GITHUB_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
EXCHANGE_PATH = "/v3.0/OS-AUTH/id-token/tokens"
REUSE_S = 60.0
NEEDS_PERMISSION = N_("add `permissions: id-token: write` to the job (or the workflow)")


class Claims(NamedTuple):
    """What kpstask reads of an ID token (unverified: IAM verifies it)."""

    issuer: str
    subject: str
    audience: str
    expires_at: float | None


def claims(token: str, where: str) -> Claims:
    """The claims of a JWT; a usage error when it is not one (the setting is wrong), never
    quoting it."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise UsageError(
            _("the ID token from {where} is not a JWT (three base64url parts joined by dots)").format(where=where)
        )
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise UsageError(
            _("the ID token from {where} is not a JWT: its payload is not base64url JSON").format(where=where)
        ) from None
    if not isinstance(payload, dict):
        raise UsageError(
            _("the ID token from {where} is not a JWT: its payload is not a JSON object").format(where=where)
        )
    audience = payload.get("aud")
    if isinstance(audience, list):
        audience = ",".join(str(item) for item in audience)
    exp = payload.get("exp")
    expires = float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) and abs(exp) < 1e11 else None
    return Claims(
        str(payload.get("iss", "")),
        str(payload.get("sub", "")),
        str(audience or ""),
        expires,
    )


def checked(token: str, where: str, wall: float) -> str:
    """`token` if it is a JWT that has not expired; exit 4 for an expired one (IAM would refuse it)."""
    found = claims(token, where)
    if found.expires_at is not None and found.expires_at <= wall:
        raise AuthError(
            _("the ID token from {where} expired at {expires_at} ({value:.0f} s ago)").format(
                where=where, expires_at=iso(found.expires_at), value=wall - found.expires_at
            ),
            hint=_("a CI system's ID tokens live minutes: get a fresh one (re-run the job, or rotate the file)"),
        )
    return token


class IdTokenSource:
    """Where the ID token comes from; `read()` gets it afresh, checked."""

    where = ""

    def __init__(self, on_secret: Callable[[str], None], wall: Callable[[], float] = time.time) -> None:
        self.on_secret = on_secret
        self.wall = wall

    def read(self) -> str:
        token = self._raw().strip()
        if not token:
            raise UsageError(_("the ID token from {where} is empty").format(where=self.where))
        if any(not (" " < ch <= "~") for ch in token):
            raise UsageError(
                _("the ID token from {where} has spaces, control or non-ASCII characters").format(where=self.where)
            )
        self.on_secret(token)
        return checked(token, self.where, self.wall())

    def _raw(self) -> str:
        raise NotImplementedError


class FileIdToken(IdTokenSource):
    """A file that holds the token: a regular file of at most 64 KiB (a FIFO never blocks)."""

    def __init__(self, path: str, source: str, **rest: Any) -> None:
        super().__init__(**rest)
        self.path = path
        self.where = f"{path} ({source})"

    def _raw(self) -> str:
        what = _("cannot read the ID token file {where}").format(where=self.where)
        try:
            handle = os.open(Path(self.path).expanduser(), os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise UsageError(_("{what}: {value}").format(what=what, value=exc.strerror or exc)) from None
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            os.close(handle)
            raise UsageError(_("{what}: it is not a regular file").format(what=what))
        with os.fdopen(handle, "rb") as source:
            try:
                data = source.read(MAX_ID_TOKEN_BYTES + 1)
            except OSError as exc:
                raise UsageError(_("{what}: {value}").format(what=what, value=exc.strerror or exc)) from None
        if len(data) > MAX_ID_TOKEN_BYTES:
            raise UsageError(_("{what}: it is larger than 64 KiB, not an ID token").format(what=what))
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            raise UsageError(_("the ID token from {where} is not ASCII text").format(where=self.where)) from None


class GivenIdToken(IdTokenSource):
    """The token itself, from a variable (GitLab's `id_tokens:` can name it)."""

    def __init__(self, token: str, source: str, **rest: Any) -> None:
        super().__init__(**rest)
        self.token = token
        self.where = source

    def _raw(self) -> str:
        return self.token


class GitHubIdToken(IdTokenSource):
    """GitHub Actions: `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=...` with the request token as
    a bearer, answered `{"value": JWT}`. Asked at every renewal: its tokens live minutes."""

    where = "GitHub Actions"

    def __init__(self, transport: Transport, target: str, request_token: str, **rest: Any) -> None:
        super().__init__(**rest)
        self.transport = transport
        self.target = target  # path and query, the audience appended
        self.request_token = request_token
        self._last: tuple[str, float] | None = None  # (token, when it was fetched)

    def read(self) -> str:
        """A token fetched within the last minute is reused (the cache key and the exchange
        that follows it need one token, not two requests)."""
        if self._last is not None and self.wall() - self._last[1] < REUSE_S:
            token = self._last[0]
            found = claims(token, self.where)
            if found.expires_at is None or found.expires_at - self.wall() > REUSE_S:
                return token
        token = super().read()
        self._last = (token, self.wall())
        return token

    def _raw(self) -> str:
        from kpstask.api.answers import strict_json

        headers = {"Authorization": f"Bearer {self.request_token}", "Accept": "application/json"}
        try:
            answer = self.transport.send("GET", self.target, headers)
        except NetworkError as exc:
            raise NetworkError(
                _("GitHub's ID token endpoint: {message}").format(message=exc.message), hint=exc.hint
            ) from None
        if answer.status in (401, 403):
            raise AuthError(
                _("GitHub refused to issue an ID token (HTTP {status})").format(status=answer.status),
                hint=_(NEEDS_PERMISSION),
            )
        try:
            value = strict_json(answer.body).get("value") if answer.status == 200 and not answer.oversized else None
        except (ValueError, RecursionError, AttributeError):
            value = None
        if not isinstance(value, str):
            raise ApiError(
                _("GitHub's ID token endpoint answered without a token (HTTP {status})").format(status=answer.status),
                http_status=answer.status,
                request_id=answer.request_id,
            )
        return value


def github_source(
    env: Mapping[str, str], audience: str | None, make_transport: Callable[[str], Transport], **rest: Any
) -> GitHubIdToken | None:
    """GitHub's token endpoint, when this is a GitHub Actions job allowed to use it."""
    url, request_token = env.get(GITHUB_URL, "").strip(), env.get(GITHUB_TOKEN, "").strip()
    if not url or not request_token:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        host, parts = "", urlsplit("")
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise UsageError(
            _("{GITHUB_URL} is not an https:// URL").format(GITHUB_URL=GITHUB_URL),
            hint=_("it is set by GitHub Actions: do not set it"),
        )
    if any(not (" " < ch <= "~") for ch in request_token):
        raise UsageError(
            _("{GITHUB_TOKEN} has spaces, control or non-ASCII characters").format(GITHUB_TOKEN=GITHUB_TOKEN)
        )
    target = parts.path or "/"
    query = [parts.query] if parts.query else []
    if audience:
        query.append(f"audience={quote(audience, safe='')}")
    if query:
        target += "?" + "&".join(query)
    base = f"{parts.scheme}://{parts.netloc}"
    source = GitHubIdToken(make_transport(base), target, request_token, **rest)
    source.on_secret(request_token)  # a bearer: masked wherever a server might echo it
    return source


def no_id_token(idp_source: str, env: Mapping[str, str]) -> UsageError:
    """Federation is configured but no ID token is to be had: say what to add."""
    if env.get("GITHUB_ACTIONS") == "true":
        return UsageError(
            _("an OIDC login ({idp_source}) needs an ID token, and this GitHub Actions job cannot ask for one").format(
                idp_source=idp_source
            ),
            hint=_(NEEDS_PERMISSION),
        )
    return UsageError(
        _("an OIDC login ({idp_source}) needs an ID token").format(idp_source=idp_source),
        hint=_("--id-token-file PATH or KPSTASK_ID_TOKEN_FILE; in GitHub Actions, `permissions: id-token: write`"),
    )


def cache_key(iam: str, idp: str, found: Claims, project_id: str) -> str:
    """The token cache's name for this identity: two identities never share an entry."""
    identity = [iam, idp, found.issuer, found.subject, found.audience, project_id]
    return hashlib.sha256(json.dumps(["oidc", *identity]).encode()).hexdigest()[:32]


class OidcLogin(TokenLogin):
    """An ID token exchanged at IAM for a token scoped to the project (cached, renewed)."""

    def __init__(self, *, idp_id: str, source: IdTokenSource, **rest: Any) -> None:
        super().__init__(**rest)
        self.idp_id = idp_id
        self.source = source
        self.who = f"identity provider {idp_id} ({source.where})"

    def _ask_iam(self) -> Answer:
        body = {"auth": {"id_token": {"id": self.source.read()}, "scope": {"project": {"id": self.project_id}}}}
        headers = {"Content-Type": "application/json;charset=utf8", "X-Idp-Id": self.idp_id}
        answer = exchange(self.transport, EXCHANGE_PATH, headers, body, ("IAM", _("the ID token"), OIDC_HINT))
        if answer.status >= 300 or not answer.headers.get("X-Subject-Token"):
            raise iam_error(answer)
        return answer


def exchange(
    transport: Transport, path: str, headers: dict[str, str], body: object, who: tuple[str, str, str]
) -> Answer:
    """POST `body` to IAM or STS for credentials; `who`: (service, what was refused, hint).
    A refusal (400, 401, 403, 404) is refused credentials (exit 4); no answer, exit 7."""
    service, what, hint = who
    try:
        answer = transport.send("POST", path, headers, json.dumps(body).encode())
    except NetworkError as exc:
        raise NetworkError(
            _("{service} unreachable: {message}").format(service=service, message=exc.message), hint=exc.hint
        ) from None
    if answer.status in (400, 401, 403, 404):
        raise refused(answer, _("{service} refused {what}").format(service=service, what=what), hint)
    return answer


OIDC_HINT = N_(
    "check the identity provider (--idp-id) exists in IAM with this token's issuer, that its client id "
    "is the token's audience, and that its mapping rules admit this token"
)


def refused(answer: Answer, what: str, hint: str) -> AuthError:
    from kpstask.api.answers import error_for

    error: KpsError = error_for(answer, "IAM")
    sep = _(": {message}").format(message="")  # where the server's words begin, in either language
    said = error.message.split(sep, 1)[1] if sep in error.message else _("HTTP {status}").format(status=answer.status)
    return AuthError(
        _("{what}: {said}").format(what=what, said=one_line(said, 200)),
        code=error.code,
        http_status=answer.status,
        request_id=error.request_id,
        hint=_(hint),
    )
