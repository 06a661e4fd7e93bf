"""Ctrl-C at any instant (issue 20 item 18), at chosen instants rather than random ones: a
signal sent from inside the import system (a `sitecustomize` the child process loads), or
raised where the interpreter would swallow it. bench/ctrl_c.py measures random instants."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from kpstask import interrupts
from kpstask.simulator import DEFAULT_PROJECT, Scenario, Simulator
from tests.conftest import CANARY

KPSTASK = Path(sys.executable).with_name("kpstask")
AK, SK = "AKCTRLCWINDOW0000000", "ctrl-c-window-secret-key"
USER, DOMAIN, PASSWORD = "ctrl-c-user", "ctrl-c-domain", "ctrl-c-password"

# Loaded by the child's `site` before anything else runs: signals itself when the module named
# in TEST_SIGNAL_AT is looked for; or fails the interpreter's own check of the script's path
# with a KeyboardInterrupt (TEST_INTERRUPT_START), which the interpreter prints and goes on after.
SITECUSTOMIZE = """
import os, sys
AT, SIGNUM = os.environ.get("TEST_SIGNAL_AT"), int(os.environ.get("TEST_SIGNAL", "2"))
SCRIPT = os.environ.get("TEST_INTERRUPT_START")

class SignalAt:
    def find_spec(self, name, path=None, target=None):
        if name == AT:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), SIGNUM)
        return None

def interrupting(entry):
    if entry == SCRIPT:
        sys.path_hooks.remove(interrupting)
        raise KeyboardInterrupt
    raise ImportError(entry)

if AT:
    sys.meta_path.insert(0, SignalAt())
if SCRIPT:
    sys.path_hooks.insert(0, interrupting)
