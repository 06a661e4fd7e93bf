"""The command line. `main` loads only the module of the command being run (one
module per command group, each importing what its commands need when they run):
`kpstask get` never builds, or even imports, the simulator's commands.

`from kpstask.cli import app` gives the app with every command (for tests and
`--help`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpstask.context import Run

# command -> the module that declares it; `kpstask --help` lists them in this order
COMMANDS = {
    "get": "tasks",
    "wait": "tasks",
    "running": "lists",
    "failed": "lists",
    "token": "credentials",
    "config": "credentials",
    "simulate": "sim",
    "demo": "sim",
    "completion": "completion",
}


_EVERY_COMMAND: list[Any] = []
_EVERY_GROUP: list[Any] = []


def load(command: str | None = None) -> Any:
    """The app with only `command` registered (typer builds the parameters of every
    registered command at each start), or with every command when it is not one of ours."""
    module = COMMANDS.get(command or "")
    for name in sorted(set(COMMANDS.values())):
        if module in (None, name):
            import_module(f"kpstask.cli.{name}")
    from kpstask.cli.root import KpsGroup, app, use_help_class

    # What the modules registered, kept here: the lists typer reads are narrowed below.
    _EVERY_COMMAND.extend(info for info in app.registered_commands if info not in _EVERY_COMMAND)
    _EVERY_GROUP.extend(info for info in app.registered_groups if info not in _EVERY_GROUP)
    app.registered_commands = [info for info in _EVERY_COMMAND if module is None or _name(info) == command]
    app.registered_groups = [info for info in _EVERY_GROUP if module is None or info.name == command]
    use_help_class(app)
    KpsGroup.command_order = tuple(COMMANDS)
    return app


def _name(info: Any) -> str:
    return str(info.name or info.callback.__name__.replace("_", "-"))


def __getattr__(name: str) -> Any:
    if name == "app":
        return load()
    raise AttributeError(name)


def main(argv: Sequence[str], run: Run) -> int:
    """The command line `argv` (without the program's name) in `run`: its exit code (httpie's
    `raw_main(args, env)`). The console script makes the process's run (`kpstask.entry`,
    after the signals); tests make their own, with fake streams and a fake clock."""
    # An interrupt landing inside a library's finalizer is delivered again a moment later; any
    # other "Exception ignored in ..." is not the user's to act on (see kpstask.interrupts).
    from kpstask.cli.root import run_app
    from kpstask.interrupts import unraisable

    sys.unraisablehook = unraisable
    if "_KPSTASK_COMPLETE" in run.env:
        command = _completing(run.env)
    else:
        command = next((arg for arg in argv if not arg.startswith("-")), None)
    return run_app(load(command), argv, run)


def _completing(env: Mapping[str, str]) -> str | None:
    """The command a Tab press completes the options of, once its name is typed in full
    (typer's scripts pass the line in COMP_WORDS or _TYPER_COMPLETE_ARGS)."""
    line = env.get("COMP_WORDS") or env.get("_TYPER_COMPLETE_ARGS") or ""
    words = line.split()[1:]
    index, first = next(((i, word) for i, word in enumerate(words) if not word.startswith("-")), (0, None))
    typed = index + 1 < len(words) or line[-1:].isspace()
    return first if first in COMMANDS and typed else None
