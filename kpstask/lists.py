"""`running` and `failed`: the project-wide lists, and deleting failed-task records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpstask import connect
from kpstask.api.policy import Action, for_get
from kpstask.choices import Display, Listing, OutputFormat
from kpstask.errors import ApiError, AuthError, ExitCode, KpsError, UsageError, worst
from kpstask.i18n import _
from kpstask.models import MAX_LISTED, PAGE_SIZE, TASK_ID_RE, ListedTask
from kpstask.output import for_display
from kpstask.text import one_line

if TYPE_CHECKING:
    from kpstask.api.client import KpsClient
    from kpstask.context import Run

# What the API allows per page; and, as a project has at most a few thousand servers, a list
# that goes on past MAX_LISTED is a server that does not page correctly (memory stays bounded).
LIST_PAGE_LIMIT = PAGE_SIZE


def fetch_listed(run: Run, client: KpsClient, kind: str, limit: int | None, page_size: int) -> list[ListedTask]:
    """Every page of running-tasks or failed-tasks (at most `limit` items)."""
    items: list[ListedTask] = []
    seen: set[str] = set()
    offset = 0
    while limit is None or len(items) < limit:
        if len(items) >= MAX_LISTED:
            raise ApiError(
                _("{kind}-tasks: more than {count} tasks, page after page: stopping there").format(
                    kind=kind, count=MAX_LISTED
                ),
                hint=_("the server does not page as the API says; use --limit to take fewer"),
            )
        size = page_size if limit is None else min(page_size, limit - len(items))
        total, page = client.list_page(kind, size, offset)
        run.debug(f"{kind}-tasks: {len(page)} at offset {offset} (total {total})")
        fresh = [ListedTask(fields) for fields in page if str(fields["task_id"]) not in seen]
        if page and not fresh:  # a server that ignores offset would be paged forever
            run.warn(
                _("{kind}-tasks: the page at offset {offset} repeats earlier tasks; stopping there").format(
                    kind=kind, offset=offset
                )
            )
            break
        seen.update(task.task_id for task in fresh)
        items.extend(fresh)
        offset += len(page)
        if len(page) < size or (total is not None and offset >= total):
            break
    return items[:limit] if limit is not None else items


def on_server(tasks: list[ListedTask], server: str | None, limit: int | None) -> list[ListedTask]:
    """Filtered before the limit: `--server X --limit 3` is three of X's tasks."""
    if server is not None:
        tasks = [task for task in tasks if task.text("server_id") == server]
    return tasks[:limit] if limit is not None else tasks


def run_list(run: Run, target: connect.Target, kind: str, display: Display, listing: Listing) -> int:
    """`kpstask running` and `kpstask failed`: the list, in the chosen format; an empty list is fine."""
    server, limit = listing.server, listing.limit
    out = for_display(run, display)  # first: `-q` holds from here on
    with connect.client(run, target) as client:
        tasks = fetch_listed(run, client, kind, None if server else limit, listing.page_size)
    tasks = on_server(tasks, server, limit)
    if not tasks and display.output is OutputFormat.HUMAN:
        none = _("no running tasks") if kind == "running" else _("no failed tasks")
        run.say("info", _("{none} on server {server}").format(none=none, server=one_line(server)) if server else none)
    for task in tasks:
        out.listed(task, failed=kind == "failed")
    out.close()
    return ExitCode.OK


def running_ids(run: Run, target: connect.Target) -> list[str]:
    """The ids of every task running now (`wait --all-running`)."""
    with connect.client(run, target) as client:
        listed = [task.task_id for task in fetch_listed(run, client, "running", None, LIST_PAGE_LIMIT)]
    # These ids go into URL paths: one that is not a task id is the server's error, not ours.
    bad = [task_id for task_id in listed if not TASK_ID_RE.fullmatch(task_id)]
    if bad:
        run.warn(
            _("running-tasks: {count} id(s) that are not task ids skipped, e.g. {example}").format(
                count=len(bad), example=ascii(one_line(bad[0], 80))
            )
        )
    return [task_id for task_id in listed if TASK_ID_RE.fullmatch(task_id)]


def run_clear(
    run: Run, target: connect.Target, ids: list[str], display: Display, listing: Listing, *, clear_all: bool, yes: bool
) -> int:
    """Delete failed-task records, after a confirmation on a terminal (or --yes). `--clear-all`
    uses the API's delete-all only with no --server or --limit; otherwise each record listed."""
    every = clear_all and listing.server is None and listing.limit is None
    out = for_display(run, display)  # first: `-q` holds from here on
    with connect.client(run, target) as client:
        if clear_all:
            listed = fetch_listed(run, client, "failed", None, LIST_PAGE_LIMIT)
            listed = on_server(listed, listing.server, listing.limit)
            ids = [task.task_id for task in listed]
            if not ids:
                run.say("info", _("no failed-task records to delete"))
                return ExitCode.OK
        what = _("{count} failed-task record(s) (all of them)") if every else _("{count} failed-task record(s)")
        shown = ", ".join(one_line(task_id, 80) for task_id in ids[:5]) + (" ..." if len(ids) > 5 else "")
        question = _("Delete {what}: {tasks}?").format(what=what.format(count=len(ids)), tasks=shown)
        if not _confirmed(run, question, yes):
            run.say("info", _("nothing deleted"))
            return ExitCode.OK
        results = _delete(run, client, ids, every)
    for task_id, error in results:
        out.deletion(task_id, error)
    out.close()
    return worst(failure.exit_code if failure else ExitCode.OK for _, failure in results)


def _delete(run: Run, client: KpsClient, ids: list[str], every: bool) -> list[tuple[str, KpsError | None]]:
    if every:
        client.delete_failed(None)
        return [(task_id, None) for task_id in ids]
    results: list[tuple[str, KpsError | None]] = []
    for index, task_id in enumerate(ids):
        try:
            client.delete_failed(task_id)
            results.append((task_id, None))
        except KpsError as refused:
            run.say("error", _("task {task}: {error}").format(task=task_id, error=refused))
            results.append((task_id, refused))
            if for_get(refused) is Action.STOP_ALL:  # the gateway locks a key after repeated failures
                results += _not_tried(run, ids[index + 1 :], task_id)
                break
    return results


def _not_tried(run: Run, rest: list[str], refused: str) -> list[tuple[str, KpsError | None]]:
    if rest:
        run.warn(_("{count} remaining record(s) not deleted: credentials refused").format(count=len(rest)))
    skipped = AuthError(_("not deleted: the credentials were refused for task {task}").format(task=refused))
    return [(task_id, skipped) for task_id in rest]


def _confirmed(run: Run, question: str, yes: bool) -> bool:
    if yes:
        return True
    if not run.stdin_isatty:
        raise UsageError(_("deleting failed-task records needs --yes when not on a terminal"))
    run.raw_stderr.write(f"{question} [y/N] ")
    run.raw_stderr.flush()
    return run.stdin.readline().strip().lower() in ("y", "yes")
