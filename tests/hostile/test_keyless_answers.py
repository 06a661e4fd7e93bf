"""Keyless credentials against every wrong answer: the ECS metadata service (absent, another
cloud's, no agency, garbage, expired), ID token files (missing, empty, a directory, a FIFO,
10 MB, not a JWT, expired), IAM's id-token exchange, and GitHub's token endpoint. Each is one
line with its exit code, and no canary secret in any output, `--debug` included."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from tests.conftest import ENDPOINT, PROJECT, SERVER, Run, fake_run, invoke

METADATA = "http://metadata.test"  # a name only `responses` answers: nothing leaves the machine
IAM = "https://iam.test"
GITHUB = "https://github-oidc.test/idtoken?api-version=2.0"
AK, SK = "CANARYTMPACCESSKEY01", "CANARY-tmp-sk-4c5d6e7f8a9b0c1d"
ST = "CANARY-st-" + "ab" * 40
SESSION = "CANARY-session-77aa88bb99cc"
REQUEST_TOKEN = "CANARY-actions-request-31337"
FED_TOKEN = "MIICANARYfedtoken" + "9" * 40
IN_AN_HOUR = time.time() + 3600


def jwt(**claims: object) -> str:
    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    body = {
        "iss": "https://token.actions.githubusercontent.com",
        "sub": "repo:o/r:ref:refs/heads/main",
        "aud": "kpstask",
        "exp": IN_AN_HOUR,
        **claims,
    }
    return f"{part({'alg': 'RS256'})}.{part(body)}.CANARYsignaturepart00"


ID_TOKEN = jwt()
SECRETS = (AK, SK, ST, SESSION, REQUEST_TOKEN, FED_TOKEN, ID_TOKEN, "CANARYsignaturepart00")


def cli(*args: str, env: dict[str, str | None]) -> Run:
    base: dict[str, str | None] = {"KPSTASK_ENDPOINT": ENDPOINT, "KPSTASK_PROJECT_ID": PROJECT}
    result = invoke(list(args), env={**base, **env}, obj=fake_run())
    for secret in SECRETS:
        assert secret not in result.stdout and secret not in result.stderr, (secret, result.stderr)
    assert "Traceback" not in result.stderr
    return Run(result.exit_code, result.stdout, result.stderr)


def error_line(result: Run) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("kpstask: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# -- the ECS metadata service ---------------------------------------------------------------

ON_ECS = {"KPSTASK_METADATA_DISABLED": None, "KPSTASK_METADATA_ENDPOINT": METADATA}
KEYS = {"credential": {"access": AK, "secret": SK, "securitytoken": ST, "expires_at": "2099-01-01T00:00:00.000000Z"}}


@pytest.fixture
def ecs(kps: responses.RequestsMock) -> responses.RequestsMock:
    kps.put(f"{METADATA}/meta-data/latest/api/token", body=SESSION)
    kps.get(
        f"{ENDPOINT}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_RESET", "server_id": SERVER}
    )
    return kps


def test_metadata_keys_sign_the_request(ecs: responses.RequestsMock) -> None:
    ecs.get(f"{METADATA}/openstack/latest/securitykey", json=KEYS)
    result = cli("get", "t1", "-o", "json", "--debug", env=ON_ECS)
    assert result.exit_code == 0, result.stderr
    keys_call = next(c for c in ecs.calls if c.request.url.endswith("securitykey"))
    assert keys_call.request.headers["X-Metadata-Token"] == SESSION
    api = next(c for c in ecs.calls if "/tasks/" in c.request.url)
    assert api.request.headers["X-Security-Token"] == ST
    assert api.request.headers["Authorization"].startswith(f"SDK-HMAC-SHA256 Access={AK}, ")
    assert "x-security-token" in api.request.headers["Authorization"]


def test_no_session_tokens_means_asking_without_one(kps: responses.RequestsMock) -> None:
    kps.put(f"{METADATA}/meta-data/latest/api/token", status=404, body="not here")
    kps.get(f"{METADATA}/openstack/latest/securitykey", json=KEYS)
    kps.get(f"{ENDPOINT}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "RUNNING_RESET"})
    result = cli("get", "t1", env=ON_ECS)
    assert result.exit_code == 3, result.stderr
    keys_call = next(c for c in kps.calls if c.request.url.endswith("securitykey"))
    assert "X-Metadata-Token" not in keys_call.request.headers


def test_no_agency_is_said_plainly(ecs: responses.RequestsMock) -> None:
    ecs.get(
        f"{METADATA}/openstack/latest/securitykey",
        status=401,
        body='{"error": "Please configure Cloud Service Agency first"}',
    )
    result = cli("get", "t1", env=ON_ECS)
    assert result.exit_code == 4
    assert "this ECS server has no agency" in error_line(result) and "attach an agency" in result.stderr
    assert not any("/tasks/" in c.request.url for c in ecs.calls)


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (400, '{"error": "Bad request. Required metadata header not specified"}', {}),  # Azure
        (404, "<?xml version='1.0'?><html><body>404 - Not Found</body></html>", {}),  # AWS
        (403, "", {}),  # GCP without its Metadata-Flavor header
        (200, '{"compute": {"location": "westeurope"}}', {}),  # some other JSON
        (200, "<html>captive portal</html>", {}),
    ],
)
def test_another_clouds_metadata_service_is_not_on_huawei_ecs(
    kps: responses.RequestsMock, status: int, body: str, headers: dict[str, str]
) -> None:
    kps.put(f"{METADATA}/meta-data/latest/api/token", status=status, body=body)
    kps.get(f"{METADATA}/openstack/latest/securitykey", status=status, body=body)
    result = cli("get", "t1", env=ON_ECS)
    assert result.exit_code == 2
    line = error_line(result)
    assert "no credentials given" in line and "not on Huawei ECS" in line and METADATA in line
    assert "--idp-id" in result.stderr and "an agency on this ECS server" in result.stderr
    assert not any("/tasks/" in c.request.url for c in kps.calls)


@pytest.mark.parametrize(
    ("credential", "code", "words"),
    [
        ({"access": AK, "secret": SK, "securitytoken": ST}, 6, "no usable expires_at"),
        ({"access": AK, "securitytoken": ST, "expires_at": "2099-01-01T00:00:00Z"}, 6, "no usable secret"),
        ({"access": AK, "secret": SK, "securitytoken": ST, "expires_at": "tomorrow"}, 6, "not a date"),
        ({"access": AK, "secret": 42, "securitytoken": ST, "expires_at": "2099-01-01T00:00:00Z"}, 6, "secret"),
        ({"access": AK, "secret": "a\nb", "securitytoken": ST, "expires_at": "2099-01-01T00:00:00Z"}, 6, "ASCII"),
        ({"access": AK, "secret": SK, "securitytoken": ST, "expires_at": "2001-01-01T00:00:00Z"}, 4, "expired"),
    ],
)
def test_a_broken_credential_is_one_line(
    ecs: responses.RequestsMock, credential: dict[str, object], code: int, words: str
) -> None:
    ecs.get(f"{METADATA}/openstack/latest/securitykey", json={"credential": credential})
    result = cli("get", "t1", env=ON_ECS)
    assert result.exit_code == code, result.stderr
    assert words in error_line(result) and "metadata" in error_line(result)


def test_metadata_off_says_so(kps: responses.RequestsMock) -> None:
    result = cli("get", "t1", env={**ON_ECS, "KPSTASK_METADATA_DISABLED": "true"})
    assert result.exit_code == 2
    assert "not asked (environment variable KPSTASK_METADATA_DISABLED)" in error_line(result)
    assert not kps.calls


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_an_unanswering_metadata_service_costs_about_a_second(silent_port: int) -> None:
    env = {"KPSTASK_METADATA_DISABLED": None, "KPSTASK_METADATA_ENDPOINT": f"http://127.0.0.1:{silent_port}"}
    started = time.monotonic()
    result = cli("get", "t1", env=env)
    took = time.monotonic() - started
    assert result.exit_code == 2 and took < 1.5, (took, result.stderr)
    assert "no metadata service answered" in error_line(result) and "within 1 s" in error_line(result)
    for way in ("--token-file", "KPSTASK_ACCESS_KEY", "KPSTASK_USERNAME", "--idp-id", "ECS"):
        assert way in result.stderr


def test_the_metadata_timeout_lengthens_the_probe(silent_port: int) -> None:
    env = {
        "KPSTASK_METADATA_DISABLED": None,
        "KPSTASK_METADATA_ENDPOINT": f"http://127.0.0.1:{silent_port}",
        "KPSTASK_METADATA_TIMEOUT": "0.2",
    }
    result = cli("get", "t1", env=env)
    assert result.exit_code == 2 and "within 0.2 s" in error_line(result)
    bad = cli("get", "t1", env={**env, "KPSTASK_METADATA_TIMEOUT": "soon"})
    assert bad.exit_code == 2 and "KPSTASK_METADATA_TIMEOUT" in bad.stderr


def test_nothing_configured_and_nothing_answering_names_every_problem_at_once() -> None:
    env: dict[str, str | None] = {
        "KPSTASK_ENDPOINT": None,
        "KPSTASK_PROJECT_ID": None,
        "KPSTASK_METADATA_DISABLED": None,
        "KPSTASK_METADATA_ENDPOINT": "http://127.0.0.1:1",
    }
    result = cli("get", "t1", env=env)
    assert result.exit_code == 2
    assert error_line(result) == "kpstask: error: missing settings: region (or endpoint), project id, credentials"


# -- ID tokens, IAM's exchange, GitHub --------------------------------------------------------


def oidc_env(token_file: Path, **more: str | None) -> dict[str, str | None]:
    return {"KPSTASK_IDP_ID": "github", "KPSTASK_ID_TOKEN_FILE": str(token_file), "KPSTASK_IAM_ENDPOINT": IAM, **more}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "id-token"
    path.write_text(ID_TOKEN + "\n")
    return path


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: tmp / "missing", "No such file"),
        (lambda tmp: (tmp / "empty").write_text("\n") and tmp / "empty", "is empty"),
        (lambda tmp: tmp, "not a regular file"),
        (fifo, "not a regular file"),
        (lambda tmp: (tmp / "big").write_bytes(b"x" * 10_000_000) and tmp / "big", "larger than 64 KiB"),
        (lambda tmp: (tmp / "junk").write_text("not-a-jwt") and tmp / "junk", "is not a JWT"),
        (lambda tmp: (tmp / "bad64").write_text("a.!!!.c") and tmp / "bad64", "is not a JWT"),
    ],
)
def test_a_bad_id_token_file_is_a_usage_error(kps: responses.RequestsMock, tmp_path: Path, make, words: str) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = cli("get", "t1", env=oidc_env(make(tmp_path)))
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr and time.monotonic() - started < 3
    assert not kps.calls


def test_an_expired_id_token_is_refused_before_it_is_sent(kps: responses.RequestsMock, tmp_path: Path) -> None:
    path = tmp_path / "old"
    path.write_text(jwt(exp=time.time() - 600))
    result = cli("get", "t1", env=oidc_env(path))
    assert result.exit_code == 4
    assert "expired at" in error_line(result) and not kps.calls


@pytest.mark.parametrize(
    ("status", "body", "headers", "code", "words"),
    [
        (
            401,
            {"error": {"code": 401, "message": "The id_token has expired.", "title": "Unauthorized"}},
            {},
            4,
            "IAM refused the ID token: The id_token has expired.",
        ),
        (400, {"error": {"code": 400, "message": "Invalid audience", "title": "Bad Request"}}, {}, 4, "refused"),
        (403, {"error": {"code": 403, "message": "Forbidden", "title": "Forbidden"}}, {}, 4, "refused"),
        (404, {"error": {"code": 404, "message": "The idp is not found", "title": "Not Found"}}, {}, 4, "refused"),
        (201, "<html>proxy</html>", {"X-Subject-Token": FED_TOKEN}, 6, "not valid JSON"),
        (201, {"token": {"expires_at": "2099-01-01T00:00:00Z"}}, {}, 6, "without an X-Subject-Token"),
    ],
)
def test_iam_refusing_or_garbling_the_exchange(
    kps: responses.RequestsMock,
    token_file: Path,
    status: int,
    body: object,
    headers: dict[str, str],
    code: int,
    words: str,
) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    kps.post(f"{IAM}/v3.0/OS-AUTH/id-token/tokens", status=status, headers=headers, **kwargs)  # type: ignore[arg-type]
    result = cli("get", "t1", "--debug", env=oidc_env(token_file))
    assert result.exit_code == code, result.stderr
    assert words in result.stderr


def test_the_exchange_sends_the_idp_and_a_project_scope(kps: responses.RequestsMock, token_file: Path) -> None:
    kps.post(
        f"{IAM}/v3.0/OS-AUTH/id-token/tokens",
        status=201,
        headers={"X-Subject-Token": FED_TOKEN},
        json={"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}},
    )
    kps.get(f"{ENDPOINT}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_BIND"})
    result = cli("get", "t1", "--debug", env=oidc_env(token_file))
    assert result.exit_code == 0, result.stderr
    exchange, task = kps.calls[0].request, kps.calls[1].request
    assert exchange.headers["X-Idp-Id"] == "github"
    sent = json.loads(exchange.body)
    assert sent == {"auth": {"id_token": {"id": ID_TOKEN}, "scope": {"project": {"id": PROJECT}}}}
    assert task.headers["X-Auth-Token"] == FED_TOKEN


def test_an_idp_id_with_control_characters_is_a_usage_error(token_file: Path) -> None:
    result = cli("get", "t1", env=oidc_env(token_file, KPSTASK_IDP_ID="git\x1b[31mhub"))
    assert result.exit_code == 2 and "\x1b" not in result.stderr
    assert "idp id from environment variable KPSTASK_IDP_ID has control" in result.stderr


GH = {
    "KPSTASK_IDP_ID": "github",
    "KPSTASK_IAM_ENDPOINT": IAM,
    "GITHUB_ACTIONS": "true",
    "ACTIONS_ID_TOKEN_REQUEST_URL": GITHUB,
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN,
}


@pytest.mark.parametrize(
    ("status", "body", "code", "words"),
    [
        (403, '{"message": "Resource not accessible by integration"}', 4, "id-token: write"),
        (200, "<html>", 6, "without a token"),
        (200, '{"count": 1}', 6, "without a token"),
        (200, '{"value": "not-a-jwt"}', 2, "not a JWT"),
    ],
)
def test_github_refusing_or_garbling(
    kps: responses.RequestsMock, status: int, body: str, code: int, words: str
) -> None:
    kps.get(GITHUB, status=status, body=body)
    result = cli("get", "t1", env=GH)
    assert result.exit_code == code, result.stderr
    assert words in result.stderr


def test_github_is_asked_with_the_audience(kps: responses.RequestsMock) -> None:
    kps.get(f"{GITHUB}&audience=kps%20task", json={"value": ID_TOKEN})
    kps.post(
        f"{IAM}/v3.0/OS-AUTH/id-token/tokens",
        status=201,
        headers={"X-Subject-Token": FED_TOKEN},
        json={"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}},
    )
    kps.get(f"{ENDPOINT}/v3/{PROJECT}/tasks/t1", json={"task_id": "t1", "task_status": "SUCCESS_BIND"})
    result = cli("get", "t1", env={**GH, "KPSTASK_OIDC_AUDIENCE": "kps task"})
    assert result.exit_code == 0, result.stderr
    asked = kps.calls[0].request
    assert asked.url.endswith("?api-version=2.0&audience=kps%20task")
    assert asked.headers["Authorization"] == f"Bearer {REQUEST_TOKEN}"
    assert sum(1 for c in kps.calls if c.request.url.startswith("https://github-oidc.test")) == 1


def test_a_github_job_without_id_token_write_is_told_to_add_it(kps: responses.RequestsMock) -> None:
    env = {**GH, "ACTIONS_ID_TOKEN_REQUEST_URL": None, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": None}
    result = cli("get", "t1", env=env)
    assert result.exit_code == 2
    assert "permissions: id-token: write" in result.stderr and not kps.calls


def test_a_service_that_takes_the_connection_and_never_gives_keys() -> None:
    """Another cloud's service may answer the session-token request and then hang on the keys:
    still the probe, still about a second."""
    from tests.hostile.servers import answer, hostile

    served: list[int] = []

    def reply(conn: socket.socket) -> None:
        served.append(1)
        if len(served) == 1:
            answer(404, b"not here")(conn)
        else:
            time.sleep(10)  # holds the connection, never gives the keys

    with hostile(reply) as url:
        started = time.monotonic()
        result = cli("get", "t1", env={"KPSTASK_METADATA_DISABLED": None, "KPSTASK_METADATA_ENDPOINT": url})
        took = time.monotonic() - started
    assert result.exit_code == 2 and took < 2.5, (took, result.stderr)
    assert "did not answer for keys within 1 s" in error_line(result)


def test_a_trickling_metadata_service_ends_by_its_deadline() -> None:
    from tests.hostile.servers import hostile, trickle

    with hostile(trickle(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 100, 0.2)) as url:
        started = time.monotonic()
        result = cli("get", "t1", env={"KPSTASK_METADATA_DISABLED": None, "KPSTASK_METADATA_ENDPOINT": url})
        took = time.monotonic() - started
    assert result.exit_code == 2 and took < 4.5, (took, result.stderr)
    assert "no metadata service answered" in error_line(result)


def test_an_id_token_without_an_identity_provider_is_half_a_credential(
    kps: responses.RequestsMock, token_file: Path
) -> None:
    result = cli("get", "t1", env={"HUAWEICLOUD_SDK_ID_TOKEN_FILE": str(token_file)})
    assert result.exit_code == 2 and not kps.calls
    assert "no identity provider" in error_line(result) and "--idp-id" in result.stderr
