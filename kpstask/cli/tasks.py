"""`kpstask get` and `kpstask wait`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from kpstask.choices import Display, Pace
from kpstask.cli.options import API, API_NO_RETRIES, OUTPUT, PACE, WAITING, Api, Waiting, grouped
from kpstask.cli.root import EXIT_CODES_HELP, app
from kpstask.context import Run
from kpstask.errors import ExitCode, UsageError
from kpstask.i18n import N_, _

if TYPE_CHECKING:
    from kpstask.connect import Target

TaskIds = Annotated[
    list[str],
    typer.Argument(metavar="TASK_ID...", help=N_("Task ids, as returned by the KPS APIs; - reads them from stdin.")),
]
MaybeTaskIds = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[TASK_ID...]",
        show_default=False,
        help=N_("Task ids, as returned by the KPS APIs; - reads them from stdin."),
    ),
]


@app.command(epilog=EXIT_CODES_HELP)
@grouped
def get(
    run: Run,
    task_ids: TaskIds,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            "-w",
            rich_help_panel=WAITING.heading,
            help=N_("Wait until every task is finished (as `kpstask wait`); the options below apply."),
        ),
    ] = False,
    *,
    api: Annotated[Api, API],
    output: Annotated[Display, OUTPUT],
    pace: Annotated[Pace, PACE],
    waiting: Annotated[Waiting, WAITING],
) -> int:
    """Show the status of one or more key-pair tasks (with --wait, wait for them).

    Results go to stdout in the order given; errors and warnings go to stderr.
    """
    if not wait and waiting.given:
        flags = ", ".join(waiting.given)
        raise UsageError(
            _("{flags}: only used when waiting").format(flags=flags), hint=_("add --wait, or use `kpstask wait`")
        )
    if wait and "--retries" in api.given:
        raise UsageError(
            _("--retries: not used when waiting"), hint=_("a wait retries transient errors until --timeout")
        )
    return _query(run, task_ids, api, output, pace=pace, waiting=waiting if wait else None)


@app.command("wait", epilog=EXIT_CODES_HELP)
@grouped
def wait_command(
    run: Run,
    task_ids: MaybeTaskIds = None,
    all_running: Annotated[
        bool,
        typer.Option(
            "--all-running",
            rich_help_panel=WAITING.heading,
            help=N_("Also wait for every task running when the wait starts."),
        ),
    ] = False,
    *,
    api: Annotated[Api, API_NO_RETRIES],
    output: Annotated[Display, OUTPUT],
    pace: Annotated[Pace, PACE],
    waiting: Annotated[Waiting, WAITING],
) -> int:
    """Wait until key-pair tasks are finished; the exit code says how they ended.

    Polls each task (adaptively, or every --interval) until SUCCESS_* or FAILED_*,
    tolerating transient errors, until --timeout. Progress goes to stderr; the final
    result to stdout.
    """
    return _query(run, task_ids or [], api, output, pace=pace, waiting=waiting, all_running=all_running, stream=True)


def _query(
    run: Run,
    ids: list[str],
    api: Api,
    output: Display,
    *,
    pace: Pace,
    waiting: Waiting | None,
    all_running: bool = False,
    stream: bool = False,
) -> int:
    """`get` and `wait` alike: check everything, then ask (and, with `waiting`, wait). `wait`
    streams its JSON and TSV lines as tasks finish; `get --wait` keeps `get`'s order."""
    from kpstask import connect, tasks

    stdin_taken = "-" in {api.flags.get(name) for name in ("token_file", "secret_key_file", "password_file")}
    ids = tasks.read_ids(run, ids, stdin_taken)
    if not ids and not all_running:
        raise UsageError(_("no task ids given"), hint=_("give TASK_IDs, - to read them from stdin, or --all-running"))
    target = connect.resolve(run, api.flags, api.timing)
    if all_running:
        ids = _with_running(run, ids, target, api)
        if not ids:
            return ExitCode.OK
    if waiting is None:
        return tasks.run_get(run, target, ids, output, pace)
    options = waiting.options._replace(max_rate=pace.max_rate, concurrency=pace.concurrency)
    return tasks.run_wait(run, target, ids, waiting.display(output), options=options, stream=stream)


def _with_running(run: Run, ids: list[str], target: Target, api: Api) -> list[str]:
    from kpstask.lists import running_ids

    running = running_ids(run, target)
    listed = " ".join(running[:10]) + (" ..." if len(running) > 10 else "")
    shown = _(": {message}").format(message=listed) if running else ""
    run.say("info", _("{count} task(s) running{tasks}").format(count=len(running), tasks=shown))
    return list(dict.fromkeys([*ids, *running]))
