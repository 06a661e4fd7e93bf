"""The simulated credentials checks: the gateway's token and AK/SK signature checks, and IAM login.

The simulator owns one `Gate` and calls it under its own lock.
"""

from __future__ import annotations

import hmac
import json
import math
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import NamedTuple

from kpstask.auth import signer
from kpstask.simulator.replies import (
    BAD_SIGNATURE,
    BAD_TOKEN,
    NO_TOKEN,
    SIGNATURE_EXPIRED,
    TOKEN_EXPIRED,
    Reply,
    Request,
    _iso,
    gateway_reply,
    iam_error,
    json_reply,
)
from kpstask.simulator.scenario import Scenario

MAX_TEMPORARY_KEYS = 100_000  # a client fetching keys in a loop cannot grow the simulator for ever


class TemporaryKey(NamedTuple):
    """A secret key, its security token ("": none) and its expiry: handed out by the metadata service or STS."""

    secret_key: str
    security_token: str
    expires: float


class Gate:
    """Who may call the API: the scenario's token and keys, and the tokens and keys the simulator issued."""

    def __init__(self, scenario: Scenario, wall: Callable[[], float]) -> None:
        self.scenario = scenario
        self.wall = wall  # X-Sdk-Date and token expiry are wall-clock times
        self.issued: dict[str, float] = {}  # tokens the simulated IAM gave out -> expiry
        self.temporary: dict[str, TemporaryKey] = {}  # access key -> its secret, security token, expiry

    def check(self, request: Request) -> Reply | None:
        """The API gateway's part: a known token not yet expired, or a valid AK/SK signature."""
        if self.scenario.auth == "any":
            return None
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            return self._check_signature(request, authorization)
        token = request.headers.get("X-Auth-Token")
        if token is None:
            return gateway_reply(401, NO_TOKEN)
        if token == self.scenario.token:
            return None
        expires = self.issued.get(token)
        if expires is None:
            return gateway_reply(401, BAD_TOKEN)
        if expires <= self.wall():
            return gateway_reply(401, TOKEN_EXPIRED)
        return None

    def _check_signature(self, request: Request, authorization: str) -> Reply | None:
        parts = signer.parse_authorization(authorization)
        key = self._key(parts["Access"]) if parts is not None else None
        if parts is None or key is None:
            return gateway_reply(401, BAD_SIGNATURE)
        names = parts["SignedHeaders"].split(";")
        received = {name.lower(): value for name, value in request.headers.items()}
        if "host" not in names or "x-sdk-date" not in names or any(name not in received for name in names):
            return gateway_reply(401, BAD_SIGNATURE)
        try:
            signed_at = datetime.strptime(received["x-sdk-date"], signer.DATE_FORMAT).replace(tzinfo=timezone.utc)
        except ValueError:
            return gateway_reply(401, BAD_SIGNATURE)
        if abs(signed_at.timestamp() - self.wall()) > 15 * 60:
            return gateway_reply(401, SIGNATURE_EXPIRED)
        if key.security_token and received.get("x-security-token") != key.security_token:
            return gateway_reply(401, BAD_SIGNATURE)
        signed = {name: received[name] for name in names}
        canonical, _ = signer.canonical_request(request.method, request.path, request.query, signed, request.body)
        expected = signer.signature(key.secret_key, received["x-sdk-date"], canonical)
        if not hmac.compare_digest(expected, parts["Signature"]):
            return gateway_reply(401, BAD_SIGNATURE)
        if key.expires <= self.wall():  # a temporary key past its time: the client should renew it
            return gateway_reply(401, TOKEN_EXPIRED)
        return None

    def _key(self, access_key: str) -> TemporaryKey | None:
        """A scenario key (it never expires), or a temporary one the simulator handed out."""
        found = next((k for k in self.scenario.access_keys if k["access_key"] == access_key), None)
        if found is None:
            return self.temporary.get(access_key)
        return TemporaryKey(found["secret_key"], found.get("security_token", ""), math.inf)

    def add_temporary(self, access_key: str, secret_key: str, security_token: str, expires: float) -> None:
        """Accept a temporary key; expired ones are kept (they get APIGW.0307), the oldest dropped past a bound."""
        while len(self.temporary) >= MAX_TEMPORARY_KEYS:
            del self.temporary[next(iter(self.temporary))]
        self.temporary[access_key] = TemporaryKey(secret_key, security_token, expires)

    def login(self, request: Request) -> Reply:
        """`POST /v3/auth/tokens` with a password: a project-scoped token in X-Subject-Token."""
        try:
            identity = json.loads(request.body)["auth"]["identity"]
            user = identity["password"]["user"]
            name, password, domain = user["name"], user["password"], user["domain"]["name"]
            project = json.loads(request.body)["auth"]["scope"]["project"]["id"]
        except (ValueError, KeyError, TypeError):
            return json_reply(400, iam_error(400, "The request body is invalid.", "Bad Request"))
        known = {"name": name, "domain": domain, "password": password} in self.scenario.users
        if not known:
            return json_reply(401, iam_error(401, "The username or password is wrong.", "Unauthorized"))
        if project != self.scenario.project_id:
            return json_reply(400, iam_error(400, "The project is not found or not accessible.", "Bad Request"))
        token = "MIIsim" + uuid.uuid4().hex + uuid.uuid4().hex
        now = self.wall()
        self.issued[token] = now + self.scenario.token_ttl_s
        body = {
            "token": {
                "expires_at": _iso(now + self.scenario.token_ttl_s),
                "issued_at": _iso(now),
                "methods": ["password"],
                "project": {"id": project},
                "user": {"name": name, "domain": {"name": domain}},
            }
        }
        return Reply(201, json.dumps(body).encode(), headers=(("X-Subject-Token", token),))

    def expire_tokens(self) -> int:
        """Every token and temporary key the simulator issued stops working (as after a password change)."""
        for token in self.issued:
            self.issued[token] = 0.0
        for access_key, key in self.temporary.items():
            self.temporary[access_key] = key._replace(expires=0.0)
        return len(self.issued) + len(self.temporary)