"""


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    tasks = [
        {"id": "ok", "status": "SUCCESS_RESET"},
        {"id": "soon", "operation": "bind", "ready_s": 0, "running_s": 0.3},
        {"id": "never", "operation": "reset", "outcome": "never", "ready_s": 0},
    ]
    scenario = {
        "token": CANARY,
        "tasks": tasks,
        "access_keys": [{"access_key": AK, "secret_key": SK}],
        "users": [{"name": USER, "domain": DOMAIN, "password": PASSWORD}],
    }
    with Simulator(Scenario.parse(scenario)) as running:
        yield running


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return tmp_path


def child(command: list[str], site: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **env, **({"PYTHONPATH": str(site)} if site is not None else {})}
    return subprocess.run(command, env=full, capture_output=True, text=True, timeout=10, check=False)


def with_sim(sim: Simulator) -> dict[str, str]:
    return {"KPSTASK_ENDPOINT": sim.url, "KPSTASK_PROJECT_ID": DEFAULT_PROJECT, "KPSTASK_TOKEN": CANARY}


# -- a signal while kpstask's own modules load ---------------------------------------------------


@pytest.mark.parametrize(
    ("command", "at", "sent", "code", "words"),
    [
        ([str(KPSTASK)], "kpstask.entry", signal.SIGINT, 130, "interrupted"),
        ([str(KPSTASK)], "kpstask.interrupts", signal.SIGINT, 130, "interrupted"),
        ([str(KPSTASK)], "kpstask.entry", signal.SIGTERM, 143, "terminated (SIGTERM)"),
        ([str(KPSTASK)], "kpstask.entry", signal.SIGHUP, 129, "hung up (SIGHUP)"),
        ([sys.executable, "-m", "kpstask"], "kpstask.__main__", signal.SIGINT, 130, "interrupted"),
    ],
    ids=["script-entry", "script-interrupts", "script-sigterm", "script-sighup", "python-m"],
)
def test_a_signal_once_the_package_loads_is_its_exit_code(
    site: Path, command: list[str], at: str, sent: int, code: int, words: str
) -> None:
    """From the package's `__init__` on: held, then the exit code and one line; never a
    traceback (`--version` would otherwise answer and exit 0)."""
    proc = child([*command, "--version"], site, TEST_SIGNAL_AT=at, TEST_SIGNAL=str(sent))
    assert (proc.returncode, proc.stdout, proc.stderr) == (code, "", f"kpstask: error: {words}\n")


def test_a_signal_before_the_package_is_the_interpreters(site: Path) -> None:
    """The limit: while the package itself is looked for, no code of kpstask's has run yet: the
    interpreter prints the traceback and ends the process by SIGINT (a shell says 130)."""
    proc = child([str(KPSTASK), "--version"], site, TEST_SIGNAL_AT="kpstask")
    assert proc.returncode == -signal.SIGINT and proc.stderr.rstrip().endswith("KeyboardInterrupt"), proc.stderr
    assert "/kpstask/" not in proc.stderr


def test_importing_the_package_keeps_a_programs_own_handlers() -> None:
    check = "import signal, kpstask; print([signal.getsignal(s) is kpstask.hold_signal for s in (2, 15, 1)])"
    assert child([sys.executable, "-c", check]).stdout == "[False, False, False]\n"
    as_command = f"import sys; sys.argv[0] = '/usr/local/bin/kpstask'; {check}"
    assert child([sys.executable, "-c", as_command]).stdout == "[True, True, True]\n"


def test_a_ctrl_c_the_interpreter_caught_at_start_up_still_ends_the_run(sim: Simulator, site: Path) -> None:
    """The interpreter checks whether the script's path is a zip archive before running it; a
    Ctrl-C landing there is printed and the script run all the same: the wait must not go on."""
    proc = child([str(KPSTASK), "wait", "never"], site, TEST_INTERRUPT_START=str(KPSTASK), **with_sim(sim))
    assert proc.returncode == 130, proc.stderr
    assert "Failed checking if argv[0] is an import path entry" in proc.stderr  # the interpreter's
    assert proc.stderr.endswith("kpstask: error: interrupted\n") and proc.stdout == ""


# -- a signal inside the import machinery, or inside a finalizer ----------------------------------


def test_the_import_machinery_is_recognised() -> None:
    seen: list[FrameType] = []

    class Spy:
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            seen.append(sys._getframe(1))

    spy = Spy()
    sys.meta_path.insert(0, spy)
    try:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module("kpstask_ctrl_c_no_such_module")
    finally:
        sys.meta_path.remove(spy)
    assert seen and interrupts.not_here(seen[0])  # the frame that asked the finder
    assert not interrupts.not_here(sys._getframe()) and not interrupts.not_here(None)


MACHINERY = """
import os, signal, sys, time
from kpstask.interrupts import IMPORT_MACHINERY, interrupted
signal.signal(signal.SIGINT, interrupted)
source = "def step():\\n    os.kill(os.getpid(), 2)\\n    end = time.monotonic() + 0.05\\n" \\
    "    while time.monotonic() < end:\\n        pass\\n    return 'done'\\n"
space = {"os": os, "time": time}
exec(compile(source, IMPORT_MACHINERY + ">", "exec"), space)
result = None
try:
    result = space["step"]()
    end = time.monotonic() + 3
    while time.monotonic() < end:
        pass
    print("never interrupted")
except KeyboardInterrupt:
    print("interrupted after the step:", result, signal.getsignal(signal.SIGALRM) is signal.SIG_DFL)
"""


def test_a_signal_inside_the_import_machinery_is_taken_past_it() -> None:
    """Raised there, between a lock taken and the `try` that gives it back, it would keep an
    import lock taken for good: a step of code filed as the machinery's is not cut."""
    proc = child([sys.executable, "-c", MACHINERY])
    assert (proc.stdout, proc.stderr) == ("interrupted after the step: done True\n", "")


