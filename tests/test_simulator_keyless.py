"""The simulator's keyless credential services: ECS metadata, IAM's id-token exchange, STS
assume-with-oidc and GitHub's ID-token endpoint, over real HTTP, on a fake wall clock."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from kpstask.auth import signer
from kpstask.errors import UsageError
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator, default_scenario, load_scenario
from kpstask.simulator.idtoken import IdTokenError, claims_for, decode, encode, verify
from kpstask.simulator.keyless import KeylessSpec
from tests.conftest import CANARY

START = 1_800_000_000.0
NO_AGENCY = "Please configure Cloud Service Agency first"
TASK_PATH = f"/v3/{DEFAULT_PROJECT}/tasks/t1"
NONE_HEADER = base64.urlsafe_b64encode(b'{"alg": "none"}').decode().rstrip("=")  # an unsigned JWT's


class FakeWall:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


WALL = FakeWall()  # one wall for the module's simulator, set back at each test


@pytest.fixture
def wall() -> FakeWall:
    WALL.now = START
    return WALL


def start(wall: FakeWall, keyless: dict[str, Any] | None = None, log: list[str] | None = None) -> Simulator:
    spec: dict[str, Any] = {"token": CANARY, "tasks": [{"id": "t1", "status": "RUNNING_RESET"}]}
    if keyless is not None:
        spec["keyless"] = keyless
    sim = Simulator(Scenario.parse(spec), wall=wall, log=None if log is None else log.append)
    sim.start()
    return sim


@pytest.fixture(scope="module")
def shared() -> Iterator[Simulator]:
    """One simulator for the tests of the default services (a stop takes 50 ms); each issues its own."""
    running = start(WALL)
    yield running
    running.stop()


@pytest.fixture
def sim(shared: Simulator, wall: FakeWall) -> Simulator:
    return shared


class Counts:
    """What the simulator issued since the test began."""

    def __init__(self, sim: Simulator) -> None:
        self.sim, self.before = sim, sim.keyless_issued()

    def __getitem__(self, kind: str) -> int:
        return self.sim.keyless_issued()[kind] - self.before[kind]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# -- ECS metadata ----------------------------------------------------------------------------


def session(sim: Simulator, ttl: str = "21600") -> str:
    answer = requests.put(
        f"{sim.url}/meta-data/latest/api/token", headers={"X-Metadata-Token-Ttl-Seconds": ttl}, timeout=5
    )
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/plain"
    return answer.text


def security_key(sim: Simulator, token: str | None) -> requests.Response:
    headers = {"X-Metadata-Token": token} if token else {}
    return requests.get(f"{sim.url}/openstack/latest/securitykey", headers=headers, timeout=5)


def test_metadata_hands_out_new_temporary_keys_for_a_session_token(sim: Simulator) -> None:
    counts = Counts(sim)
    token = session(sim)
    first, second = (security_key(sim, token).json()["credential"] for _ in range(2))
    assert re.fullmatch(r"SIMTMP[A-Z0-9]{14}", first["access"]) and len(first["secret"]) == 40
    assert first["securitytoken"].startswith("gQpzdGstc2lt") and len(first["securitytoken"]) == 212
    assert first["expires_at"] == iso(START + 900) == "2027-01-15T08:15:00.000000Z"
    assert first["access"] != second["access"]
    assert (counts["metadata"], counts["session_tokens"]) == (2, 1)


def test_metadata_refuses_a_missing_unknown_or_expired_session_token(sim: Simulator, wall: FakeWall) -> None:
    token = session(sim, "60")
    for given in (None, "not-a-session-token"):
        refused = security_key(sim, given)
        assert refused.status_code == 401 and NO_AGENCY not in refused.text
    wall.now += 60
    assert security_key(sim, token).status_code == 401
    for ttl in ("0", "abc", "21601", "-5"):
        answer = requests.put(
            f"{sim.url}/meta-data/latest/api/token", headers={"X-Metadata-Token-Ttl-Seconds": ttl}, timeout=5
        )
        assert answer.status_code == 400, ttl
    assert requests.get(f"{sim.url}/meta-data/latest/api/token", timeout=5).status_code == 405


def test_metadata_without_session_tokens(wall: FakeWall) -> None:
    sim = start(wall, {"session_tokens": False})
    try:
        put = requests.put(f"{sim.url}/meta-data/latest/api/token", timeout=5)
        assert (put.status_code, put.headers["Content-Type"]) == (404, "text/plain")
        assert security_key(sim, None).json()["credential"]["access"].startswith("SIMTMP")
    finally:
        sim.stop()


def test_metadata_on_a_server_without_an_agency(wall: FakeWall) -> None:
    sim = start(wall, {"agency": False})
    try:
        refused = security_key(sim, session(sim))
    finally:
        sim.stop()
    assert (refused.status_code, refused.text, refused.headers["Content-Type"]) == (401, NO_AGENCY, "text/plain")
    assert sim.keyless_issued()["metadata"] == 0


@pytest.mark.parametrize(
    ("kind", "headers", "status", "check"),
    [
        ("azure", {}, 400, lambda r: r.json() == {"error": "Bad request. Required metadata header not specified"}),
        ("azure", {"Metadata": "true"}, 404, lambda r: r.json() == {"error": "Not found"}),
        ("aws", {}, 404, lambda r: r.headers["Content-Type"] == "text/html" and "404 - Not Found" in r.text),
        ("none", {}, 404, lambda r: r.json()["error_code"] == "APIGW.0101"),
    ],
)
def test_other_metadata_services(wall: FakeWall, kind: str, headers: dict[str, str], status: int, check: Any) -> None:
    sim = start(wall, {"metadata": kind})
    try:
        put = requests.put(f"{sim.url}/meta-data/latest/api/token", headers=headers, timeout=5)
        get = requests.get(f"{sim.url}/openstack/latest/securitykey", headers=headers, timeout=5)
    finally:
        sim.stop()
    for answer in (put, get):
        assert answer.status_code == status and check(answer)


# -- temporary keys at the gateway -------------------------------------------------------------


def signed_get(sim: Simulator, wall: FakeWall, access: str, secret: str, token: str | None) -> requests.Response:
    """A KPS request signed as the client signs it with a temporary key."""
    date = signer.sdk_date(datetime.fromtimestamp(wall.now, timezone.utc))
    headers = {"Host": sim.url.split("//")[1], "X-Sdk-Date": date, "X-Project-Id": DEFAULT_PROJECT}
    if token is not None:
        headers["X-Security-Token"] = token
    sent = signer.sign(access, secret, method="GET", path=TASK_PATH, query=[], headers=headers)
    return requests.get(sim.url + TASK_PATH, headers=sent, timeout=5)


def test_metadata_keys_work_until_they_expire(sim: Simulator, wall: FakeWall) -> None:
    key = security_key(sim, session(sim)).json()["credential"]
    access, secret, token = key["access"], key["secret"], key["securitytoken"]
    assert signed_get(sim, wall, access, secret, token).json()["task_status"] == "RUNNING_RESET"
    for wrong in (None, "x" + token[1:]):
        refused = signed_get(sim, wall, access, secret, wrong)
        assert (refused.status_code, refused.json()["error_code"]) == (401, "APIGW.0301")
    wall.now += 899
    assert signed_get(sim, wall, access, secret, token).status_code == 200
    wall.now += 1
    expired = signed_get(sim, wall, access, secret, token)
    assert (expired.status_code, expired.json()["error_code"]) == (401, "APIGW.0307")
    assert expired.json()["error_msg"] == "The token must be updated."


def test_expiring_tokens_also_expires_temporary_keys(sim: Simulator, wall: FakeWall) -> None:
    key = security_key(sim, session(sim)).json()["credential"]
    assert requests.post(f"{sim.url}/_sim/tokens/expire", timeout=5).json()["expired"] >= 1
    refused = signed_get(sim, wall, key["access"], key["secret"], key["securitytoken"])
    assert refused.json()["error_code"] == "APIGW.0307"


# -- IAM: the id-token exchange ---------------------------------------------------------------


def exchange(
    sim: Simulator, id_token: Any, idp: str | None = "sim-idp", project: str | None = DEFAULT_PROJECT, body: Any = None
) -> requests.Response:
    auth: dict[str, Any] = {"id_token": {"id": id_token}}
    if project is not None:
        auth["scope"] = {"project": {"id": project}}
    headers = {"X-Idp-Id": idp} if idp else {}
    data = json.dumps({"auth": auth} if body is None else body)
    return requests.post(f"{sim.url}/v3.0/OS-AUTH/id-token/tokens", data=data, headers=headers, timeout=5)


def kps_with_token(sim: Simulator, token: str) -> requests.Response:
    return requests.get(sim.url + TASK_PATH, headers={"X-Auth-Token": token}, timeout=5)


def test_id_token_exchange_gives_a_project_token_until_it_expires(sim: Simulator, wall: FakeWall) -> None:
    counts = Counts(sim)
    answer = exchange(sim, sim.issue_id_token())
    assert answer.status_code == 201
    token = answer.headers["X-Subject-Token"]
    assert token.startswith("MIIfed") and len(token) == 206
    assert answer.json() == {
        "token": {
            "expires_at": iso(START + 900),
            "issued_at": iso(START),
            "methods": ["mapped"],
            "project": {"id": DEFAULT_PROJECT},
            "user": {
                "name": "repo:kpstask-sim/demo:ref:refs/heads/main",
                "OS-FEDERATION": {"identity_provider": {"id": "sim-idp"}},
            },
        }
    }
    assert kps_with_token(sim, token).status_code == 200
    wall.now += 900
    expired = kps_with_token(sim, token)
    assert (expired.status_code, expired.json()["error_code"]) == (401, "APIGW.0307")
    assert counts["federation"] == 1


def test_an_unscoped_token_is_not_good_for_the_api(sim: Simulator) -> None:
    answer = exchange(sim, sim.issue_id_token(), project=None)
    assert answer.status_code == 201 and "project" not in answer.json()["token"]
    refused = kps_with_token(sim, answer.headers["X-Subject-Token"])
    assert (refused.status_code, refused.json()["error_code"]) == (401, "APIGW.0301")


def foreign_token(wall: FakeWall) -> str:
    """A token from another simulator: same issuer and audience, another signing secret."""
    other = start(wall)
    try:
        return other.issue_id_token()
    finally:
        other.stop()


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("not json", 400, "request body is invalid"),
        ("no id_token", 400, "request body is invalid"),
        ("id not a string", 400, "request body is invalid"),
        ("no idp", 404, "identity provider is not found"),
        ("other idp", 404, "identity provider is not found"),
        ("not a jwt", 401, "not a JWT"),
        ("foreign", 401, "signature is invalid"),
        ("alg none", 401, "algorithm is not supported"),
        ("other issuer", 401, "issuer is not trusted"),
        ("other audience", 401, "The audience someone-else is not allowed."),
        ("expired", 401, "The id_token has expired."),
        ("other project", 400, "project is not found"),
    ],
)
def test_id_token_exchange_refusals(sim: Simulator, wall: FakeWall, case: str, status: int, words: str) -> None:
    good = sim.issue_id_token()
    payload = good.split(".")[1]
    cases = {
        "not json": lambda: requests.post(f"{sim.url}/v3.0/OS-AUTH/id-token/tokens", data="{", timeout=5),
        "no id_token": lambda: exchange(sim, good, body={"auth": {}}),
        "id not a string": lambda: exchange(sim, 5),
        "no idp": lambda: exchange(sim, good, idp=None),
        "other idp": lambda: exchange(sim, good, idp="another-idp"),
        "not a jwt": lambda: exchange(sim, "not-a-jwt"),
        "foreign": lambda: exchange(sim, foreign_token(wall)),
        "alg none": lambda: exchange(sim, f"{NONE_HEADER}.{payload}."),
        "other issuer": lambda: exchange(sim, sim_signed(sim, iss="https://elsewhere.invalid")),
        "other audience": lambda: exchange(sim, sim.issue_id_token(audience="someone-else")),
        "expired": lambda: exchange(sim, sim.issue_id_token(ttl_s=-1)),
        "other project": lambda: exchange(sim, good, project="f" * 32),
    }
    answer = cases[case]()
    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (status, status)
    assert words in error["message"] and error["title"]
    assert "X-Subject-Token" not in answer.headers


def sim_signed(sim: Simulator, **claims: Any) -> str:
    """A token the simulator signed, with claims it would not put there itself."""
    base = claims_for("https://oidc.kpstask-sim.invalid", "kpstask-sim", "me", START, 300)
    return encode(sim._issuer._secret, {**base, **claims})


# -- STS: assume-with-oidc ---------------------------------------------------------------------

URNS = {
    "provider_urn": "iam::0123456789abcdef0123456789abcdef:identityProvider:sim-idp",
    "agency_urn": "iam::0123456789abcdef0123456789abcdef:agency:sim-agency",
}


def assume(sim: Simulator, **body: Any) -> requests.Response:
    full = {**URNS, "agency_session_name": "kpstask", "id_token": sim.issue_id_token(), **body}
    return requests.post(f"{sim.url}/v5/agencies/assume-with-oidc", json=full, timeout=5)


def test_sts_hands_out_keys_the_gateway_accepts(wall: FakeWall) -> None:
    sim = start(wall, {"credential_ttl_s": 7200})
    try:
        long, short = assume(sim).json()["credentials"], assume(sim, duration_seconds=900).json()["credentials"]
        assert (long["expiration"], short["expiration"]) == (iso(START + 3600), iso(START + 900))
        assert set(long) == {"access_key_id", "secret_access_key", "security_token", "expiration"}
        answer = signed_get(sim, wall, long["access_key_id"], long["secret_access_key"], long["security_token"])
        assert answer.status_code == 200
        wall.now += 900
        refused = signed_get(sim, wall, short["access_key_id"], short["secret_access_key"], short["security_token"])
        assert refused.json()["error_code"] == "APIGW.0307"
        assert sim.keyless_issued()["sts"] == 2
    finally:
        sim.stop()


def test_sts_lifetime_is_capped_by_the_scenario(sim: Simulator) -> None:
    assert assume(sim, duration_seconds=43200).json()["credentials"]["expiration"] == iso(START + 900)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"id_token": None}, 400, "STS.0001"),
        ({"agency_session_name": ""}, 400, "STS.0001"),
        ({"duration_seconds": 899}, 400, "STS.0001"),
        ({"duration_seconds": 43201}, 400, "STS.0001"),
        ({"duration_seconds": "3600"}, 400, "STS.0001"),
        ({"duration_seconds": True}, 400, "STS.0001"),
        ({"provider_urn": "iam::0123456789abcdef0123456789abcdef:identityProvider:other"}, 403, "STS.0004"),
        ({"agency_urn": "iam::0123456789abcdef0123456789abcdef:agency:other"}, 403, "STS.0004"),
        ({"id_token": "a.b.c"}, 401, "STS.0401"),
        ({"id_token": "expired"}, 401, "STS.0401"),
    ],
)
def test_sts_refusals(sim: Simulator, body: dict[str, Any], status: int, code: str) -> None:
    counts = Counts(sim)
    if body.get("id_token") == "expired":
        body = {"id_token": sim.issue_id_token(ttl_s=-10)}
    answer = assume(sim, **body)
    assert (answer.status_code, answer.json()["error_code"]) == (status, code)
    assert answer.json()["error_msg"]
    not_json = requests.post(f"{sim.url}/v5/agencies/assume-with-oidc", data="[1", timeout=5)
    assert (not_json.status_code, not_json.json()["error_code"]) == (400, "STS.0001")
    assert counts["sts"] == 0


# -- GitHub Actions' ID-token endpoint ----------------------------------------------------------


def github(
    sim: Simulator, query: str = "?api-version=2.0", bearer: str | None = "sim-actions-request-token"
) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return requests.get(f"{sim.url}/_github/idtoken{query}", headers=headers, timeout=5)


def test_github_hands_out_id_tokens_to_the_bearer(sim: Simulator) -> None:
    for bearer in (None, "wrong"):
        refused = github(sim, bearer=bearer)
        assert refused.status_code == 401 and refused.json()["message"]
    answer = github(sim).json()
    assert answer["count"] == 1
    assert claims_of(answer["value"])["aud"] == "https://github.com/kpstask-sim"
    chosen = github(sim, "?api-version=2.0&audience=kpstask-sim").json()["value"]
    assert claims_of(chosen)["aud"] == "kpstask-sim"
    assert exchange(sim, chosen).status_code == 201  # what the client does next
    assert github(sim, "").status_code == 400  # the URL lost its api-version
    assert github(sim, "?api-version=2.0&audience=a%0Ab").status_code == 400


# -- ID tokens, the control route, the log ----------------------------------------------------


def test_issued_id_tokens_carry_the_claims(sim: Simulator) -> None:
    claims = claims_of(sim.issue_id_token())
    assert set(claims) == {"iss", "sub", "aud", "iat", "nbf", "exp", "jti"}
    assert (claims["iss"], claims["aud"], claims["iat"], claims["nbf"]) == (
        "https://oidc.kpstask-sim.invalid",
        "kpstask-sim",
        START,
        START,
    )
    assert claims["exp"] - claims["iat"] == 300
    assert claims_of(sim.issue_id_token(subject="system:serviceaccount:ci:kpstask"))["sub"].startswith("system:")


def test_id_token_checks_on_their_own() -> None:
    secret = b"s" * 32
    token = encode(secret, claims_for("iss", "aud", "sub", 100.0, 10))
    claims = decode(secret, token)
    verify(claims, "iss", ["aud"], 105.0)
    verify({**claims, "aud": ["x", "aud"]}, "iss", ["aud"], 105.0)  # a list of audiences
    for bad, kind in (({"exp": True}, "malformed"), ({"exp": 10**400}, "malformed"), ({"nbf": 200}, "early")):
        with pytest.raises(IdTokenError) as info:
            verify({**claims, **bad}, "iss", ["aud"], 105.0)
        assert info.value.kind == kind
    for broken in (token + "x", token.replace(".", "!", 1), "a" * 20_000, "é.é.é"):
        with pytest.raises(IdTokenError):
            decode(secret, broken)


def test_the_control_route_issues_id_tokens(sim: Simulator) -> None:
    counts = Counts(sim)
    url = f"{sim.url}/_sim/oidc/token"
    plain = requests.post(url, timeout=5).json()["id_token"]
    assert claims_of(plain)["aud"] == "kpstask-sim"
    chosen = requests.post(
        url, json={"audience": "https://github.com/kpstask-sim", "ttl_s": -5, "subject": "me"}, timeout=5
    ).json()["id_token"]
    claims = claims_of(chosen)
    assert (claims["aud"], claims["sub"], claims["exp"]) == ("https://github.com/kpstask-sim", "me", START - 5)
    for bad in ({"colour": "red"}, {"ttl_s": "5"}, {"ttl_s": 1e10}, {"audience": ""}, {"subject": "a\nb"}, [1]):
        answer = requests.post(url, json=bad, timeout=5)
        assert answer.status_code == 400 and "error" in answer.json(), bad
    assert counts["id_tokens"] == 2


def test_no_token_reaches_the_log_and_every_request_is_recorded(wall: FakeWall) -> None:
    lines: list[str] = []
    sim = start(wall, log=lines)
    try:
        id_token = github(sim).json()["value"]
        subject = exchange(sim, id_token).headers["X-Subject-Token"]
        sts = assume(sim).json()["credentials"]["security_token"]
        key = security_key(sim, session(sim)).json()["credential"]["secret"]
    finally:
        sim.stop()
    assert len(lines) == len(sim.requests) == 5
    for secret in (id_token, subject, sts, key, "sim-actions-request-token", "eyJ"):
        assert not any(secret in line for line in lines)
    assert [path for _, path, _, _ in sim.requests][:2] == ["/_github/idtoken", "/v3.0/OS-AUTH/id-token/tokens"]


# -- the scenario key --------------------------------------------------------------------------


def test_keyless_is_on_by_default() -> None:
    assert Scenario.parse({}).keyless == KeylessSpec() == default_scenario().keyless
    assert KeylessSpec().metadata == "huawei" and KeylessSpec().session_tokens and KeylessSpec().agency


def test_keyless_in_toml(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[keyless]\nmetadata = "aws"\nagency = false\nclient_ids = ["a", "b"]\ncredential_ttl_s = 60\n')
    spec = load_scenario(str(path)).keyless
    assert (spec.metadata, spec.agency, spec.client_ids, spec.credential_ttl_s) == ("aws", False, ["a", "b"], 60.0)


@pytest.mark.parametrize(
    ("keyless", "words"),
    [
        ("on", "keyless: must be an object"),
        ({"colour": "red"}, "unknown key(s) colour"),
        ({"metadata": "gcp"}, "metadata must be one of huawei, azure, aws, none"),
        ({"session_tokens": "yes"}, "session_tokens has the wrong type"),
        ({"agency": 1}, "agency has the wrong type"),
        ({"credential_ttl_s": -1}, "credential_ttl_s cannot be negative"),
        ({"id_token_ttl_s": 1e10}, "id_token_ttl_s must be between 0 and 1e+09"),
        ({"federation_token_ttl_s": float("nan")}, "federation_token_ttl_s must be between"),
        ({"idp_id": "a b "}, "idp_id must be printable ASCII"),
        ({"request_token": CANARY + "\n"}, "request_token contains control characters"),
        ({"client_ids": []}, "client_ids must hold 1 to 100"),
        ({"client_ids": "kpstask-sim"}, "client_ids has the wrong type"),
        ({"client_ids": [5]}, "client_ids has the wrong type"),
        ({"client_ids": ["a\u2028b"]}, "client_ids contains control characters"),
        ({"issuer": ""}, "issuer cannot be empty"),
        ({"provider_urn": 5}, "provider_urn has the wrong type"),
    ],
)
def test_bad_keyless_scenarios_are_usage_errors(keyless: object, words: str) -> None:
    with pytest.raises(UsageError, match="scenario: keyless") as info:
        Scenario.parse({"keyless": keyless})
    assert words in str(info.value)
    assert CANARY not in str(info.value)  # a secret's value is never shown
