"""`kpstask wait`, installed, in a subprocess, with each kind of credential a user holds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.test_credential_kinds import AK, PASSWORD, SECRETS, SK

KPSTASK = Path(sys.executable).with_name("kpstask")


@pytest.fixture
def sim() -> Iterator[Simulator]:
    scenario = Scenario.parse(
        {
            "access_keys": [{"access_key": AK, "secret_key": SK}],
            "users": [{"name": "alice", "domain": "acme", "password": PASSWORD}],
            "tasks": [{"id": "t1", "operation": "bind", "ready_s": 0.2, "running_s": 0.8}],
        }
    )
    with Simulator(scenario) as running:
        yield running


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    proc = subprocess.run(
        [str(KPSTASK), "wait", "t1", "--interval", "1", "-o", "json", "--debug"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_only_sdk_access_keys(sim: Simulator) -> None:
    proc = run(
        {
            "KPSTASK_ENDPOINT": sim.url,
            "HUAWEICLOUD_SDK_PROJECT_ID": DEFAULT_PROJECT,
            "HUAWEICLOUD_SDK_AK": AK,
            "HUAWEICLOUD_SDK_SK": SK,
        }
    )
    assert proc.returncode == 0, proc.stderr
    assert '"task_status":"SUCCESS_BIND"' in proc.stdout


def test_only_a_user_name_and_password(sim: Simulator) -> None:
    proc = run(
        {
            "KPSTASK_ENDPOINT": sim.url,
            "HW_PROJECT_ID": DEFAULT_PROJECT,
            "HW_USER_NAME": "alice",
            "HW_DOMAIN_NAME": "acme",
            "HW_USER_PASSWORD": PASSWORD,
            "HUAWEICLOUD_SDK_IAM_ENDPOINT": sim.url,
        }
    )
    assert proc.returncode == 0, proc.stderr
    cached = list((Path(os.environ["XDG_CACHE_HOME"]) / "kpstask" / "tokens").glob("*.json"))
    assert len(cached) == 1


def test_only_a_profile(sim: Simulator, tmp_path: Path) -> None:
    sk = tmp_path / "sk"
    sk.write_text(SK)
    sk.chmod(0o600)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[default]\nendpoint = "{sim.url}"\nproject_id = "{DEFAULT_PROJECT}"\n'
        f'access_key = "{AK}"\nsecret_key_file = "{sk}"\n'
    )
    proc = run({"KPSTASK_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
