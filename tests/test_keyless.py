"""No stored secret, against the simulator over real sockets: the ECS metadata service, an ID
token exchanged at IAM (from a file, a variable or GitHub Actions) or at STS, the cache, and
renewal through a 30-minute wait on 15-minute credentials (fake clocks, real HTTP)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kpstask import connect
from kpstask.api.transport import Transport
from kpstask.choices import Timing, WaitOptions
from kpstask.context import Run as RunContext
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from kpstask.wait.engine import WaitEngine
from kpstask.wait.runners import InlineRunner
from tests.conftest import Run, fake_run, invoke
from tests.test_e2e import KPSTASK

KEYLESS = {"credential_ttl_s": 900, "federation_token_ttl_s": 900, "id_token_ttl_s": 3600}
TASKS = [{"id": "t1", "operation": "reset", "ready_s": 1, "running_s": 1800}]


def scenario(**keyless: Any) -> Scenario:
    return Scenario.parse({"tasks": TASKS, "keyless": {**KEYLESS, **keyless}})


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(scenario()) as running:
        yield running


def secrets_of(sim: Simulator) -> list[str]:
    """Every secret the simulator handed out: temporary keys, security tokens, IAM tokens."""
    gate = sim._gate
    found = [value for key in gate.temporary.values() for value in (key[0], key[1])]
    return found + list(gate.issued)


def cli(sim: Simulator, *args: str, env: dict[str, str | None]) -> Run:
    base: dict[str, str | None] = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT}
    result = invoke(list(args), env={**base, **env}, obj=fake_run())
    for text in (result.stdout, result.stderr):
        assert "eyJ" not in text  # no JWT
        for secret in secrets_of(sim):
            assert secret not in text
    return Run(result.exit_code, result.stdout, result.stderr)


def on_ecs(sim: Simulator) -> dict[str, str | None]:
    return {"KPSTASK_METADATA_DISABLED": None, "KPSTASK_METADATA_ENDPOINT": sim.url}


def oidc(sim: Simulator, token_file: Path) -> dict[str, str | None]:
    return {"KPSTASK_IDP_ID": "sim-idp", "KPSTASK_IAM_ENDPOINT": sim.url, "KPSTASK_ID_TOKEN_FILE": str(token_file)}


@pytest.fixture
def token_file(sim: Simulator, tmp_path: Path) -> Path:
    path = tmp_path / "id_token"
    path.write_text(sim.issue_id_token() + "\n")
    return path


def calls(sim: Simulator, method: str, path: str) -> int:
    return sum(1 for m, p, _, _ in sim.requests if (m, p) == (method, path))


# -- ECS metadata ----------------------------------------------------------------------------


def test_on_ecs_with_nothing_configured(sim: Simulator) -> None:
    result = cli(sim, "get", "t1", "-o", "json", "--debug", env=on_ecs(sim))
    assert result.exit_code == 3, result.stderr
    assert json.loads(result.stdout)["task_status"] == "READY_RESET"
    assert sim.keyless_issued()["metadata"] == 1
    assert "credentials: ECS metadata" in result.stderr


def test_on_ecs_without_session_tokens() -> None:
    with Simulator(scenario(session_tokens=False)) as sim:
        result = cli(sim, "get", "t1", env=on_ecs(sim))
        assert result.exit_code == 3, result.stderr
        assert sim.keyless_issued()["session_tokens"] == 0


def test_on_ecs_without_an_agency() -> None:
    with Simulator(scenario(agency=False)) as sim:
        result = cli(sim, "get", "t1", env=on_ecs(sim))
        assert result.exit_code == 4
        assert "this ECS server has no agency" in result.stderr


@pytest.mark.parametrize("cloud", ["azure", "aws", "none"])
def test_another_cloud_is_not_huawei_ecs(cloud: str) -> None:
    with Simulator(scenario(metadata=cloud)) as sim:
        result = cli(sim, "get", "t1", env=on_ecs(sim))
        assert result.exit_code == 2
        assert "no credentials given" in result.stderr and "not on Huawei ECS" in result.stderr


def test_config_show_names_metadata_and_its_expiry(sim: Simulator) -> None:
    result = cli(sim, "config", "show", "-o", "json", env=on_ecs(sim))
    assert result.exit_code == 0, result.stderr
    rows = {r["setting"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["credentials"]["value"] == "metadata"
    assert rows["metadata endpoint"]["value"] == sim.url
    assert rows["expires"]["value"].endswith("Z")


def test_metadata_keys_are_not_a_token(sim: Simulator) -> None:
    result = cli(sim, "token", env=on_ecs(sim))
    assert result.exit_code == 2 and "temporary access keys" in result.stderr


def test_the_metadata_service_is_never_asked_through_a_proxy() -> None:
    direct = Transport("http://169.254.169.254", direct=True)
    assert direct.session.trust_env is False
    assert direct._proxies == {"http": None, "https": None, "all": None}
    assert Transport("https://kms.cn-north-4.myhuaweicloud.com").session.trust_env is True


# -- OIDC at IAM -----------------------------------------------------------------------------


def test_an_id_token_file_and_the_cache(sim: Simulator, token_file: Path) -> None:
    first = cli(sim, "get", "t1", "--debug", env=oidc(sim, token_file))
    assert first.exit_code == 3, first.stderr
    assert calls(sim, "POST", "/v3.0/OS-AUTH/id-token/tokens") == 1
    again = cli(sim, "get", "t1", env=oidc(sim, token_file))
    assert again.exit_code == 3 and calls(sim, "POST", "/v3.0/OS-AUTH/id-token/tokens") == 1
    cached = list((Path(os.environ["XDG_CACHE_HOME"]) / "kpstask" / "tokens").glob("*.json"))
    assert len(cached) == 1 and token_file.read_text().strip() not in cached[0].name
    assert oct(cached[0].stat().st_mode & 0o777) == "0o600"


def test_two_identities_never_share_a_cache_entry(sim: Simulator, token_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_text(sim.issue_id_token(subject="repo:someone/else:ref:refs/heads/main"))
    assert cli(sim, "get", "t1", env=oidc(sim, token_file)).exit_code == 3
    assert cli(sim, "get", "t1", env=oidc(sim, other)).exit_code == 3
    assert calls(sim, "POST", "/v3.0/OS-AUTH/id-token/tokens") == 2


def test_an_id_token_in_a_variable(sim: Simulator) -> None:
    env = {"KPSTASK_IDP_ID": "sim-idp", "KPSTASK_IAM_ENDPOINT": sim.url, "KPSTASK_ID_TOKEN": sim.issue_id_token()}
    assert cli(sim, "get", "t1", "--no-cache", env=env).exit_code == 3


@pytest.mark.parametrize(
    ("token", "words"),
    [
        (lambda sim: sim.issue_id_token(audience="someone-else"), "IAM refused the ID token"),
        (lambda sim: Simulator(scenario()).issue_id_token(), "IAM refused the ID token"),  # another issuer's key
    ],
)
def test_iam_refuses_a_foreign_token(sim: Simulator, tmp_path: Path, token, words: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "foreign"
    path.write_text(token(sim))
    result = cli(sim, "get", "t1", env=oidc(sim, path))
    assert result.exit_code == 4 and words in result.stderr


def test_config_show_of_an_oidc_login(sim: Simulator, token_file: Path) -> None:
    result = cli(sim, "config", "show", "-o", "tsv", env=oidc(sim, token_file))
    assert result.exit_code == 0, result.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in result.stdout.splitlines()}
    assert rows["credentials"][0] == "oidc"
    assert rows["idp id"] == ["sim-idp", "environment variable KPSTASK_IDP_ID"]
    assert rows["iam endpoint"][0] == sim.url
    assert not sim.requests  # config show sends nothing


def test_token_prints_the_federated_token(sim: Simulator, token_file: Path) -> None:
    result = invoke(["token"], env={"KPSTASK_PROJECT_ID": DEFAULT_PROJECT, **oidc(sim, token_file)}, obj=fake_run())
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() in sim._gate.issued


# -- OIDC at STS -----------------------------------------------------------------------------


def test_an_agency_assumed_with_oidc(sim: Simulator, token_file: Path) -> None:
    spec = sim.scenario.keyless
    env = {
        "HUAWEICLOUD_OIDC_AGENCY_URN": spec.agency_urn,
        "HUAWEICLOUD_OIDC_PROVIDER_URN": spec.provider_urn,
        "HUAWEICLOUD_OIDC_TOKEN_FILE": str(token_file),
        "HUAWEICLOUD_SDK_STS_ENDPOINT": sim.url,
    }
    result = cli(sim, "get", "t1", "--debug", env=env)
    assert result.exit_code == 3, result.stderr
    assert sim.keyless_issued()["sts"] == 1 and "OIDC agency" in result.stderr
    refused = cli(sim, "get", "t1", env={**env, "HUAWEICLOUD_OIDC_AGENCY_URN": "iam::0:agency:nobody"})
    assert refused.exit_code == 4 and "STS refused assume-with-oidc" in refused.stderr


# -- GitHub Actions, as a job would run it ----------------------------------------------------


def test_a_github_job_waits_keylessly(sim: Simulator) -> None:
    """The installed command, the two variables GitHub sets pointing at the simulator."""
    sim.add_task({"id": "quick", "operation": "bind", "ready_s": 0.2, "running_s": 0.5})
    keep = ("PATH", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "KPSTASK_METADATA_DISABLED")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        GITHUB_ACTIONS="true",
        KPSTASK_ENDPOINT=sim.url,
        KPSTASK_PROJECT_ID=DEFAULT_PROJECT,
        KPSTASK_IDP_ID="sim-idp",
        KPSTASK_IAM_ENDPOINT=sim.url,
        ACTIONS_ID_TOKEN_REQUEST_URL=f"{sim.url}/_github/idtoken?api-version=2.0",
        ACTIONS_ID_TOKEN_REQUEST_TOKEN=sim.scenario.keyless.request_token,
    )
    proc = subprocess.run(
        [str(KPSTASK), "wait", "quick", "-o", "json", "--interval", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["task_status"] == "SUCCESS_BIND"
    assert sim.keyless_issued()["id_tokens"] == 1 and sim.keyless_issued()["federation"] == 1
    assert "eyJ" not in proc.stderr and not any(s in proc.stderr for s in secrets_of(sim))


# -- renewal through a long wait --------------------------------------------------------------


class Clocks:
    """One fake time for the simulator, the wait engine and the credentials."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.epoch = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc).timestamp()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch + self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def long_wait(env: dict[str, str], clocks: Clocks, sim: Simulator) -> tuple[list[Any], str]:
    stderr = io.StringIO()
    run = RunContext(stdout=io.StringIO(), stderr=stderr, env=env, wall=clocks.wall)
    target = connect.resolve(run, {"endpoint": sim.url, "project_id": DEFAULT_PROJECT}, Timing(5.0, 0))
    with connect.client(run, target) as client:
        engine = WaitEngine(
            ["t1"],
            InlineRunner(client.get_task),
            WaitOptions(timeout_s=3600, interval_s=30),
            clock=clocks.monotonic,
            sleep=clocks.sleep,
            rand=lambda: 0.5,
        )
        return engine.run(), stderr.getvalue()


