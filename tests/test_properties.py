"""Property-based: whatever the command line, environment or server says,
kpstask ends with a documented exit code and never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.conftest import CANARY, fake_run, invoke

DOCUMENTED = {0, 1, 2, 3, 4, 5, 6, 7, 130, 141, 143}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    scenario = Scenario.parse({"token": CANARY, "tasks": [{"id": "ok", "status": "SUCCESS_RESET"}]})
    with Simulator(scenario) as running:
        yield running


def run_in_process(args: list[str], env: dict[str, str | None]) -> tuple[int, str, str]:
    """An exception that escapes the CLI is raised from `invoke` (not turned into exit 1)."""
    result = invoke(args, env=env, obj=fake_run())
    return result.exit_code, result.stdout, result.stderr


def check(code: int, stdout: str, stderr: str) -> None:
    assert code in DOCUMENTED, (code, stderr)
    assert "Traceback" not in stderr
    assert CANARY not in stdout and CANARY not in stderr
    assert all(line.startswith("kpstask: ") for line in stderr.splitlines()), stderr


env_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
option = st.sampled_from(
    [
        "-o",
        "--output",
        "-r",
        "--region",
        "-p",
        "--project-id",
        "--endpoint",
        "--token",
        "--token-file",
        "--request-timeout",
        "--retries",
        "-q",
        "--no-color",
        "--allow-http",
        "--bogus",
        "json",
        "tsv",
        "-",
        "--",
    ]
)


@SETTINGS
@given(
    words=st.lists(st.one_of(option, st.text(max_size=70), st.just("ok")), max_size=8),
    env=st.dictionaries(
        st.sampled_from(["KPSTASK_REGION", "KPSTASK_PROJECT_ID", "KPSTASK_TOKEN", "HW_AUTH_TOKEN", "KPSTASK_ENDPOINT"]),
        env_text,
        max_size=3,
    ),
)
@pytest.mark.slow  # hundreds of runs: up to 8 s on a busy worker
def test_any_command_line(sim: Simulator, words: list[str], env: dict[str, str]) -> None:
    base: dict[str, str | None] = {
        "KPSTASK_ENDPOINT": sim.url,
        "KPSTASK_PROJECT_ID": DEFAULT_PROJECT,
        "KPSTASK_TOKEN": CANARY,
    }
    check(*run_in_process(["get", *words, "--retries", "0", "--request-timeout", "2"], {**base, **env}))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
task_like = st.fixed_dictionaries(
    {},
    optional={
        "task_id": json_values,
        "task_status": st.one_of(json_values, st.sampled_from(["RUNNING_RESET", "SUCCESS_BIND", "FAILED_X", "X"])),
        "server_id": json_values,
        "error_code": json_values,
        "error_msg": json_values,
        "error": json_values,
    },
)
bodies = st.one_of(
    task_like.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(max_size=300),
)


@pytest.mark.slow  # hundreds of runs: up to 7 s on a busy worker
@pytest.mark.parametrize("output", ["json", "tsv", "human"])  # a test each: spread over the workers
@SETTINGS
@given(body=bodies, status=st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 409, 418, 500, 501]))
def test_any_server_body(sim: Simulator, output: str, body: str, status: int) -> None:
    sim.set_faults([{"type": "body", "status": status, "value": body}])
    try:
        env: dict[str, str | None] = {
            "KPSTASK_ENDPOINT": sim.url,
            "KPSTASK_PROJECT_ID": DEFAULT_PROJECT,
            "KPSTASK_TOKEN": CANARY,
        }
        code, stdout, stderr = run_in_process(["get", "ok", "-o", output, "--retries", "0"], env)
        check(code, stdout, stderr)
        if output == "json":
            for line in stdout.splitlines():
                json.loads(line)
    finally:
        sim.set_faults([])
