"""The process's own edges (issue 20): demo's Ctrl-C said once and its narration at 80 columns,
a did-you-mean for a misspelled command, every signal giving the terminal back, Ctrl-C at any
instant being 130, and broken standard streams named with a documented exit code."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.conftest import CANARY, run
from tests.terminal import Screen

KPSTASK = Path(sys.executable).with_name("kpstask")
NEVER = "b" * 36  # a task that never finishes
HIDE, SHOW = "\x1b[?25l", "\x1b[?25h"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    tasks = [
        {"id": "ok", "status": "SUCCESS_RESET", "server_id": "сервер-один"},  # not Latin-1
        {"id": NEVER, "server_id": "f" * 36, "operation": "reset", "outcome": "never", "ready_s": 0},
    ]
    with Simulator(Scenario.parse({"token": CANARY, "tasks": tasks})) as running:
        yield running


def env_for(sim: Simulator | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPSTASK_", "HW_", "OS_", "HUAWEICLOUD_"))}
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR")}
    if sim is not None:
        env |= {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}
    return env | {"TERM": "xterm"} | extra


def in_terminal(env: dict[str, str], args: list[str], at: bytes, send: int | None) -> tuple[int, str, int]:
    """Run kpstask in an 80-column pseudo-terminal; once `at` shows, Ctrl-C is typed (`send`
    None) or the signal sent. Gives the exit code, what was written, and the terminal's lflag."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 80, 0, 0))
        os.execve(str(KPSTASK), [str(KPSTASK), *args], env)
    data, pending = b"", True
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
        if pending and at in data:
            pending = False
            threading.Event().wait(0.5)  # the live table is up
            os.write(fd, b"\x03") if send is None else os.kill(pid, send)
    lflag = termios.tcgetattr(fd)[3]
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), data.decode("utf-8", "replace"), lflag


# -- item 2: demo's Ctrl-C -------------------------------------------------------------------


def test_demo_on_ctrl_c_says_interrupted_once() -> None:
    code, data, _ = in_terminal(env_for(), ["demo"], b"RUNNING_REPLACE", None)
    lines = Screen(80).feed(data).text()
    assert code == 130
    assert sum("interrupted" in line for line in lines) == 1, lines
    assert any(line.startswith("interrupted: ") for line in lines), lines


# -- item 6: demo's narration ----------------------------------------------------------------


@pytest.mark.parametrize("keyless", [False, True])
def test_demo_narration_fits_80_columns_and_keeps_ids_whole(monkeypatch: pytest.MonkeyPatch, keyless: bool) -> None:
    seen: list[list[str]] = []

    def nested(run: object, args: list[str]) -> int:
        seen.append(args)
        return 3  # a task not finished yet: the longest of the closing lines

    monkeypatch.setattr("kpstask.cli.sim._run_nested", nested)
    result = run("demo", *(["--keyless"] if keyless else []))
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    url = seen[0][seen[0].index("--endpoint") + 1]
    assert any(url in line for line in lines[:1]) and any(DEFAULT_PROJECT in line for line in lines)
    command = [line for line in lines if not line.startswith("kpstask demo: ")]
    assert command[0].startswith("$ kpstask wait ") and len(command) > 1
    assert all(line.endswith(" \\") for line in command[:-1]) and all(line.startswith("    ") for line in command[1:])
    words = " ".join(line.removesuffix(" \\") for line in command).split()
    secret = ["--token", seen[0][-1]] if "--token" in seen[0] else []
    assert words[1:] == ["kpstask", *seen[0][: len(seen[0]) - len(secret)]]  # the token is not shown


# -- item 7: a misspelled command --------------------------------------------------------------


def test_a_misspelled_command_gets_a_did_you_mean() -> None:
    result = run("wiat", "x")  # click's own did-you-mean for commands (there is no `status` command)
    assert result.exit_code == 2
    assert "Did you mean 'wait'?" in result.stderr, result.stderr
    assert run("stauts").exit_code == 2  # nothing close: no suggestion, still a usage error


# -- item 17: every signal gives the terminal back ------------------------------------------


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGHUP, 129), (signal.SIGQUIT, -3), (signal.SIGUSR1, -10)])
def test_every_signal_gives_the_terminal_back(sim: Simulator, sent: int, code: int) -> None:
    args = ["wait", NEVER, "--timeout", "60"]
    exit_code, data, lflag = in_terminal(env_for(sim), args, b"RUNNING_RESET", sent)
    assert exit_code == code, data
    assert lflag & termios.ECHO, "echo left off"
    assert data.rfind(SHOW) > data.rfind(HIDE) >= 0, "cursor left hidden"
    if sent == signal.SIGHUP:  # as SIGTERM: what is known printed, one line saying why
        lines = Screen(80).feed(data).text()
        assert any(line.startswith("interrupted: 1 not finished") for line in lines), lines
        assert "kpstask: error: hung up (SIGHUP)" in lines


# -- item 18: Ctrl-C at any instant ----------------------------------------------------------


def test_ctrl_c_while_entry_imports_is_130() -> None:
    """A Ctrl-C landing while `kpstask.entry` imports what it needs (before `main`)."""
    code = (
        "import os, signal, sys\n"
        "class Ctrl_C:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'kpstask.interrupts':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Ctrl_C())\n"
        "sys.argv = ['kpstask', 'get', 'x']\n"
        "from kpstask.entry import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env_for(), capture_output=True, text=True, timeout=20, check=False
    )
    assert (proc.returncode, proc.stderr) == (130, "kpstask: error: interrupted\n")


def before_kpstask(stderr: str) -> bool:
    """A traceback from before kpstask's first line ran: the interpreter's `site` (the editable
    install's finder imports pathlib and re there) or the console script's own `import re`."""
    if "Fatal Python error" in stderr and "kpstask/" not in stderr:  # the interpreter's own start-up
        return True
    return "init_import_site" in stderr or ('bin/kpstask", line' in stderr and "kpstask/" not in stderr)


# -- item 19: broken standard streams ---------------------------------------------------------


def kpstask_sh(sim: Simulator, command: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"{KPSTASK} {command}"],
        env=env_for(sim, **extra),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_a_closed_stdin_is_a_usage_error(sim: Simulator) -> None:
    proc = kpstask_sh(sim, "get - <&-")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("kpstask: error: cannot read task ids: standard input is closed"), proc.stderr
    assert "bug" not in proc.stderr


@pytest.mark.parametrize(
    ("command", "extra", "why"),
    [
        ("get ok -o json > /dev/full", {}, "cannot write to standard output: No space left on device"),
        ("get ok -o human", {"PYTHONIOENCODING": "latin-1"}, "cannot write to standard output: its encoding"),
    ],
    ids=["disk-full", "encoding"],
)
def test_output_that_cannot_be_written_is_exit_74(
    sim: Simulator, command: str, extra: dict[str, str], why: str
) -> None:
    proc = kpstask_sh(sim, command, **extra)
    assert proc.returncode == 74, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(f"kpstask: error: {why}"), proc.stderr
    assert "bug" not in proc.stderr and "Traceback" not in proc.stderr
