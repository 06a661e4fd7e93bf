"""End to end: the installed `kpstask` in a subprocess, against the simulator over real sockets."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.conftest import CANARY, NO_METADATA, Run, fake_run, invoke

KPSTASK = Path(sys.executable).with_name("kpstask")
DOCUMENTED = {0, 1, 2, 3, 4, 5, 6, 7, 70, 124, 130, 141, 143}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    scenario = Scenario.parse(
        {
            "token": CANARY,
            "tasks": [
                {"id": "ok", "status": "SUCCESS_RESET"},
                {"id": "failed", "status": "FAILED_REPLACE"},
                {"id": "running", "status": "RUNNING_BIND"},
            ],
        }
    )
    with Simulator(scenario) as running:
        yield running


def child_env(sim: Simulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    env.update(KPSTASK_ENDPOINT=sim.url, KPSTASK_PROJECT_ID=DEFAULT_PROJECT, KPSTASK_TOKEN=CANARY, **NO_METADATA)
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def kpstask(sim: Simulator, *args: str, **env: str) -> Run:
    proc = subprocess.run(
        [str(KPSTASK), *args], env=child_env(sim, **env), capture_output=True, text=True, timeout=60, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_clean(result: Run, debug: bool = False) -> None:
    """A documented code, no traceback, no secret, every stderr line ours."""
    assert result.exit_code in DOCUMENTED
    assert "Traceback" not in result.stderr
    assert CANARY not in result.stdout and CANARY not in result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith("kpstask: ") for line in lines), result.stderr
    if not debug:
        errors = [line for line in lines if line.startswith("kpstask: error: ")]
        assert len(errors) == 1, result.stderr


FAST = ("--retries", "1", "--request-timeout", "0.5")

FAULTS = [
    ({"type": "status", "status": 429, "retry_after": 0}, 6, "throttled"),
    ({"type": "status", "status": 500}, 6, "server error"),
    ({"type": "status", "status": 502, "retry_after": 0}, 6, "HTML"),
    ({"type": "status", "status": 503, "retry_after": 0}, 6, "empty body"),
    ({"type": "status", "status": 504, "retry_after": 0}, 6, "HTML"),
    ({"type": "reset"}, 7, "connection reset by"),
    ({"type": "cut"}, 7, "broke while reading"),
    ({"type": "hang"}, 7, "no answer from"),
    ({"type": "truncated"}, 6, "not valid JSON"),
    ({"type": "invalid_json"}, 6, "not valid JSON"),
    ({"type": "wrong_types"}, 6, "not a string"),
    ({"type": "oversized"}, 6, "larger than 1 MiB"),
    ({"type": "not_found"}, 5, "taskId is illegal"),
    ({"type": "unauthorized"}, 4, "credentials refused"),
    ({"type": "body", "status": 200, "value": "<!DOCTYPE html><p>captive portal"}, 6, "HTML"),
]


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize(
    ("fault", "code", "words"), FAULTS, ids=[f[0]["type"] + str(f[0].get("status", "")) for f in FAULTS]
)
def test_fault_matrix(sim: Simulator, fault: dict[str, object], code: int, words: str, debug: bool) -> None:
    sim.set_faults([fault], task_id="ok")
    result = kpstask(sim, "get", "ok", *FAST, *(["--debug"] if debug else []))
    assert result.exit_code == code, result.stderr
    assert words in result.stderr
    assert_clean(result, debug)
    if debug:
        assert "X-Auth-Token: ***" in result.stderr


def test_latency_fault_still_answers(sim: Simulator) -> None:
    sim.set_faults([{"type": "latency", "seconds": 0.3}], task_id="ok")
    result = kpstask(sim, "get", "ok", "-o", "json")
    assert (result.exit_code, result.stderr) == (0, "")
    assert '"state":"succeeded"' in result.stdout


def test_unknown_status_fault(sim: Simulator) -> None:
    sim.set_faults([{"type": "unknown_status", "value": "PAUSED_RESET"}], task_id="ok")
    result = kpstask(sim, "get", "ok", "-o", "tsv")
    assert result.exit_code == 3
    assert result.stdout.endswith("\tPAUSED_RESET\tunknown\n")


def test_error_sequence_then_the_real_answer(sim: Simulator) -> None:
    """In process, so the three backoffs pass on a fake clock (as a process: 3.5 to 5 s)."""
    sim.set_faults([{"type": "status", "statuses": [429, 503, 502], "retry_after": 0}], task_id="failed")
    env = {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}
    result = invoke(["get", "failed", "-o", "json"], env=env, obj=fake_run())
    assert result.exit_code == 1
    assert '"task_status":"FAILED_REPLACE"' in result.stdout
    assert [line.split(" in ")[0] for line in result.stderr.splitlines()] == [
        f"kpstask: warning: task failed: retrying ({n}/3)" for n in (1, 2, 3)
    ]


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["get", "ok"], {"KPSTASK_TOKEN": "wrong-token-value"}, 4),
        (["get", "nope"], {}, 5),
        (["get", "ok"], {"KPSTASK_PROJECT_ID": "f" * 32}, 5),
        (["get", "ok", "failed", "running"], {}, 1),
        (["get", "ok", "running"], {}, 3),
        (["get", "ok"], {}, 0),
        (["get", "../x"], {}, 2),
    ],
)
def test_exit_codes_over_the_wire(sim: Simulator, args: list[str], env: dict[str, str], code: int) -> None:
    result = kpstask(sim, *args, **env)
    assert result.exit_code == code
    assert "Traceback" not in result.stderr and CANARY not in result.stderr + result.stdout


def test_no_token_over_the_wire(sim: Simulator) -> None:
    env = child_env(sim)
    del env["KPSTASK_TOKEN"]
    proc = subprocess.run([str(KPSTASK), "get", "ok"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "no credentials given: no token" in proc.stderr


def test_python_dash_m(sim: Simulator) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kpstask", "get", "ok", "-o", "tsv"],
        env=child_env(sim),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout == "ok\tserver-ok\tSUCCESS_RESET\tsucceeded\n"


def test_closed_stdout_is_quiet(sim: Simulator) -> None:
    """`kpstask get ... -o json | head -c 1`: no BrokenPipeError traceback."""
    ids = [f"task-{i:04d}" for i in range(800)]
    for task_id in ids:
        sim.add_task({"id": task_id, "status": "SUCCESS_RESET", "server_id": "s" * 60})
    script = f'"{KPSTASK}" get {" ".join(ids)} -o json | head -c 1 >/dev/null; echo "${{PIPESTATUS[0]}}" >&2'
    proc = subprocess.run(
        ["bash", "-c", script], env=child_env(sim), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.stderr.splitlines() == ["141"], proc.stderr


def test_ctrl_c_while_a_request_hangs(sim: Simulator) -> None:
    sim.set_faults([{"type": "hang"}], task_id="ok")
    proc = subprocess.Popen(
        [str(KPSTASK), "get", "ok", "--request-timeout", "60"],
        env=child_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not any(entry[2] == "hang" for entry in sim.requests):
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert stderr == "kpstask: error: interrupted\n"
    assert stdout == ""


def test_simulate_command_prints_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(KPSTASK), "simulate", "--port", "0", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines = []
    while not lines or lines[-1] != "# ready\n":
        line = proc.stdout.readline()
        assert line, "simulate exited early"
        lines.append(line)
    env_lines = dict(shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export "))
    assert env_lines["KPSTASK_ENDPOINT"].startswith("http://127.0.0.1:")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPSTASK_")} | env_lines
    got = subprocess.run(
        [str(KPSTASK), "get", "demo-bind-ok", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert got.returncode in (0, 3), got.stderr
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_simulate_port_in_use(sim: Simulator) -> None:
    port = sim.url.rsplit(":", 1)[1]
    result = kpstask(sim, "simulate", "--port", port)
    assert result.exit_code == 2
    assert "cannot listen on" in result.stderr and "--port 0" in result.stderr


@pytest.mark.slow  # a whole process (or hundreds of runs): over 5 s
def test_demo_needs_no_network_or_credentials(sim: Simulator) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    env.update(NO_METADATA)
    proc = subprocess.run([str(KPSTASK), "demo"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "demo-bind-ok" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_started_with_stdout_closed(sim: Simulator) -> None:
    for args in (["get", "ok", "-o", "json"], ["get", "ok", "-q"], ["--version"], ["get", "failed"]):
        proc = subprocess.run(
            f'"{KPSTASK}" {" ".join(args)} >&-',
            shell=True,
            env=child_env(sim),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert "Traceback" not in proc.stderr and "error" not in proc.stderr


def test_proxies_are_bypassed_for_loopback(sim: Simulator) -> None:
    result = kpstask(
        sim, "get", "ok", "--retries", "0", HTTP_PROXY="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9"
    )
    assert result.exit_code == 0, result.stderr


def test_sigterm_ends_like_ctrl_c_with_143(sim: Simulator) -> None:
    sim.set_faults([{"type": "hang"}], task_id="ok")
    proc = subprocess.Popen(
        [str(KPSTASK), "get", "ok", "--request-timeout", "60"],
        env=child_env(sim),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not any(entry[2] == "hang" for entry in sim.requests):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 143
    assert stderr == "kpstask: error: terminated (SIGTERM)\n"


@pytest.mark.parametrize(("host", "url_host"), [("0.0.0.0", "127.0.0.1"), ("::1", "[::1]")])
def test_simulate_prints_a_url_a_client_can_use(host: str, url_host: str) -> None:
    proc = subprocess.Popen(
        [str(KPSTASK), "simulate", "--host", host, "--port", "0", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        line = ""
        while not line.startswith("export KPSTASK_ENDPOINT="):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()  # type: ignore[union-attr]
        assert shlex.split(line)[1].startswith(f"KPSTASK_ENDPOINT=http://{url_host}:")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
