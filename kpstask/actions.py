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
    from kpstask.auth import Auth
    from kpstask.client import KpsClient, Transport
    from kpstask.config import Profile
    from kpstask.iam import IamLogin
    from kpstask.models import ListedTask
    from kpstask.settings import Sourced
    from kpstask.wait import WaitOptions

MAX_STDIN_BYTES = 10 * 1024 * 1024


class Connection(NamedTuple):
    """Everything needed to reach the API, resolved from flags, environment and profile."""

    base_url: str
    project_id: str
    auth: Auth
    timeout_s: float
    retries: int


class ConnectionFlags(NamedTuple):
    """The command line's say on where to send requests and as whom."""

    region: str | None = None
    endpoint: str | None = None
    allow_http: bool = False
    project: str | None = None
    token_file: str | None = None
    token: str | None = None
    secret_key_file: str | None = None
    password_file: str | None = None
    iam_endpoint: str | None = None
    profile: str | None = None
    no_cache: bool = False
    timeout_s: float = 5.0
    retries: int = 3


class Display(NamedTuple):
    """How results and progress are shown."""

    output: OutputFormat = OutputFormat.HUMAN
    quiet: bool = False
    no_color: bool = False
    progress: ProgressMode = ProgressMode.AUTO
    heartbeat_s: float = 60.0


class Resolved(NamedTuple):
    """Every setting with where it came from: what `config show` prints."""

    profile: Profile
    region: Sourced | None
    base_url: str
    base_source: str
    project: Sourced
    iam_url: str
    iam_source: str
    auth: Auth


def resolve(flags: ConnectionFlags, need_endpoint: bool = True) -> Resolved:
    """Flags first, then the environment, then the profile, then defaults; a usage
    error names what is missing. Nothing is sent: a password login happens at the
    first request."""
    from kpstask import auth, config, settings

    env = os.environ
    profile = config.load_profile(flags.profile, env)
    region = settings.pick(flags.region, "--region", env, settings.REGION_ENV, profile=profile, key="region")
    endpoint = settings.pick(flags.endpoint, "--endpoint", env, settings.ENDPOINT_ENV, profile=profile, key="endpoint")
    if need_endpoint or region or endpoint:
        url = settings.base_url(region, endpoint, flags.allow_http, warn)
    else:
        url = settings.Sourced("", "not needed")
    project = settings.pick(flags.project, "--project-id", env, settings.PROJECT_ENV, profile=profile, key="project_id")
    project_id = settings.project_id(project)
    assert project is not None
    iam = settings.pick(
        flags.iam_endpoint, "--iam-endpoint", env, settings.IAM_ENV, profile=profile, key="iam_endpoint"
    )
    iam_url = (
        settings.endpoint_url(iam, flags.allow_http) if iam else settings.iam_url(region.value if region else None)
    )
    iam_source = iam.source if iam else ("default for the region" if region else "default (global IAM)")

    def login(user: str, domain: str, password: str, why: str) -> IamLogin:
        from kpstask.iam import IamLogin, cache_file

        RUN.secrets.append(password)
        cache = None if flags.no_cache else cache_file(config.cache_dir(env), iam_url, domain, user, project_id)
        return IamLogin(
            transport=_transport(iam_url, flags.timeout_s, flags.retries),
            user=user,
            domain=domain,
            password=password,
            project_id=project_id,
            cache=cache,
            on_token=RUN.secrets.append,
            debug=debug,
        )

    credential = auth.resolve_auth(
        auth.CredentialFlags(flags.token_file, flags.token, flags.secret_key_file, flags.password_file),
        env,
        profile,
        project_id=project_id,
        warn=warn,
        iam=login,
    )
    RUN.secrets.extend(credential.secrets())
    return Resolved(profile, region, url.value, url.source, project, iam_url, iam_source, credential)


