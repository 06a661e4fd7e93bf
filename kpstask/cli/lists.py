"""`kpstask running` and `kpstask failed`."""

from __future__ import annotations

from typing import Annotated

import typer

from kpstask.choices import Display, Listing
from kpstask.cli.options import API, OUTPUT, Api, Group, grouped, option
from kpstask.cli.root import EXIT_CODES_HELP, app
from kpstask.context import Run
from kpstask.errors import UsageError
from kpstask.i18n import N_, _

LISTING = Group(
    (
        option("server", str | None, None, "--server", metavar="ID", help=N_("Only tasks on this server.")),
        option(
            "limit", int | None, None, "--limit", metavar="N", min=1, help=N_("At most N tasks (default: every page).")
        ),
        option(
            "page_size", int, 1000, "--page-size", metavar="N", min=1, max=1000, help=N_("Tasks asked for per page.")
        ),
    ),
    lambda run, values, given: Listing(**values),
    N_("Listing"),
)


@app.command(epilog=EXIT_CODES_HELP)
@grouped
def running(
    run: Run,
    *,
    listing: Annotated[Listing, LISTING],
    api: Annotated[Api, API],
    output: Annotated[Display, OUTPUT],
) -> int:
    """List the project's key-pair tasks in flight right now (every page of running-tasks).

    Exit 0 when listed, even when the list is empty.
    """
    from kpstask import connect, lists

    target = connect.resolve(run, api.flags, api.timing)
    return lists.run_list(run, target, "running", output, listing)


@app.command(epilog=EXIT_CODES_HELP)
@grouped
def failed(
    run: Run,
    task_ids: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[TASK_ID...]", show_default=False, help=N_("With --clear: the failed-task records to delete.")
        ),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help=N_("Delete the records of the TASK_IDs given."))] = False,
    clear_all: Annotated[bool, typer.Option("--clear-all", help=N_("Delete every failed-task record."))] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help=N_("Do not ask; needed when not on a terminal."))] = False,
    *,
    listing: Annotated[Listing, LISTING],
    api: Annotated[Api, API],
    output: Annotated[Display, OUTPUT],
) -> int:
    """List the project's failed key-pair tasks, with their errors; or delete their records.

    `--clear TASK_ID...` or `--clear-all` delete records: asked on a terminal, --yes otherwise.
    """
    from kpstask import connect, lists
    from kpstask.models import validate_task_id

    ids = list(dict.fromkeys(validate_task_id(task_id) for task_id in task_ids or []))
    if clear and clear_all:
        raise UsageError(_("--clear and --clear-all: choose one"))
    if clear and not ids:
        raise UsageError(
            _("--clear needs the TASK_IDs whose records to delete"), hint=_("or --clear-all for every one")
        )
    if ids and not clear:
        raise UsageError(_("task ids are only taken with --clear"), hint=_("kpstask failed --clear TASK_ID..."))
    target = connect.resolve(run, api.flags, api.timing)
    if clear or clear_all:
        return lists.run_clear(run, target, ids, output, listing, clear_all=clear_all, yes=yes)
    return lists.run_list(run, target, "failed", output, listing)