@pytest.mark.parametrize("kind", ["metadata", "oidc", "github", "agency"])
def test_a_30_minute_wait_outlives_15_minute_credentials(kind: str, tmp_path: Path) -> None:
    clocks = Clocks()
    with Simulator(scenario(), clock=clocks.monotonic, wall=clocks.wall) as sim:
        spec = sim.scenario.keyless
        token = tmp_path / "token"
        token.write_text(sim.issue_id_token(ttl_s=7200))
        env = {
            "metadata": {"KPSTASK_METADATA_ENDPOINT": sim.url},
            "oidc": {"KPSTASK_IDP_ID": "sim-idp", "KPSTASK_IAM_ENDPOINT": sim.url, "KPSTASK_ID_TOKEN_FILE": str(token)},
            "github": {
                "KPSTASK_IDP_ID": "sim-idp",
                "KPSTASK_IAM_ENDPOINT": sim.url,
                "ACTIONS_ID_TOKEN_REQUEST_URL": f"{sim.url}/_github/idtoken?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": spec.request_token,
            },
            "agency": {
                "KPSTASK_AGENCY_URN": spec.agency_urn,
                "KPSTASK_PROVIDER_URN": spec.provider_urn,
                "KPSTASK_ID_TOKEN_FILE": str(token),
                "KPSTASK_STS_ENDPOINT": sim.url,
            },
        }[kind]
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        results, said = long_wait(env, clocks, sim)
        assert [r.task.task_status for r in results if r.task] == ["SUCCESS_RESET"]
        assert clocks.now - 1000.0 >= 1800
        statuses = [status for _, path, status, _ in sim.requests if "/tasks/" in path]
        assert statuses and set(statuses) == {200}, statuses  # no refused request
        issued = sim.keyless_issued()
        renewed = {
            "metadata": issued["metadata"],
            "oidc": issued["federation"],
            "github": issued["federation"],
            "agency": issued["sts"],
        }[kind]
        assert renewed >= 2
        assert said == ""  # no warning a user must read


