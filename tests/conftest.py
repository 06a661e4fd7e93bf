"""Shared fixtures: an isolated environment, a canary token, a mocked API."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import responses
import typer
from typer.testing import CliRunner

from kpstask.cli import app
from kpstask.context import Run as KpsRun

CANARY = "CANARY-tok-5f0e2b7d9c1a4e68"
PROJECT = "0123456789abcdef0123456789abcdef"
ENDPOINT = "https://kms.test-1.example.com"
SERVER = "c9aa197b-a6b6-4c33-b3a6-fa0b4ec50006"

_OUR_PREFIXES = ("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_SDK_", "HUAWEICLOUD_OIDC_", "ACTIONS_ID_TOKEN_")
# No test asks the real ECS metadata service (169.254.169.254): those that test it point
# KPSTASK_METADATA_ENDPOINT at a local one and drop this.
NO_METADATA = {"KPSTASK_METADATA_DISABLED": "true"}
_COLOUR_VARS = ("NO_COLOR", "FORCE_COLOR", "TERM", "COLUMNS", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "GITHUB_ACTIONS")
# The locale chooses kpstask's language: a developer's zh_CN.UTF-8 must not change the tests' English.
_LOCALE_VARS = ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: three workers a core. Much of the suite's time is real time spent computing
    nothing (whole processes against a simulator's clock, servers that answer slowly), during
    which a core runs another worker's tests (on 2 cores: 344 s in one process, 86 s on four
    workers, 76 s on six)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 3 * cores


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first: started early, they end before the last of the quick ones
    (handed out two at a time, `--maxschedchunk 2` in pyproject.toml, so they spread over
    the workers instead of queueing on one)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's credentials, region, config file, token cache or colour settings."""
    for name in list(os.environ):
        if name.startswith(_OUR_PREFIXES) or name in _COLOUR_VARS or name in _LOCALE_VARS:
            monkeypatch.delenv(name)
    for name, value in NO_METADATA.items():
        monkeypatch.setenv(name, value)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


class FakeClock:
    """Monotonic time in which every sleep is over at once: the real clock plus all the sleeps
    so far. Time still passes between sleeps (a request that hangs ends at its real timeout,
    a --timeout deadline still comes), but no test waits out a pause of kpstask's, nor spins
    on the real clock while one goes by. `on_sleep` sees each sleep first (it may raise)."""

    def __init__(self, on_sleep: Callable[[float], None] | None = None) -> None:
        self.skipped = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")  # as time.sleep says
        if self.on_sleep is not None:
            self.on_sleep(seconds)
        with self._lock:
            self.sleeps.append(seconds)
            self.skipped += seconds


def fake_run(clock: FakeClock | None = None) -> Callable[[], KpsRun]:
    """The run of an in-process command (CliRunner's `obj`): made once the runner has put its
    streams in place, with a fake clock (kpstask.cli.root.KpsGroup.main calls it)."""
    clock = clock or FakeClock()
    return lambda: KpsRun(clock=clock, sleep=clock.sleep)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock to hand to `run(..., clock=clock)`: its `sleeps` are the command's waits."""
    return FakeClock()


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def kps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def task_url(task_id: str, project: str = PROJECT) -> str:
    return f"{ENDPOINT}/v3/{project}/tasks/{task_id}"


def add_task(mock: responses.RequestsMock, task_id: str, status: str, **extra: object) -> None:
    body = {"task_id": task_id, "task_status": status, "server_id": SERVER, **extra}
    mock.get(task_url(task_id), json=body, headers={"X-Request-Id": f"req-{task_id}"})


def run(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    with_defaults: bool = True,
    clock: FakeClock | None = None,
) -> Run:
    """Invoke the CLI like a user would, with a fake clock; the canary must never show up."""
    base = {"KPSTASK_ENDPOINT": ENDPOINT, "KPSTASK_PROJECT_ID": PROJECT, "KPSTASK_TOKEN": CANARY}
    full_env = {**(base if with_defaults else {}), **(env or {})}
    result = invoke(args, env=full_env, input=input, obj=fake_run(clock))
    assert CANARY not in result.stdout, result.stdout
    assert CANARY not in result.stderr, result.stderr
    return result


@functools.cache
def command() -> Any:
    """The click command typer makes of `app`, made once. typer's `CliRunner.invoke` makes it
    again for every run: 27 ms, three quarters of a short in-process run's CPU."""
    return typer.main.get_command(app)


def invoke(
    args: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    obj: Any = None,
) -> Run:
    """`CliRunner().invoke(app, ...)` on the command made once: the same isolation (streams,
    environment), the same exit code, stdout and stderr apart. An exception is not caught:
    the CLI maps every outcome to an exit code, so one that escapes fails the test loudly."""
    runner = CliRunner()

    def text(stream: Any) -> str:
        return str(stream.getvalue().decode(runner.charset, "replace").replace("\r\n", "\n"))

    with runner.isolation(input=input, env=env) as (stdout, stderr, _):
        try:
            code: Any = command().main(args=list(args), prog_name="kpstask", obj=obj)
        except SystemExit as done:
            code = done.code
        sys.stdout.flush()
        sys.stderr.flush()
        out, err = text(stdout), text(stderr)  # read before the isolation closes the streams
    if code is not None and not isinstance(code, int):
        raise AssertionError(f"exit with a message instead of a code: {code!r}")
    return Run(code or 0, out, err)
