"""What `get` and `wait` do once the command line is parsed: resolve where to
send requests, ask, wait, and put results on stdout."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from kpstask.choices import OutputFormat, ProgressMode
from kpstask.console import RUN, debug, say, stderr, stdout, warn
from kpstask.errors import AuthError, ExitCode, KpsError, UsageError, worst
from kpstask.models import TaskResult, ids_from_text, validate_task_id

if TYPE_CHECKING:
    from kpstask.client import KpsClient
    from kpstask.wait import WaitOptions

MAX_STDIN_BYTES = 10 * 1024 * 1024


class Connection(NamedTuple):
    """Everything needed to reach the API, resolved from flags and the environment."""

    base_url: str
    project_id: str
    auth_headers: dict[str, str]
    timeout_s: float
    retries: int


class Display(NamedTuple):
    """How results and progress are shown."""

    output: OutputFormat = OutputFormat.HUMAN
    quiet: bool = False
    no_color: bool = False
    progress: ProgressMode = ProgressMode.AUTO
    heartbeat_s: float = 60.0


def resolve_connection(
    *,
    region: str | None,
    endpoint: str | None,
    allow_http: bool,
    project: str | None,
    token_file: str | None,
    token: str | None,
    timeout_s: float,
    retries: int,
) -> Connection:
    """Flags first, then the environment; a usage error names what is missing."""
    from kpstask import auth, settings

    env = os.environ
    url = settings.base_url(
        settings.pick(region, "--region", env, settings.REGION_ENV),
        settings.pick(endpoint, "--endpoint", env, settings.ENDPOINT_ENV),
        allow_http,
        warn,
    )
    project_id = settings.project_id(settings.pick(project, "--project-id", env, settings.PROJECT_ENV))
    credential = auth.resolve_token(token_file, token, env)
    RUN.secrets.append(credential.value)
    debug(f"endpoint {url}, project {project_id}, token from {credential.source}")
    return Connection(url, project_id, credential.headers(), timeout_s, retries)


def task_ids(values: Sequence[str], token_file: str | None) -> list[str]:
    """Validated ids, `-` replaced by the ids on stdin, duplicates dropped."""
    ids: list[str] = []
    for value in values:
        if value != "-":
            ids.append(validate_task_id(value))
            continue
        if token_file == "-":  # noqa: S105 - a path, not a password
            raise UsageError("standard input cannot hold both the token (--token-file -) and task ids (-)")
        if sys.stdin.isatty():
            raise UsageError("task id '-' reads ids from standard input, which is a terminal; pipe them in")
        text = sys.stdin.read(MAX_STDIN_BYTES + 1)
        if len(text) > MAX_STDIN_BYTES:
            raise UsageError("task ids on stdin: more than 10 MiB")
        ids.extend(validate_task_id(task_id) for task_id in ids_from_text(text))
    if not ids:
        raise UsageError("no task ids given (stdin was empty)")
    return list(dict.fromkeys(ids))


def _client(connection: Connection, retries: int, pool: int = 10) -> KpsClient:
    from kpstask.client import KpsClient, RetryPolicy

    return KpsClient(
        connection.base_url,
        connection.project_id,
        connection.auth_headers,
        timeout_s=connection.timeout_s,
        retry=RetryPolicy(retries=retries),
        debug=debug if RUN.debug else None,
        pool_size=pool,
    )


def run_get(connection: Connection, ids: list[str], display: Display) -> int:
    """One request per task, in order; JSON and TSV lines stream as answers come."""
    line = _line_writer(display)
    results: list[TaskResult] = []
    with _client(connection, connection.retries) as client:
        for index, task_id in enumerate(ids):
            try:
                result = TaskResult(task_id, task=client.get_task(task_id))
            except KpsError as exc:
                result = TaskResult(task_id, error=exc)
            results.append(result)
            if result.error is not None:
                say("error", f"task {task_id}: {result.error}")
            line(result)
            # Refused credentials stop the rest: every further request would be
            # refused too, and the gateway locks a key after repeated failures.
            if isinstance(result.error, AuthError) and index + 1 < len(ids):
                warn(f"{len(ids) - index - 1} remaining task(s) not queried: credentials refused")
                skipped = AuthError(f"not queried: the credentials were refused for task {task_id}")
                for other in ids[index + 1 :]:
                    results.append(TaskResult(other, error=skipped))
                    line(results[-1])
                break
    _table(results, display)
    return worst(result.exit_code for result in results)


def run_wait(connection: Connection, ids: list[str], display: Display, options: WaitOptions) -> int:
    """Poll until every task is terminal or the deadline; the result on stdout at the end."""
    from kpstask.progress import make_progress
    from kpstask.wait import RateLimiter, ThreadRunner, WaitEngine, WaitInterrupted

    mode = ProgressMode.NONE if display.quiet else display.progress
    # The engine re-polls on its own schedule, so the client does not retry inside a poll.
    client = _client(connection, retries=0, pool=options.concurrency)
    progress = make_progress(
        mode,
        ids,
        stream=stderr(),
        no_color=display.no_color,
        heartbeat_s=display.heartbeat_s,
        github=os.environ.get("GITHUB_ACTIONS") == "true",
        redact=RUN.redact,
    )
    runner = ThreadRunner(client.get_task, options.concurrency, RateLimiter(options.max_rate))
    engine = WaitEngine(ids, runner, options, on_event=progress)
    interrupted = False
    try:
        results = engine.run()
    except WaitInterrupted as stop:
        results, interrupted = stop.results, True
    finally:
        progress.stop()
        client.close()
    progress.close(results, interrupted)
    for result in results:
        if result.error is not None:
            say("error", f"task {result.task_id}: {result.error}")
    line = _line_writer(display)
    for result in results:
        line(result)
    _table(results, display)
    return ExitCode.INTERRUPTED if interrupted else worst(result.exit_code for result in results)


def _line_writer(display: Display) -> Callable[[TaskResult], None]:
    from kpstask.render import json_line, tsv_line

    render = {OutputFormat.JSON: json_line, OutputFormat.TSV: tsv_line}.get(display.output)
    out = stdout()

    def write(result: TaskResult) -> None:
        if render is not None and not display.quiet:
            out.write(render(result) + "\n")
            out.flush()

    return write


def _table(results: list[TaskResult], display: Display) -> None:
    if display.output is OutputFormat.HUMAN and not display.quiet:
        from kpstask.render import human_table, make_console

        human_table(results, make_console(stdout(), display.no_color))