def settings_report(flags: ConnectionFlags) -> tuple[list[tuple[str, str, str]], bool]:
    """(setting, value, source) rows for `config show`, secrets masked; and whether all is well."""
    from kpstask import config

    env = os.environ
    rows = [("config file", str(config.config_path(env)), "KPSTASK_CONFIG" if env.get("KPSTASK_CONFIG") else "default")]
    try:
        resolved = resolve(flags)
    except UsageError as error:
        rows += [("profile", flags.profile or env.get("KPSTASK_PROFILE") or "default", _profile_source(flags))]
        rows += _partial_rows(flags)
        rows += [("problem", str(error), "")]
        return rows, False
    profile = resolved.profile
    rows += [("profile", profile.name + ("" if profile.path else " (no config file)"), _profile_source(flags))]
    if resolved.region is not None:
        used = "" if resolved.base_source == resolved.region.source else "; not used: the endpoint wins"
        rows.append(("region", resolved.region.value, resolved.region.source + used))
    rows += [
        ("endpoint", resolved.base_url, resolved.base_source),
        ("project id", resolved.project.value.strip(), resolved.project.source),
        ("credentials", resolved.auth.kind, resolved.auth.why),
    ]
    rows += _credential_rows(resolved.auth)
    if resolved.auth.kind == "password":
        rows.append(("iam endpoint", resolved.iam_url, resolved.iam_source))
        cache = "off (--no-cache)" if flags.no_cache else str(config.cache_dir(env) / "tokens")
        rows.append(("token cache", cache, "--no-cache" if flags.no_cache else "XDG_CACHE_HOME or ~/.cache"))
    return rows, True


def _partial_rows(flags: ConnectionFlags) -> list[tuple[str, str, str]]:
    """What can still be told when something else is missing or wrong."""
    from kpstask import config, settings

    env = os.environ
    rows: list[tuple[str, str, str]] = []
    try:
        profile = config.load_profile(flags.profile, env)
    except UsageError:
        return rows
    region = settings.pick(flags.region, "--region", env, settings.REGION_ENV, profile=profile, key="region")
    endpoint = settings.pick(flags.endpoint, "--endpoint", env, settings.ENDPOINT_ENV, profile=profile, key="endpoint")
    project = settings.pick(flags.project, "--project-id", env, settings.PROJECT_ENV, profile=profile, key="project_id")
    for name, found in (("region", region), ("endpoint", endpoint), ("project id", project)):
        if found is not None:
            rows.append((name, found.value.strip(), found.source))
    return rows


def _profile_source(flags: ConnectionFlags) -> str:
    if flags.profile:
        return "--profile"
    return "environment variable KPSTASK_PROFILE" if os.environ.get("KPSTASK_PROFILE") else "default"


def _credential_rows(credential: Auth) -> list[tuple[str, str, str]]:
    from kpstask.auth import AkSkAuth, PasswordAuth, TokenAuth

    if isinstance(credential, TokenAuth):
        return [("token", "*** (masked)", credential.source)]
    if isinstance(credential, AkSkAuth):
        ak = credential.access_key.value
        rows = [
            ("access key", ak[:4] + "..." + ak[-4:] if len(ak) > 12 else "***", credential.access_key.source),
            ("secret key", "*** (masked)", credential.secret_key.source),
        ]
        if credential.security_token is not None:
            rows.append(("security token", "*** (masked)", credential.security_token.source))
        return rows
    if isinstance(credential, PasswordAuth):
        user, domain, password = credential.parts
        return [("user name", user.value, user.source), ("domain", domain.value, domain.source),
                ("password", "*** (masked)", password.source)]  # fmt: skip
    return []


