"""`kpstask token` and `kpstask config show`."""

from __future__ import annotations

from typing import Annotated

import typer

from kpstask.choices import Display, OutputFormat
from kpstask.cli.options import API_NO_RETRIES, SETTINGS_ONLY, Api, grouped
from kpstask.cli.root import HelpGroup, app
from kpstask.context import Run
from kpstask.errors import ExitCode, UsageError
from kpstask.i18n import N_, _
from kpstask.settings import help_table


@app.command()
@grouped
def token(
    run: Run,
    show: Annotated[bool, typer.Option("--show", help=N_("Print even when stdout is a terminal."))] = False,
    *,
    api: Annotated[Api, API_NO_RETRIES],
) -> int:
    """Print a project-scoped IAM token from the configured credentials, for other tools.

    A password login asks IAM (or reuses the cached token); a configured token is printed
    as it is. Refuses to print to a terminal without --show.
    """
    from kpstask import connect

    if run.stdout_isatty and not show:
        raise UsageError(_("refusing to print a token to a terminal"), hint=_("pipe it somewhere, or pass --show"))
    credential = connect.resolve(run, api.flags, api.timing, need_endpoint=False).credential
    run.debug(f"credentials: {credential.why}")
    # Written past the masking stdout on purpose: this is the one place a secret is the result.
    run.raw_stdout.write(credential.token() + "\n")
    run.raw_stdout.flush()
    return ExitCode.OK


config_app = typer.Typer(
    cls=HelpGroup, help=N_("The config file and its profiles."), no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(config_app, name="config")


@config_app.command(
    "show", epilog=help_table(), short_help=N_("Every setting, where it came from, and every problem; sends nothing.")
)
@grouped
def config_show(
    run: Run,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", case_sensitive=False, help=N_("Result format on stdout."))
    ] = OutputFormat.HUMAN,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help=N_("Print nothing: the exit code says it (0 no problem, 2 problems)."))
    ] = False,
    *,
    api: Annotated[Api, SETTINGS_ONLY],
) -> int:
    """Every setting and where it came from (flag, environment variable, profile, default),
    secrets masked, then every problem (missing or invalid), each with where to set it. Sends
    nothing. Exit 2 if there is any problem, 0 if none: a pre-flight check, `kpstask config
    show -q && deploy`. A region not in kpstask's table is a problem here (other commands try
    it, with a warning).

    The endpoint row is always there: where requests would go, or why there is none. A value
    that fails its check is shown as (invalid), not echoed; an endpoint URL with a password
    keeps its host, the password masked (https://user:***@host). With -o json or tsv, a problem is a
    record of its own: {"problem": ..., "message": ..., "hints": [...]}, or
    problem<TAB>setting<TAB>message.

    --debug here lists on stderr, for each setting, every place it is looked for in order
    (flags, environment variables, profile key) and which of them are set: the first set one
    wins. Names only, never values. It sends nothing, so there is no request to log.
    """
    from kpstask import connect
    from kpstask.output import for_display

    run.quiet = run.quiet or quiet  # not even a warning: `kpstask config show -q && deploy`
    rows, problems = connect.report(run, api.flags)
    out = for_display(run, Display(output, quiet=quiet))
    for label, value, source in rows:
        out.setting(label, value, source)
    for problem in problems:
        out.problem(problem.label, problem.message, problem.hints)
    out.close()
    return ExitCode.USAGE if problems else ExitCode.OK
