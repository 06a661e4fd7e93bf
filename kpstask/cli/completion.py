"""`kpstask completion SHELL`: the Tab-completion script, through typer's public
completion protocol (the `_KPSTASK_COMPLETE=source_SHELL` instruction)."""

from __future__ import annotations

import contextlib
import io
import os
from typing import Annotated

import typer

from kpstask.choices import Shell
from kpstask.cli.root import app
from kpstask.context import run_of
from kpstask.errors import ExitCode
from kpstask.i18n import N_

COMPLETE_VAR = "_KPSTASK_COMPLETE"


@app.command()
def completion(
    shell: Annotated[
        Shell, typer.Argument(case_sensitive=False, metavar="SHELL", help=N_("bash, zsh, fish or powershell (pwsh)."))
    ],
    ctx: typer.Context,
) -> int:
    """Print the Tab-completion script for a shell (see the README for where to put it)."""
    run = run_of(ctx.obj)
    run.stdout.write(completion_script(shell) + "\n")
    return ExitCode.OK


def completion_script(shell: Shell) -> str:
    """The script for one shell; the files in completions/ are exactly this."""
    script = _typer_script(shell)
    if shell is Shell.ZSH:
        # typer's script only registers itself, so from an fpath file the first Tab did
        # nothing; autoloaded as _kpstask it now completes at once, and sourcing still works.
        script = script.replace(
            "compdef _kpstask_completion kpstask",
            'if [[ "${funcstack[1]}" == "_kpstask" ]]; then\n'
            '  _kpstask_completion "$@"\n'
            "else\n"
            "  compdef _kpstask_completion kpstask\n"
            "fi",
        )
    return script


def _typer_script(shell: Shell) -> str:
    """What typer prints for `_KPSTASK_COMPLETE=source_{shell} kpstask`."""
    from kpstask.cli import load

    command = typer.main.get_command(load())
    before = os.environ.get(COMPLETE_VAR)
    os.environ[COMPLETE_VAR] = f"source_{shell.value}"
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            command.main(args=[], prog_name="kpstask", complete_var=COMPLETE_VAR)
    finally:
        if before is None:
            del os.environ[COMPLETE_VAR]
        else:
            os.environ[COMPLETE_VAR] = before
    return buffer.getvalue().strip("\n")