def print_token(flags: ConnectionFlags, show: bool) -> int:
    """`kpstask token`: a project-scoped token on stdout for other tools."""
    if sys.stdout.isatty() and not show:
        raise UsageError("refusing to print a token to a terminal", hint="pipe it somewhere, or pass --show")
    credential = resolve(flags, need_endpoint=False).auth
    debug(f"credentials: {credential.why}")
    from kpstask.auth import PasswordAuth, TokenAuth

    if isinstance(credential, TokenAuth):
        token = credential.token
    elif isinstance(credential, PasswordAuth):
        token = credential.login.token()
    else:
        raise UsageError(
            "AK/SK credentials cannot be turned into a token here: kpstask signs each request with them",
            hint="configure a user name and password (or a token) to get a token",
        )
    # Written past the masking stdout on purpose: this is the one place a secret is the result.
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    return ExitCode.OK


def resolve_connection(flags: ConnectionFlags) -> Connection:
    resolved = resolve(flags)
    debug(f"endpoint {resolved.base_url} (from {resolved.base_source}), project {resolved.project.value}")
    debug(f"credentials: {resolved.auth.why}")
    return Connection(resolved.base_url, resolved.project.value.strip(), resolved.auth, flags.timeout_s, flags.retries)


def task_ids(values: Sequence[str], *secret_files: str | None) -> list[str]:
    """Validated ids, `-` replaced by the ids on stdin, duplicates dropped."""
    ids: list[str] = []
    for value in values:
        if value != "-":
            ids.append(validate_task_id(value))
            continue
        if "-" in secret_files:
            raise UsageError("standard input cannot hold both a secret (--...-file -) and task ids (-)")
        if sys.stdin.isatty():
            raise UsageError("task id '-' reads ids from standard input, which is a terminal; pipe them in")
        text = sys.stdin.read(MAX_STDIN_BYTES + 1)
        if len(text) > MAX_STDIN_BYTES:
            raise UsageError("task ids on stdin: more than 10 MiB")
        found = ids_from_text(text)
        if not found:
            raise UsageError("no task ids given (stdin was empty)")
        ids.extend(validate_task_id(task_id) for task_id in found)
    return list(dict.fromkeys(ids))


def _transport(base_url: str, timeout_s: float, retries: int, pool: int = 10) -> Transport:
    from kpstask.client import RetryPolicy, Transport

    return Transport(
        base_url,
        timeout_s=timeout_s,
        retry=RetryPolicy(retries=retries),
        debug=debug if RUN.debug else None,
        pool_size=pool,
    )


def _client(connection: Connection, retries: int, pool: int = 10) -> KpsClient:
    from kpstask.client import KpsClient

    transport = _transport(connection.base_url, connection.timeout_s, retries, pool)
    return KpsClient(transport, connection.project_id, connection.auth)


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
    _annotate(results)
    if not display.quiet:  # `-q` is silent: the exit code tells; `--progress none` still names errors
        for result in results:
            if result.error is not None:
                say("error", f"task {result.task_id}: {result.error}")
    line = _line_writer(display)
    for result in results:
        line(result)
    _table(results, display)
    return ExitCode.INTERRUPTED if interrupted else worst(result.exit_code for result in results)


def _annotate(results: list[TaskResult]) -> None:
    """In GitHub Actions, an `::error::` annotation for each failed task (whatever --progress says)."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return
    from kpstask.progress import annotation

    for result in results:
        line = annotation(result)
        if line is not None:
            sys.stderr.write(RUN.redact(line) + "\n")
    sys.stderr.flush()


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


LIST_PAGE_LIMIT = 1000  # what the API allows per page


def fetch_listed(client: KpsClient, kind: str, limit: int | None, page_size: int) -> list[ListedTask]:
    """Every page of running-tasks or failed-tasks (at most `limit` items)."""
    from kpstask.models import ListedTask

    items: list[ListedTask] = []
    seen: set[str] = set()
    offset = 0
    while limit is None or len(items) < limit:
        size = page_size if limit is None else min(page_size, limit - len(items))
        total, page = client.list_page(kind, size, offset)
        debug(f"{kind}-tasks: {len(page)} at offset {offset} (total {total})")
        fresh = [ListedTask(fields) for fields in page if str(fields["task_id"]) not in seen]
        if page and not fresh:  # a server that ignores offset would be paged forever
            warn(f"{kind}-tasks: the page at offset {offset} repeats earlier tasks; stopping there")
            break
        seen.update(task.task_id for task in fresh)
        items.extend(fresh)
        offset += len(page)
        if len(page) < size or (total is not None and offset >= total):
            break
    return items[:limit] if limit is not None else items


def _on_server(tasks: list[ListedTask], server: str | None, limit: int | None) -> list[ListedTask]:
    """Filtered before the limit: `--server X --limit 3` is three of X's tasks."""
    if server is not None:
        tasks = [task for task in tasks if task.text("server_id") == server]
    return tasks[:limit] if limit is not None else tasks