SET_NAME = """
import os, signal, time
from kpstask.interrupts import interrupted
signal.signal(signal.SIGINT, interrupted)

class Descriptor:
    def __set_name__(self, owner, name):
        os.kill(os.getpid(), signal.SIGINT)
        end = time.monotonic() + 0.05
        while time.monotonic() < end:
            pass

made = False
try:
    class Owner:
        field = Descriptor()
    made = True
    end = time.monotonic() + 3
    while time.monotonic() < end:
        pass
    print("never interrupted")
except KeyboardInterrupt:
    print("interrupted once the class was made:", made)
"""


def test_a_signal_inside_set_name_is_taken_once_the_class_is_made() -> None:
    """Class creation turns an exception of `__set_name__` (a dataclass field's, an enum
    member's) into a RuntimeError: a Ctrl-C while kpstask defines one would be a bug's 70."""
    proc = child([sys.executable, "-c", SET_NAME])
    assert (proc.stdout, proc.stderr) == ("interrupted once the class was made: True\n", "")


FINALIZER = """
import signal, sys, time
from kpstask.interrupts import Terminated, interrupted, unraisable
for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, interrupted)
sys.unraisablehook = unraisable

class Finalized:
    def __del__(self):
        raise {raised}

try:
    Finalized()
    end = time.monotonic() + 1
    while time.monotonic() < end:
        pass
    print("went on")
except KeyboardInterrupt as exc:
    print(type(exc).__name__, getattr(exc, "signum", None))
"""


@pytest.mark.parametrize(
    ("raised", "printed"),
    [("KeyboardInterrupt", "KeyboardInterrupt None"), ("Terminated(15)", "Terminated 15"), ("ValueError", "went on")],
)
def test_an_interrupt_a_finalizer_swallowed_is_taken_again(raised: str, printed: str) -> None:
    """The interpreter prints an exception of `__del__` (or a weakref callback) and goes on:
    an interrupt lost there, the wait would go on for ever. Anything else there stays silent."""
    proc = child([sys.executable, "-c", FINALIZER.format(raised=raised)])
    assert (proc.stdout, proc.stderr) == (f"{printed}\n", "")


# -- nothing for a poll worker to import ---------------------------------------------------------


def test_the_request_time_imports_load_with_the_transport() -> None:
    code = (
        "import sys\n"
        "from kpstask.settings import resolver\n"
        "from kpstask.choices import Timing\n"
        "from kpstask.context import Run\n"
        "before = [name for name in resolver.REQUEST_TIME_IMPORTS if name in sys.modules]\n"
        "resolver.transport(Run(env={}), 'https://kps.example.com', Timing())\n"
        "print(before, [name for name in resolver.REQUEST_TIME_IMPORTS if name not in sys.modules])\n"
    )
    assert child([sys.executable, "-c", code]).stdout == "[] []\n"


RECORDED = """
import atexit, sys, threading
seen = set()

class Recorder:
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is not threading.main_thread():
            seen.add(name)
        return None

sys.meta_path.insert(0, Recorder())
atexit.register(lambda: sys.stderr.write(f"imported by other threads: {sorted(seen)}\\n"))
sys.argv = ["kpstask", "wait", "ok", "soon", "--progress", "none", "--timeout", "8"]
from kpstask.entry import main
main()
"""


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({"KPSTASK_TOKEN": CANARY}, id="token"),
        pytest.param({"KPSTASK_ACCESS_KEY": AK, "KPSTASK_SECRET_KEY": SK}, id="aksk"),
        pytest.param({"KPSTASK_USERNAME": USER, "KPSTASK_DOMAIN": DOMAIN, "KPSTASK_PASSWORD": PASSWORD}, id="password"),
    ],
)
def test_a_poll_worker_imports_nothing(sim: Simulator, credentials: dict[str, str]) -> None:
    """Whatever a request needs is imported before the workers start: a worker never takes
    the import lock, which an interrupted import on the main thread could have kept."""
    env = {k: v for k, v in with_sim(sim).items() if k != "KPSTASK_TOKEN"} | credentials
    proc = child([sys.executable, "-c", RECORDED], KPSTASK_IAM_ENDPOINT=sim.url, **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == "imported by other threads: []"