def test_a_given_token_is_not_renewed(sim: Simulator) -> None:
    sim.set_token("user-given-token-0001")
    sim.expire_tokens()
    result = cli(sim, "get", "t1", env={"KPSTASK_TOKEN": "not-the-token-0002"})
    assert result.exit_code == 4


def test_get_with_a_token_does_not_load_the_keyless_code(sim: Simulator) -> None:
    script = (
        "import sys\nfrom kpstask.entry import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m in ('kpstask.auth.metadata', 'kpstask.auth.federation', "
        "'kpstask.auth.renewal')), file=sys.stderr)\n"
    )
    env = {**os.environ, "KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": "x" * 9}
    proc = subprocess.run(
        [sys.executable, "-c", script, "get", "t1", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stderr.splitlines()[-1] == "[]", proc.stderr


@pytest.mark.slow  # a whole process (or hundreds of runs): over 5 s
def test_demo_keyless_needs_no_secret_at_all() -> None:
    """The user's own credentials are ignored: the demo's flags win, and no token is passed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    env.update(KPSTASK_METADATA_DISABLED="true", HW_ACCESS_KEY="CANARYUSERSOWNKEY001", HW_SECRET_KEY="CANARY-own-sk-1")
    proc = subprocess.run(
        [str(KPSTASK), "demo", "--keyless", "--no-color"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "demo-bind-ok" in proc.stdout and "exchanged at IAM" in proc.stderr
    assert "--token" not in proc.stderr and "eyJ" not in proc.stderr + proc.stdout
    told = [line for line in proc.stderr.splitlines() if "stored secret" in line or "ID token" in line]
    assert len(told) == 2 and all(len(line) <= 80 for line in told)


@pytest.mark.parametrize("kind", ["metadata", "oidc"])
def test_credentials_revoked_mid_wait_are_renewed_once_at_once(kind: str, tmp_path: Path) -> None:
    """APIGW.0307 on credentials that had worked: renewed at once, the request asked again."""
    clocks = Clocks()
    with Simulator(
        scenario(credential_ttl_s=86400, federation_token_ttl_s=86400), clock=clocks.monotonic, wall=clocks.wall
    ) as sim:
        token = tmp_path / "token"
        token.write_text(sim.issue_id_token(ttl_s=7200))
        env = (
            {"KPSTASK_METADATA_ENDPOINT": sim.url}
            if kind == "metadata"
            else {"KPSTASK_IDP_ID": "sim-idp", "KPSTASK_IAM_ENDPOINT": sim.url, "KPSTASK_ID_TOKEN_FILE": str(token)}
        )
        env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        sleep = clocks.sleep

        def revoking_sleep(seconds: float) -> None:
            before = clocks.now
            sleep(seconds)
            if before < 1600 <= clocks.now:
                sim.expire_tokens()

        clocks.sleep = revoking_sleep  # type: ignore[method-assign]
        results, said = long_wait(env, clocks, sim)
        assert [r.task.task_status for r in results if r.task] == ["SUCCESS_RESET"]
        statuses = [status for _, path, status, _ in sim.requests if "/tasks/" in path]
        assert statuses.count(401) == 1, statuses
        assert said == ""


@pytest.mark.slow  # a whole process (or hundreds of runs): over 5 s
def test_the_readmes_offline_ci_example_runs(tmp_path: Path) -> None:
    """docs/ci.md, "In CI without secrets", "Try it offline": verbatim, each command must succeed."""
    readme = (Path(__file__).resolve().parent.parent / "docs" / "ci.md").read_text(encoding="utf-8")
    block = readme.split("**Try it offline.**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    env.update(PATH=f"{KPSTASK.parent}:{env['PATH']}", XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run(
        ["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("SUCCESS_BIND") == 2 and "eyJ" not in proc.stdout + proc.stderr


def test_config_show_says_when_the_cached_federated_token_ends(sim: Simulator, token_file: Path) -> None:
    assert cli(sim, "get", "t1", env=oidc(sim, token_file)).exit_code == 3
    before = len(sim.requests)
    result = cli(sim, "config", "show", "-o", "json", env=oidc(sim, token_file))
    rows = {r["setting"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert rows["expires"]["value"].endswith("Z") and "cache" in rows["expires"]["source"]
    assert len(sim.requests) == before


def test_an_agencys_keys_are_cached_and_dropped_when_refused(sim: Simulator, token_file: Path) -> None:
    spec = sim.scenario.keyless
    env = {
        "KPSTASK_AGENCY_URN": spec.agency_urn,
        "KPSTASK_PROVIDER_URN": spec.provider_urn,
        "KPSTASK_ID_TOKEN_FILE": str(token_file),
        "KPSTASK_STS_ENDPOINT": sim.url,
    }
    assert cli(sim, "get", "t1", env=env).exit_code == 3
    assert cli(sim, "get", "t1", env=env).exit_code == 3
    assert sim.keyless_issued()["sts"] == 1  # the second run signed with the cached keys
    cached = list((Path(os.environ["XDG_CACHE_HOME"]) / "kpstask" / "tokens").glob("*.json"))
    assert len(cached) == 1 and oct(cached[0].stat().st_mode & 0o777) == "0o600"
    sim.expire_tokens()  # the cached keys stop working: refused, dropped, assumed again at once
    again = cli(sim, "get", "t1", env=env)
    assert again.exit_code == 3 and sim.keyless_issued()["sts"] == 2