def run_list(connection: Connection, kind: str, display: Display, *, server: str | None, limit: int | None,
             page_size: int) -> int:  # fmt: skip
    """`kpstask running` and `kpstask failed`: the list, in the chosen format; an empty list is fine."""
    from kpstask.render import listed_line, listed_table, make_console

    with _client(connection, connection.retries) as client:
        tasks = fetch_listed(client, kind, None if server else limit, page_size)
    tasks = _on_server(tasks, server, limit)
    if display.quiet:
        return ExitCode.OK
    if display.output is OutputFormat.HUMAN:
        if not tasks:
            say("info", f"no {kind} tasks" + (f" on server {server}" if server else ""))
            return ExitCode.OK
        listed_table(tasks, make_console(stdout(), display.no_color), failed=kind == "failed")
        return ExitCode.OK
    out = stdout()
    for task in tasks:
        out.write(listed_line(task, display.output, failed=kind == "failed") + "\n")
    return ExitCode.OK


def running_ids(connection: Connection, page_size: int = LIST_PAGE_LIMIT) -> list[str]:
    """The ids of every task running now (`wait --all-running`)."""
    with _client(connection, connection.retries) as client:
        return [task.task_id for task in fetch_listed(client, "running", None, page_size)]


def run_clear(connection: Connection, ids: list[str], clear_all: bool, yes: bool, display: Display, *,
              server: str | None = None, limit: int | None = None) -> int:  # fmt: skip
    """Delete failed-task records, after a confirmation on a terminal (or --yes). `--clear-all`
    uses the API's delete-all only with no --server or --limit; otherwise each record listed."""
    import json

    every = clear_all and server is None and limit is None
    with _client(connection, connection.retries) as client:
        if clear_all:
            listed = _on_server(fetch_listed(client, "failed", None, LIST_PAGE_LIMIT), server, limit)
            ids = [task.task_id for task in listed]
            if not ids:
                say("info", "no failed-task records to delete")
                return ExitCode.OK
        what = f"{len(ids)} failed-task record(s)" + (" (all of them)" if every else "")
        if not _confirmed(f"Delete {what}: {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}?", yes):
            say("info", "nothing deleted")
            return ExitCode.OK
        results: list[tuple[str, KpsError | None]] = []
        if every:
            client.delete_failed(None)
            results = [(task_id, None) for task_id in ids]
        else:
            for task_id in ids:
                try:
                    client.delete_failed(task_id)
                    results.append((task_id, None))
                except KpsError as refused:
                    say("error", f"task {task_id}: {refused}")
                    results.append((task_id, refused))
    out = stdout()
    for task_id, error in results:
        if display.quiet:
            continue
        if display.output is OutputFormat.JSON:
            record = {"task_id": task_id, "deleted": error is None, **({"error": error.as_dict()} if error else {})}
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        elif display.output is OutputFormat.TSV:
            out.write(f"{task_id}\t{'deleted' if error is None else 'error'}\n")
        elif error is None:
            out.write(f"deleted failed-task record {task_id}\n")
    return worst(failure.exit_code if failure else ExitCode.OK for _, failure in results)


def _confirmed(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("deleting failed-task records needs --yes when not on a terminal")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
