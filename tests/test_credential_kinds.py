"""AK/SK signing, IAM password tokens (and their cache), profiles, `token` and
`config show`, against the simulator over real sockets. Canary secrets never show."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpstask.context import Run as KpsRun
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.conftest import CANARY, Run, fake_run, invoke
from tests.test_keyless import Clocks

AK = "HPUACANARYACCESSKEY1"
SK = "CANARY-sk-9d8c7b6a5f4e3d2c1b0a"
PASSWORD = "CANARY-pw-0f1e2d3c4b5a69788"
STS = "CANARY-sts-11223344556677"
SECRETS = (CANARY, SK, PASSWORD, STS)


SCENARIO = {
    "token": CANARY,
    "access_keys": [
        {"access_key": AK, "secret_key": SK},
        {"access_key": "HPUATEMPORARYKEY0002", "secret_key": SK, "security_token": STS},
    ],
    "users": [{"name": "alice", "domain": "acme", "password": PASSWORD}],
    "tasks": [{"id": "t1", "status": "SUCCESS_RESET"}],
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(Scenario.parse(SCENARIO)) as running:
        yield running


def cli(sim: Simulator, *args: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Run:
    base: dict[str, str | None] = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT}
    result = invoke(list(args), env={**base, **(env or {})}, input=input, obj=fake_run())
    for secret in SECRETS:
        assert secret not in result.stdout and secret not in result.stderr, (secret, result.stderr)
    return Run(result.exit_code, result.stdout, result.stderr)


def iam_posts(sim: Simulator) -> int:
    return sum(1 for method, path, _, _ in sim.requests if (method, path) == ("POST", "/v3/auth/tokens"))


def cache_files() -> list[Path]:
    return sorted((Path(os.environ["XDG_CACHE_HOME"]) / "kpstask" / "tokens").glob("*"))


# -- AK/SK ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ("KPSTASK_ACCESS_KEY", "KPSTASK_SECRET_KEY"),
        ("HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK"),
        ("HW_ACCESS_KEY", "HW_SECRET_KEY"),
    ],
)
def test_aksk_from_each_family_of_variables(sim: Simulator, names: tuple[str, str]) -> None:
    result = cli(sim, "get", "t1", "--debug", env={names[0]: AK, names[1]: SK})
    assert result.exit_code == 0, result.stderr
    assert f"AK/SK: access key from environment variable {names[0]}" in result.stderr
    assert "Authorization: ***" in result.stderr


def test_secret_key_file(sim: Simulator, tmp_path: Path) -> None:
    secret = tmp_path / "sk"
    secret.write_text(SK + "\n")
    secret.chmod(0o600)
    result = cli(sim, "get", "t1", "--secret-key-file", str(secret), env={"KPSTASK_ACCESS_KEY": AK})
    assert (result.exit_code, result.stderr) == (0, "")


def test_a_secret_file_others_can_read_gets_a_warning(sim: Simulator, tmp_path: Path) -> None:
    secret = tmp_path / "sk"
    secret.write_text(SK)
    secret.chmod(0o644)
    result = cli(sim, "get", "t1", "--secret-key-file", str(secret), env={"KPSTASK_ACCESS_KEY": AK})
    assert result.exit_code == 0
    assert "is readable by others (mode 644); chmod 600 it" in result.stderr


def test_temporary_credentials_send_the_security_token(sim: Simulator) -> None:
    env: dict[str, str | None] = {"HUAWEICLOUD_SDK_AK": "HPUATEMPORARYKEY0002", "HUAWEICLOUD_SDK_SK": SK}
    assert cli(sim, "get", "t1", env=env).exit_code == 4  # the simulator insists on the token
    env["HUAWEICLOUD_SDK_SECURITY_TOKEN"] = STS
    assert cli(sim, "get", "t1", "--debug", env=env).exit_code == 0


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"KPSTASK_ACCESS_KEY": AK}, "an access key is given (environment variable KPSTASK_ACCESS_KEY) but not its"),
        ({"HUAWEICLOUD_SDK_SK": SK}, "a secret key is given (environment variable HUAWEICLOUD_SDK_SK) but not its"),
    ],
)
def test_half_a_key_pair_is_a_usage_error(sim: Simulator, env: dict[str, str | None], words: str) -> None:
    result = cli(sim, "get", "t1", env=env)
    assert result.exit_code == 2
    assert words in result.stderr


def test_a_wrong_secret_key_is_refused_with_a_signature_hint(sim: Simulator) -> None:
    result = cli(sim, "get", "t1", env={"KPSTASK_ACCESS_KEY": AK, "KPSTASK_SECRET_KEY": "CANARY-wrong-secret"})
    assert result.exit_code == 4
    assert "verify aksk signature fail" in result.stderr and "clock" in result.stderr
    assert "CANARY-wrong-secret" not in result.stderr


def test_wait_signs_every_poll(sim: Simulator) -> None:
    env: dict[str, str | None] = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    result = cli(sim, "wait", "t1", "-o", "json", "--progress", "none", env=env)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["state"] == "succeeded"


# -- IAM password tokens -----------------------------------------------------------------------

PASSWORD_ENV: dict[str, str | None] = {
    "KPSTASK_USERNAME": "alice",
    "KPSTASK_DOMAIN": "acme",
    "KPSTASK_PASSWORD": PASSWORD,
}


def with_iam(sim: Simulator, **extra: str | None) -> dict[str, str | None]:
    return {**PASSWORD_ENV, "HUAWEICLOUD_SDK_IAM_ENDPOINT": sim.url, **extra}


def test_password_login_and_cache(sim: Simulator) -> None:
    first = cli(sim, "get", "t1", env=with_iam(sim))
    assert (first.exit_code, iam_posts(sim)) == (0, 1)
    [cached] = cache_files()
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert "alice" not in cached.name and "acme" not in cached.name and PASSWORD not in cached.read_text()
    second = cli(sim, "get", "t1", "--debug", env=with_iam(sim))
    assert (second.exit_code, iam_posts(sim)) == (0, 1)  # reused, not asked again
    assert "IAM token from the cache" in second.stderr


def test_hw_variables_and_password_file(sim: Simulator, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD)
    secret.chmod(0o600)
    env = {"HW_USER_NAME": "alice", "HW_DOMAIN_NAME": "acme", "HUAWEICLOUD_SDK_IAM_ENDPOINT": sim.url}
    assert cli(sim, "get", "t1", "--password-file", str(secret), env=env).exit_code == 0  # type: ignore[arg-type]


def test_no_cache(sim: Simulator) -> None:
    for _ in range(2):
        assert cli(sim, "get", "t1", "--no-cache", env=with_iam(sim)).exit_code == 0
    assert iam_posts(sim) == 2
    assert cache_files() == []


def test_a_refused_cached_token_is_renewed_once(sim: Simulator) -> None:
    assert cli(sim, "get", "t1", env=with_iam(sim)).exit_code == 0
    sim.expire_tokens()  # e.g. the password changed
    result = cli(sim, "get", "t1", "--debug", env=with_iam(sim))
    assert result.exit_code == 0, result.stderr
    assert iam_posts(sim) == 2
    assert "renewed them, asking once more" in result.stderr


def test_never_in_a_loop(sim: Simulator) -> None:
    assert cli(sim, "get", "t1", env=with_iam(sim)).exit_code == 0
    sim.scenario.token_ttl_s = 0  # from now on IAM hands out dead tokens
    sim.expire_tokens()
    result = cli(sim, "get", "t1", env=with_iam(sim))
    assert result.exit_code == 4
    assert iam_posts(sim) == 2  # the cached one, and exactly one more


def test_a_fresh_token_refused_is_not_fetched_again(sim: Simulator) -> None:
    sim.scenario.token_ttl_s = 0
    assert cli(sim, "get", "t1", "--no-cache", env=with_iam(sim)).exit_code == 4
    assert iam_posts(sim) == 1


def test_iam_refuses_the_password(sim: Simulator) -> None:
    result = cli(sim, "get", "t1", env=with_iam(sim, KPSTASK_PASSWORD="CANARY-pw-wrong-one"))
    assert result.exit_code == 4
    assert "IAM refused the login: The username or password is wrong." in result.stderr
    assert "CANARY-pw-wrong-one" not in result.stderr


def test_iam_unreachable(sim: Simulator) -> None:
    result = cli(
        sim, "get", "t1", "--retries", "0", env=with_iam(sim, HUAWEICLOUD_SDK_IAM_ENDPOINT="http://127.0.0.1:9")
    )
    assert result.exit_code == 7
    assert "IAM unreachable" in result.stderr


def test_partial_password_login(sim: Simulator) -> None:
    result = cli(sim, "get", "t1", env={"KPSTASK_USERNAME": "alice", "KPSTASK_PASSWORD": PASSWORD})
    assert result.exit_code == 2
    assert "missing: domain" in result.stderr


# -- which credential wins ------------------------------------------------------------------------


def test_token_then_aksk_then_password(sim: Simulator) -> None:
    everything = {**with_iam(sim), "KPSTASK_ACCESS_KEY": AK, "KPSTASK_SECRET_KEY": SK, "KPSTASK_TOKEN": CANARY}
    assert (
        "credentials: token from environment variable KPSTASK_TOKEN"
        in cli(sim, "get", "t1", "--debug", env=everything).stderr
    )
    no_token = {**everything, "KPSTASK_TOKEN": None}
    assert "credentials: AK/SK" in cli(sim, "get", "t1", "--debug", env=no_token).stderr
    only_password = {**no_token, "KPSTASK_ACCESS_KEY": None, "KPSTASK_SECRET_KEY": None}
    assert "credentials: password of user alice" in cli(sim, "get", "t1", "--debug", env=only_password).stderr
    assert iam_posts(sim) == 1


# -- profiles ---------------------------------------------------------------------------------------


def write_config(text: str) -> Path:
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "kpstask" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value)
    path.chmod(0o600)
    return path


def test_profiles(sim: Simulator, tmp_path: Path) -> None:
    sk = secret_file(tmp_path, "sk", SK)
    pw = secret_file(tmp_path, "pw", PASSWORD)
    write_config(
        f'[default]\nendpoint = "{sim.url}"\nproject_id = "{DEFAULT_PROJECT}"\naccess_key = "{AK}"\n'
        f'secret_key_file = "{sk}"\n\n'
        f'[people]\nendpoint = "{sim.url}"\nproject_id = "{DEFAULT_PROJECT}"\nuser_name = "alice"\n'
        f'domain = "acme"\npassword_file = "{pw}"\niam_endpoint = "{sim.url}"\n'
    )
    none: dict[str, str | None] = {"KPSTASK_ENDPOINT": None, "KPSTASK_PROJECT_ID": None}
    assert "credentials: AK/SK" in cli(sim, "get", "t1", "--debug", env=none).stderr
    picked = cli(sim, "get", "t1", "--debug", "--profile", "people", env=none)
    assert picked.exit_code == 0 and "password of user alice" in picked.stderr
    by_env = cli(sim, "get", "t1", "--debug", env={**none, "KPSTASK_PROFILE": "people"})
    assert "password of user alice" in by_env.stderr
    # the environment beats the profile
    assert "environment variable KPSTASK_ENDPOINT" in cli(sim, "get", "t1", "--debug").stderr


@pytest.mark.parametrize(
    ("config", "args", "words"),
    [
        ('[default]\nregion = "cn-north-4"\n', ["--profile", "nope"], "no profile 'nope'"),
        ('[default]\nregoin = "cn-north-4"\n', [], "unknown key(s) regoin"),
        ("[default\n", [], "is not valid TOML"),
        ("[default]\nregion = 4\n", [], "default.region must be a string"),
    ],
)
def test_bad_config(sim: Simulator, config: str, args: list[str], words: str) -> None:
    write_config(config)
    result = cli(sim, "get", "t1", *args, env={"KPSTASK_TOKEN": CANARY})
    assert result.exit_code == 2
    assert words in result.stderr


def test_kpstask_config_variable(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(f'[ci]\nendpoint = "{sim.url}"\n')
    env: dict[str, str | None] = {"KPSTASK_CONFIG": str(path), "KPSTASK_ENDPOINT": None, "KPSTASK_TOKEN": CANARY}
    assert cli(sim, "get", "t1", "--profile", "ci", env=env).exit_code == 0


def test_profile_names_complete(sim: Simulator) -> None:
    from kpstask.cli.options import complete_profile as _complete_profile

    write_config('[default]\nregion = "cn-north-4"\n[prod]\nregion = "cn-east-3"\n[preview]\n')
    assert _complete_profile("pr") == ["preview", "prod"]


# -- config show and token ------------------------------------------------------------------------


def test_config_show(sim: Simulator, tmp_path: Path) -> None:
    sk = secret_file(tmp_path, "sk", SK)
    write_config(f'[default]\nregion = "cn-north-4"\naccess_key = "{AK}"\nsecret_key_file = "{sk}"\n')
    result = cli(sim, "config", "show", "-o", "json", env={"KPSTASK_ENDPOINT": None})
    assert result.exit_code == 0
    rows = {row["setting"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["endpoint"]["value"] == "https://kms.cn-north-4.myhuaweicloud.com"
    assert rows["endpoint"]["source"].startswith("profile default")
    assert rows["project id"]["source"] == "environment variable KPSTASK_PROJECT_ID"
    assert rows["credentials"]["value"] == "aksk"
    assert rows["secret key"]["value"] == "*** (masked)" and rows["secret key"]["source"].endswith("secret_key_file")
    assert AK not in result.stdout  # only its ends


def test_config_show_reports_a_problem(sim: Simulator) -> None:
    result = cli(sim, "config", "show", env={"KPSTASK_ACCESS_KEY": AK})
    assert result.exit_code == 2
    assert "problem" in result.stdout and "but not its secret key" in result.stdout
    # what could be resolved is still shown
    assert f"endpoint     {sim.url}  (environment variable KPSTASK_ENDPOINT)" in result.stdout
    assert "project id" in result.stdout


def test_token_command(sim: Simulator) -> None:
    result = invoke(["token"], env=with_iam(sim, KPSTASK_PROJECT_ID=DEFAULT_PROJECT), obj=fake_run())
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("MIIsim") and token in sim._issued
    assert PASSWORD not in result.stdout + result.stderr


def test_token_command_with_aksk_is_a_usage_error(sim: Simulator) -> None:
    result = cli(sim, "token", env={"KPSTASK_ACCESS_KEY": AK, "KPSTASK_SECRET_KEY": SK})
    assert result.exit_code == 2
    assert "cannot be turned into a token" in result.stderr


def test_token_command_refuses_a_terminal(sim: Simulator) -> None:
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {**os.environ, **{k: v for k, v in with_iam(sim).items() if v}, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT}
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("kpstask")), "token"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        timeout=30,
        check=False,
    )
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 2
    assert "refusing to print a token to a terminal" in proc.stderr
    assert iam_posts(sim) == 0


def test_the_most_explicit_layer_wins(sim: Simulator, tmp_path: Path) -> None:
    token = secret_file(tmp_path, "token", CANARY)
    write_config(f'[default]\ntoken_file = "{token}"\n')
    env: dict[str, str | None] = {"HUAWEICLOUD_SDK_AK": AK, "HUAWEICLOUD_SDK_SK": SK}
    result = cli(sim, "get", "t1", "--debug", env=env)
    assert result.exit_code == 0
    assert "credentials: AK/SK" in result.stderr
    assert "also found, not used: token from profile default" in result.stderr


def test_a_password_flag_beats_a_profile_key_pair(sim: Simulator, tmp_path: Path) -> None:
    sk = secret_file(tmp_path, "sk", SK)
    pw = secret_file(tmp_path, "pw", PASSWORD)
    write_config(f'[default]\naccess_key = "{AK}"\nsecret_key_file = "{sk}"\n')
    env = with_iam(sim, KPSTASK_PASSWORD=None)
    result = cli(sim, "get", "t1", "--debug", "--password-file", str(pw), env=env)
    assert result.exit_code == 0, result.stderr
    assert "credentials: password of user alice" in result.stderr


def test_variables_of_different_families_combine(sim: Simulator) -> None:
    assert cli(sim, "get", "t1", env={"KPSTASK_ACCESS_KEY": AK, "HUAWEICLOUD_SDK_SK": SK}).exit_code == 0
    mixed = {
        "HW_USER_NAME": "alice",
        "HW_DOMAIN_NAME": "acme",
        "KPSTASK_PASSWORD": PASSWORD,
        "HUAWEICLOUD_SDK_IAM_ENDPOINT": sim.url,
    }
    assert cli(sim, "get", "t1", env=mixed).exit_code == 0  # type: ignore[arg-type]


def test_a_stray_half_credential_does_not_block_a_whole_one(sim: Simulator) -> None:
    result = cli(sim, "get", "t1", env={"KPSTASK_TOKEN": CANARY, "HW_USER_NAME": "alice", "HW_ACCESS_KEY": AK})
    assert result.exit_code == 0, result.stderr


def test_a_token_that_expires_during_a_long_wait_is_renewed() -> None:
    """The simulator, the wait and the credentials on one fake time: a 4 s task outlives a
    1.5 s token at once, with no real second spent."""
    clocks = Clocks()
    with Simulator(Scenario.parse(SCENARIO), clock=clocks.monotonic, wall=clocks.wall) as sim:
        sim.scenario.token_ttl_s = 1.5
        sim.add_task({"id": "slow", "operation": "reset", "ready_s": 0, "running_s": 4})
        args = ["wait", "slow", "--interval", "1", "-o", "json", "--progress", "none", "--no-cache"]
        env = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, **with_iam(sim)}
        result = invoke(args, env=env, obj=lambda: KpsRun(clock=clocks.monotonic, sleep=clocks.sleep, wall=clocks.wall))
    assert result.exit_code == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr and PASSWORD not in result.stdout + result.stderr
    assert json.loads(result.stdout)["task_status"] == "SUCCESS_RESET"
    assert iam_posts(sim) >= 2


def test_environment_region_beats_profile_endpoint(sim: Simulator) -> None:
    write_config('[default]\nendpoint = "https://proxy.example.com"\n')
    result = cli(
        sim,
        "config",
        "show",
        "-o",
        "json",
        env={"KPSTASK_ENDPOINT": None, "KPSTASK_REGION": "cn-north-4", "KPSTASK_TOKEN": CANARY},
    )
    rows = {row["setting"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["endpoint"]["value"] == "https://kms.cn-north-4.myhuaweicloud.com"
    assert rows["region"]["source"] == "environment variable KPSTASK_REGION"


@pytest.mark.parametrize(
    ("config", "env", "args", "words"),
    [
        (None, {"KPSTASK_CONFIG": "/nonexistent/kpstask.toml"}, [], "does not exist"),
        ('region = "cn-north-4"\n', {}, [], "must be inside a profile table"),
        ('[other]\nregion = "cn-north-4"\n', {}, ["--profile", "default"], "no profile 'default'"),
        (None, {}, ["--profile", "default"], "no config file"),
    ],
)
def test_strict_config(
    sim: Simulator, config: str | None, env: dict[str, str | None], args: list[str], words: str
) -> None:
    if config is not None:
        write_config(config)
    result = cli(sim, "get", "t1", *args, env={"KPSTASK_TOKEN": CANARY, **env})
    assert result.exit_code == 2
    assert words in result.stderr


def test_config_show_names_every_source(sim: Simulator, tmp_path: Path) -> None:
    pw = secret_file(tmp_path, "pw", PASSWORD)
    env = with_iam(sim, KPSTASK_PASSWORD=None, KPSTASK_REGION="cn-north-4")
    result = cli(sim, "config", "show", "--password-file", str(pw), "--debug", "-o", "json", env=env)
    assert result.exit_code == 0
    rows = {row["setting"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["user name"]["source"] == "environment variable KPSTASK_USERNAME"
    assert rows["domain"]["source"] == "environment variable KPSTASK_DOMAIN"
    assert rows["password"] == {"setting": "password", "value": "*** (masked)", "source": "--password-file"}
    assert rows["region"]["source"].endswith("not used: the endpoint wins")
    assert all(row["source"] for row in rows.values())
